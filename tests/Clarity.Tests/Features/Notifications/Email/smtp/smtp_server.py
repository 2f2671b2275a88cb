"""A loopback SMTP server for the email tests, run with Debian's /usr/bin/python3 (package python3-aiosmtpd).

STARTTLS with the test's self-signed certificate, required before anything else; AUTH (PLAIN and LOGIN) with one
fixed user and password, only over TLS. Each accepted message is written to the output folder as N.eml (the raw bytes)
and N.json (the envelope, with the client's port: one port, one connection). Recipients starting with "reject" are
refused with 550, "tempfail" with 451; after a message to one starting with "dropafter" the server closes the connection.

Usage: smtp_server.py CERT_PEM KEY_PEM OUTPUT_DIR USER PASSWORD
Prints {"port": N} once it listens; stops when its standard input closes.
"""

import asyncio
import json
import os
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, output):
        self.output = output
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 No such user here"
        if address.startswith("tempfail"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        meta = {
            "mailFrom": envelope.mail_from,
            "rcptTos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticatedAs": login,
            "clientPort": session.peer[1],
        }
        base = os.path.join(self.output, str(n))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.replace(base + ".json.tmp", base + ".json")
        os.replace(base + ".eml.tmp", base + ".eml")  # last: the reader waits for the .eml
        if any(r.startswith("dropafter") for r in envelope.rcpt_tos):
            # Closed once the reply below is written, as a server that drops a connection between messages would.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 Message accepted"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == user and auth_data.password.decode() == password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
    return check


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    cert, key, output, user, password = sys.argv[1:6]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Handler(output)
    for attempt in range(10):
        port = free_port()
        controller = Controller(
            handler, hostname="127.0.0.1", port=port,
            tls_context=context, require_starttls=True,
            authenticator=authenticator(user, password), auth_require_tls=True, auth_required=True)
        try:
            controller.start()
            break
        except OSError:
            if attempt == 9:
                raise
    print(json.dumps({"port": port}), flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
