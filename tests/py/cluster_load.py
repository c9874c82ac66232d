#!/usr/bin/python3
"""SMTP load over several servers at once, as MX clients of a cluster send it.

Thread i sends to PORTS[i % len(PORTS)], messages to the recipients in turn,
each with a unique Message-ID. A 4xx answer (or a dropped connection) is
what a real MTA retries: the same message is sent again, to the next port,
after a short pause, until it is accepted. A Message-ID is written to ACKFILE
with the time only after a 250 to the end of DATA.

Prints a JSON summary: attempted, acked, retries (4xx or dropped connections
that were tried again), failures (5xx), and per message the longest time from
first try to 250 ("longest_wait") and the longest gap between any two
consecutive acknowledgements ("longest_gap") after STALL_FROM seconds.

usage: cluster_load.py ACKFILE THREADS SECONDS PORT[,PORT...] RCPT[,RCPT...] [SIZE]
(a PORT may be HOST:PORT; a bare port is on 127.0.0.1)
"""
import json
import os
import smtplib
import sys
import threading
import time

ackfile, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ports = [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) if ":" in t else ("127.0.0.1", int(t))
         for t in sys.argv[4].split(",")]
rcpts = sys.argv[5].split(",")
size = int(sys.argv[6]) if len(sys.argv) > 6 else 1000
# How long a client waits for a silent server (a dead node) before it retries elsewhere.
timeout = float(os.environ.get("SMTP_TIMEOUT", "60"))
lock = threading.Lock()
ack = open(ackfile, "a")
started = time.time()
deadline = started + seconds
stats = {"attempted": 0, "acked": 0, "retries": 0, "failures": 0, "longest_wait": 0.0}
ack_times = []


def next_message():
    with lock:
        stats["attempted"] += 1
        n = stats["attempted"]
    rcpt = rcpts[n % len(rcpts)]
    mid = "<load-%d-%d@cluster.test>" % (n, int(started))
    body = "From: load@cluster.test\r\nTo: %s\r\nSubject: cluster load %d\r\nMessage-ID: %s\r\n\r\n%s\r\n" % (
        rcpt, n, mid, "x" * size)
    return rcpt, mid, body


def worker(index):
    turn = index
    conn = None
    while time.time() < deadline:
        rcpt, mid, body = next_message()
        first = time.time()
        while True:
            host, port = ports[turn % len(ports)]
            try:
                if conn is None:
                    conn = smtplib.SMTP(host, port, timeout=timeout)
                    conn.ehlo("cluster.test")
                conn.sendmail("load@cluster.test", [rcpt], body)
                now = time.time()
                with lock:
                    stats["acked"] += 1
                    stats["longest_wait"] = max(stats["longest_wait"], now - first)
                    ack_times.append(now)
                    ack.write("%s %.3f %s:%d\n" % (mid, now - started, host, port))
                    ack.flush()
                break
            except smtplib.SMTPResponseException as e:
                if e.smtp_code >= 500:
                    with lock:
                        stats["failures"] += 1
                    break
                with lock:
                    stats["retries"] += 1
            except (OSError, smtplib.SMTPException):
                with lock:
                    stats["retries"] += 1
            # A temporary failure: new connection, next server, after a pause.
            try:
                if conn is not None:
                    conn.close()
            except OSError:
                pass
            conn = None
            turn += 1
            time.sleep(0.2)
    if conn is not None:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            pass


ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
times = sorted(ack_times)
gaps = [b - a for a, b in zip(times, times[1:])]
stats["longest_gap"] = round(max(gaps), 3) if gaps else 0.0
stats["longest_wait"] = round(stats["longest_wait"], 3)
stats["seconds"] = round(time.time() - started, 3)
print(json.dumps(stats))
