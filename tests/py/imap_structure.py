#!/usr/bin/python3
"""ENVELOPE, BODYSTRUCTURE and numbered sections with imaplib, on a generated
multipart message and on real messages from the shared corpus.

usage: imap_structure.py IMAPS_PORT USER PASSWORD CORPUS_DIR COUNT
"""
import base64
import glob
import imaplib
import re
import ssl
import sys
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

port, user, password, corpus, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=60)
c.login(user, password)

m = MIMEMultipart()
m["Subject"] = "quarterly report"
m["From"] = "Yamada <yamada@example.jp>"
m["To"] = user
m["Message-ID"] = "<report-1@example.jp>"
m.attach(MIMEText("see attached\n", "plain", "utf-8"))
pdf = b"%PDF-1.4 fake pdf bytes\n" * 20
m.attach(MIMEApplication(pdf, "pdf", Name="report.pdf"))
c.append("INBOX", None, None, m.as_bytes())

paths = sorted(glob.glob(corpus + "/*.eml"))[:count]
for p in paths:
    typ, _ = c.append("Archive", None, None, open(p, "rb").read())
    assert typ == "OK", p

c.select("INBOX")
typ, data = c.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
text = data[0].decode() if isinstance(data[0], bytes) else b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data).decode()
assert '"quarterly report"' in text and '"yamada" "example.jp"' in text and '"<report-1@example.jp>"' in text, text
assert '"APPLICATION" "PDF" ("NAME" "report.pdf")' in text and '"MIXED"' in text, text
typ, data = c.fetch("1", "(BODY.PEEK[2])")
assert base64.b64decode(data[0][1]) == pdf, "BODY[2] is the attachment as encoded"
typ, data = c.fetch("1", "(BODY.PEEK[1])")
assert base64.b64decode(data[0][1]) == b"see attached\n", data

def well_formed(resp):
    """Balanced parentheses and quotes, literals already split out by imaplib."""
    depth, i, s = 0, 0, resp
    while i < len(s):
        ch = s[i]
        if ch == '"':
            i += 1
            while s[i] != '"':
                i += 2 if s[i] == "\\" else 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            assert depth >= 0, resp
        i += 1
    return depth == 0

c.select("Archive")
typ, data = c.fetch("1:*", "(UID ENVELOPE BODYSTRUCTURE)")
assert typ == "OK"
responses, cur = [], ""
for item in data:
    if isinstance(item, tuple):
        cur += item[0].decode(errors="replace").rsplit("{", 1)[0] + '"literal"'
    else:
        cur += item.decode(errors="replace")
        if re.match(r"^\d+ \(", cur) and well_formed(cur[cur.index("("):]):
            responses.append(cur)
            cur = ""
assert len(responses) == len(paths), (len(responses), len(paths), cur[:300])
print("structure ok for", len(paths), "corpus messages")
