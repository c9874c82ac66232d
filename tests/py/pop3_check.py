#!/usr/bin/python3
"""A POP3 session scenario with Python's poplib against a running Hato.

usage: pop3_check.py PORT TLS_PORT USER PASSWORD
Expects exactly 3 messages in the INBOX; deletes the first. Exits non-zero
with the failed check's message on stderr.
"""
import poplib
import ssl
import sys

port, tls_port, user, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

p = poplib.POP3("127.0.0.1", port, timeout=30)
caps = p.capa()
assert "STLS" in caps and "USER" not in caps, caps
try:
    p.user(user)
    raise SystemExit("USER was accepted before TLS")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
p.stls(context=ctx)
assert "USER" in p.capa() and "STLS" not in p.capa()
p.user(user)
p.pass_(password)
count, size = p.stat()
assert count == 3, (count, size)
resp, listing, _ = p.list()
sizes = [int(l.split()[1]) for l in listing]
assert sum(sizes) == size, (sizes, size)
resp, uidl, _ = p.uidl()
uids = [l.split()[1] for l in uidl]
assert len(set(uids)) == 3
resp, lines, octets = p.retr(2)
text = b"\r\n".join(lines)
assert b"Subject: message 1" in text, text
assert b"\r\n.dot line\r\n" in text, "dot-stuffing round trip"
assert octets >= sizes[1]
resp, head, _ = p.top(3, 0)
assert any(l.startswith(b"Subject: message 2") for l in head) and b"body line 1 of 2" not in b"\n".join(head)
resp, head1, _ = p.top(3, 1)
assert b"body line 1 of 2" in b"\n".join(head1)
p.dele(1)
try:
    p.retr(1)
    raise SystemExit("a deleted message was still readable")
except poplib.error_proto:
    pass
p.rset()
assert p.stat()[0] == 3
p.dele(1)
# A second session cannot take the maildrop while this one holds it.
q = poplib.POP3_SSL("127.0.0.1", tls_port, timeout=30, context=ctx)
q.user(user)
try:
    q.pass_(password)
    raise SystemExit("two sessions got the same maildrop")
except poplib.error_proto as e:
    assert b"[IN-USE]" in e.args[0], e
q.quit()
resp = p.quit()
assert b"1 messages deleted" in resp, resp

# Port 995: the deletion stuck, UIDs of the others did not change.
r = poplib.POP3_SSL("127.0.0.1", tls_port, timeout=30, context=ctx)
r.user(user)
r.pass_(password)
assert r.stat()[0] == 2
resp, uidl2, _ = r.uidl()
assert [l.split()[1] for l in uidl2] == uids[1:], (uidl2, uids)
r.quit()
try:
    bad = poplib.POP3_SSL("127.0.0.1", tls_port, timeout=30, context=ctx)
    bad.user(user)
    bad.pass_("wrong")
    raise SystemExit("a wrong password was accepted")
except poplib.error_proto as e:
    assert b"[AUTH]" in e.args[0], e
print("pop3 scenario ok")
