"""Chocolatey and winget on simulated Windows hosts (tests/lab/winrm_fixtures.py trio: real
WinRM over HTTPS with NTLM; tests/lab/winrm_apps.py answers choco.ps1 and the SYSTEM task's
apps_worker.ps1 from per-host state following real choco/winget outputs).

A host lists its outdated Chocolatey and winget packages as patches with their source,
``patches --source`` filters them, an approved upgrade goes through the same engine as
KBs (test ring, approval by PIN), Chocolatey rolls back to the previous version and winget
is named as not rollbackable. Simulated only: docs/platforms.md.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import app.cli.common
from app.cli import main
from app.core.credentials import Scope, ScopeKind
from app.core.deployment import Gates, HostState, Phase
from app.core.models import Asset
from app.services import SiteService
from tests.lab.winrm_fixtures import WindowsTrio

MASTER = "lab master password"
PIN = "4711-blue"
NOW = "lab test: simulated hosts restart at once"


@pytest.fixture
def site(tmp_path: Path, windows_trio: WindowsTrio) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "apps.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.people.add("J. Smith", PIN)
    for name in windows_trio.endpoints:
        service.add_asset(Asset(hostname=windows_trio.hostname(name),
                                ips=(windows_trio.ip(name),), tags=("windows",)))
    service.remote.add_winrm_credential(
        "windows-admin", windows_trio.user, password=windows_trio.password,
        port=windows_trio.port, ca_file=str(windows_trio.ca_file),
        scopes=(Scope(ScopeKind.TAG, "windows"),))
    yield service
    service.close()


def cli(site: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    app.cli.common._stdin_lines = None
    old = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        code = main(["--site", str(site), *argv], out=out)
    finally:
        sys.stdin = old
    return code, out.getvalue()


def test_outdated_chocolatey_and_winget_packages_are_patches_with_their_source(
        site: SiteService, windows_trio: WindowsTrio, monkeypatch: pytest.MonkeyPatch) -> None:
    trio = windows_trio
    outcomes = {o.label: o for o in site.assess_assets()}
    assert all(o.ok for o in outcomes.values()), outcomes
    by_host: dict[str, dict[str, tuple[str, str, str]]] = {}
    labels = {a.id: a.hostname for a in site.assets()}
    for p in site.patches():
        if p.source in ("choco", "winget"):
            by_host.setdefault(labels[p.asset_id], {})[p.package] = (
                p.source, p.installed_version, p.candidate_version)
    assert by_host == {
        trio.hostname("win11"): {  # winget only, read through the SYSTEM task
            "Mozilla.Firefox": ("winget", "131.0.3", "133.0"),
            "7zip.7zip": ("winget", "23.01", "24.08")},
        trio.hostname("server2022"): {  # Chocolatey only (no winget on the server)
            "googlechrome": ("choco", "130.0.6723.117", "131.0.6778.86"),
            "notepadplusplus.install": ("choco", "8.6.9", "8.7.1"),
            "7zip.install": ("choco", "23.1.0", "24.8.0")},
        trio.hostname("workgroup"): {  # both
            "vlc": ("choco", "3.0.20", "3.0.21"),
            "Microsoft.VCRedist.2015+.x64": ("winget", "14.36.32532.0", "14.40.33617.1")}}
    pinned = next(p for p in site.patches() if p.package == "7zip.install")
    assert any("pinned in Chocolatey" in e for e in pinned.evidence)
    # Every winget job ran as a task and was removed again.
    assert all(not ep.host.tasks and not ep.host.job_dirs for ep in trio.endpoints.values())
    # patches --source filters on the patch's source.
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", MASTER)
    path = Path(str(site.store.path))
    code, text = cli(path, "patches", "--source", "winget", "--json")
    assert code == 0, text
    assert {r["package"] for r in json.loads(text)} == {
        "Mozilla.Firefox", "7zip.7zip", "Microsoft.VCRedist.2015+.x64"}
    code, text = cli(path, "patches", "--source", "choco", "--json")
    assert {r["source"] for r in json.loads(text)} == {"choco"}
    assert len(json.loads(text)) == 4


def test_a_chocolatey_upgrade_through_the_rings_and_its_rollback(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    srv = trio.endpoints["server2022"].host
    site.assess_assets()
    dep = site.plan_deployment(["googlechrome"], [trio.hostname("server2022")],
                               gates=Gates(reboot_lead_minutes=0), override_reason=NOW)
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin=PIN)
    assert dep.phase is Phase.DONE, dep.halt_reason
    target = dep.targets[0]
    assert (target.state, target.verified) == (HostState.SUCCEEDED, "installed"), target.detail
    assert [str(c) for c in target.changes] == [
        "googlechrome 130.0.6723.117 → 131.0.6778.86 (choco; can be rolled back "
        "(choco install --version 130.0.6723.117 --allow-downgrade))"]
    assert srv.apps.installs == ["choco:googlechrome=131.0.6778.86"]
    assert srv.installs == []  # no Windows update was touched
    assert not srv.tasks and not srv.job_dirs
    assert "googlechrome" not in {p.package for p in site.patches()}  # re-assessed
    dep = site.deployments.rollback(dep.id)
    assert dep.phase is Phase.ROLLED_BACK, dep.targets[0].detail
    assert srv.apps.installs[-1] == "choco:googlechrome=130.0.6723.117"
    assert srv.apps.choco is not None
    assert srv.apps.choco["googlechrome"].version == "130.0.6723.117"


def test_a_winget_upgrade_with_a_kb_and_winget_named_as_not_rollbackable(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    win11 = trio.endpoints["win11"].host
    site.assess_assets([a.id for a in site.assets() if a.hostname == trio.hostname("win11")])
    dep = site.plan_deployment(["Mozilla.Firefox", "KB5045935"], [trio.hostname("win11")],
                               gates=Gates(reboot_lead_minutes=0), override_reason=NOW)
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin=PIN)
    assert dep.phase is Phase.DONE, dep.halt_reason
    target = dep.targets[0]
    assert target.state is HostState.SUCCEEDED, target.detail
    changes = {c.name: c.after for c in target.changes}
    assert changes["Mozilla.Firefox"].startswith("133.0 (winget; cannot be rolled back")
    assert win11.installs == ["KB5045935"]  # the KB first, then the winget task
    assert win11.apps.installs == ["winget:Mozilla.Firefox=133.0"]
    dep = site.deployments.rollback(dep.id)
    target = dep.targets[0]
    assert win11.uninstalls == ["KB5045935"]  # the KB went back
    assert "Mozilla.Firefox cannot be rolled back" in target.detail
    assert win11.apps.installs == ["winget:Mozilla.Firefox=133.0"]  # nothing attempted


def test_a_failing_chocolatey_upgrade_names_its_exit_code(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    wg = trio.endpoints["workgroup"].host
    wg.apps.failures["vlc"] = 1603
    site.assess_assets([a.id for a in site.assets() if a.hostname == trio.hostname("workgroup")])
    dep = site.plan_deployment(["vlc"], [trio.hostname("workgroup")],
                               gates=Gates(reboot_lead_minutes=0), override_reason=NOW)
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin=PIN)
    target = dep.targets[0]
    assert target.state is HostState.FAILED
    assert "vlc: choco exited 1603" in target.detail
    assert wg.apps.installs == []


def test_a_pinned_chocolatey_package_is_refused_before_installing(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    site.assess_assets([a.id for a in site.assets()
                        if a.hostname == trio.hostname("server2022")])
    dep = site.plan_deployment(["7zip.install"], [trio.hostname("server2022")],
                               gates=Gates(reboot_lead_minutes=0), override_reason=NOW)
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin=PIN)
    assert dep.phase is Phase.HALTED
    assert "pinned in Chocolatey" in " ".join(dep.targets[0].preflight)
    assert trio.endpoints["server2022"].host.apps.installs == []
