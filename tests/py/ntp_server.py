"""The site's NTP server for qemu-tests: answers NTPv4 client requests
(RFC 5905, mode 3) with this machine's clock, as a stratum-2 server would.
Only the appliance's chronyd talks to it; the host's clock is never touched.

usage: ntp_server.py ADDRESS [PORT]
"""

import socket
import struct
import sys
import time

NTP_EPOCH = 2208988800  # seconds from 1900 to 1970


def ntp_time(t):
    seconds = int(t) + NTP_EPOCH
    return seconds, int((t % 1) * (1 << 32))


def answer(request, received):
    if len(request) < 48 or request[0] & 0x7 != 3:
        return None
    version = (request[0] >> 3) & 0x7
    client_transmit = request[40:48]
    sent = time.time()
    return struct.pack(
        "!BBBbII4sII8sIIII",
        (0 << 6) | (version << 3) | 4,  # no leap warning, the client's version, mode 4 (server)
        2,  # stratum
        request[2],  # poll, echoed
        -20,  # precision (about a microsecond)
        0,  # root delay
        1 << 10,  # root dispersion (1/64 s)
        b"HATO",  # reference id
        *ntp_time(sent - 16),  # reference timestamp
        client_transmit,  # origin timestamp
        *ntp_time(received),  # receive timestamp
        *ntp_time(sent),  # transmit timestamp
    )


def main():
    address = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 123
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    print("ready", flush=True)
    while True:
        request, peer = sock.recvfrom(1024)
        reply = answer(request, time.time())
        if reply:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
