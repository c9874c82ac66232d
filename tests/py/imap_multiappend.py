#!/usr/bin/python3
"""MULTIAPPEND (RFC 3502) with imapclient's multiappend(): several messages in
one APPEND, each with its own flags and internal date, stored together.

usage: imap_multiappend.py IMAPS_PORT USER PASSWORD   (PYTHONPATH holds imapclient)
"""
import datetime
import ssl
import sys

from imapclient import IMAPClient

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

c = IMAPClient("127.0.0.1", port, ssl_context=ctx, timeout=30)
c.login(user, password)
assert b"MULTIAPPEND" in c.capabilities(), c.capabilities()
c.create_folder("Batch")

utc = datetime.timezone.utc
msgs = [
    {"msg": b"Subject: one\r\n\r\nfirst\r\n", "flags": [b"\\Seen"], "date": datetime.datetime(2024, 2, 1, 10, 0, tzinfo=utc)},
    {"msg": b"Subject: two\r\n\r\nsecond\r\n", "flags": [b"\\Flagged", b"$label1"]},
    b"Subject: three\r\n\r\nthird\r\n",
]
typ, data = c.multiappend("Batch", msgs)
# OK [APPENDUID validity 1:3]
assert typ == "OK" and data[0].startswith(b"[APPENDUID ") and data[0].split(b"]")[0].endswith(b" 1:3"), data

c.select_folder("Batch")
got = c.fetch("1:*", ["FLAGS", "INTERNALDATE", "BODY.PEEK[TEXT]"])
assert sorted(got) == [1, 2, 3], got
assert got[1][b"BODY[TEXT]"] == b"first\r\n" and b"\\Seen" in got[1][b"FLAGS"], got[1]
assert got[1][b"INTERNALDATE"].astimezone(utc) == datetime.datetime(2024, 2, 1, 10, 0, tzinfo=utc), got[1]
assert set(got[2][b"FLAGS"]) >= {b"\\Flagged", b"$label1"}, got[2]
assert got[3][b"BODY[TEXT]"] == b"third\r\n", got[3]

# To a mailbox that does not exist: refused with TRYCREATE, nothing stored anywhere.
typ, data = c.multiappend("Nowhere", [b"Subject: x\r\n\r\nx\r\n", b"Subject: y\r\n\r\ny\r\n"])
assert typ == "NO" and b"[TRYCREATE]" in data[0], (typ, data)
assert c.folder_status("Batch", ["MESSAGES"])[b"MESSAGES"] == 3
c.logout()
print("multiappend ok")
