#!/usr/bin/python3
"""IMAP4rev2 (RFC 9051) after ENABLE: UTF-8 mailbox names, no \\Recent,
SEARCH answered with ESEARCH, and SEARCHRES ("$").

usage: imap_rev2.py IMAPS_PORT USER PASSWORD   (the account starts empty)
"""
import imaplib
import ssl
import sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def ok(result, what):
    typ, data = result
    assert typ == "OK", (what, typ, data)
    return data


m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30)
assert "IMAP4REV2" in m.capabilities and "SEARCHRES" in m.capabilities, m.capabilities
m.login(user, password)
ok(m._simple_command("ENABLE", "IMAP4rev2"), "ENABLE")
assert m.untagged_responses.pop("ENABLED") == [b"IMAP4rev2"]
m._encoding = "utf-8"  # imaplib does not switch by itself for IMAP4rev2

ok(m.create('"報告/2026"'), "CREATE with a UTF-8 name")
data = ok(m.list('""', '"報告*"'), "LIST")
assert any('"報告/2026"' in d.decode("utf-8") for d in data), data

for i, subject in enumerate(["alpha", "beta", "beta again"]):
    ok(m.append("INBOX", None, None, ("Subject: %s\r\nMessage-ID: <r2-%d@x>\r\n\r\nbody\r\n" % (subject, i)).encode()), "APPEND")
m.untagged_responses.clear()
ok(m._simple_command("SELECT", "INBOX"), "SELECT")
m.state = "SELECTED"
assert "RECENT" not in m.untagged_responses, m.untagged_responses
typ, data = m.search(None, "ALL")
es = m.untagged_responses.pop("ESEARCH", [])
assert typ == "OK" and es and es[0].endswith(b"ALL 1:3"), (data, es)
assert "SEARCH" not in m.untagged_responses or m.untagged_responses["SEARCH"] == [None], m.untagged_responses

# SEARCHRES: SAVE alone answers nothing; "$" then names the saved messages.
ok(m.search(None, "RETURN", "(SAVE)", "SUBJECT", "beta"), "SEARCH SAVE")
assert not m.untagged_responses.get("ESEARCH"), m.untagged_responses
data = ok(m.fetch("$", "(UID)"), "FETCH $")
assert [d.split(b"UID ")[1].rstrip(b")") for d in data] == [b"2", b"3"], data
data = ok(m.uid("FETCH", "$", "(FLAGS)"), "UID FETCH $")
assert len(data) == 2, data
ok(m.search(None, "RETURN", "(COUNT)", "UID", "$", "SUBJECT", "again"), "SEARCH UID $")
assert m.untagged_responses.pop("ESEARCH")[0].endswith(b"COUNT 1")
m.logout()

# An IMAP4rev1 client sees the same mailbox in modified UTF-7.
n = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30)
n.login(user, password)
data = ok(n.list('""', "*"), "LIST rev1")
assert any(b'"&WDFUSg-/2026"' in d for d in data), data
n.logout()
print("imap4rev2 ok")
