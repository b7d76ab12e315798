"""[12].10: a password (login or sudo) goes only to a host whose key is pinned and
confirmed. A hostile SSH server on loopback (paramiko, in this test) records every password
offered to it: on first contact it must see none unless the person accepted new host keys.
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from app.cli import main
from app.core.models import Asset
from app.remote.ssh import HostKeyUnconfirmedError
from app.services import SiteService

MASTER = "master password here"


class Recorder(paramiko.ServerInterface):  # type: ignore[misc]
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        self.seen.append(password)
        return paramiko.AUTH_SUCCESSFUL


class HostileServer:
    """An SSH server on 127.0.0.1 that takes any password and records it."""

    def __init__(self) -> None:
        self.key = paramiko.Ed25519Key.from_private_key(io.StringIO(_ED25519))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.passwords: list[str] = []
        self._transports: list[paramiko.Transport] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = paramiko.Transport(conn)
            t.add_server_key(self.key)
            self._transports.append(t)
            try:
                t.start_server(server=Recorder(self.passwords))
            except (paramiko.SSHException, EOFError, OSError):
                continue

    def close(self) -> None:
        self.sock.close()
        for t in self._transports:
            t.close()


def _make_key_text() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()).decode()


_ED25519 = _make_key_text()


@pytest.fixture
def server() -> Iterator[HostileServer]:
    made = HostileServer()
    yield made
    made.close()


@pytest.fixture
def site(tmp_path: Path, server: HostileServer) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "k.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="s3cret-login",
                                      sudo_password="s3cret-sudo", port=server.port)
    service.add_asset(Asset(hostname="stranger", ips=("127.0.0.1",)))
    yield service
    service.close()


def _connect(site: SiteService) -> None:
    transport = site.remote.transport_for(site.find_assets("stranger")[0])
    try:
        transport.connect()
    finally:
        transport.close()


def test_first_contact_sends_no_password(site: SiteService, server: HostileServer) -> None:
    with pytest.raises(HostKeyUnconfirmedError) as caught:
        _connect(site)
    assert server.passwords == []
    assert "--accept-new-host-keys" in str(caught.value)
    assert caught.value.new_fingerprint.startswith("SHA256:")
    assert site.remote.host_keys.pinned("127.0.0.1", server.port) == []  # nothing pinned


def test_accepting_new_keys_pins_them_as_confirmed(site: SiteService,
                                                   server: HostileServer) -> None:
    site.remote.accept_new_host_keys = True  # the person's choice for this session
    _connect(site)
    assert server.passwords == ["s3cret-login"]
    [row] = site.remote.host_keys.all()
    assert str(row["accepted_by"]).startswith("confirmed at first use")
    site.remote.accept_new_host_keys = False
    _connect(site)  # confirmed now: no flag needed
    assert server.passwords == ["s3cret-login"] * 2


def test_a_key_pinned_by_first_use_alone_is_not_confirmed(site: SiteService,
                                                          server: HostileServer) -> None:
    """A key pinned on first use (an earlier key-only login, or a site from before this
    rule) is pinned but not confirmed: no password until a person confirms it."""
    from app.core.hostkeys import PinnedKey

    site.remote.host_keys.pin("127.0.0.1", server.port,
                              PinnedKey(server.key.get_name(), server.key.get_base64()),
                              accepted_by="first use (tech)", replace=False)
    with pytest.raises(HostKeyUnconfirmedError):
        _connect(site)
    assert server.passwords == []


def test_cli_needs_accept_new_host_keys(site: SiteService, server: HostileServer,
                                        monkeypatch, capsys) -> None:
    path = str(site.path)
    site.close()
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", MASTER)
    code = main(["--site", path, "cred", "test", "office", "stranger"], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 1 and "--accept-new-host-keys" in err and server.passwords == []
    main(["--site", path, "cred", "test", "office", "stranger", "--accept-new-host-keys"],
         out=io.StringIO())
    assert server.passwords == ["s3cret-login"]


def test_cli_credential_scope_must_be_chosen(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", MASTER)
    monkeypatch.setattr("sys.stdin", io.StringIO("pw\n"))
    code = main(["--site", str(tmp_path / "s.pdsite"), "cred", "add", "x", "--ssh-user", "u",
                 "--password-stdin"], out=io.StringIO())
    assert code == 2 and "--scope" in capsys.readouterr().err
