#!/usr/bin/python3
"""An IMAP scenario with Python's imaplib against a running Hato.

usage: imap_check.py IMAP_PORT IMAPS_PORT SMTP_PORT USER PASSWORD
Expects exactly 3 messages in the INBOX at the start.
"""
import imaplib
import smtplib
import ssl
import sys
import threading
import time

port, tls_port, smtp_port, user, password = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

a = imaplib.IMAP4("127.0.0.1", port, timeout=30)
assert "LOGINDISABLED" in a.capabilities and "STARTTLS" in a.capabilities, a.capabilities
try:
    a.login(user, password)
    raise SystemExit("LOGIN was accepted before TLS")
except imaplib.IMAP4.error:
    pass
a.starttls(ssl_context=ctx)
assert "AUTH=PLAIN" in a.capabilities and "STARTTLS" not in a.capabilities, a.capabilities
typ, _ = a.login(user, password)
assert typ == "OK"

typ, boxes = a.list()
names = [b.decode().split(' "/" ')[1].strip('"') for b in boxes]
assert names == ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"], names
assert any(b"\\Sent" in b and b'"Sent"' in b for b in boxes), boxes
typ, st = a.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)")
assert b"MESSAGES 3" in st[0] and b"UNSEEN 3" in st[0] and b"UIDNEXT 4" in st[0], st

typ, data = a.select("INBOX")
assert data == [b"3"], data
assert a.untagged_responses.get("RECENT") == [b"3"], "the first SELECT sees new mail as \\Recent"
typ, data = a.fetch("1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
assert len(data) == 3 and b"UID 1 " in data[0] and b"FLAGS (\\Recent)" in data[0] and b"INTERNALDATE" in data[0], data
typ, data = a.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert data[0][1].strip() == b"Subject: message 1", data
typ, data = a.uid("FETCH", "3", "(BODY.PEEK[])")
body = data[0][1]
assert b"Subject: message 2" in body and b"\r\n.dot line\r\n" in body, body
size = int(a.fetch("3", "(RFC822.SIZE)")[1][0].split(b"RFC822.SIZE ")[1].rstrip(b")"))
assert size == len(body), (size, len(body))
typ, data = a.fetch("1", "(BODY[TEXT]<0.11>)")
assert data[0][1] == b"body line 1", data
typ, data = a.fetch("1", "(FLAGS)")
assert b"\\Seen" in data[0], "a non-PEEK fetch sets \\Seen: %r" % data

# A second session sees the first one's changes without stale sequence numbers.
b = imaplib.IMAP4_SSL("127.0.0.1", tls_port, ssl_context=ctx, timeout=30)
b.login(user, password)
b.select("INBOX")
assert b.untagged_responses.get("RECENT") == [b"0"], "\\Recent belongs to one session only"
typ, data = a.store("2", "+FLAGS", "(\\Deleted \\Flagged)")
assert b"\\Deleted" in data[0] and b"\\Flagged" in data[0], data
typ, data = a.expunge()
assert data == [b"2"], data
typ, data = b.noop()
untagged = b.untagged_responses
assert untagged.get("EXPUNGE") == [b"2"], untagged
typ, data = b.fetch("1:*", "(UID)")
assert [d.split(b"UID ")[1].rstrip(b")") for d in data] == [b"1", b"3"], data

# IDLE in session b sees a delivery over SMTP.
b.send(b"I1 IDLE\r\n")
assert b.readline().startswith(b"+")
def deliver():
    time.sleep(0.5)
    s = smtplib.SMTP("127.0.0.1", smtp_port, timeout=30)
    s.sendmail("idle@example.org", [user], "Subject: while idle\r\n\r\nhi\r\n")
    s.quit()
threading.Thread(target=deliver).start()
started = time.time()
line = b.readline()
waited = time.time() - started
assert line.strip() == b"* 3 EXISTS", line
b.send(b"DONE\r\n")
line = b.readline()
# IMAP4rev1: the new message is recent in this session, told after its EXISTS.
while line.startswith(b"* "):
    assert line.strip() == b"* 1 RECENT", line
    line = b.readline()
assert line.startswith(b"I1 OK"), ("IDLE ended", line)
print("IDLE saw the delivery after %.2f s" % waited)

typ, data = a.select("INBOX", readonly=True)
assert typ == "OK" and data == [b"3"], data
typ, data = a.store("1", "+FLAGS", "(\\Seen)")
assert typ == "NO" and b"READ-ONLY" in data[0], ("STORE on a mailbox opened with EXAMINE", typ, data)
typ, data = a.select("Nope")
assert typ == "NO"
a.logout()
b.logout()
try:
    c = imaplib.IMAP4_SSL("127.0.0.1", tls_port, ssl_context=ctx, timeout=30)
    c.login(user, "wrong")
    raise SystemExit("a wrong password was accepted")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e
print("imap scenario ok")
