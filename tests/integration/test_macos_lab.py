"""Macs over SSH on the lab's stand-in Mac hosts (tests/lab/machosts.py: real sshd and sudo,
stand-in Mac tools replaying captured outputs and keeping state): detected as Darwin,
Apple and Homebrew updates listed with their sources and restart flags, an approved update
installed through the test ring with a restart notice, the volume owner's password used
on Apple silicon, and an Apple-silicon Mac without it deferred to the user."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.credentials import Scope
from app.core.deployment import Gates, HostState, Phase, RebootPolicy
from app.core.models import Asset
from app.services import SiteService
from tests.lab.lab import HostInfo, Lab
from tests.lab.machosts import OWNER, OWNER_PASSWORD

MASTER = "lab master password"

pytestmark = pytest.mark.lab


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "mac.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    service.people.add("J. Smith", "4711-blue")
    yield service
    service.close()


def mac_state(lab: Lab, host: str) -> dict[str, object]:
    return dict(json.loads(lab.read_file(host, "/usr/local/lib/pdlab-mac/state.json")))


def add_macs(lab_host, site: SiteService) -> dict[str, tuple[HostInfo, int]]:
    made = {"macx": lab_host(name="macx", kind="mac-intel"),
            "maca": lab_host(name="maca", kind="mac-arm"),
            "macb": lab_host(name="macb", kind="mac-arm")}
    ids = {}
    for name, info in made.items():
        ids[name] = (info, int(site.add_asset(Asset(hostname=name, ips=(info.ip,))).id or 0))
    # maca's credential carries its volume owner (a separate secret); macb has none.
    site.remote.add_ssh_credential("maca-owner", "admin", password="labpass",
                                   scopes=(Scope.parse(f"asset:{ids['maca'][1]}"),),
                                   macos_owner=OWNER, macos_owner_password=OWNER_PASSWORD)
    return ids


def test_macs_assessed_updated_and_deferred(lab: Lab, lab_host, site: SiteService) -> None:
    ids = add_macs(lab_host, site)
    outcomes = {o.label: o for o in site.assess_assets()}
    assert all(o.ok for o in outcomes.values()), {k: o.message for k, o in outcomes.items()}
    records = site.assessments()
    for _info, asset_id in ids.values():
        assert records[asset_id].driver == "macos"
    x, a, b = (ids[n][1] for n in ("macx", "maca", "macb"))
    assert records[x].facts["os_name"] == "Mac OS X" and records[x].facts["os_version"] == "10.14"
    assert records[x].facts["model"] == "Mac Pro (MacPro7,1)"  # text form: no -json on 10.14
    assert records[a].facts["serial"] == "D5XQV1FMFJ"  # -json form
    assets = {asset.id: asset for asset in site.assets()}
    assert (str(assets[a].os_family), assets[a].manufacturer, assets[a].serial) == (
        "macos", "Apple", "D5XQV1FMFJ")
    patches = {(p.asset_id, p.package): p for p in site.patches()}
    # Apple (the 10.14 format) with restart / shut-down flags, and Homebrew, each named.
    update = patches[(x, "macOS 10.14.1 Update")]
    assert (update.source, update.reboot_required) == ("apple", True)
    assert patches[(x, "BridgeOSUpdateCustomer")].reboot_required is True
    assert patches[(x, "iCal-1.0.2")].reboot_required is False
    git = patches[(x, "homebrew/core/git")]
    assert (git.source, git.installed_version, git.candidate_version) == (
        "brew", "2.43.0", "2.44.0")
    assert any("pinned" in e for e in patches[(a, "homebrew/core/openssl@3")].evidence)
    assert patches[(a, "homebrew/cask/firefox")].source == "brew"
    # The 10.15+ format on the Apple-silicon Macs; the Sonoma upgrade kept apart.
    assert patches[(a, "macOS Monterey 12.7.6-21H1320")].reboot_required is True
    assert not [p for p in patches if p[1].startswith("macOS Sonoma")]
    assert records[a].facts["details"]["major_upgrades"][0]["version"] == "14.6.1"
    # Without the owner credential, macb's Apple updates say they are deferred to the user.
    assert any(e.startswith("install deferred to the user")
               for e in patches[(b, "macOS Monterey 12.7.6-21H1320")].evidence)
    assert not any(e.startswith("install deferred")
                   for e in patches[(a, "macOS Monterey 12.7.6-21H1320")].evidence)

    # An approved Apple restart update plus a Homebrew upgrade through the test ring, with
    # the restart notice; the restart itself is simulated by the lab.
    dep = site.plan_deployment(["macOS 10.14.1 Update", "homebrew/core/git"], ["macx"],
                               test_ring=["macx"], gates=Gates(reboot_lead_minutes=1),
                               override_reason="lab test: one minute of notice")
    result: dict[str, object] = {}
    runner = threading.Thread(target=lambda: result.update(dep=site.deployer.run(
        dep.id, approve_as="J. Smith")), daemon=True)
    runner.start()
    deadline = time.monotonic() + 180
    request = ""
    while time.monotonic() < deadline and not request:
        request = lab.exec("macx", "cat /run/pd-shutdown-request 2>/dev/null").stdout.strip()
        time.sleep(0.3)
    assert request.startswith("-r +1 -- PatchDesk"), request
    lab.simulate_reboot("macx")
    runner.join(180)
    assert not runner.is_alive()
    done = result["dep"]
    assert isinstance(done, type(dep))
    assert done.phase is Phase.DONE, done.halt_reason
    target = done.targets[0]
    assert target.state is HostState.SUCCEEDED, target.detail
    assert target.reboot.startswith("done (boot marker changed")
    assert target.verified == "installed"
    assert target.after == {"macOS 10.14.1 Update": "10.14.1", "homebrew/core/git": "2.44.0"}
    state = mac_state(lab, "macx")
    assert state["installed"] == ["macOS 10.14.1 Update"]
    assert state["sw_vers"] == {"ProductName": "Mac OS X", "ProductVersion": "10.14.1",
                                "BuildVersion": "18A391"}
    brew = json.loads(lab.read_file("macx", "/usr/local/Homebrew/.pdlab-brew.json"))
    assert brew["formulae"][0]["installed_versions"] == ["2.44.0"]
    left = {p.package for p in site.patches(x)}
    assert "macOS 10.14.1 Update" not in left and "homebrew/core/git" not in left
    log = " ".join(line["message"] for line in site.deployment_log(done.id))
    assert "reboot scheduled in 1 min; users notified" in log
    # A restart scheduled the BSD way is cancelled by stopping the waiting shutdown.
    from app.drivers.macos.deploy import MacReboot

    asset = next(a for a in site.assets() if a.id == x)
    transport = site.remote.transport_for(asset)
    MacReboot().schedule(transport, 5, "PatchDesk: cancel test")
    assert lab.exec("macx", "pgrep -x shutdown").returncode == 0
    MacReboot().cancel(transport)
    assert lab.exec("macx", "pgrep -x shutdown").returncode == 1
    # No rollback for Apple updates or Homebrew: said plainly.
    back = site.deployer.rollback(done.id)
    assert "no rollback on macOS" in " ".join(
        line["message"] for line in site.deployment_log(back.id))

    # Apple silicon with the owner credential: softwareupdate got --user and the password.
    dep = site.plan_deployment(["macOS Monterey 12.7.6-21H1320"], ["maca"],
                               test_ring=["maca"], gates=Gates(reboot=RebootPolicy.NEVER),
                               override_reason="lab test: no restart")
    done = site.deployer.run(dep.id, approve_as="J. Smith")
    assert done.targets[0].state is HostState.SUCCEEDED, done.targets[0].detail
    assert done.targets[0].reboot.startswith("needed; not rebooted")
    assert mac_state(lab, "maca")["sw_vers"]["ProductVersion"] == "12.7.6"  # type: ignore[index]

    # Apple silicon without it: deferred to the user, nothing started on the Mac.
    dep = site.plan_deployment(["macOS Monterey 12.7.6-21H1320"], ["macb"],
                               test_ring=["macb"])
    done = site.deployer.run(dep.id, approve_as="J. Smith")
    target = done.targets[0]
    assert any("deferred to the user" in p for p in target.preflight), target.preflight
    assert target.state is not HostState.SUCCEEDED
    assert mac_state(lab, "macb")["installed"] == []
    assert lab.exec("macb", "pgrep -f '[s]oftwareupdate -i'").returncode == 1


def cli(site_path: Path, *argv: str, stdin: str = "") -> tuple[int, str]:
    import io
    import sys

    from app.cli import main

    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(["--site", str(site_path), *argv], out=out)
    finally:
        sys.stdin = old
    return code, out.getvalue()


def test_cli_owner_credential_sources_and_rollback_notes(lab: Lab, lab_host, tmp_path: Path,
                                                          monkeypatch, capsys) -> None:
    info = lab_host(name="macc", kind="mac-arm")
    site_path = tmp_path / "cli.pdsite"
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", MASTER)
    assert cli(site_path, "asset", "add", "--hostname", "macc", "--ip", info.ip)[0] == 0
    # The volume owner's password is a second secret on stdin, never on the command line.
    code, text = cli(site_path, "cred", "add", "mac", "--ssh-user", "admin", "--password-stdin",
                     "--macos-owner", OWNER, "--macos-owner-password-stdin", "--scope", "all",
                     "--json", stdin=f"labpass\n{OWNER_PASSWORD}\n")
    assert code == 0, capsys.readouterr().err
    assert json.loads(text)["macos_owner"] == OWNER
    assert cli(site_path, "cred", "test", "mac", "macc", "--accept-new-host-keys")[0] == 0
    code, _ = cli(site_path, "assess", "macc")
    assert code == 0, capsys.readouterr().err
    brew = json.loads(cli(site_path, "patches", "--source", "brew", "--json")[1])
    assert {r["package"] for r in brew} == {"homebrew/core/git", "homebrew/core/openssl@3",
                                            "homebrew/cask/firefox"}
    apple = json.loads(cli(site_path, "patches", "--source", "apple", "--json")[1])
    assert {(r["package"], r["reboot_required"]) for r in apple} == {
        ("Safari17.6MontereyAuto-17.6", False), ("macOS Monterey 12.7.6-21H1320", True)}
    assert json.loads(cli(site_path, "patches", "--source", "apt", "--json")[1]) == []
    # Before approval, the plan says plainly that none of this can be rolled back.
    code, text = cli(site_path, "deploy", "plan", "--patch", "macOS Monterey 12.7.6-21H1320",
                     "--patch", "homebrew/core/git", "--targets", "macc")
    assert code == 0, capsys.readouterr().err
    assert "no rollback: Apple updates cannot be rolled back" in text
    assert "no rollback: Homebrew upgrades cannot be rolled back" in text
    service = SiteService.open(site_path)
    service.store.db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    service.close()
    raw = site_path.read_bytes()
    assert OWNER_PASSWORD.encode() not in raw
