#!/usr/bin/python3
"""Submit one message with Python's smtplib, as a mail client would.

Prints "OK" or "ERR <code> <text>" and exits 0 or 1.
"""
import argparse
import smtplib
import ssl
import sys
from email.message import EmailMessage

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--mode", choices=["plain", "starttls", "ssl"], default="starttls")
p.add_argument("--user")
p.add_argument("--password")
p.add_argument("--mech", choices=["PLAIN", "LOGIN"], default="PLAIN")
p.add_argument("--sender", required=True)
p.add_argument("--to", action="append", required=True)
p.add_argument("--subject", default="test")
p.add_argument("--message-id")
p.add_argument("--body", default="Hello from smtplib.\n")
p.add_argument("--source", default="127.0.0.1", help="the client's own address (any of 127.0.0.0/8)")
p.add_argument("--mail-option", action="append", default=[], help="an ESMTP parameter of MAIL FROM (RET=FULL, ENVID=...)")
p.add_argument("--rcpt-option", action="append", default=[], help="an ESMTP parameter of every RCPT TO (NOTIFY=...)")
a = p.parse_args()

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

msg = EmailMessage()
msg["From"] = a.sender
msg["To"] = ", ".join(a.to)
msg["Subject"] = a.subject
if a.message_id:
    msg["Message-ID"] = a.message_id
msg.set_content(a.body)

try:
    if a.mode == "ssl":
        s = smtplib.SMTP_SSL("127.0.0.1", a.port, context=ctx, timeout=30, source_address=(a.source, 0))
    else:
        s = smtplib.SMTP("127.0.0.1", a.port, timeout=30, source_address=(a.source, 0))
    s.ehlo("client.test")
    if a.mode == "starttls":
        s.starttls(context=ctx)
        s.ehlo("client.test")
    if a.user:
        s.user, s.password = a.user, a.password
        code, resp = s.auth(a.mech, getattr(s, "auth_" + a.mech.lower()), initial_response_ok=(a.mech == "PLAIN"))
    s.send_message(msg, mail_options=a.mail_option, rcpt_options=a.rcpt_option)
    s.quit()
    print("OK")
except smtplib.SMTPRecipientsRefused as e:
    code, text = list(e.recipients.values())[0]
    print("ERR %d %s" % (code, text.decode()))
    sys.exit(1)
except smtplib.SMTPResponseException as e:
    print("ERR %d %s" % (e.smtp_code, e.smtp_error.decode(errors="replace")))
    sys.exit(1)
