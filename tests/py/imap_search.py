#!/usr/bin/python3
"""SEARCH over decoded text: Japanese mail in three charsets, plus flag/size/date keys.

usage: imap_search.py IMAPS_PORT SMTP_PORT USER PASSWORD   (INBOX starts empty)
"""
import imaplib
import smtplib
import ssl
import sys
from email.header import Header
from email.mime.text import MIMEText

port, smtp_port, user, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def mail(subject, body, charset, sender):
    m = MIMEText(body, "plain", charset)
    m["Subject"] = Header(subject, charset)
    m["From"] = sender
    m["To"] = user
    return m.as_bytes()

msgs = [
    mail("会議の件", "明日の会議は十時からです。", "iso-2022-jp", "tanaka@example.jp"),
    # Built by hand: Python's email package would convert Shift_JIS to ISO-2022-JP.
    b"Subject: =?Shift_JIS?B?" + __import__("base64").b64encode("お知らせ".encode("shift_jis")) + b"?=\r\n"
    b"From: suzuki@example.jp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=Shift_JIS\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "東京で会いましょう。".encode("shift_jis") + b"\r\n",
    mail("ご案内", "大阪の支店へようこそ。" + "長文" * 500, "utf-8", "sato@example.jp"),
    b"Subject: plain english\r\nFrom: bob@example.org\r\nMessage-ID: <find-me@example.org>\r\n\r\nnothing japanese here\r\n",
]
assert b"ISO-2022-JP" in msgs[0].upper() and b"SHIFT_JIS" in msgs[1].upper()
s = smtplib.SMTP("127.0.0.1", smtp_port, timeout=30)
for m in msgs:
    s.sendmail("sender@example.jp", [user], m)
s.quit()

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30)
c.login(user, password)
import time
for _ in range(50):
    if c.select("INBOX")[1] == [b"4"]:
        break
    time.sleep(0.1)

def who(nums):
    """Senders' local parts for message numbers: delivery order is not fixed."""
    out = []
    for n in nums:
        typ, data = c.fetch(n, "(BODY.PEEK[HEADER.FIELDS (FROM)])")
        out.append(data[0][1].decode().split("@")[0].split()[-1].strip("<"))
    return sorted(out)

def search(*args):
    typ, data = c.search(None, *args)
    assert typ == "OK", (typ, data)
    return data[0].split()

def search_utf8(key, text):
    c.literal = text.encode("utf-8")
    typ, data = c.search("UTF-8", key)
    assert typ == "OK", (typ, data)
    return who(data[0].split())

assert search_utf8("SUBJECT", "会議") == ["tanaka"], "ISO-2022-JP subject"
assert search_utf8("BODY", "東京") == ["suzuki"], "Shift_JIS body"
assert search_utf8("TEXT", "大阪") == ["sato"], "UTF-8 body via TEXT"
assert search_utf8("FROM", "suzuki") == ["suzuki"]
assert search_utf8("SUBJECT", "存在しない") == []
assert who(search("HEADER", "Message-ID", "find-me")) == ["bob"]
assert who(search("LARGER", "3000")) == ["sato"]
assert who(search("OR", "FROM", "bob", "FROM", "tanaka")) == ["bob", "tanaka"]
suzuki = search("FROM", "suzuki")[0].decode()
c.store(suzuki, "+FLAGS", "(\\Flagged \\Seen)")
assert who(search("UNSEEN", "NOT", "FLAGGED")) == ["bob", "sato", "tanaka"]
assert len(search("SINCE", "1-Jan-2020", "BEFORE", "1-Jan-2100")) == 4
typ, data = c.uid("SEARCH", "UID", "2:3")
assert data[0].split() == [b"2", b"3"], data
typ, data = c.search("ISO-8859-1", "ALL")
assert typ == "NO", (typ, data)
print("imap search ok")
