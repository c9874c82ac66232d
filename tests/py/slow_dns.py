#!/usr/bin/python3
"""A resolver that answers late or never, in front of a real DNS server.

usage: slow_dns.py PORT DELAY [UPSTREAM_PORT]
Every UDP query to 127.0.0.1:PORT is passed to 127.0.0.1:UPSTREAM_PORT
(dnsmasq) and its answer returned DELAY seconds after the query came;
DELAY "never" drops every query. TCP connections on PORT are accepted and
never answered, so a client falling back to TCP waits too.
"""
import socket
import sys
import threading
import time

port, delay = int(sys.argv[1]), sys.argv[2]
upstream = int(sys.argv[3]) if len(sys.argv) > 3 else None

udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", port))
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("127.0.0.1", port))
tcp.listen(64)
held = []


def hold_tcp():
    while True:
        conn, _ = tcp.accept()
        held.append(conn)


def answer(query, client, came):
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.settimeout(5)
    up.sendto(query, ("127.0.0.1", upstream))
    try:
        reply, _ = up.recvfrom(65535)
    except OSError:
        return
    time.sleep(max(0.0, came + float(delay) - time.monotonic()))
    udp.sendto(reply, client)


threading.Thread(target=hold_tcp, daemon=True).start()
print("ready", flush=True)
while True:
    query, client = udp.recvfrom(65535)
    if delay != "never" and upstream:
        threading.Thread(target=answer, args=(query, client, time.monotonic()), daemon=True).start()
