#!/usr/bin/python3
"""Lists a mailbox over IMAPS with imaplib: prints a JSON list of
[uid, message-id] in the order the server gives them (sequence order).

usage: imap_list.py [HOST:]IMAPS_PORT USER PASSWORD [MAILBOX]
"""
import imaplib
import json
import re
import ssl
import sys

host, _, port = sys.argv[1].rpartition(":")
host, port = host or "127.0.0.1", int(port)
user, password = sys.argv[2], sys.argv[3]
mailbox = sys.argv[4] if len(sys.argv) > 4 else "INBOX"
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=60)
c.login(user, password)
typ, data = c.select(mailbox, readonly=True)
assert typ == "OK", data
out = []
if int(data[0]) > 0:
    typ, data = c.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert typ == "OK", data
    for item in data:
        if not isinstance(item, tuple):
            continue
        uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
        mid = item[1].decode().split(":", 1)[1].strip() if b":" in item[1] else ""
        out.append([uid, mid])
c.logout()
print(json.dumps(out))
