"""The loopback SMTP server of the notification benchmark (#16), run with Debian's /usr/bin/python3 (package
python3-aiosmtpd).

Like a submission server: STARTTLS required before anything else (with the certificate given), AUTH (PLAIN, LOGIN)
with one user and password, only over TLS. It keeps nothing: for every accepted message it prints one line,
"<CLOCK_MONOTONIC ns> <X-Clarity-Correlation-Id>", taken as the DATA is accepted, so the benchmark (whose Stopwatch
reads the same clock on Linux) can match each mail to the question it is about.

Usage: smtp_sink.py CERT_PEM KEY_PEM USER PASSWORD
Prints {"port": N} once it listens; stops when its standard input closes.
"""

import json
import logging
import socket
import ssl
import sys
import threading
import time
from email.parser import BytesHeaderParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self):
        self.parser = BytesHeaderParser()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        at = time.monotonic_ns()
        headers = self.parser.parsebytes(envelope.original_content)
        correlation = (headers.get("X-Clarity-Correlation-Id") or "-").strip()
        with self.lock:
            sys.stdout.write(f"{at} {correlation}\n")
            sys.stdout.flush()
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
    # aiosmtpd 1.4 logs a warning on every AUTH that its own Session.login_data is deprecated.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    cert, key, user, password = sys.argv[1:5]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    for attempt in range(10):
        port = free_port()
        controller = Controller(
            Handler(), hostname="127.0.0.1", port=port,
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
