#!/usr/bin/python3
"""COMPRESS=DEFLATE (RFC 4978) by hand with Python's zlib: after the tagged
OK, both directions are raw deflate. Fetches every message compressed and
compares with an uncompressed session; prints the bytes on the wire.

usage: imap_compress.py PORT USER PASSWORD
"""
import socket
import sys
import zlib

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.wire = 0
        self.z = None

    def send(self, line):
        data = line.encode() + b"\r\n"
        if self.z:
            data = self.z[0].compress(data) + self.z[0].flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)

    def more(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("closed")
        self.wire += len(chunk)
        self.buf += self.z[1].decompress(chunk) if self.z else chunk

    def until(self, tag):
        while True:
            i = self.buf.find(b"\r\n" + tag.encode() + b" ")
            j = self.buf.find(b"\r\n", i + 2) if i >= 0 else -1
            if self.buf.startswith(tag.encode() + b" "):
                i, j = -2, self.buf.find(b"\r\n")
            if j >= 0:
                out, self.buf = self.buf[: j + 2], self.buf[j + 2:]
                return out
            self.more()


def session(compress):
    c = Conn()
    c.until("*") if False else None
    while b"\r\n" not in c.buf:
        c.more()
    c.buf = c.buf.split(b"\r\n", 1)[1]
    c.send("a LOGIN %s %s" % (user, password))
    assert b"a OK" in c.until("a")
    if compress:
        c.send("z COMPRESS DEFLATE")
        reply = c.until("z")
        assert b"z OK" in reply, reply
        c.z = (zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15))
        # The buffer may hold compressed bytes that came with the OK.
        rest, c.buf = c.buf, b""
        if rest:
            c.buf = c.z[1].decompress(rest)
        c.send("y COMPRESS DEFLATE")
        assert b"COMPRESSIONACTIVE" in c.until("y")
    c.send("b SELECT INBOX")
    assert b"b OK" in c.until("b")
    c.wire = 0
    c.send("c FETCH 1:* (BODY.PEEK[])")
    data = c.until("c")
    assert b"c OK" in data
    c.send("d LOGOUT")
    c.until("d")
    return data, c.wire


plain, plain_wire = session(False)
packed, packed_wire = session(True)
assert plain == packed, "the same answer either way"
print("fetched %d bytes; on the wire plain %d, compressed %d" % (len(plain), plain_wire, packed_wire))
assert packed_wire < plain_wire
