#!/usr/bin/python3
"""IMAP operations timed against one server (used by scripts/bench-imap).

usage: bench_imap.py ops  PORT USER PASSWORD SERVER_PID
            -> "name wall_seconds server_cpu_seconds messages" lines (median
               wall time of 10 runs; the server's CPU time per run, averaged)
       bench_imap.py cpu  SERVER_PID                -> CPU seconds the server used so far
       bench_imap.py idle PORT USER PASSWORD COUNT  -> holds COUNT IDLE sessions,
            prints "ready N" once they are all idling, exits when stdin closes.
"""
import asyncio
import imaplib
import os
import statistics
import ssl
import sys
import threading
import time

imaplib._MAXLINE = 1 << 30
# CPU time is read in clock ticks (10 ms): enough runs that one tick is noise.
RUNS = 10


def cpu_secs(root):
    """CPU seconds used so far by a server: the process, its live descendants
    and the children it has reaped (Dovecot's per-session processes end at
    logout)."""
    hz = os.sysconf("SC_CLK_TCK")
    children, stats = {}, {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                st = open(f"/proc/{p}/stat").read()
                f = st[st.rindex(")") + 2:].split()
                children.setdefault(int(f[1]), []).append(int(p))
                stats[int(p)] = f
            except (OSError, ValueError):
                pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        f = stats.get(pid)
        if f:
            total += int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if pid == root else 0)
    return total / hz


def logins(port, user, password, clients=20, each=5):
    """clients threads, each logging in `each` times on fresh connections
    (a phone reconnecting): the cost of LOGIN itself."""
    def one():
        for _ in range(each):
            c = imaplib.IMAP4("127.0.0.1", port, timeout=60)
            c.login(user, password)
            c.logout()
    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return "OK", None


def ops(port, user, password, server_pid):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=600)
    m.login(user, password)
    typ, data = m.select("INBOX", readonly=True)
    count = int(data[0])
    m.fetch("1:*", "(FLAGS)")  # warm-up: both servers have read their indexes once
    runs = [
        ("fetch_flags_all", lambda: m.fetch("1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE)")),
        ("fetch_headers_all", lambda: m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])")),
        ("fetch_bodies_2000", lambda: m.fetch("1:%d" % min(count, 2000), "(BODY.PEEK[])")),
        ("search_unseen", lambda: m.uid("SEARCH", "UNSEEN")),
        ("search_subject", lambda: m.uid("SEARCH", "SUBJECT", "re")),
        ("search_from", lambda: m.uid("SEARCH", "FROM", "example")),
        ("search_body", lambda: m.uid("SEARCH", "BODY", "linux")),
        ("search_text", lambda: m.uid("SEARCH", "TEXT", "linux")),
        ("search_body_rare", lambda: m.uid("SEARCH", "BODY", "zyxwvut")),
        ("examine", lambda: m.select("INBOX", readonly=True)),
        ("select", lambda: m.select("INBOX")),
        ("login_100_by_20", lambda: logins(port, user, password)),
    ]
    for name, f in runs:
        times = []
        c = cpu_secs(server_pid)
        for _ in range(RUNS):
            t = time.monotonic()
            typ, data = f()
            times.append(time.monotonic() - t)
            assert typ == "OK", (name, typ, data)
        cpu = (cpu_secs(server_pid) - c) / RUNS
        print("%s %.4f %.4f %d" % (name, statistics.median(times), cpu, count), flush=True)
    m.logout()


async def one_idle(port, user, password, ready, tls):
    ctx = None
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
    await r.readline()
    for tag, cmd in (("a", "LOGIN %s %s" % (user, password)), ("b", "SELECT INBOX")):
        w.write(("%s %s\r\n" % (tag, cmd)).encode())
        await w.drain()
        while True:
            line = await r.readline()
            if not line:
                raise ConnectionError("closed during " + cmd)
            if line.startswith(tag.encode() + b" "):
                if not line.startswith(tag.encode() + b" OK"):
                    raise ConnectionError(line)
                break
    w.write(b"c IDLE\r\n")
    await w.drain()
    line = await r.readline()
    if not line.startswith(b"+"):
        raise ConnectionError(line)
    ready.append(w)
    return r, w


async def idle(port, user, password, count, tls):
    ready = []
    held = []
    for start in range(0, count, 100):
        batch = [one_idle(port, user, password, ready, tls) for _ in range(start, min(count, start + 100))]
        held += await asyncio.gather(*batch)
    print("ready %d" % len(ready), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for _, w in held:
        w.close()


if __name__ == "__main__":
    if sys.argv[1] == "cpu":
        print("%.2f" % cpu_secs(int(sys.argv[2])))
        sys.exit(0)
    mode, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if mode == "ops":
        ops(port, user, password, int(sys.argv[5]))
    else:
        asyncio.run(idle(port, user, password, int(sys.argv[5]), mode == "idle-tls"))
