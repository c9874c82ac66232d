#!/usr/bin/python3
"""APPEND, COPY, MOVE, UID EXPUNGE and mailbox management with imaplib.

usage: imap_manage.py IMAPS_PORT USER PASSWORD   (INBOX holds 2 messages; quota ~3 KiB)
"""
import imaplib
import re
import ssl
import sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30)
m.login(user, password)
assert "UIDPLUS" in m.capabilities and "MOVE" in m.capabilities

typ, _ = m.create("Projects/2026")
assert typ == "OK"
typ, data = m.create("Projects/2026")
assert typ == "NO" and b"ALREADYEXISTS" in data[0], data
typ, data = m.create("INBOX")
assert typ == "NO", data
typ, _ = m.rename("Projects/2026", "Projects/Done")
assert typ == "OK"
typ, boxes = m.list(pattern="Projects/%")
assert boxes == [b'(\\HasNoChildren) "/" "Projects/Done"'], boxes
m.unsubscribe("Projects/Done")
typ, subs = m.lsub()
assert not any(b"Projects/Done" in s for s in subs), subs

msg = b"Subject: appended\r\nFrom: alice@hato.test\r\n\r\nsaved by the client\r\n"
typ, data = m.append("Sent", "(\\Seen)", imaplib.Time2Internaldate(1700000000), msg)
assert typ == "OK" and b"APPENDUID" in data[0], data
m.select("Sent")
typ, data = m.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])")
assert data[0][1] == msg, "APPEND stores the message exactly as given: %r" % data[0][1]
assert b"\\Seen" in data[0][0] and b"14-Nov-2023" in data[0][0], data

m.select("INBOX")
typ, data = m.uid("COPY", "1:*", "Projects/Done")
assert typ == "OK", data
code = m.response("COPYUID")[1][0]
assert re.fullmatch(rb"\d+ 1[,:]2 1[,:]2", code), code
typ, data = m.uid("MOVE", "1", "Archive")
assert typ == "OK", data
assert m.untagged_responses.get("EXPUNGE") == [b"1"], m.untagged_responses
typ, data = m.uid("COPY", "2", "Nowhere")
assert typ == "NO" and m.response("TRYCREATE")[1] != [None], (typ, data)
typ, st = m.status("Archive", "(MESSAGES)")
assert b"MESSAGES 1" in st[0], st

# UID EXPUNGE removes only the named \Deleted messages.
m.select("Projects/Done")
m.store("1:2", "+FLAGS", "(\\Deleted)")
typ, data = m.uid("EXPUNGE", "1")
assert typ == "OK"
typ, data = m.fetch("1:*", "(UID)")
assert data == [b"1 (UID 2)"], data

# Over quota: APPEND is refused with OVERQUOTA.
typ, data = m.append("Drafts", None, None, b"Subject: big\r\n\r\n" + b"x" * 20000 + b"\r\n")
assert typ == "NO" and b"OVERQUOTA" in data[0], data
typ, _ = m.delete("Projects/Done")
assert typ == "OK"
typ, boxes = m.list(pattern="Projects*")
assert boxes == [None] or boxes == [], boxes
m.logout()
print("imap management ok")
