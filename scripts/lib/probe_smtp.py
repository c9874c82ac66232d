#!/usr/bin/python3
"""How fast one more client is served while a load runs (used by scripts/bench-smtp).

usage: probe_smtp.py HOST PORT OUT
    Every 0.2 s, on a fresh connection, sends one small message with Python's
    smtplib (EHLO, MAIL, RCPT, DATA, QUIT) and appends the seconds from connect
    to the 250 for the message to OUT, or "fail <why>". Runs until SIGTERM.
"""
import signal
import smtplib
import sys
import time

host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
running = True


def stop(*_):
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
body = b"From: probe@load.test\r\nTo: probe@bench.test\r\nSubject: probe\r\n\r\nOne more client.\r\n"
with open(out, "a", buffering=1) as f:
    while running:
        t0 = time.monotonic()
        try:
            with smtplib.SMTP(host, port, timeout=120) as s:
                s.sendmail("probe@load.test", ["probe@bench.test"], body)
                f.write(f"{time.monotonic() - t0:.4f}\n")
        except (OSError, smtplib.SMTPException) as e:
            f.write(f"fail {type(e).__name__}\n")
        time.sleep(0.2)
