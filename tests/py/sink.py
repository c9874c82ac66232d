#!/usr/bin/python3
"""A real SMTP receiver (aiosmtpd) standing in for another company's mail server.

usage: sink.py PORT OUTDIR MODE [CERT KEY]
MODE: accept | tempfail:N (451 the first N DATA) | permfail (554 at DATA)
      | reject-rcpt (550 for recipients starting with "bad")
Each accepted message is written to OUTDIR as JSON (from, to, data, tls).
With CERT and KEY, STARTTLS is offered. SINK_HOST sets the address (default 127.0.0.1).
"""
import asyncio
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller

port, outdir, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.makedirs(outdir, exist_ok=True)


class Handler:
    def __init__(self):
        self.data_count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if mode == "reject-rcpt" and address.startswith("bad"):
            return "550 5.1.1 <%s>: no such user at the sink" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_count += 1
        if mode.startswith("tempfail:") and self.data_count <= int(mode.split(":")[1]):
            return "451 4.3.0 sink says try again later"
        if mode == "permfail":
            return "554 5.7.1 rejected by the test sink"
        name = os.path.join(outdir, "%d.json" % time.time_ns())
        with open(name + ".tmp", "w") as f:
            json.dump({
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
                "tls": session.ssl is not None,
            }, f)
        os.rename(name + ".tmp", name)
        return "250 2.0.0 OK stored by sink"


tls = None
if len(sys.argv) > 5:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(sys.argv[4], sys.argv[5])

controller = Controller(Handler(), hostname=os.environ.get("SINK_HOST", "127.0.0.1"), port=port, tls_context=tls,
                        require_starttls=False, decode_data=False)
controller.start()
print("ready", flush=True)
try:
    asyncio.get_event_loop().run_until_complete(asyncio.sleep(3600))
finally:
    controller.stop()
