"""WinRM transport on pywinrm: validated HTTPS by default, encrypted NTLM over HTTP, bounded.

* HTTPS (5986) validates the server certificate against the credential's CA file (or the
  system bundle); skipping validation is an explicit per-credential flag.
* HTTP (5985) is used with NTLM (or Kerberos) only, and pywinrm then encrypts every message
  (MS-WSMV 2.2.9.1.1, ``message_encryption='always'``).
* Basic sends the password in clear base64: it is refused *before any connection* unless
  the credential explicitly allows unencrypted transport (tech-notes §6.3; pywinrm#79).
* Every call has a deadline; a dropped connection is retried with a fresh session (a new
  NTLM handshake: pywinrm's encryption is bound to the old connection); output is capped
  per stream like the SSH transport, and a flooding host is cut off and reported.
* Scripts go as ``powershell -EncodedCommand``; a script too long for cmd.exe's 8,191-
  character command line is sent as a short bootstrap that reads it from stdin (pywinrm#184,
  #145; the same approach as Ansible's winrm connection plugin).

Results and errors are the SSH transport's (:class:`CommandResult`, :class:`RemoteError`
and its subclasses) so drivers and services handle both transports alike.
"""

from __future__ import annotations

import base64
import logging
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import unescape

import requests
import winrm.exceptions
import winrm.transport
from winrm.protocol import Protocol

from app.core.errors import UserError
from app.remote.ssh import (
    DEFAULT_COMMAND_TIMEOUT,
    MAX_OUTPUT,
    AuthenticationError,
    CommandResult,
    CommandTimeoutError,
    OutputTooLargeError,
    RemoteError,
    UnreachableError,
)

log = logging.getLogger(__name__)

__all__ = [
    "BOOTSTRAP",
    "AuthenticationError",
    "CertificateError",
    "CommandResult",
    "CommandTimeoutError",
    "InsecureTransportError",
    "OutputTooLargeError",
    "RemoteError",
    "UnreachableError",
    "WinRMCredential",
    "WinRMTransport",
]

HTTPS_PORT = 5986
HTTP_PORT = 5985
#: cmd.exe's command-line limit; keep a margin for what WinRS adds.
CMD_LIMIT = 8191
INLINE_LIMIT = 8000
#: Raw stdin bytes per Send (base64 grows it by 4/3; pywinrm announces a 153,600-byte
#: MaxEnvelopeSize).
STDIN_CHUNK = 64 * 1024
POWERSHELL = "powershell -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand"
#: Reads the real script as base64 UTF-8 from stdin and runs it (reviewed like the scripts;
#: ``$input`` is how Ansible's bootstrap_wrapper.ps1 reads its stdin).
BOOTSTRAP = (
    "$ErrorActionPreference = 'Stop'; "
    "$s = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String(($input | Out-String)"
    ".Trim())); "
    "& ([ScriptBlock]::Create($s))"
)
AUTH_METHODS = ("ntlm", "kerberos", "basic")
CONNECT_TIMEOUT = 8.0
_SAFE_ARG = re.compile(r"[A-Za-z0-9_.:/\\=,+@ -]{1,400}")


class CertificateError(RemoteError):
    """The HTTPS certificate did not validate against the credential's CA."""

    kind = "untrusted_certificate"


class InsecureTransportError(UserError):
    """The credential asks for something that would expose the password; nothing was sent."""


@dataclass(frozen=True, slots=True)
class WinRMCredential:
    """How to reach and log in to a Windows host over WinRM (the password stays in memory).

    Attributes:
        auth: ``ntlm`` (local and domain accounts), ``kerberos`` (domain members; needs a
            ticket from ``kinit`` and pywinrm's Kerberos extra), or ``basic`` (local
            accounts; only with ``allow_unencrypted`` unless over validated HTTPS).
        https: HTTPS on 5986 (default) rather than HTTP on 5985.
        ca_file: PEM file of the CA that signed the hosts' certificates (None: system CAs).
        skip_cert_validation: accept any certificate (explicit, audited by the caller).
        allow_unencrypted: the user's explicit choice to send Basic credentials and
            messages without protection.
    """

    username: str
    password: str = field(repr=False)
    auth: str = "ntlm"
    https: bool = True
    port: int | None = None
    ca_file: str | None = None
    skip_cert_validation: bool = False
    allow_unencrypted: bool = False

    @property
    def effective_port(self) -> int:
        """The port to connect to."""
        return self.port or (HTTPS_PORT if self.https else HTTP_PORT)

    def check(self) -> None:
        """Refuse insecure combinations before anything is sent.

        Raises:
            InsecureTransportError: Basic without TLS that validates the server, unless
                unencrypted transport was explicitly allowed.
            UserError: an unknown auth method, or Kerberos without its libraries.
        """
        if self.auth not in AUTH_METHODS:
            raise UserError(f"unknown WinRM authentication '{self.auth}' "
                            f"(use {', '.join(AUTH_METHODS)})")
        protected = self.https and not self.skip_cert_validation
        if self.auth == "basic" and not protected and not self.allow_unencrypted:
            raise InsecureTransportError(
                "Basic authentication would send the password "
                + ("in clear text over HTTP" if not self.https else
                   "to a server whose certificate is not checked")
                + "; nothing was sent. Use NTLM or Kerberos (messages are encrypted), HTTPS "
                "with certificate validation, or explicitly allow unencrypted transport for "
                "this credential (the host must also have AllowUnencrypted=true).")
        if self.auth == "kerberos" and not winrm.transport.HAVE_KERBEROS:
            raise UserError("Kerberos needs pywinrm's Kerberos support "
                            "(pip install pywinrm[kerberos]) and a ticket (kinit)")

    def secrets(self) -> list[str]:
        """Values to scrub from any text shown or stored."""
        return [self.password] if self.password else []


class _DroppedError(Exception):
    """The connection went away; ``started`` tells whether the command may have run."""

    def __init__(self, started: bool, detail: str) -> None:
        self.started = started
        self.detail = detail
        super().__init__(detail)


class WinRMTransport:
    """Runs commands and PowerShell scripts on one Windows host; a shell per call.

    Args:
        host: name or address.
        credential: see :class:`WinRMCredential`.
        operation_timeout: seconds the host may hold one WinRM request (pywinrm's
            ``operation_timeout_sec``); the HTTP read timeout is a little longer.
        retries: how many times a dropped connection is retried.
        retry_delay: seconds before the first retry (doubled each time).
        connect_timeout: seconds to wait for the TCP (and TLS) connection.
    """

    def __init__(self, host: str, credential: WinRMCredential, *,
                 operation_timeout: int = 20, retries: int = 2,
                 retry_delay: float = 0.5, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        credential.check()
        self.host = host
        self.credential = credential
        self.connect_timeout = connect_timeout
        self.operation_timeout = max(1, int(operation_timeout))
        self.retries = retries
        self.retry_delay = retry_delay

    @property
    def endpoint(self) -> str:
        """The WS-Management URL."""
        scheme = "https" if self.credential.https else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.credential.effective_port}/wsman"

    def _protocol(self) -> Protocol:
        cred = self.credential
        cred.check()
        encryption = "always" if not cred.https and cred.auth != "basic" else "auto"
        if cred.auth == "basic" and not cred.https:
            encryption = "never"
        options: dict[str, Any] = {
            "transport": cred.auth,
            "username": cred.username,
            "password": cred.password,
            "server_cert_validation": "ignore" if cred.skip_cert_validation else "validate",
            # None: the system CA bundle, never one named by environment variables
            "ca_trust_path": cred.ca_file,
            "read_timeout_sec": self.operation_timeout + 10,
            "operation_timeout_sec": self.operation_timeout,
            "message_encryption": encryption,
            "proxy": None,  # never a proxy from the environment
        }
        protocol = Protocol(self.endpoint, **options)
        # pywinrm hands read_timeout_sec to requests as is; a (connect, read) pair keeps a
        # dead host from costing the whole read timeout per attempt.
        protocol.transport.read_timeout_sec = (  # type: ignore[assignment]
            self.connect_timeout, self.operation_timeout + 10)
        return protocol

    # -- public API -----------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, sudo: bool = False,
            timeout: float = DEFAULT_COMMAND_TIMEOUT, input: str | None = None,
            env: Mapping[str, str] | None = None, c_locale: bool = True,
            max_output: int = MAX_OUTPUT) -> CommandResult:
        """Run a program (argv quoted the Windows way) through cmd.exe.

        ``sudo``/``env``/``c_locale`` exist for the driver Transport protocol; WinRM runs as
        the logged-in account, so ``sudo`` is refused rather than silently ignored.

        Raises:
            RemoteError and subclasses (see :meth:`run_ps`).
        """
        if sudo:
            raise UserError("WinRM has no sudo: the credential's account must be an "
                            "administrator")
        if env:
            raise UserError("environment variables are passed as script parameters on "
                            "Windows")
        del c_locale
        unsafe = [a for a in argv if not _SAFE_ARG.fullmatch(str(a))]
        if unsafe or not argv:
            # cmd.exe interprets & | < > ^ % ! even where list2cmdline does not quote: only
            # plain words go on a command line; data goes to scripts as parameters.
            raise UserError(f"not a plain Windows command word: {str(unsafe[:1])[:80]} "
                            "(pass data to a PowerShell script as parameters instead)")
        cmdline = subprocess.list2cmdline([str(a) for a in argv])
        stdin = input.encode("utf-8") if input is not None else None
        return self._run(tuple(argv), cmdline, stdin, timeout, max_output, idempotent=False)

    def run_ps(self, script: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT,
               max_output: int = MAX_OUTPUT, idempotent: bool = True,
               name: str = "script") -> CommandResult:
        """Run a PowerShell script; long ones go through the stdin bootstrap.

        Args:
            script: the script text (with its parameters already prepended).
            idempotent: whether a connection dropped *after* the script started may be
                retried by running it again (true for read-only scripts).
            name: how to name the script in results and errors.

        Raises:
            InsecureTransportError: refused before sending anything.
            AuthenticationError: the host refused the credentials.
            CertificateError: the HTTPS certificate did not validate.
            UnreachableError: no connection, or it kept dropping.
            CommandTimeoutError: the script did not finish before ``timeout``.
            OutputTooLargeError: it printed more than ``max_output`` bytes on a stream.
            RemoteError: a WS-Management fault.
        """
        cmdline = f"{POWERSHELL} {_encode(script)}"
        stdin = None
        if len(cmdline) > INLINE_LIMIT:
            cmdline = f"{POWERSHELL} {_encode(BOOTSTRAP)}"
            stdin = base64.b64encode(script.encode("utf-8"))
        return self._run(("powershell", name), cmdline, stdin, timeout, max_output,
                         idempotent=idempotent)

    def close(self) -> None:
        """Nothing to close: every call opens (and deletes) its own shell."""

    def run_raw(self, cmdline: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT,
                max_output: int = MAX_OUTPUT) -> CommandResult:
        """Run one cmd.exe command line as given (tests; trusted fixed strings only)."""
        return self._run((cmdline[:60],), cmdline, None, timeout, max_output,
                         idempotent=False)

    # -- the WinRS exchange -----------------------------------------------------------------
    def _run(self, argv: tuple[str, ...], cmdline: str, stdin: bytes | None, timeout: float,
             max_output: int, *, idempotent: bool) -> CommandResult:
        self.credential.check()
        started = time.monotonic()
        deadline = started + timeout
        attempt = 0
        while True:
            try:
                out, err, code = self._exchange(argv, cmdline, stdin, deadline, max_output)
                break
            except _DroppedError as exc:
                attempt += 1
                if exc.started and not idempotent:
                    raise UnreachableError(
                        self.host, f"the connection dropped while '{argv[-1]}' ran ("
                        f"{exc.detail}); it may or may not have finished") from None
                if attempt > self.retries or time.monotonic() >= deadline:
                    raise UnreachableError(
                        self.host, f"WinRM connection to port {self.credential.effective_port}"
                        f" failed: {exc.detail}"
                        + (f" (tried {attempt} times)" if attempt > 1 else "")) from None
                log.info("%s: WinRM connection dropped (%s); retry %d", self.host, exc.detail,
                         attempt)
                time.sleep(self.retry_delay * 2 ** (attempt - 1))
        stderr = _clean_clixml(err.decode("utf-8", "replace"))
        return CommandResult(argv, code, self._scrub(out.decode("utf-8", "replace")),
                             self._scrub(stderr), time.monotonic() - started)

    def _exchange(self, argv: tuple[str, ...], cmdline: str, stdin: bytes | None,
                  deadline: float, max_output: int) -> tuple[bytes, bytes, int]:
        protocol = self._protocol()
        shell_id = command_id = None
        dropped = False
        try:
            try:
                shell_id = protocol.open_shell(codepage=65001, noprofile=True)
                command_id = protocol.run_command(shell_id, cmdline)
            except requests.exceptions.SSLError:
                raise  # a certificate problem is not a dropped connection: no retry
            except _CONNECTION_ERRORS as exc:
                dropped = True
                raise _DroppedError(False, _describe(exc)) from None
            try:
                if stdin is not None:
                    chunks = [stdin[i:i + STDIN_CHUNK]
                              for i in range(0, len(stdin), STDIN_CHUNK)] or [b""]
                    for i, chunk in enumerate(chunks):
                        protocol.send_command_input(shell_id, command_id, chunk,
                                                    end=i == len(chunks) - 1)
                out, err, code = self._receive(protocol, shell_id, command_id, argv,
                                               deadline, max_output)
            except requests.exceptions.SSLError:
                raise
            except _CONNECTION_ERRORS as exc:
                dropped = True
                raise _DroppedError(True, _describe(exc)) from None
            _quietly(protocol.cleanup_command, shell_id, command_id)
            command_id = None
            return out, err, code
        except winrm.exceptions.InvalidCredentialsError:
            raise AuthenticationError(
                self.host, f"the host refused the credentials of '{self.credential.username}'"
                f" ({self.credential.auth} over "
                f"{'HTTPS' if self.credential.https else 'HTTP'})") from None
        except requests.exceptions.SSLError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate" in str(exc).lower():
                raise CertificateError(
                    self.host, "the HTTPS certificate is not trusted (not signed by the "
                    "credential's CA, expired, or issued for another name); nothing was "
                    "sent. Give the CA file, or skip validation explicitly for this "
                    "host.") from None
            raise UnreachableError(self.host, f"TLS failed: {exc}") from None
        except winrm.exceptions.WSManFaultError as exc:
            raise RemoteError(self.host, f"WinRM fault: {exc.reason.strip()}") from None
        except winrm.exceptions.WinRMTransportError as exc:
            raise RemoteError(self.host, f"WinRM {exc.protocol} error {exc.code}") from None
        except winrm.exceptions.WinRMError as exc:
            raise RemoteError(self.host, f"WinRM error: {exc}") from None
        finally:
            # Stop the command (a timeout or a flood) and close the shell; after a dropped
            # connection the old session cannot speak any more (its NTLM context was bound
            # to that connection): the host reaps the shell after its idle timeout.
            if not dropped and shell_id is not None and command_id is not None:
                _quietly(protocol.cleanup_command, shell_id, command_id)
            if not dropped and shell_id is not None:
                _quietly(protocol.close_shell, shell_id)
            else:
                _quietly(protocol.transport.close_session)

    def _receive(self, protocol: Protocol, shell_id: str, command_id: str,
                 argv: tuple[str, ...], deadline: float,
                 max_output: int) -> tuple[bytes, bytes, int]:
        out, err = bytearray(), bytearray()
        while True:
            if time.monotonic() > deadline:
                raise CommandTimeoutError(self.host, f"'{argv[-1]}' did not finish in time; "
                                                     "stopped")
            try:
                o, e, code, done = protocol.get_command_output_raw(shell_id, command_id)
            except winrm.exceptions.WinRMOperationTimeoutError:
                continue  # nothing new within the operation timeout: ask again
            out += o
            err += e
            for buffer in (out, err):
                if max_output and len(buffer) > max_output:
                    raise OutputTooLargeError(
                        self.host, argv[-1], max_output,
                        self._scrub(buffer[:2048].decode("utf-8", "replace")),
                        self._scrub(buffer[-2048:].decode("utf-8", "replace")))
            if done:
                return bytes(out), bytes(err), code

    def _scrub(self, text: str) -> str:
        for secret in self.credential.secrets():
            if len(secret) >= 3:
                text = text.replace(secret, "********")
        return text


_CONNECTION_ERRORS = (requests.exceptions.ConnectionError,
                      requests.exceptions.ChunkedEncodingError,
                      requests.exceptions.ReadTimeout)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the host closed the connection"
    if "Connection refused" in text:
        return "connection refused"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "no answer to the connection attempt"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no answer in time"
    return text[:200]


def _quietly(fn: Any, *args: Any) -> None:
    # Clean-up after a failure must not hide the failure itself.
    try:
        fn(*args)
    except Exception as exc:
        log.debug("WinRM clean-up %s failed: %s", getattr(fn, "__name__", fn), exc)


def _encode(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


_CLIXML_ERROR = re.compile(r'<S S="Error">(.*?)</S>', re.DOTALL)


def _clean_clixml(text: str) -> str:
    """PowerShell's ``#< CLIXML`` stderr as plain text (error records only)."""
    if not text.startswith("#< CLIXML"):
        return text
    parts = [unescape(m).replace("_x000D__x000A_", "\n").replace("_x000A_", "\n")
             for m in _CLIXML_ERROR.findall(text)]
    return "".join(parts).strip()
