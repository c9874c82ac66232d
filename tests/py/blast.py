#!/usr/bin/python3
"""Sends many messages over SMTP from several threads while the server may be
killed at any moment. Each message has a unique Message-ID; the ID is written
to ACKFILE only after the server answered 250 to the end of DATA.

usage: blast.py PORT RCPT ACKFILE THREADS SECONDS
"""
import smtplib
import sys
import threading
import time

port, rcpt, ackfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
threads, seconds = int(sys.argv[4]), float(sys.argv[5])
lock = threading.Lock()
ack = open(ackfile, "a")
deadline = time.time() + seconds
counter = [0]


def next_id():
    with lock:
        counter[0] += 1
        return "<crash-%d@blast.test>" % counter[0]


def worker():
    while time.time() < deadline:
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=10)
            s.ehlo("blast.test")
            for _ in range(20):
                if time.time() >= deadline:
                    break
                mid = next_id()
                body = "From: blast@blast.test\r\nTo: %s\r\nSubject: crash test\r\nMessage-ID: %s\r\n\r\n%s\r\n" % (rcpt, mid, "x" * 2000)
                s.sendmail("blast@blast.test", [rcpt], body)
                with lock:
                    ack.write(mid + "\n")
                    ack.flush()
            s.quit()
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)


ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("attempted", counter[0])
