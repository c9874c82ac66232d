#!/usr/bin/python3
"""IMAP extensions with imaplib: ID, NAMESPACE, QUOTA, ENABLE, CONDSTORE/QRESYNC,
ESEARCH, SORT, THREAD, LIST-EXTENDED/LIST-STATUS, STATUS=SIZE, BINARY and
modified UTF-7 mailbox names.

usage: imap_extensions.py IMAPS_PORT USER PASSWORD   (the account starts empty)
"""
import imaplib
import re
import ssl
import sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE


def connect():
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30)
    m.login(user, password)
    return m


def untagged(m, kind):
    return m.untagged_responses.pop(kind, [])


def ok(result, what):
    typ, data = result
    assert typ == "OK", (what, typ, data)
    return data


m = connect()
for cap in ["ENABLE", "CONDSTORE", "QRESYNC", "QUOTA", "ESEARCH", "SORT", "THREAD=REFERENCES",
            "THREAD=ORDEREDSUBJECT", "LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE", "SPECIAL-USE",
            "NAMESPACE", "ID", "BINARY"]:
    assert cap in m.capabilities, (cap, m.capabilities)

ok(m.xatom("ID", '("name" "imaplib")'), "ID")
assert b"Hato" in untagged(m, "ID")[0]
data = ok(m.namespace(), "NAMESPACE")
assert data == [b'(("" "/")) NIL NIL'], data

messages = [
    ("Lunch", "<a@x>", "", "Thu, 01 Jan 2026 10:00:00 +0000", "zed@x.test", "text/plain", "see you\r\n"),
    ("Re: Lunch", "<b@x>", "<a@x>", "Fri, 02 Jan 2026 10:00:00 +0000", "amy@x.test", "text/plain", "yes\r\n"),
    ("Budget", "<c@x>", "", "Sat, 03 Jan 2026 10:00:00 +0000", "bob@x.test", "text/plain", "numbers\r\n"),
    ("Re: Lunch", "<d@x>", "<a@x> <b@x>", "Sun, 04 Jan 2026 10:00:00 +0000", "cat@x.test",
     "multipart/mixed; boundary=BB",
     "--BB\r\nContent-Type: text/plain\r\n\r\nattached\r\n--BB\r\nContent-Type: application/octet-stream\r\n"
     "Content-Transfer-Encoding: base64\r\n\r\nAAECAwRoYXRv\r\n--BB--\r\n"),
    ("=?UTF-8?B?5Y+X5L+h44OG44K544OI?=", "<e@x>", "", "Mon, 05 Jan 2026 10:00:00 +0000", "dan@x.test", "text/plain; charset=utf-8", "本文\r\n"),
]
for subject, mid, refs, date, sender, ctype, body in messages:
    raw = f"From: {sender}\r\nTo: {user}\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\nDate: {date}\r\n"
    if refs:
        raw += f"References: {refs}\r\n"
    raw += f"MIME-Version: 1.0\r\nContent-Type: {ctype}\r\n\r\n{body}"
    ok(m.append("INBOX", None, None, raw.encode()), "APPEND")

data = ok(m.getquotaroot("INBOX"), "GETQUOTAROOT")
assert data[0] == [b'"INBOX" ""'] and re.fullmatch(rb'"" \(STORAGE \d+ 10240\)', data[1][0]), data

ok(m.enable("CONDSTORE QRESYNC"), "ENABLE")
assert untagged(m, "ENABLED") == [b"CONDSTORE QRESYNC"]

ok(m.select("INBOX"), "SELECT")
h0 = int(m.untagged_responses["HIGHESTMODSEQ"][0])
validity = int(m.untagged_responses["UIDVALIDITY"][0])

data = ok(m.sort("(SUBJECT)", "UTF-8", "ALL"), "SORT")
assert data == [b"3 1 2 4 5"], data
data = ok(m.sort("(REVERSE DATE)", "UTF-8", "ALL"), "SORT")
assert data == [b"5 4 3 2 1"], data
data = ok(m.uid("SORT", "(FROM)", "UTF-8", "NOT FROM zed"), "UID SORT")
assert data == [b"2 3 4 5"], data
data = ok(m.thread("REFERENCES", "UTF-8", "ALL"), "THREAD")
assert data == [b"(1 2 4)(3)(5)"], data
data = ok(m.thread("ORDEREDSUBJECT", "UTF-8", "ALL"), "THREAD")
assert data == [b"(1 (2)(4))(3)(5)"], data

ok(m.uid("SEARCH", "RETURN", "(MIN MAX COUNT)", "ALL"), "ESEARCH")
es = untagged(m, "ESEARCH")
assert re.fullmatch(rb'\(TAG "\w+"\) UID MIN 1 MAX 5 COUNT 5', es[0]), es
ok(m.search(None, "RETURN", "(ALL)", "SUBJECT", "lunch"), "ESEARCH ALL")
es = untagged(m, "ESEARCH")
assert es[0].endswith(b"ALL 1:2,4"), es

data = ok(m.store("1", "+FLAGS", "(\\Flagged)"), "STORE")
h1 = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
assert h1 > h0, (h0, data)
data = ok(m.search(None, "MODSEQ", str(h1)), "SEARCH MODSEQ")
assert data == [b"1 (MODSEQ %d)" % h1], data
ok(m._simple_command("STORE", "1", "(UNCHANGEDSINCE %d)" % h0, "+FLAGS", "(\\Seen)"), "conditional STORE")
typ, data = m.response("MODIFIED")
assert data == [b"1"], ("conditional STORE on a changed message must fail", typ, data)
data = ok(m.uid("FETCH", "1:*", "(FLAGS) (CHANGEDSINCE %d)" % h0), "FETCH CHANGEDSINCE")
assert len(data) == 1 and b"UID 1 " in data[0] and b"MODSEQ" in data[0], data

ok(m.store("3", "+FLAGS", "(\\Deleted)"), "STORE")
untagged(m, "FETCH")
ok(m.expunge(), "EXPUNGE")
assert untagged(m, "VANISHED") == [b"3"], "QRESYNC sessions hear VANISHED"

data = ok(m.uid("FETCH", "4", "(BINARY.PEEK[2] BINARY.SIZE[2])"), "BINARY")
assert data[0][1] == b"\x00\x01\x02\x03\x04hato", data
assert b"BINARY.SIZE[2] 9" in data[1], data

# A second client resynchronising from h0 learns of the expunge and the flag change.
n = connect()
ok(n.enable("QRESYNC"), "ENABLE")
ok(n._simple_command("SELECT", "INBOX", "(QRESYNC (%d %d))" % (validity, h0)), "SELECT QRESYNC")
n.state = "SELECTED"  # imaplib's own select() cannot pass QRESYNC parameters
assert untagged(n, "VANISHED") == [b"(EARLIER) 3"], n.untagged_responses
fetches = untagged(n, "FETCH")
assert any(b"UID 1 " in f and b"\\Flagged" in f for f in fetches), fetches
ok(n.uid("FETCH", "1:*", "(FLAGS) (CHANGEDSINCE %d VANISHED)" % h0), "FETCH VANISHED")
assert untagged(n, "VANISHED") == [b"(EARLIER) 3"]
n.logout()

# Modified UTF-7 names and LIST-EXTENDED / LIST-STATUS.
ok(m.create("&ZeVnLIqe-/&U9dP4Q-"), "CREATE 日本語/受信")
data = ok(m.list('""', "&ZeVnLIqe-*"), "LIST")
assert b'"&ZeVnLIqe-/&U9dP4Q-"' in b" ".join(data), data
typ, data = m.create("&Jjo")
assert typ == "NO" and b"&-sequence" in data[0], data
typ, data = m.create("&AGE-")
assert typ == "NO", data
data = ok(m._simple_command("LIST", "(SPECIAL-USE)", '""', "*"), "LIST SPECIAL-USE")
names = untagged(m, "LIST")
assert len(names) == 5 and all(b"\\HasNoChildren" in x for x in names), names
ok(m._simple_command("LIST", '""', "(INBOX Sent)", "RETURN", "(STATUS (MESSAGES SIZE) SUBSCRIBED)"), "LIST-STATUS")
lines, status = untagged(m, "LIST"), untagged(m, "STATUS")
assert len(lines) == 2 and all(b"\\Subscribed" in x for x in lines), lines
assert re.fullmatch(rb'"INBOX" \(MESSAGES 4 SIZE \d+\)', status[0]), status
data = ok(m.status("INBOX", "(MESSAGES SIZE DELETED HIGHESTMODSEQ)"), "STATUS")
assert re.fullmatch(rb'"INBOX" \(MESSAGES 4 SIZE \d+ DELETED 0 HIGHESTMODSEQ \d+\)', data[0]), data
try:
    m._simple_command("LIST", "(SUBSCRIBED", '""', "*")
    raise AssertionError("malformed LIST accepted")
except imaplib.IMAP4.error as e:
    assert "BAD" in str(e) and "selection options" in str(e), e
ok(m.noop(), "the session survives a BAD")

m.logout()
print("imap extensions ok")
