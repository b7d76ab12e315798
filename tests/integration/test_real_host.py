"""The machine the tests run on, assessed as a real host ([7]).

This machine is a real Debian/Ubuntu system with whatever backlog it has (0 or hundreds of
updates). tests/lab/realhost.py serves it over SSH on loopback (a private sshd, root by a
temporary key); it is assessed through the normal services path — asset, SSH key
credential, accepted host key, ``assess_assets`` — and the result must be exactly what apt
itself says here: the same (package, architecture, candidate version) set as
``apt list --upgradable`` (held packages aside), no extra one, none missing, and every
update from a security archive classified security. A deployment is planned for it (never
run). The zero-backlog path is covered by tests/unit/test_apt_driver.py
(test_zero_backlog_is_an_empty_result_not_an_error).

Package lists are not refreshed (``refresh=False``): the comparison is against the lists
as they are, so it does not depend on the mirror being reachable.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.credentials import SudoMode
from app.core.models import Asset, AssetPatch, Classification
from app.services import HostOutcome, SiteService
from app.store.assessments import AssessmentRecord
from tests.lab.fixtures import lab_required
from tests.lab.realhost import RealHost, realhost_unavailable_reason, serve_this_machine

pytestmark = pytest.mark.lab

MASTER = "real host master password"
_UPGRADABLE = re.compile(
    r"(?P<name>[^/\s]+)/(?P<suites>\S+) (?P<new>\S+) (?P<arch>\S+) "
    r"\[upgradable from: (?P<old>[^\]]+)\]")
_ENV = {**os.environ, "LANG": "C", "LC_ALL": "C"}


@dataclass(frozen=True)
class AptSays:
    """What apt on this machine says is upgradable: (package, arch) → (installed,
    candidate, security by origin)."""

    updates: dict[tuple[str, str], tuple[str, str, bool]]
    held: frozenset[str]


def apt_says() -> AptSays:
    out = subprocess.run(["apt", "list", "--upgradable"], capture_output=True, text=True,
                         env=_ENV, check=True, timeout=120).stdout
    updates: dict[tuple[str, str], tuple[str, str, bool]] = {}
    for line in out.splitlines():
        m = _UPGRADABLE.fullmatch(line.strip())
        if m is None:
            assert not line.strip() or line.startswith(("Listing", "WARNING", "N:")), line
            continue
        name = m["name"].partition(":")[0]
        security = any(s.endswith("-security") for s in m["suites"].split(","))
        updates[(name, m["arch"])] = (m["old"], m["new"], security)
    held = subprocess.run(["apt-mark", "showhold"], capture_output=True, text=True, env=_ENV,
                          check=True, timeout=60).stdout.split()
    return AptSays(updates, frozenset(h.partition(":")[0] for h in held))


@dataclass
class Assessed:
    host: RealHost
    site: SiteService
    asset: Asset
    outcome: HostOutcome
    record: AssessmentRecord
    patches: list[AssetPatch]
    before: AptSays
    after: AptSays
    seconds: float


@pytest.fixture(scope="module")
def assessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assessed]:
    reason = realhost_unavailable_reason()
    if reason is not None:
        if lab_required():
            pytest.fail(f"the real-host test is required here but: {reason}", pytrace=False)
        pytest.skip(reason)
    path = tmp_path_factory.mktemp("realhost") / "realhost.pdsite"
    with serve_this_machine() as host:
        site = SiteService.open(path, create=True, actor="tech")
        try:
            site.remote.unlock(MASTER, create=True)
            site.remote.add_ssh_credential("realhost-root", host.user,
                                           key_file=str(host.key_path),
                                           sudo_mode=SudoMode.ROOT, port=host.port)
            site.remote.accept_host_key(host.ip, host.port, *host.host_key)
            asset = site.add_asset(Asset(hostname="realhost", ips=(host.ip,)))
            before = apt_says()
            started = time.monotonic()
            [outcome] = site.assess_assets(refresh=False)
            seconds = time.monotonic() - started
            after = apt_says()
            record = site.assessment(int(asset.id or 0))
            assert record is not None
            patches = site.patches(asset.id)
            security = sum(p.classification is Classification.SECURITY for p in patches)
            print(f"\nreal host: {len(patches)} updates ({security} security, "
                  f"{sum(bool(p.cves) for p in patches)} with CVEs), apt list: "
                  f"{len(after.updates)} upgradable, {len(after.held)} held; "
                  f"assessed in {seconds:.1f} s")
            yield Assessed(host, site, asset, outcome, record, patches, before, after,
                           seconds)
        finally:
            site.close()


def test_the_assessment_succeeds_without_warnings(assessed: Assessed) -> None:
    assert assessed.outcome.ok, assessed.outcome.message
    assert assessed.record.ok
    # Anything apt printed that the parsers could not read shows up here: on a real
    # machine there must be none (a new apt output shape is a finding to fix).
    assert assessed.record.warnings == ()
    assert assessed.record.driver == "apt"


def test_the_same_updates_as_apt_list_upgradable(assessed: Assessed) -> None:
    assert assessed.before == assessed.after, (
        "apt's state changed during the assessment (someone ran apt-get update?)")
    expected = {(name, arch, new) for (name, arch), (_old, new, _sec)
                in assessed.after.updates.items() if name not in assessed.after.held}
    ours = {(p.package, p.arch, p.candidate_version) for p in assessed.patches}
    assert ours - expected == set(), "reported but apt does not list them"
    assert expected - ours == set(), "apt lists them but they were not reported"
    assert len(assessed.patches) == len(ours)  # one row per (package, arch)
    installed = {(p.package, p.arch): p.installed_version for p in assessed.patches}
    assert installed == {k: old for k, (old, _new, _sec) in assessed.after.updates.items()
                         if k[0] not in assessed.after.held}
    assert assessed.record.updates == len(assessed.patches)


def test_security_class_follows_apt_origins(assessed: Assessed) -> None:
    by_origin = {k for k, (_o, _n, sec) in assessed.after.updates.items() if sec}
    ours = {(p.package, p.arch): p for p in assessed.patches}
    security = {k for k, p in ours.items() if p.classification is Classification.SECURITY}
    assert by_origin - security == set(), "apt's security archive, not classified security"
    # Anything more must carry its own evidence (a CVE named in its changelog).
    assert all(ours[k].cves for k in security - by_origin)
    for key in by_origin:
        assert "-security" in ours[key].source


def test_facts_and_software_are_this_machine(assessed: Assessed) -> None:
    facts = assessed.record.facts
    assert facts["hostname"] == socket.gethostname()
    release = dict(line.split("=", 1) for line in
                   Path("/etc/os-release").read_text().splitlines() if "=" in line)
    assert facts["os_id"] == release["ID"].strip('"')
    assert facts["kernel"] == os.uname().release
    mounts = [d["mount"] for d in facts["disks"]]
    assert "/" in mounts and len(mounts) == len(set(mounts))
    assert any(i["name"] == "lo" for i in facts["interfaces"]) or facts["interfaces"]
    installed = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}\\n"], capture_output=True, text=True,
        env=_ENV, check=True, timeout=60).stdout.splitlines()
    assert assessed.record.packages == sum(s[:2] in ("ii", "hi") for s in installed)


def test_patches_json_and_deploy_plan_against_the_real_host(assessed: Assessed,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    from app.cli import main

    site = assessed.site
    assert main(["--site", str(site.path), "patches", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(assessed.patches)
    assert all(r["arch"] and r["name"] for r in rows)
    if not assessed.patches:
        with pytest.raises(Exception, match="No assessed host is missing"):
            site.plan_deployment(["base-files"])
        return
    target = sorted(assessed.patches, key=lambda p: (
        p.classification is not Classification.SECURITY, p.package))[0]
    before = _dpkg_version(target.package)
    dep = site.plan_deployment([target.package])
    assert [(p.name, p.version) for p in dep.packages] == [
        (target.package, target.candidate_version)]
    assert [t.label for t in dep.targets] == ["realhost"]
    assert str(dep.phase) == "planned"
    assert _dpkg_version(target.package) == before  # planning changes nothing on the host


def _dpkg_version(package: str) -> str:
    return subprocess.run(["dpkg-query", "-W", "-f=${Version}\\n", package],
                          capture_output=True, text=True, env=_ENV, check=True,
                          timeout=60).stdout.splitlines()[0]
