#!/usr/bin/python3
"""IDLE on one server while a message arrives through another: imaplib
logs in over IMAPS and selects INBOX, then IDLE is sent on its socket
(imaplib of Python 3.11 has no idle()); smtplib sends one message to the
other server's MX port; the script waits for the untagged EXISTS that
reports it. Prints JSON: {"seconds": time from the 250 to the EXISTS}, or
{"seconds": null} if none came within the wait.

usage: idle_cross.py IMAPS_PORT USER PASSWORD SMTP_PORT [WAIT_SECONDS]
"""
import imaplib
import json
import smtplib
import ssl
import sys
import time

port, user, password, smtp_port = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
wait = float(sys.argv[5]) if len(sys.argv) > 5 else 20.0
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=60)
c.login(user, password)
typ, data = c.select("INBOX")
assert typ == "OK", data
before = int(data[0])
c.send(b"i1 IDLE\r\n")
line = c.readline()
assert line.startswith(b"+"), line

msg = f"From: x@remote.test\r\nTo: {user}\r\nSubject: idle across nodes\r\n\r\nhello\r\n"
with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as s:
    s.sendmail("x@remote.test", [user], msg)
sent = time.monotonic()

c.sock.settimeout(wait)
seconds = None
try:
    while True:
        line = c.readline()
        if not line:
            break
        parts = line.split()
        if len(parts) >= 3 and parts[2].upper() == b"EXISTS" and int(parts[1]) > before:
            seconds = time.monotonic() - sent
            break
except (TimeoutError, OSError):
    pass
c.sock.settimeout(60)
c.send(b"DONE\r\n")
print(json.dumps({"seconds": seconds}))
