#!/usr/bin/python3
"""Times IMAP operations on a very large mailbox (measured, not asserted).

usage: imap_large.py IMAPS_PORT USER PASSWORD EXPECTED_COUNT
Prints one line per operation: "<name> <seconds> <detail>".
"""
import imaplib
import re
import ssl
import sys
import time

port, user, password, expected = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
imaplib._MAXLINE = 1 << 30  # a 100,000-number SEARCH response is one long line


def timed(name, f, detail=lambda r: ""):
    t = time.monotonic()
    r = f()
    print("%s %.3f %s" % (name, time.monotonic() - t, detail(r)), flush=True)
    return r


m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=600)
m.login(user, password)
typ, data = timed("select", lambda: m.select("INBOX"), lambda r: r[1][0].decode())
assert int(data[0]) == expected, data
h0 = int(m.untagged_responses["HIGHESTMODSEQ"][0])
typ, data = timed("fetch_flags_uid", lambda: m.fetch("1:*", "(FLAGS UID)"), lambda r: "%d lines" % len(r[1]))
assert len(data) == expected, len(data)
typ, data = timed("uid_search_all", lambda: m.uid("SEARCH", "ALL"), lambda r: "%d hits" % len(r[1][0].split()))
assert len(data[0].split()) == expected
typ, data = timed("uid_search_unseen", lambda: m.uid("SEARCH", "UNSEEN"), lambda r: "%d hits" % len(r[1][0].split()))
typ, data = timed("uid_search_from", lambda: m.uid("SEARCH", "FROM", "sender7@"), lambda r: "%d hits" % len(r[1][0].split()))
assert len(data[0].split()) == expected // 10, len(data[0].split())

# Another client changes 50 messages; a CONDSTORE re-sync fetches only those.
n = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=600)
n.login(user, password)
n.select("INBOX")
n.store("1:50", "+FLAGS.SILENT", "(\\Flagged)")
n.logout()
m.close()
typ, _ = timed("resync_select_condstore", lambda: m._simple_command("SELECT", "INBOX", "(CONDSTORE)"))
m.state = "SELECTED"
typ, data = timed("resync_changedsince", lambda: m.uid("FETCH", "1:*", "(FLAGS) (CHANGEDSINCE %d)" % h0), lambda r: "%d changed" % len(r[1]))
assert len(data) == 50 and all(b"\\Flagged" in d for d in data), data[:3]
m.logout()
print("large mailbox ok")
