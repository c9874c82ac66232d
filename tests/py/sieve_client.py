#!/usr/bin/python3
"""Manages a user's Sieve scripts over ManageSieve with sievelib (a client
nobody here wrote), over STARTTLS, and reports what the server answered as
JSON.

usage: sieve_client.py PORT USER PASSWORD SCRIPT_FILE BAD_SCRIPT_FILE
"""
import json
import ssl
import sys

from sievelib import managesieve
from sievelib.managesieve import Client

# The test server's certificate is self-signed; sievelib wraps the socket with
# the default context, so relax it for this loopback test only.
ssl._create_default_https_context = ssl._create_unverified_context
_orig = ssl.SSLContext.wrap_socket


def _wrap(self, *a, **kw):
    self.check_hostname = False
    self.verify_mode = ssl.CERT_NONE
    return _orig(self, *a, **kw)


ssl.SSLContext.wrap_socket = _wrap

port, user, password, script_file, bad_file = sys.argv[1:6]
script = open(script_file).read()
bad = open(bad_file).read()
out = {}
c = Client("127.0.0.1", int(port))
out["login"] = c.connect(user, password, starttls=True, authmech="PLAIN")
out["implementation"] = c.get_implementation()
out["extensions"] = c.get_sieve_capabilities()
out["check_good"] = c.checkscript(script)
out["check_bad"] = c.checkscript(bad)
out["check_bad_error"] = c.errmsg.decode() if isinstance(c.errmsg, bytes) else str(c.errmsg)
out["put_bad"] = c.putscript("broken", bad)
out["put"] = c.putscript("main", script)
out["put_spare"] = c.putscript("spare", "keep;")
out["havespace"] = c.havespace("main", 1000)
out["activate"] = c.setactive("main")
out["list"] = list(c.listscripts())
out["get_same"] = c.getscript("main") == script.replace("\r\n", "\n") or c.getscript("main") == script
out["delete_active"] = c.deletescript("main")
out["rename"] = c.renamescript("spare", "spare2")
out["delete_spare"] = c.deletescript("spare2")
out["list_after"] = list(c.listscripts())
c.logout()
print(json.dumps(out))
