"""SSH transport on paramiko: pinned host keys, timeouts everywhere, safe sudo.

* Host keys are trusted on first use into a per-site store and pinned afterwards; a changed
  key (or a key of another type for a host we already know) raises
  :class:`HostKeyChangedError` with both fingerprints. ``AutoAddPolicy`` is never used.
* Commands are argv lists, joined with ``shlex.quote``; parsed commands run with
  ``LANG=C LC_ALL=C``.
* sudo runs with ``-S`` and a random prompt marker: the stored password is written to the
  channel only after sudo printed that marker, so it never reaches the command's stdin, a
  command line or a log. A second prompt (wrong password) aborts at once; ``sudo -n`` is
  used when the credential says no password is needed. Every call has a hard deadline.
"""

from __future__ import annotations

import base64
import io
import logging
import secrets
import shlex
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import paramiko

from app.core.errors import UserError
from app.core.hostkeys import PinnedKey, fingerprint

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 8.0
#: The most bytes one command may print on one stream (a real host's largest output, the
#: installed-package list of a big server, is a few MiB).
MAX_OUTPUT = 64 * 1024 * 1024
DEFAULT_COMMAND_TIMEOUT = 120.0
C_LOCALE = {"LANG": "C", "LC_ALL": "C"}


# -- errors --------------------------------------------------------------------------------
class RemoteError(UserError):
    """A remote host could not do what was asked (the message says what and where)."""

    kind = "error"

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        super().__init__(f"{host}: {message}")


class UnreachableError(RemoteError):
    """No TCP/SSH connection could be made."""

    kind = "unreachable"


class ConnectionLostError(UnreachableError):
    """An established SSH connection dropped while a command ran (the host rebooted, a
    middlebox or an overloaded sshd cut it). Read-only work may be retried once."""

    kind = "connection_lost"


class AuthenticationError(RemoteError):
    """The host refused the credentials."""

    kind = "auth_failed"


class SudoError(RemoteError):
    """sudo refused (wrong password, not allowed, or a password is needed but none stored)."""

    kind = "sudo_refused"


class CommandTimeoutError(RemoteError):
    """A command did not finish before its deadline (the channel was closed)."""

    kind = "timeout"


class OutputTooLargeError(RemoteError):
    """A command printed more than the cap: the channel was closed, the head and tail kept.

    Attributes:
        head: the first bytes of the stream that overflowed (decoded, for diagnosis).
        tail: its last bytes before the channel was closed.
    """

    kind = "output_too_large"

    def __init__(self, host: str, what: str, cap: int, head: str, tail: str) -> None:
        self.head, self.tail = head, tail
        super().__init__(host, f"output too large: '{what}' printed more than "
                               f"{cap // (1024 * 1024)} MiB; stopped it (a host flooding "
                               f"output is not trusted). It began: {head[:120]!r}")


class HostKeyChangedError(RemoteError):
    """The host presented a key different from the pinned one: possibly an attack."""

    kind = "host_key_changed"

    def __init__(self, host: str, port: int, key_type: str, old_fingerprints: list[str],
                 new_fingerprint: str, new_key_b64: str) -> None:
        self.port = port
        self.key_type = key_type
        self.old_fingerprints = old_fingerprints
        self.new_fingerprint = new_fingerprint
        self.new_key_b64 = new_key_b64
        super().__init__(
            host,
            "SSH host key changed — the connection was refused. Pinned: "
            f"{', '.join(old_fingerprints)}; presented: {new_fingerprint} ({key_type}). "
            "If the host was reinstalled, accept the new key; otherwise someone may be "
            "intercepting the connection.",
        )


class HostKeyUnconfirmedError(HostKeyChangedError):
    """A password would go to a host whose key no person confirmed (first contact, or a key
    only pinned on first use): refused before any password is sent ([12].10)."""

    kind = "host_key_unconfirmed"

    def __init__(self, host: str, port: int, key_type: str, pinned: list[str],
                 new_fingerprint: str, new_key_b64: str) -> None:
        super().__init__(host, port, key_type, pinned, new_fingerprint, new_key_b64)
        RemoteError.__init__(
            self, host,
            f"its SSH host key {new_fingerprint} ({key_type}) was never confirmed, so no "
            "password was sent. Compare it with the host's own (ssh-keygen -lf on its "
            "console), then confirm it (patchdesk hostkey accept, or the GUI's prompt) or "
            "run again with --accept-new-host-keys.")


# -- host keys -----------------------------------------------------------------------------
class HostKeyStore(Protocol):
    """Where pinned host keys live (the site database; a dict in tests)."""

    def pinned(self, host: str, port: int) -> list[PinnedKey]:
        """Keys pinned for host:port."""
        ...

    def pin(self, host: str, port: int, key: PinnedKey, *, accepted_by: str,
            replace: bool) -> None:
        """Pin a key (trust on first use, or an accepted change when ``replace``)."""
        ...

    def confirmed(self, host: str, port: int) -> bool:
        """Whether a person confirmed the pinned key (not only pinned on first use)."""
        ...


class _PinningPolicy(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """Trust on first use; refuse a host that has pinned keys but shows an unknown one."""

    def __init__(self, store: HostKeyStore, host: str, port: int, actor: str, *,
                 password: bool = False, accept_new: bool = False) -> None:
        self.store, self.host, self.port, self.actor = store, host, port, actor
        self.password, self.accept_new = password, accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        presented = PinnedKey(key.get_name(), key.get_base64())
        known = self.store.pinned(self.host, self.port)
        if known:
            # paramiko treats a key of a *different type* as "missing": for a host we
            # already know that is a change, not a first use.
            raise HostKeyChangedError(self.host, self.port, presented.key_type,
                                      [k.fingerprint for k in known],
                                      presented.fingerprint, presented.key_b64)
        if self.password and not self.accept_new:  # no password to a stranger ([12].10)
            raise HostKeyUnconfirmedError(self.host, self.port, presented.key_type, [],
                                          presented.fingerprint, presented.key_b64)
        how = "confirmed at first use" if self.accept_new else "first use"
        self.store.pin(self.host, self.port, presented, accepted_by=f"{how} ({self.actor})",
                       replace=False)
        log.info("pinned new host key %s for %s:%s", presented.fingerprint, self.host,
                 self.port)


# -- credentials and results ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SshCredential:
    """How to log in; secrets are held only in memory and never printed (repr hides them)."""

    username: str
    password: str | None = field(default=None, repr=False)
    key_path: str | None = None
    key_pem: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    use_agent: bool = False
    sudo_mode: str = "password"  # "password" | "nopasswd" | "root" (already root)
    sudo_password: str | None = field(default=None, repr=False)
    #: A Mac's volume owner (Apple silicon installs need their password, fed on stdin).
    macos_owner: str = ""
    macos_owner_password: str | None = field(default=None, repr=False)

    def secrets(self) -> list[str]:
        """Every secret value, so callers can scrub them from any text."""
        return [s for s in (self.password, self.key_pem, self.key_passphrase,
                            self.sudo_password, self.macos_owner_password) if s]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a remote command did."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        """Exit code 0."""
        return self.exit_code == 0


def join_command(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Quote an argv for the remote shell, with an ``env`` prefix if given."""
    parts = [str(a) for a in argv]
    if env:
        parts = ["env", *(f"{k}={v}" for k, v in env.items()), *parts]
    return shlex.join(parts)


# -- the transport -------------------------------------------------------------------------
class SshTransport:
    """One authenticated SSH connection to one host; thread-safe, channels per command."""

    def __init__(
        self,
        host: str,
        credential: SshCredential,
        host_keys: HostKeyStore,
        *,
        port: int = 22,
        actor: str = "",
        connect_timeout: float = CONNECT_TIMEOUT,
        accept_new: bool = False,
    ) -> None:
        self.host = host
        #: A person accepted new host keys for this run (``--accept-new-host-keys``).
        self.accept_new = accept_new
        self.port = port
        self.credential = credential
        self.host_keys = host_keys
        self.actor = actor
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    # connection ---------------------------------------------------------------------
    def connect(self) -> None:
        """Open (or reuse) the connection.

        Raises:
            UnreachableError, AuthenticationError, HostKeyChangedError
        """
        with self._lock:
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return
                self._client.close()
                self._client = None
            client = paramiko.SSHClient()
            name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
            cred = self.credential
            # A password (login, or sudo's) goes only to a host whose key a person
            # confirmed ([12].10): checked before the handshake for a key only pinned on
            # first use, in the handshake (the policy) for a host never seen.
            password = bool(cred.password) or (cred.sudo_mode == "password"
                                               and bool(cred.sudo_password))
            pinned = self.host_keys.pinned(self.host, self.port)
            if password and pinned and not self.host_keys.confirmed(self.host, self.port):
                if not self.accept_new:
                    first = pinned[0]
                    raise HostKeyUnconfirmedError(
                        self.host, self.port, first.key_type, [k.fingerprint for k in pinned],
                        first.fingerprint, first.key_b64)
                for key in pinned:  # the person confirms what was pinned on first use
                    self.host_keys.pin(self.host, self.port, key, replace=False,
                                       accepted_by=f"confirmed ({self.actor})")
            for key in pinned:
                client.get_host_keys().add(name, key.key_type, _pkey(key))
            client.set_missing_host_key_policy(
                _PinningPolicy(self.host_keys, self.host, self.port, self.actor,
                               password=password, accept_new=self.accept_new))
            pkey = None
            if cred.key_pem:
                pkey = _load_private_key(cred.key_pem, cred.key_passphrase)
            try:
                client.connect(
                    self.host,
                    port=self.port,
                    username=cred.username,
                    password=cred.password,
                    pkey=pkey,
                    key_filename=cred.key_path or None,
                    passphrase=cred.key_passphrase,
                    allow_agent=cred.use_agent,
                    look_for_keys=False,
                    timeout=self.connect_timeout,
                    banner_timeout=self.connect_timeout,
                    auth_timeout=self.connect_timeout,
                    channel_timeout=self.connect_timeout,
                )
            except HostKeyChangedError:
                client.close()
                raise
            except paramiko.BadHostKeyException as exc:
                client.close()
                known = self.host_keys.pinned(self.host, self.port)
                raise HostKeyChangedError(
                    self.host, self.port, exc.key.get_name(),
                    [k.fingerprint for k in known], fingerprint(exc.key.get_base64()),
                    exc.key.get_base64()) from None
            except paramiko.AuthenticationException:
                client.close()
                raise AuthenticationError(
                    self.host, f"authentication failed for user '{cred.username}'") from None
            except paramiko.SSHException as exc:
                client.close()
                raise UnreachableError(self.host, f"SSH failed: {_scrub(str(exc), cred)}"
                                       ) from None
            except TimeoutError:
                client.close()
                raise UnreachableError(self.host, f"no answer on port {self.port} within "
                                       f"{self.connect_timeout:.0f}s") from None
            except OSError as exc:
                client.close()
                raise UnreachableError(self.host, f"cannot connect to port {self.port}: "
                                       f"{exc.strerror or exc}") from None
            self._client = client

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> SshTransport:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # commands -----------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        sudo: bool = False,
        timeout: float = DEFAULT_COMMAND_TIMEOUT,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        c_locale: bool = True,
        max_output: int = MAX_OUTPUT,
    ) -> CommandResult:
        """Run one command and wait for it (never longer than ``timeout``).

        Args:
            argv: the command; each element is quoted, nothing is interpreted by a shell.
            sudo: run as root through sudo (password from the credential, fed safely).
            timeout: hard deadline in seconds; the channel is closed when it passes.
            input: text for the command's stdin.
            env: extra environment (``LANG=C LC_ALL=C`` is added unless ``c_locale`` is
                false).
            max_output: the most bytes kept per stream (stdout, stderr); past it the
                channel is closed and :class:`OutputTooLargeError` raised, so a host that
                floods output never fills this process's memory.

        Raises:
            CommandTimeoutError, SudoError, UnreachableError, OutputTooLargeError
        """
        self.connect()
        full_env = {**(C_LOCALE if c_locale else {}), **(env or {})}
        command = join_command(argv, full_env)
        marker = ""
        if sudo and self.credential.sudo_mode != "root":
            if self.credential.sudo_mode == "nopasswd" or not self.credential.sudo_password:
                command = "sudo -n -- " + command
            else:
                marker = f"[pd-sudo-{secrets.token_hex(8)}]"
                command = f"sudo -S -p {shlex.quote(marker)} -- {command}"
        client = self._client
        assert client is not None
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise UnreachableError(self.host, "the SSH connection was lost")
        started = time.monotonic()
        deadline = started + timeout
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
        except (paramiko.SSHException, OSError) as exc:
            raise UnreachableError(self.host, f"cannot open a session: {exc}") from None
        try:
            chan.settimeout(0.2)
            chan.exec_command(command)
            out, err, code = self._pump(chan, marker, input, deadline, argv, max_output)
        except (OSError, EOFError, paramiko.SSHException) as exc:  # the link, not the command
            raise ConnectionLostError(self.host, f"the SSH connection was lost while "
                                                 f"'{shlex.join(argv)[:60]}' ran: {exc}") from None
        finally:
            chan.close()
        stderr = err.decode("utf-8", "replace")
        stdout = out.decode("utf-8", "replace")
        if sudo and code == 1 and "a password is required" in stderr:
            raise SudoError(self.host, "sudo needs a password but none is stored for "
                                       f"'{self.credential.username}'")
        if sudo and ("is not in the sudoers file" in stderr
                     or "is not allowed to execute" in stderr):
            raise SudoError(self.host, f"'{self.credential.username}' may not use sudo here")
        return CommandResult(tuple(argv), code, _scrub(stdout, self.credential),
                             _scrub(stderr, self.credential), time.monotonic() - started)

    def _pump(self, chan: paramiko.Channel, marker: str, input: str | None,
              deadline: float, argv: Sequence[str],
              max_output: int = 0) -> tuple[bytes, bytes, int]:
        out, err = bytearray(), bytearray()
        marker_b = marker.encode()
        prompts = 0
        input_sent = False

        def send_input() -> None:
            nonlocal input_sent
            if input is not None:
                chan.sendall(input.encode("utf-8"))
            chan.shutdown_write()
            input_sent = True

        if not marker:
            send_input()
        while True:
            if time.monotonic() > deadline:
                raise CommandTimeoutError(
                    self.host, f"'{shlex.join(argv)[:80]}' did not finish in time; stopped")
            progressed = False
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
                progressed = True
                self._check_size(err, max_output, argv)
            while chan.recv_ready():
                out += chan.recv(65536)
                progressed = True
                self._check_size(out, max_output, argv)
            if marker_b and marker_b in err:
                count = err.count(marker_b)
                del err[:]  # the prompt (and anything before it) is sudo's, not ours
                prompts += count
                if prompts > 1:
                    raise SudoError(self.host, "sudo rejected the stored password for "
                                               f"'{self.credential.username}'")
                chan.sendall((self.credential.sudo_password or "").encode() + b"\n")
                send_input()
            elif marker_b and not input_sent and out:
                send_input()  # no prompt came: sudo did not need the password
            if chan.exit_status_ready() and not chan.recv_ready() and not \
                    chan.recv_stderr_ready():
                break
            if not progressed:
                time.sleep(0.01)
        return bytes(out), bytes(err), chan.recv_exit_status()


    def _check_size(self, buffer: bytearray, max_output: int, argv: Sequence[str]) -> None:
        if max_output and len(buffer) > max_output:
            raise OutputTooLargeError(
                self.host, shlex.join(argv)[:80], max_output,
                _scrub(buffer[:2048].decode("utf-8", "replace"), self.credential),
                _scrub(buffer[-2048:].decode("utf-8", "replace"), self.credential))


def fetch_host_key(host: str, port: int = 22, timeout: float = CONNECT_TIMEOUT) -> PinnedKey:
    """The key a host presents now, without logging in (to verify a changed key).

    Raises:
        UnreachableError: no SSH server answered.
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise UnreachableError(host, f"cannot connect to port {port}: {exc}") from None
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        return PinnedKey(key.get_name(), key.get_base64())
    except paramiko.SSHException as exc:
        raise UnreachableError(host, f"SSH failed: {exc}") from None
    finally:
        transport.close()


def _pkey(key: PinnedKey) -> paramiko.PKey:
    return paramiko.PKey.from_type_string(key.key_type, base64.b64decode(key.key_b64))


def _load_private_key(pem: str, passphrase: str | None) -> paramiko.PKey:
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(pem), password=passphrase)
        except (paramiko.SSHException, ValueError):
            continue
    raise UserError("the stored SSH key could not be read (wrong passphrase or format)")


def _scrub(text: str, credential: SshCredential) -> str:
    for secret in credential.secrets():
        if len(secret) >= 3:
            text = text.replace(secret, "********")
    return text
