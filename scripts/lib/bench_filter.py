#!/usr/bin/python3
"""Helpers for scripts/bench-filter.

usage: bench_filter.py send PORT RCPT THREADS CORPUS_DIR COUNT
           replays COUNT messages from CORPUS_DIR (cycled) over SMTP from
           THREADS connections, several messages per connection; prints
           "sent N seconds S refused R"
       bench_filter.py archive OUT.mbox COUNT
           writes COUNT synthetic messages (English and Japanese, UTF-8 and
           ISO-2022-JP, dates over two years) as an mbox for
           `hato ctl archive import`; prints the words worth searching for
"""
import os
import random
import smtplib
import sys
import threading
import time


def send(port, rcpt, threads, corpus, count):
    files = sorted(os.listdir(corpus))
    msgs = []
    for name in files[:500]:
        raw = open(os.path.join(corpus, name), "rb").read().replace(b"\r\n", b"\n")
        if raw.startswith(b"From "):
            raw = raw.split(b"\n", 1)[1]
        msgs.append(raw)
    lock = threading.Lock()
    state = {"next": 0, "sent": 0, "refused": 0}

    def take():
        with lock:
            if state["next"] >= count:
                return None
            state["next"] += 1
            return msgs[state["next"] % len(msgs)]

    def worker():
        s = smtplib.SMTP("127.0.0.1", port, timeout=120)
        n = 0
        while True:
            m = take()
            if m is None:
                break
            try:
                s.sendmail("bench@remote.example", [rcpt], m)
                with lock:
                    state["sent"] += 1
            except smtplib.SMTPResponseException:
                with lock:
                    state["refused"] += 1
            n += 1
            if n % 50 == 0:
                s.quit()
                s = smtplib.SMTP("127.0.0.1", port, timeout=120)
        s.quit()

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("sent %d seconds %.3f refused %d" % (state["sent"], time.monotonic() - t0, state["refused"]))


EN = ("budget meeting report invoice project schedule review contract shipment customer order quality "
      "design release server network backup security training holiday payroll audit proposal").split()
JA = "会議 議事録 請求書 見積書 契約書 出荷 品質 設計 予算 報告書 研修 監査 提案書 休暇 納品".split()


def archive(out, count):
    rnd = random.Random(42)
    people = ["user%04d@example.co.jp" % i for i in range(2000)]
    start = 1732000000  # late 2024
    with open(out, "wb") as f:
        for i in range(count):
            when = start + rnd.randrange(0, 2 * 365 * 86400)
            date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(when))
            sender, to = rnd.choice(people), rnd.choice(people)
            japanese = i % 3 == 0
            words = [rnd.choice(JA if japanese else EN) for _ in range(rnd.randrange(40, 120))]
            sep = "" if japanese else " "
            body = sep.join(words) + ("。\n" if japanese else ".\n")
            subject = sep.join(rnd.choice(JA if japanese else EN) for _ in range(3))
            # Every 97th message carries a rare marker to search for.
            if i % 97 == 0:
                body += "needle%d 見積依頼番号%d\n" % (i % 10, i % 10)
            charset = "iso-2022-jp" if japanese and i % 2 == 0 else "utf-8"
            head = ("From: %s\nTo: %s\nDate: %s\nMessage-ID: <arch-%d@example.co.jp>\nSubject: %s\n"
                    "MIME-Version: 1.0\nContent-Type: text/plain; charset=%s\nContent-Transfer-Encoding: %s\n\n") % (
                sender, to, date, i, "=?UTF-8?B?%s?=" % __import__("base64").b64encode(subject.encode()).decode() if japanese else subject,
                charset, "7bit" if charset == "iso-2022-jp" else "8bit")
            f.write(b"From %s %s\n" % (sender.encode(), time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(when)).encode()))
            f.write(head.encode())
            f.write(body.encode(charset, errors="replace"))
            f.write(b"\n")
    print("sender %s subject %s text needle7 japanese 見積依頼番号7 message_id <arch-%d@example.co.jp>" % (people[17], EN[3], count // 2))


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6]))
    else:
        archive(sys.argv[2], int(sys.argv[3]))
