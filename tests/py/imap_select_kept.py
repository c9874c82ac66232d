#!/usr/bin/python3
"""A SELECT of a mailbox selected before (its view kept, brought up to date by
what changed since) sees what changed meanwhile in another session: messages
added and expunged, flags set and cleared, a keyword gone out of use.

usage: imap_select_kept.py IMAPS_PORT USER PASSWORD   (INBOX starts empty)
"""
import imaplib
import re
import ssl
import sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def login():
    c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30)
    c.login(user, password)
    return c


def mail(i):
    return b"Subject: message %d\r\nMessage-ID: <kept-%d@example.org>\r\n\r\nbody %d\r\n" % (i, i, i)


def seen(c):
    """EXISTS, the FLAGS response and each message's (subject number, flags) after a SELECT."""
    typ, data = c.select("INBOX")
    assert typ == "OK", (typ, data)
    flags = c.untagged_responses.get("FLAGS", [b""])[-1].decode()
    typ, rows = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])") if int(data[0]) else ("OK", [])
    out = []
    for r in rows:
        if isinstance(r, tuple):
            n = int(re.search(rb"message (\d+)", r[1]).group(1))
            f = re.search(rb"FLAGS \(([^)]*)\)", r[0]).group(1).decode().split()
            out.append((n, sorted(x for x in f if x != "\\Recent")))
    return int(data[0]), flags, out


a, b = login(), login()
for i in range(1, 6):
    assert a.append("INBOX", None, None, mail(i))[0] == "OK"
n, flags, msgs = seen(a)
assert n == 5 and [m[0] for m in msgs] == [1, 2, 3, 4, 5], msgs

b.select("INBOX")
b.store("2", "+FLAGS", "($Project)")
b.store("3", "+FLAGS", "(\\Deleted)")
b.expunge()
b.append("INBOX", None, None, mail(6))
b.store("1", "+FLAGS", "(\\Seen)")
n, flags, msgs = seen(a)
assert n == 5, n
assert msgs == [(1, ["\\Seen"]), (2, ["$Project"]), (4, []), (5, []), (6, [])], msgs
assert "$Project" in flags, flags

b.select("INBOX")
b.store("2", "-FLAGS", "($Project)")
n, flags, msgs = seen(a)
assert "$Project" not in flags, "a keyword no message has is not announced: %s" % flags
assert msgs[1] == (2, []), msgs

# What a kept view says is what the store says.
typ, st = a.status("INBOX", "(MESSAGES UIDNEXT HIGHESTMODSEQ)")
a.select("INBOX")
assert a.untagged_responses.get("UIDNEXT", [b"?"])[-1] in st[0], (st, a.untagged_responses)
for c in (a, b):
    c.logout()
print("imap select kept ok")
