#!/usr/bin/python3
"""SEARCH BODY and TEXT answer the same whether every message is read or the
sketches of earlier searches skip some: each search runs on INBOX (sketched
by the searches before it) and on a fresh copy of INBOX (no sketches yet, so
every message is read), and the two answers must be the same messages.

usage: imap_search_sketch.py IMAPS_PORT USER PASSWORD CORPUS_DIR COUNT   (INBOX starts empty)
"""
import base64
import imaplib
import os
import random
import ssl
import sys
from email.header import Header
from email.mime.text import MIMEText

port, user, password, corpus, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])


def mail(subject, body, charset, subtype="plain"):
    m = MIMEText(body, subtype, charset)
    m["Subject"] = Header(subject, charset)
    m["From"] = "tanaka@example.jp"
    return m.as_bytes()


# Mail whose text is only found decoded: ISO-2022-JP, base64, quoted-printable, HTML references.
crafted = [
    mail("会議の件", "明日の会議は十時からです。", "iso-2022-jp"),
    mail("予定", "来週の会議室は三階です。Linux の勉強会も。", "utf-8"),
    mail("Réunion", "La réunion du comité est à 10h, salle Ωμέγα.", "utf-8"),
    b"Subject: entities\r\nContent-Type: text/html\r\n\r\n<p>&#20250;&#35696; about L&#105;nux</p>\r\n",
    b"Subject: =?utf-8?b?" + base64.b64encode("件名だけの単語".encode()) + b"?=\r\n\r\nbody\r\n",
]
files = sorted(os.listdir(corpus))[:count]
raws = [open(os.path.join(corpus, f), "rb").read() for f in files] + crafted

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=120)
c.login(user, password)
for raw in raws:
    typ, data = c.append("INBOX", None, None, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert typ == "OK", (typ, data)


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def search(*keys, utf8=None):
    if utf8 is not None:
        c.literal = utf8.encode("utf-8")
        typ, data = c.search("UTF-8", *keys)
    else:
        typ, data = c.search(None, *keys)
    assert typ == "OK", (typ, data, keys)
    return data[0].split()


copies = 0


def both(*keys, utf8=None):
    """The answer on sketched INBOX and on a fresh copy of it, which must agree."""
    global copies
    copies += 1
    fresh = "scan-%d" % copies
    assert c.create(fresh)[0] == "OK"
    assert c.copy("1:*", fresh)[0] == "OK"
    c.select(fresh, readonly=True)
    read_all = search(*keys, utf8=utf8)
    c.select("INBOX", readonly=True)
    sketched = search(*keys, utf8=utf8)
    assert sketched == read_all, (keys, utf8, len(sketched), len(read_all))
    c.delete(fresh)
    return sketched


c.select("INBOX", readonly=True)
search("TEXT", q("sketch every message"))  # the first BODY/TEXT search reads and sketches all

rng = random.Random(7)
ascii_needles = ["linux", "LINUX", "zyxwvut", "spamassassin", "the", "re", "Subject", "content-type", "=?", "<"]
for _ in range(20):
    lines = [l for l in rng.choice(raws).decode("latin-1").splitlines() if len(l.strip()) > 12 and l.isascii()]
    if lines:
        line = rng.choice(lines)
        start = rng.randrange(len(line) - 3)
        ascii_needles.append(line[start:start + rng.randint(3, 10)])
found = 0
for n in ascii_needles:
    for key in ("TEXT", "BODY"):
        found += len(both(key, q(n))) > 0
both("TEXT", q("linux"), "BODY", q("kernel"))
both("OR", "BODY", q("zyxwvut"), "TEXT", q("spamassassin"))
both("NOT", "BODY", q("linux"))
assert found > len(ascii_needles), "most needles taken from the mail are found"

japanese = {"会議": 2, "明": 1, "会議室": 1, "件名だけ": 1, "Ωμέγα": 1, "ωμέγα": 1, "réunion": 1, "存在しない": 0}
for n, at_least in japanese.items():
    for key in ("TEXT", "BODY"):
        hits = both(key, utf8=n)
        if key == "TEXT" or n != "件名だけ":
            assert len(hits) >= at_least, (key, n, hits)
assert both("BODY", utf8="件名だけ") == [], "a word of the subject alone is not in the body"
print("imap search sketch ok: %d needles" % (len(ascii_needles) + len(japanese)))
