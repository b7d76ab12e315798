"""SSH access to the lab's real sshd hosts: vault, credentials, sudo, pinned host keys."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.core.models import Asset
from app.remote.ssh import AuthenticationError, HostKeyChangedError, SudoError
from app.services import SiteService
from tests.lab.lab import Lab

MASTER = "lab master password"

pytestmark = pytest.mark.lab


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "remote.pdsite", create=True, actor="tech")
    yield service
    service.close()


def cli(site_path: Path, *argv: str, stdin: str = "") -> tuple[int, str]:
    import sys

    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(["--site", str(site_path), *argv], out=out)
    finally:
        sys.stdin = old
    return code, out.getvalue()


def test_cli_credential_add_and_test_without_secrets_on_argv(lab: Lab, tmp_path: Path,
                                                             monkeypatch, capsys) -> None:
    host = lab.host("deb1")
    site_path = tmp_path / "cli.pdsite"
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", MASTER)
    assert cli(site_path, "asset", "add", "--hostname", "deb1", "--ip", host.ip)[0] == 0
    code, _ = cli(site_path, "cred", "add", "office", "--ssh-user", host.user,
                  "--password-stdin", "--scope", "all", stdin=host.password + "\n")
    assert code == 0
    code, text = cli(site_path, "cred", "test", "office", "deb1", "--accept-new-host-keys")
    assert code == 0, capsys.readouterr().err
    assert "sudo ok" in text
    # The secret is nowhere in the site file (WAL folded in first), nor in the output.
    service = SiteService.open(site_path)
    service.store.db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    service.close()
    raw = site_path.read_bytes()
    for side in ("-wal", "-shm"):
        extra = Path(str(site_path) + side)
        if extra.exists():
            raw += extra.read_bytes()
    assert host.password.encode() not in raw
    assert host.password not in text + capsys.readouterr().err


def test_wrong_password_and_wrong_sudo_password_are_clear(lab: Lab, site: SiteService) -> None:
    host = lab.host("deb2")
    asset = site.add_asset(Asset(hostname="deb2", ips=(host.ip,)))
    site.remote.unlock(MASTER, create=True)
    site.remote.add_ssh_credential("bad", host.user, password="not-the-password")
    with pytest.raises(AuthenticationError, match="authentication failed"):
        site.remote.transport_for(asset).run(["true"])
    site.remote.delete_credential("bad")
    site.remote.add_ssh_credential("badsudo", host.user, password=host.password,
                                   sudo_password="wrong-sudo")
    transport = site.remote.transport_for(asset)
    assert transport.run(["id", "-un"]).stdout.strip() == host.user
    with pytest.raises(SudoError, match="rejected"):
        transport.run(["id", "-u"], sudo=True, timeout=30)


def test_sudo_password_never_reaches_the_command(lab: Lab, site: SiteService) -> None:
    host = lab.host("deb3")
    asset = site.add_asset(Asset(hostname="deb3", ips=(host.ip,)))
    site.remote.unlock(MASTER, create=True)
    site.remote.add_ssh_credential("office", host.user, password=host.password)
    transport = site.remote.transport_for(asset)
    result = transport.run(["cat"], sudo=True, input="only this\n", timeout=30)
    assert result.stdout == "only this\n"
    # Neither on the remote command line nor in the process list while it ran.
    ps = transport.run(["sh", "-c", "cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' '"])
    assert host.password not in ps.stdout


def test_a_host_flooding_output_is_cut_at_the_cap(lab: Lab, site: SiteService) -> None:
    """[12].3: 400 MB of facts took 872 MB of memory; a 20 s command streamed 2.4 GB."""
    import resource
    import time

    from app.remote.ssh import OutputTooLargeError

    host = lab.host("deb3")
    asset = site.add_asset(Asset(hostname="deb3", ips=(host.ip,)))
    site.remote.unlock(MASTER, create=True)
    site.remote.add_ssh_credential("office", host.user, password=host.password)
    transport = site.remote.transport_for(asset)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(OutputTooLargeError, match="output too large") as caught:
        transport.run(["sh", "-c", "yes flood | head -c 2000000000"], timeout=120,
                      max_output=8 * 1024 * 1024)
    assert caught.value.head.startswith("flood\nflood")
    assert time.monotonic() - started < 60  # stopped at the cap, not after 2 GB
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 200 * 1024  # nowhere near the 2 GB the host offered
    # stderr is capped too, and the connection stays usable afterwards
    with pytest.raises(OutputTooLargeError):
        transport.run(["sh", "-c", "yes err | head -c 50000000 >&2"], timeout=120,
                      max_output=1024 * 1024)
    assert transport.run(["echo", "still here"]).stdout == "still here\n"


def test_changed_host_key_is_refused_then_accepted_and_audited(lab: Lab, lab_host,
                                                               site: SiteService) -> None:
    from app.remote.ssh import fetch_host_key

    info = lab_host(name="rekey")
    asset = site.add_asset(Asset(hostname="rekey", ips=(info.ip,)))
    site.remote.unlock(MASTER, create=True)
    site.remote.add_ssh_credential("office", info.user, password=info.password)
    assert site.remote.transport_for(asset).run(["true"]).ok
    old = site.remote.host_keys.pinned(info.ip, 22)
    site.remote.close_all()

    lab.regenerate_host_key("rekey")
    with pytest.raises(HostKeyChangedError) as caught:
        site.remote.transport_for(asset).run(["true"])
    assert caught.value.old_fingerprints == [k.fingerprint for k in old]
    new = fetch_host_key(info.ip)
    assert caught.value.new_fingerprint == new.fingerprint
    assert new.fingerprint in str(caught.value)

    site.remote.accept_host_key(info.ip, 22, new.key_type, new.key_b64)
    assert site.remote.transport_for(asset).run(["true"]).ok
    event = site.audit_events(object_type="host", object_id=f"{info.ip}:22")[0]
    assert event.action == "hostkey.accept"
    assert event.details["new"] == new.fingerprint
    assert event.details["old"] == [k.fingerprint for k in old]
