"""A minimal SMTP server for tests (stdlib only): EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL,
RCPT, DATA, QUIT on 127.0.0.1; keeps every message it accepted with the login used and
whether TLS was on. The certificate is made with ``cryptography`` for 127.0.0.1."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: str
    login: tuple[str, str] | None
    tls: bool


@dataclass
class SmtpTestServer:
    """``with SmtpTestServer(tmp_path) as srv:`` → ``srv.port``, ``srv.cafile``,
    ``srv.messages``."""

    workdir: Path
    users: dict[str, str] = field(default_factory=lambda: {"notify": "s3cret"})
    messages: list[Received] = field(default_factory=list)
    port: int = 0
    cafile: str = ""
    host: str = "127.0.0.1"  # or a lab address (a test machine in a lab namespace)

    def __enter__(self) -> SmtpTestServer:
        cert, key = self._make_cert()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                opened: list[ssl.SSLSocket] = []
                try:
                    server._session(self, opened)
                except (ssl.SSLError, OSError):
                    pass  # a client that does not trust the certificate hangs up
                finally:
                    for sock in opened:
                        sock.close()

        self._srv = socketserver.ThreadingTCPServer((self.host, 0), Handler)
        self._srv.daemon_threads = True
        self.port = self._srv.server_address[1]
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._srv.shutdown()
        self._srv.server_close()

    def _make_cert(self) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.host)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address(self.host))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        cert_path, key_path = self.workdir / "smtp-cert.pem", self.workdir / "smtp-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        self.cafile = str(cert_path)
        return str(cert_path), str(key_path)

    def _session(self, h: socketserver.StreamRequestHandler,
                 opened: list[ssl.SSLSocket]) -> None:
        conn = h.connection
        rfile, tls = h.rfile, False
        login: tuple[str, str] | None = None
        sender, rcpts = "", []

        def send(line: str) -> None:
            conn.sendall((line + "\r\n").encode())

        def read() -> str:
            return rfile.readline(8192).decode("utf-8", "replace").rstrip("\r\n")

        send("220 127.0.0.1 test ESMTP")
        while True:
            line = read()
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                exts = ["AUTH PLAIN LOGIN"] if tls else ["STARTTLS"]
                send("250-127.0.0.1")
                for e in exts[:-1]:
                    send(f"250-{e}")
                send(f"250 {exts[-1]}")
            elif verb == "STARTTLS" and not tls:
                send("220 go ahead")
                conn = self.context.wrap_socket(conn, server_side=True)
                opened.append(conn)
                rfile, tls = conn.makefile("rb"), True
            elif verb == "AUTH" and tls:
                parts = line.split()
                if parts[1].upper() == "PLAIN":
                    raw = parts[2] if len(parts) > 2 else (send("334 ") or read())
                    _, user, pw = base64.b64decode(raw).decode().split("\0")
                else:
                    send("334 VXNlcm5hbWU6")
                    user = base64.b64decode(read()).decode()
                    send("334 UGFzc3dvcmQ6")
                    pw = base64.b64decode(read()).decode()
                if self.users.get(user) == pw:
                    login = (user, pw)
                    send("235 ok")
                else:
                    send("535 bad login")
            elif verb == "MAIL":
                sender, rcpts = line.split(":", 1)[1].strip().strip("<>").split(">")[0], []
                send("250 ok")
            elif verb == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip().strip("<>"))
                send("250 ok")
            elif verb == "DATA":
                send("354 end with .")
                lines = []
                while (body := read()) != ".":
                    lines.append(body[1:] if body.startswith("..") else body)
                self.messages.append(Received(sender, rcpts, "\n".join(lines), login, tls))
                send("250 queued")
            elif verb == "QUIT":
                send("221 bye")
                return
            else:
                send("502 not here")
