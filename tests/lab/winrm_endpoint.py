"""A simulated Windows host's WinRM endpoint: real HTTP(S), NTLM, MS-WSMV encryption, WinRS.

It speaks the WS-Management / WinRS shell operations as pywinrm uses them — Create (shell),
Command, Send (stdin), Receive (stdout/stderr, CommandState Done + ExitCode), Signal
(terminate), Delete — over a real socket:

* HTTP (5985 on Windows) with NTLM through pyspnego's *acceptor* and MS-WSMV 2.2.9.1.1
  session encryption (``multipart/encrypted``, protocol
  ``application/HTTP-SPNEGO-session-encrypted``): an unencrypted SOAP body over HTTP is
  refused unless the host is configured with AllowUnencrypted, as Windows does;
* HTTPS (5986) with a certificate from the lab CA (tests/lab/winrm_ca.py) and NTLM channel
  binding (tls-server-end-point) checked;
* Basic only when configured (``basic=True``), and over HTTP only with AllowUnencrypted.

It cannot run PowerShell. The "cmd.exe" layer here enforces the 8,191-character command
line limit, decodes ``powershell -EncodedCommand`` and our stdin bootstrap, and hands each
script to :class:`tests.lab.winrm_hosts.WindowsHost`, which recognises it by its marker and
SHA-256 and answers from its state model.

Envelope shapes follow the recorded real exchanges in jborean93/pypsrp
``tests/tests_pypsrp/responses/test_winrs_*.yml`` (MIT, Copyright (c) 2018 Jordan Borean,
Red Hat; read at commit 42a34edd): CreateResponse with ``x:ResourceCreated`` and
``rsp:Shell``, ``rsp:CommandResponse``, ``rsp:ReceiveResponse`` with base64 streams and
``rsp:CommandState``, SignalResponse, DeleteResponse, and the ``w:TimedOut`` fault (code
2150858793) and ``w:InvalidSelectors`` fault (code 2150858843). The request side is what
pywinrm 0.5 sends (diyan/pywinrm ``winrm/protocol.py``, ``winrm/encryption.py``, MIT).

Faults can be injected: drop the connection on an operation, hang commands, flood output,
a reboot (connections dropped for a while, then a new boot time; optionally a reboot loop
whose flags survive).
Tests bind it to 127.0.0.x; inside a lab namespace ``python -m tests.lab.winrm_endpoint``
serves one host. Stdlib + pyspnego + cryptography.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import hashlib
import http.server
import os
import re
import socket
import ssl
import struct
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import spnego
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

from tests.lab.winrm_hosts import REVIEWED, Run, WindowsHost, clixml_error

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CMD_RESOURCE = f"{SHELL_URI}/cmd"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
ENCRYPTED_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = b"--Encrypted Boundary"
#: cmd.exe's limit on a command line (MS "Command prompt (Cmd.exe) command-line string
#: limitation": 8191 characters).
CMD_LIMIT = 8191
#: Raw bytes per Receive answer; base64 and the envelope stay far below the 153,600-byte
#: MaxEnvelopeSize pywinrm announces.
RECEIVE_CHUNK = 64 * 1024


# -- NTLM credential store ------------------------------------------------------------------
# pyspnego's NTLM acceptor reads users from the file named by NTLM_USER_FILE (Heimdal
# format DOMAIN:USER:PASSWORD; spnego/_ntlm.py _get_credential). The variable is
# process-wide, so every endpoint in this process shares one file listing all their users.
_USERS_LOCK = threading.Lock()
_USERS: dict[int, list[tuple[str, str]]] = {}
_USER_FILE: Path | None = None


def _publish_users(owner: int, users: list[tuple[str, str]] | None) -> None:
    global _USER_FILE
    with _USERS_LOCK:
        if users is None:
            _USERS.pop(owner, None)
        else:
            _USERS[owner] = users
        seen: dict[str, str] = {}
        for entries in _USERS.values():
            for user, password in entries:
                if seen.get(user.lower(), password) != password:
                    raise ValueError(f"two endpoints give user {user!r} different passwords")
                seen[user.lower()] = password
        if _USER_FILE is None:
            fd, name = tempfile.mkstemp(prefix="pd-ntlm-users-")
            os.close(fd)
            _USER_FILE = Path(name)
        text = "".join(f":{u}:{p}\n" for u, p in seen.items())
        _USER_FILE.write_text(text, encoding="utf-8")
        os.environ["NTLM_USER_FILE"] = str(_USER_FILE)


# -- state --------------------------------------------------------------------------------
@dataclass
class Stats:
    """What the endpoint saw: tests assert on these (e.g. "no password was sent")."""

    requests: int = 0
    auth_headers: collections.Counter[str] = field(default_factory=collections.Counter)
    auth_failures: int = 0
    basic_passwords_received: int = 0
    unencrypted_refused: int = 0
    encrypted_messages: int = 0
    tls_failures: int = 0
    dropped: int = 0
    operations: collections.Counter[str] = field(default_factory=collections.Counter)
    command_lines: list[int] = field(default_factory=list)  # lengths
    scripts: list[str] = field(default_factory=list)
    stdin_bytes: int = 0
    signals: int = 0
    #: The first HTTP bodies exactly as they crossed the socket (requests and replies), to
    #: show what an eavesdropper would see.
    wire: list[bytes] = field(default_factory=list)

    def tap(self, body: bytes) -> None:
        if len(self.wire) < 64:
            self.wire.append(body[:65536])


@dataclass
class Faults:
    """Injectable misbehaviour."""

    #: operation name (Create, Command, Send, Receive, Signal, Delete) -> how many of the
    #: next such requests to answer by closing the connection without a reply.
    drop: dict[str, int] = field(default_factory=dict)
    hang: bool = False  # commands never finish: every Receive times out
    flood_bytes: int = 0  # the next script prints this many bytes instead of its reply


class _Command:
    def __init__(self, command_id: str, cmdline: str) -> None:
        self.id = command_id
        self.cmdline = cmdline
        self.stdin = bytearray()
        self.stdin_done = False
        self.run: Run | None = None
        self.pending_stdin_handler: Any = None
        self.out: Iterator[bytes] | None = None
        self.err = b""
        self.done = False


class _Shell:
    def __init__(self, shell_id: str, codepage: str) -> None:
        self.id = shell_id
        self.codepage = codepage
        self.commands: dict[str, _Command] = {}


# -- the server ---------------------------------------------------------------------------
class WinRMEndpoint:
    """One simulated Windows host's WinRM listener.

    Args:
        host: the state model that answers scripts.
        address: where to listen (127.0.0.x in tests, a namespace address in the lab).
        port: 0 picks a free port.
        users: accepted ``(user, password)`` pairs (local accounts, no domain part).
        tls: a :class:`tests.lab.winrm_ca.ServerCert` for HTTPS, or None for HTTP.
        basic: Basic authentication enabled (WinRM ``Auth/Basic=true``).
        allow_unencrypted: WinRM ``AllowUnencrypted=true``.
    """

    def __init__(self, host: WindowsHost, *, address: str = "127.0.0.1", port: int = 0,
                 users: list[tuple[str, str]] | None = None, tls: Any = None,
                 basic: bool = False, allow_unencrypted: bool = False) -> None:
        self.host = host
        self.users = list(users or [("Administrator", "Lab-Passw0rd!")])
        self.tls = tls
        self.basic = basic
        self.allow_unencrypted = allow_unencrypted
        self.stats = Stats()
        self.faults = Faults()
        self.shells: dict[str, _Shell] = {}
        self.lock = threading.Lock()
        self.machine = address
        self._ssl: ssl.SSLContext | None = None
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
            self._ssl = ctx
        _publish_users(id(self), self.users)
        self.httpd = _Server((address, port), _Handler, self)
        self.address, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None
        self.down_until = 0.0  # monotonic time until which a "reboot" drops everything

    def restart_if_due(self, down_for: float = 1.0) -> None:
        """A restart scheduled by reboot.ps1 (shutdown /r /t N) happens once it is due."""
        due = self.host.restart_at
        if due is not None and time.monotonic() >= due:
            self.reboot(down_for, clears_flags=not self.host.reboot_loop)

    def reboot(self, down_for: float = 1.0, *, clears_flags: bool = True) -> None:
        """Simulate a restart: shells are gone, every request is dropped for ``down_for``
        seconds, then the host answers with a new boot time. ``clears_flags=False`` is a
        reboot loop: the pending-reboot signals survive."""
        with self.lock:
            self.shells.clear()
            self.down_until = time.monotonic() + down_for
            self.host.reboot(clears_flags=clears_flags)

    @property
    def scheme(self) -> str:
        """``https`` or ``http``."""
        return "https" if self.tls is not None else "http"

    @property
    def url(self) -> str:
        """The endpoint URL pywinrm talks to."""
        return f"{self.scheme}://{self.address}:{self.port}/wsman"

    def start(self) -> WinRMEndpoint:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"winrm-{self.host.name}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and forget this endpoint's users."""
        self.httpd.shutdown()
        self.httpd.server_close()
        _publish_users(id(self), None)

    def __enter__(self) -> WinRMEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- authentication ---------------------------------------------------------------
    def check_basic(self, token: str) -> bool:
        try:
            user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        self.stats.basic_passwords_received += 1
        return any(user.lower() == u.lower() and password == p for u, p in self.users)

    def new_ntlm_acceptor(self) -> Any:
        bindings = None
        if self.tls is not None:
            bindings = GssChannelBindings(
                application_data=b"tls-server-end-point:" + self.tls.end_point_hash)
        return spnego.server(protocol="ntlm", channel_bindings=bindings)

    # -- WinRS --------------------------------------------------------------------------
    def dispatch(self, root: ET.Element) -> tuple[int, str] | None:
        """Handle one SOAP request; (HTTP status, envelope) or None to drop the connection."""
        action = _text(root, "s:Header/a:Action")
        message_id = _text(root, "s:Header/a:MessageID")
        op = action.rsplit("/", 1)[-1]
        self.stats.operations[op] += 1
        with self.lock:
            left = self.faults.drop.get(op, 0)
            if left:
                self.faults.drop[op] = left - 1
                self.stats.dropped += 1
                return None
        resource = _text(root, "s:Header/w:ResourceURI")
        if resource != CMD_RESOURCE:
            return 500, _fault(message_id, "s:Sender", "w:DestinationUnreachable", 2150858770,
                               "The WS-Management service cannot process the request "
                               "because the resource URI is not supported.", self.machine)
        if op == "Create":
            return 200, self._create(root, message_id)
        shell_id = _selector(root)
        shell = self.shells.get(shell_id)
        if shell is None:
            return 500, _fault(message_id, "s:Sender", "w:InvalidSelectors", 2150858843,
                               "The request for the Windows Remote Shell with ShellId "
                               f"{shell_id} failed because the shell was not found on the "
                               "server. Possible causes are: the specified ShellId is "
                               "incorrect or the shell no longer exists on the server.",
                               self.machine)
        if op == "Delete":
            self.shells.pop(shell_id, None)
            return 200, _envelope(f"{TRANSFER}/DeleteResponse", message_id, "")
        if op == "Command":
            return 200, self._command(root, shell, message_id)
        command_id = ""
        for el in root.iter():
            if el.get("CommandId"):
                command_id = el.get("CommandId", "")
                break
        cmd = shell.commands.get(command_id)
        if cmd is None:
            return 500, _fault(message_id, "s:Sender", "w:InvalidSelectors", 2150858843,
                               "The Windows Remote Shell received a request to perform an "
                               "operation on a command identifier that does not exist. "
                               "Either the command has completed execution or the client "
                               "specified an invalid command identifier. ", self.machine)
        if op == "Send":
            return 200, self._send(root, cmd, message_id)
        if op == "Receive":
            return self._receive(root, cmd, message_id)
        if op == "Signal":
            self.stats.signals += 1
            shell.commands.pop(command_id, None)
            return 200, _envelope(f"{SHELL_URI}/SignalResponse", message_id,
                                  "<rsp:SignalResponse/>")
        return 500, _fault(message_id, "s:Sender", "w:ActionNotSupported", 2150858783,
                           f"The action {action} is not supported by the service.",
                           self.machine)

    def _create(self, root: ET.Element, message_id: str) -> str:
        shell_id = str(uuid.uuid4()).upper()
        codepage = "437"
        for opt in root.iterfind("s:Header/w:OptionSet/w:Option", NS):
            if opt.get("Name") == "WINRS_CODEPAGE":
                codepage = opt.text or "437"
        self.shells[shell_id] = _Shell(shell_id, codepage)
        body = (
            f'<x:ResourceCreated xmlns:x="{TRANSFER}"><a:Address>{escape(self.url)}'
            f"</a:Address><a:ReferenceParameters><w:ResourceURI>{CMD_RESOURCE}</w:ResourceURI>"
            f'<w:SelectorSet><w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
            f"</a:ReferenceParameters></x:ResourceCreated>"
            f'<rsp:Shell xmlns:rsp="{SHELL_URI}"><rsp:ShellId>{shell_id}</rsp:ShellId>'
            f"<rsp:ResourceUri>{CMD_RESOURCE}</rsp:ResourceUri>"
            f"<rsp:Owner>{escape(self.users[0][0])}</rsp:Owner>"
            f"<rsp:ClientIP>127.0.0.1</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>"
            f"<rsp:InputStreams>stdin</rsp:InputStreams>"
            f"<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>"
        )
        return _envelope(f"{TRANSFER}/CreateResponse", message_id, body)

    def _command(self, root: ET.Element, shell: _Shell, message_id: str) -> str:
        command = _text(root, "s:Body/rsp:CommandLine/rsp:Command")
        arguments = [a.text or "" for a in root.iterfind("s:Body/rsp:CommandLine/rsp:Arguments",
                                                         NS)]
        cmdline = " ".join([command, *arguments])
        command_id = str(uuid.uuid4()).upper()
        cmd = _Command(command_id, cmdline)
        shell.commands[command_id] = cmd
        self.stats.command_lines.append(len(cmdline))
        self._start(cmd)
        return _envelope(f"{SHELL_URI}/CommandResponse", message_id,
                         f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId>"
                         "</rsp:CommandResponse>")

    def _start(self, cmd: _Command) -> None:
        """The cmd.exe layer: length limit, then powershell or a few built-ins."""
        if len(cmd.cmdline) > CMD_LIMIT:
            self._finish(cmd, Run(b"", b"The command line is too long.\r\n", 1))
            return
        ps = _powershell_script(cmd.cmdline)
        if ps is None:
            self._finish(cmd, self.host.run_cmd(cmd.cmdline))
            return
        if isinstance(ps, _Invalid):
            self._finish(cmd, Run(b"", ps.message.encode(), 1))
            return
        if _sha256(ps) == REVIEWED.get("bootstrap", {}).get("sha256"):
            cmd.pending_stdin_handler = self._bootstrap_stdin
            return
        self._finish(cmd, self._script(ps))

    def _bootstrap_stdin(self, data: bytes) -> Run:
        try:
            script = base64.b64decode(data.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return Run(b"", _ps_error("Exception calling \"FromBase64String\" with \"1\" "
                                      "argument(s): \"The input is not a valid Base-64 "
                                      "string\""), 1)
        return self._script(script)

    def _script(self, text: str) -> Run:
        if self.faults.flood_bytes:
            total, self.faults.flood_bytes = self.faults.flood_bytes, 0
            self.stats.scripts.append("(flood)")
            return Run(_flood(total), b"", 0)
        run = self.host.run_script(text)
        self.stats.scripts.append(run.script or "(unknown)")
        return run

    def _finish(self, cmd: _Command, run: Run) -> None:
        cmd.run = run
        out = run.stdout
        cmd.out = iter([out]) if isinstance(out, bytes) else out
        cmd.err = run.stderr

    def _send(self, root: ET.Element, cmd: _Command, message_id: str) -> str:
        stream = root.find("s:Body/rsp:Send/rsp:Stream", NS)
        if stream is not None:
            data = base64.b64decode(stream.text or "")
            cmd.stdin += data
            self.stats.stdin_bytes += len(data)
            if stream.get("End", "false").lower() == "true":
                cmd.stdin_done = True
        if cmd.stdin_done and cmd.pending_stdin_handler is not None:
            handler, cmd.pending_stdin_handler = cmd.pending_stdin_handler, None
            self._finish(cmd, handler(bytes(cmd.stdin)))
        return _envelope(f"{SHELL_URI}/SendResponse", message_id, "<rsp:SendResponse/>")

    def _receive(self, root: ET.Element, cmd: _Command, message_id: str) -> tuple[int, str]:
        timeout = _duration(_text(root, "s:Header/w:OperationTimeout")) or 20.0
        if self.faults.hang or cmd.run is None or (cmd.run is not None and cmd.run.hang):
            # A running command with nothing to say: Windows holds the Receive for the
            # OperationTimeout, then answers w:TimedOut (pypsrp test_winrs_operation_timeout).
            time.sleep(min(timeout, 30.0))
            return 500, _fault(message_id, "s:Receiver", "w:TimedOut", 2150858793,
                               "The WS-Management service cannot complete the operation "
                               "within the time specified in OperationTimeout.  ",
                               self.machine)
        assert cmd.out is not None
        cid = cmd.id
        parts: list[str] = []
        size = 0
        chunk = b""
        for piece in cmd.out:
            chunk += piece
            size += len(piece)
            if size >= RECEIVE_CHUNK:
                break
        else:
            cmd.done = True
        for i in range(0, len(chunk), RECEIVE_CHUNK):
            data = base64.b64encode(chunk[i:i + RECEIVE_CHUNK]).decode()
            parts.append(f'<rsp:Stream Name="stdout" CommandId="{cid}">{data}</rsp:Stream>')
        if cmd.done:
            if cmd.err:
                data = base64.b64encode(cmd.err).decode()
                parts.append(f'<rsp:Stream Name="stderr" CommandId="{cid}">{data}</rsp:Stream>')
            assert cmd.run is not None
            parts.append(f'<rsp:Stream Name="stdout" CommandId="{cid}" End="true"></rsp:Stream>'
                         f'<rsp:Stream Name="stderr" CommandId="{cid}" End="true"></rsp:Stream>'
                         f'<rsp:CommandState CommandId="{cid}" State="{SHELL_URI}/CommandState/'
                         f'Done"><rsp:ExitCode>{cmd.run.exit_code}</rsp:ExitCode>'
                         "</rsp:CommandState>")
        else:
            parts.append(f'<rsp:CommandState CommandId="{cid}" State="{SHELL_URI}/'
                         'CommandState/Running"></rsp:CommandState>')
        return 200, _envelope(f"{SHELL_URI}/ReceiveResponse", message_id,
                              "<rsp:ReceiveResponse>" + "".join(parts) +
                              "</rsp:ReceiveResponse>")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, endpoint: WinRMEndpoint):
        self.endpoint = endpoint
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        ctx = self.endpoint._ssl
        if ctx is not None:
            try:
                request.settimeout(10)
                request = ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                self.endpoint.stats.tls_failures += 1
                return
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            if ctx is not None:
                with contextlib.suppress(OSError):
                    request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-request is normal here


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.ntlm: Any = None  # the connection's NTLM context (auth is per connection)
        self.authenticated = False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        ep = self.server.endpoint
        ep.restart_if_due()
        if time.monotonic() < ep.down_until:  # "rebooting": the connection just dies
            ep.stats.dropped += 1
            self.close_connection = True
            return
        ep.stats.requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        ep.stats.tap(body)
        if self.path.lower() != "/wsman":
            self._reply(404, b"", "text/plain")
            return
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        scheme = scheme.lower()
        if auth:
            ep.stats.auth_headers[scheme] += 1
        if scheme in ("negotiate", "ntlm"):
            if not self._ntlm_step(scheme, token.strip()):
                return
        elif scheme == "basic":
            self.authenticated = False
            if not ep.basic or (ep.tls is None and not ep.allow_unencrypted) \
                    or not ep.check_basic(token.strip()):
                ep.stats.auth_failures += 1
                self._challenge()
                return
        elif not self.authenticated:
            self._challenge()
            return
        basic_ok = scheme == "basic"
        content_type = self.headers.get("Content-Type", "")
        encrypted = content_type.lower().startswith("multipart/encrypted")
        if encrypted:
            if self.ntlm is None or basic_ok:
                self._reply(400, b"", "text/plain")
                return
            try:
                body = _decrypt(self.ntlm, body)
            except (SpnegoError, ValueError, struct.error) as exc:
                self.close_connection = True
                self._reply(400, str(exc).encode(), "text/plain")
                return
            ep.stats.encrypted_messages += 1
        elif body and ep.tls is None and not ep.allow_unencrypted:
            # WinRM over HTTP refuses clear-text SOAP unless AllowUnencrypted=true.
            ep.stats.unencrypted_refused += 1
            self._challenge()
            return
        if not body:
            self._reply(200, b"", "application/soap+xml;charset=UTF-8")
            return
        try:
            root = ET.fromstring(body)  # noqa: S314 - the test's own client, in the lab
        except ET.ParseError:
            self._reply(400, b"", "text/plain")
            return
        result = ep.dispatch(root)
        if result is None:  # injected fault: vanish without answering
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, envelope = result
        payload = envelope.encode("utf-8")
        if encrypted:
            self._reply(status, _encrypt(self.ntlm, payload),
                        f'multipart/encrypted;protocol="{ENCRYPTED_PROTOCOL}";'
                        'boundary="Encrypted Boundary"')
        else:
            self._reply(status, payload, "application/soap+xml;charset=UTF-8")

    def _ntlm_step(self, scheme: str, token: str) -> bool:
        ep = self.server.endpoint
        try:
            raw = base64.b64decode(token, validate=True)
        except binascii.Error:
            self._challenge()
            return False
        if raw[8:12] == b"\x01\x00\x00\x00":  # NEGOTIATE_MESSAGE: a new handshake
            self.ntlm = ep.new_ntlm_acceptor()
            self.authenticated = False
        if self.ntlm is None:
            self._challenge()
            return False
        try:
            out = self.ntlm.step(raw)
        except SpnegoError:
            ep.stats.auth_failures += 1
            self.ntlm = None
            self.authenticated = False
            self._challenge()
            return False
        if not self.ntlm.complete:
            header = f"{'NTLM' if scheme == 'ntlm' else 'Negotiate'} " \
                     f"{base64.b64encode(out or b'').decode()}"
            self._reply(401, b"", "text/plain", [("WWW-Authenticate", header)])
            return False
        self.authenticated = True
        return True

    def _challenge(self) -> None:
        ep = self.server.endpoint
        headers = [("WWW-Authenticate", "Negotiate")]
        if ep.basic:
            headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        self._reply(401, b"", "text/plain", headers)

    def _reply(self, status: int, body: bytes, content_type: str,
               headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.server.endpoint.stats.tap(body)
        if body:
            self.wfile.write(body)


# -- MS-WSMV 2.2.9.1.1 message encryption (the server side of pywinrm's encryption.py) -------
def _decrypt(ctx: Any, body: bytes) -> bytes:
    parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
    out = b""
    for i in range(0, len(parts) - 1, 2):
        header, payload = parts[i].strip(), parts[i + 1]
        expected = int(header.split(b"Length=")[1])
        if payload.endswith(BOUNDARY + b"--\r\n"):
            payload = payload[: -len(BOUNDARY + b"--\r\n")]
        payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        sig_len = struct.unpack("<i", payload[:4])[0]
        message = ctx.unwrap(payload[4:4 + sig_len] + payload[4 + sig_len:]).data
        if len(message) != expected:
            raise ValueError("encrypted length does not match the declared length")
        out += message
    if not parts:
        raise ValueError("empty encrypted message")
    return out


def _encrypt(ctx: Any, message: bytes) -> bytes:
    wrapped = ctx.wrap(message, encrypt=True).data
    signature, sealed = wrapped[:16], wrapped[16:]
    return (BOUNDARY + b"\r\n\tContent-Type: " + ENCRYPTED_PROTOCOL.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(message)).encode() + b"\r\n" + BOUNDARY + b"\r\n"
            b"\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<i", 16) + signature + sealed + BOUNDARY + b"--\r\n")


# -- envelopes ----------------------------------------------------------------------------
def _envelope(action: str, relates_to: str, body: str) -> str:
    return (
        f'<s:Envelope xml:lang="en-US" xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" '
        f'xmlns:x="{TRANSFER}" xmlns:w="{NS["w"]}" xmlns:rsp="{SHELL_URI}" '
        'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
        f"<s:Header><a:Action>{action}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )


def _fault(relates_to: str, code: str, subcode: str, wsman_code: int, message: str,
           machine: str) -> str:
    body = (
        f"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value>"
        f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(message)}</s:Text>'
        "</s:Reason><s:Detail><f:WSManFault "
        'xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
        f'Code="{wsman_code}" Machine="{escape(machine)}"><f:Message>{escape(message)}'
        "</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def _text(root: ET.Element, path: str) -> str:
    el = root.find(path, NS)
    return (el.text or "").strip() if el is not None else ""


def _selector(root: ET.Element) -> str:
    for el in root.iterfind("s:Header/w:SelectorSet/w:Selector", NS):
        if el.get("Name") == "ShellId":
            return (el.text or "").strip()
    return ""


def _duration(text: str) -> float | None:
    m = re.fullmatch(r"PT(\d+(?:\.\d+)?)S", text)
    return float(m.group(1)) if m else None


# -- the cmd.exe / powershell.exe layer -----------------------------------------------------
@dataclass(frozen=True)
class _Invalid:
    message: str


_PS = re.compile(r"^\s*powershell(?:\.exe)?((?:\s+-[A-Za-z]+(?:\s+(?!-)[A-Za-z]+)?)*?)"
                 r"\s+-(?:e|ec|enc|encodedcommand)\s+(\S+)\s*$", re.IGNORECASE)


def _powershell_script(cmdline: str) -> str | _Invalid | None:
    """The script of ``powershell [-opts] -EncodedCommand <b64>``; None if not powershell."""
    if not re.match(r"^\s*powershell(\.exe)?\b", cmdline, re.IGNORECASE):
        return None
    m = _PS.match(cmdline)
    if m is None:
        return _Invalid("the simulated host runs PowerShell only with -EncodedCommand\r\n")
    try:
        return base64.b64decode(m.group(2), validate=True).decode("utf-16-le")
    except (binascii.Error, UnicodeDecodeError):
        return _Invalid("Cannot process the command because the value specified with "
                        "-EncodedCommand is not properly encoded. The value must be Base64 "
                        "encoded.\r\n")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def _ps_error(message: str) -> bytes:
    return clixml_error(message + "\r\n    + CategoryInfo          : NotSpecified: (:) [], "
                        "MethodInvocationException\r\n")


def _flood(total: int) -> Iterator[bytes]:
    line = b"A" * 1023 + b"\n"
    block = line * 64
    sent = 0
    while sent < total:
        piece = block[: total - sent]
        sent += len(piece)
        yield piece


# -- running one host in a namespace -------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Serve one simulated host until killed (``ip netns exec NS python -m ...``)."""
    from tests.lab import winrm_hosts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5985)
    parser.add_argument("--host", default="win11", choices=sorted(winrm_hosts.PRESETS))
    parser.add_argument("--user", default="Administrator")
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--cert", help="server certificate (PEM) for HTTPS")
    parser.add_argument("--key", help="its private key")
    parser.add_argument("--basic", action="store_true")
    parser.add_argument("--allow-unencrypted", action="store_true")
    args = parser.parse_args(argv)
    if not (args.address.startswith("127.") or args.address.startswith("10.")):
        parser.error("listen only on loopback or a lab namespace address")
    password = Path(args.password_file).read_text(encoding="utf-8").strip()
    tls = None
    if args.cert:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        from tests.lab.winrm_ca import ServerCert

        der = x509.load_pem_x509_certificate(Path(args.cert).read_bytes()).public_bytes(
            serialization.Encoding.DER)
        tls = ServerCert(Path(args.cert), Path(args.key), Path(args.cert),
                         hashlib.sha256(der).digest())
    endpoint = WinRMEndpoint(winrm_hosts.PRESETS[args.host](), address=args.address,
                             port=args.port, users=[(args.user, password)], tls=tls,
                             basic=args.basic, allow_unencrypted=args.allow_unencrypted)
    print(f"serving {endpoint.url}", flush=True)
    try:
        endpoint.httpd.serve_forever(poll_interval=0.2)
    finally:
        endpoint.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
