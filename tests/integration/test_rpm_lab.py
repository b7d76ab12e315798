"""The lab's RPM hosts assessed through their REAL package managers: a "rocky" host (Debian
12's dnf 4.14 + rpm 4.18, os-release of Rocky Linux 9) and an "opensuse" host (zypper
1.14), each with an rpm-md repository built by rpmbuild + createrepo_c + modifyrepo_c
(tests/lab/rpmrepo.py, rpmhosts.py). What PatchDesk reports is compared with what the real
tools print on the host itself; docs/platforms.md says what this proves and what not."""

from __future__ import annotations

import gzip
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.models import Asset, Classification, Severity
from app.drivers.registry import assess_host
from app.services import SiteService
from tests.lab import rpmrepo
from tests.lab.lab import HostInfo, HostSpec, Lab

MASTER = "lab master password"
SECURITY = rpmrepo.DEFAULT_ADVISORIES[0]
BUGFIX = rpmrepo.DEFAULT_ADVISORIES[1]

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def rpm_hosts(lab: Lab) -> Iterator[dict[str, HostInfo]]:
    """rocky1 (dnf) and suse1 (zypper), shared by this module's read-only tests.

    rocky1 keeps only the x86_64 half of the multilib pair: a same-named pair cannot be
    stored before migration 0008 (see test_multilib_pair_is_one_row_per_arch)."""
    t0 = time.monotonic()
    infos = lab.add_hosts([HostSpec("rocky1", kind="rocky"), HostSpec("suse1", kind="opensuse")])
    print(f"\nRPM hosts up in {time.monotonic() - t0:.2f}s "
          f"(layers: { {k: round(v, 2) for k, v in lab.timings.items() if k.startswith('rpm-')} })")
    lab.exec("rocky1", "rpm -e pd-multi-1.0-1.pdlab.i686", check=True)
    yield {i.name: i for i in infos}
    for info in infos:
        lab.remove_host(info.name)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "rpm.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    yield service
    service.close()


def dnf_check_update(lab: Lab, host: str) -> set[tuple[str, str, str]]:
    """(name, arch, version) of every row `dnf check-update` prints on the host."""
    cp = lab.exec(host, "dnf -q -C check-update")
    assert cp.returncode in (0, 100), cp.stderr
    rows = set()
    for line in cp.stdout.splitlines():
        m = re.fullmatch(r"(\S+)\.([a-z0-9_]+)\s+(\S+)\s+(\S+)\s*", line)
        if m:
            rows.add((m.group(1), m.group(2), m.group(3)))
    return rows


def zypper_list_updates(lab: Lab, host: str) -> set[tuple[str, str, str]]:
    """(name, arch, version) of every package update `zypper list-updates` prints."""
    cp = lab.exec(host, "zypper -n --no-refresh --xmlout list-updates", check=True)
    root = ET.fromstring(cp.stdout)  # noqa: S314 - our own lab host
    return {(u.get("name", ""), u.get("arch", ""), u.get("edition", ""))
            for u in root.iter("update") if u.get("kind") == "package"}


def zypper_needed_patches(lab: Lab, host: str) -> set[str]:
    cp = lab.exec(host, "zypper -n --no-refresh --xmlout list-patches", check=True)
    root = ET.fromstring(cp.stdout)  # noqa: S314 - our own lab host
    return {u.get("name", "") for u in root.iter("update") if u.get("status") == "needed"}


def assess(site: SiteService, lab: Lab, names: list[str]) -> dict[str, Asset]:
    for name in names:
        site.add_asset(Asset(hostname=name, ips=(lab.host(name).ip,)))
    t0 = time.monotonic()
    outcomes = site.assess_assets()
    print(f"\nassessed {names} in {time.monotonic() - t0:.2f}s")
    assert [(o.label, o.ok, o.message) for o in outcomes] == [(n, True, "") for n in names]
    return {a.hostname: a for a in site.assets()}


def test_rocky_host_matches_dnf_check_update(lab: Lab, rpm_hosts: dict[str, HostInfo],
                                             site: SiteService) -> None:
    asset = assess(site, lab, ["rocky1"])["rocky1"]
    patches = {p.package: p for p in site.patches(asset.id)}
    on_host = dnf_check_update(lab, "rocky1")
    assert {(n, v) for n, _, v in on_host} == {(p.package, p.candidate_version)
                                               for p in patches.values()}
    assert len(on_host) == len(patches) == 4  # pd-openssl, pd-tools, pd-broken, pd-multi
    # the same run, with architectures (the stored patch rows carry none before 0008)
    driver_view = assess_host(site.remote.transport_for(asset), refresh=False)
    assert {(u.package, u.arch, u.candidate_version) for u in driver_view.updates} == on_host
    openssl = patches["pd-openssl"]
    assert (openssl.installed_version, openssl.candidate_version) == ("1.0-1.pdlab",
                                                                      "1.0-2.pdlab")
    assert openssl.classification is Classification.SECURITY
    assert openssl.severity is Severity.IMPORTANT
    assert openssl.cves == SECURITY.cves == ("CVE-2024-0727",)
    assert openssl.advisories == (SECURITY.id,)
    assert (patches["pd-tools"].classification, patches["pd-tools"].advisories) == (
        Classification.BUGFIX, (BUGFIX.id,))
    assert patches["pd-broken"].classification is Classification.OTHER
    # dnf's own advisory listing on the host says the same
    cves = lab.exec("rocky1", "dnf -q -C updateinfo list --updates --with-cve", check=True)
    assert cves.stdout.split() == ["CVE-2024-0727", "Important/Sec.",
                                   "pd-openssl-1.0-2.pdlab.x86_64"]
    record = site.assessment(asset.id or 0)
    assert record is not None
    assert record.ok
    assert record.warnings == ()
    assert asset.os_name == "Rocky Linux"
    assert record.facts["hostname"] == "rocky1"
    assert {s.name for s in site.software(asset.id or 0)} == {
        "pd-openssl", "pd-tools", "pd-broken", "pd-multi", "pd-lab-userland"}


def test_opensuse_host_matches_zypper_list_updates(lab: Lab, rpm_hosts: dict[str, HostInfo],
                                                   site: SiteService) -> None:
    asset = assess(site, lab, ["suse1"])["suse1"]
    patches = {p.package: p for p in site.patches(asset.id)}
    on_host = zypper_list_updates(lab, "suse1")
    assert {(n, v) for n, _, v in on_host} == {(p.package, p.candidate_version)
                                               for p in patches.values()}
    driver_view = assess_host(site.remote.transport_for(asset), refresh=False)
    assert {(u.package, u.arch, u.candidate_version) for u in driver_view.updates} == on_host
    # zypper's solver will not update one half of the same-named multilib pair (it would
    # remove the other): neither zypper nor PatchDesk lists pd-multi here.
    assert {n for n, _, _ in on_host} == {"pd-openssl", "pd-tools", "pd-broken"}
    openssl = patches["pd-openssl"]
    assert (openssl.installed_version, openssl.candidate_version) == ("1.0-1.pdlab",
                                                                      "1.0-2.pdlab")
    assert openssl.classification is Classification.SECURITY
    assert openssl.severity is Severity.IMPORTANT
    assert openssl.cves == SECURITY.cves
    assert openssl.advisories == (SECURITY.id,)
    assert (patches["pd-tools"].classification, patches["pd-tools"].advisories) == (
        Classification.BUGFIX, (BUGFIX.id,))
    assert patches["pd-broken"].classification is Classification.OTHER
    # every patch zypper says is needed is carried by the package updates it covers
    assert zypper_needed_patches(lab, "suse1") == {SECURITY.id, BUGFIX.id} == {
        a for p in patches.values() for a in p.advisories}
    record = site.assessment(asset.id or 0)
    assert record is not None
    assert record.ok
    assert record.warnings == ()
    assert asset.os_name == "openSUSE Leap"


def test_multilib_pair_is_one_row_per_arch(lab: Lab, lab_host: Callable[..., HostInfo],
                                           site: SiteService) -> None:
    host = lab_host(name="rockyml", kind="rocky")
    assert {("pd-multi", "x86_64", "1.1-1.pdlab"), ("pd-multi", "i686", "1.1-1.pdlab")
            } <= dnf_check_update(lab, host.name)
    asset = assess(site, lab, [host.name])[host.name]
    rows = [p for p in site.patches(asset.id) if p.package == "pd-multi"]
    assert sorted((p.arch, p.installed_version, p.candidate_version) for p in rows) == [
        ("i686", "1.0-1.pdlab", "1.1-1.pdlab"), ("x86_64", "1.0-1.pdlab", "1.1-1.pdlab")]


def test_a_held_dnf_lock_fails_the_host_at_once(lab: Lab, lab_host: Callable[..., HostInfo],
                                                site: SiteService) -> None:
    """Real dnf waits for as long as its lock is held; the driver must not."""
    host = lab_host(name="rockylck", kind="rocky")
    lock = "/var/cache/dnf/metadata_lock.pid"
    lab.exec(host.name, f"sh -c 'echo $$ > {lock}; exec sleep 300' >/dev/null 2>&1 &", check=True)
    deadline = time.monotonic() + 10
    while not lab.exec(host.name, ["cat", lock]).stdout.strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = lab.exec(host.name, ["cat", lock], check=True).stdout.strip()
    site.add_asset(Asset(hostname=host.name, ips=(host.ip,)))
    t0 = time.monotonic()
    (outcome,) = site.assess_assets()
    assert time.monotonic() - t0 < 30  # not the 600 s refresh timeout
    assert (outcome.ok, outcome.kind) == (False, "rpm_lock")
    assert f"locked by process {pid}" in outcome.message


def test_the_failing_scriptlet_fails_for_real(lab: Lab,
                                              lab_host: Callable[..., HostInfo]) -> None:
    """The lab's pd-broken 1.1 really runs its %post and fails (the base for deployment
    tests on these hosts): rpm reports the scriptlet, zypper exits 107."""
    rocky = lab_host(name="rockybrk", kind="rocky")
    cp = lab.exec(rocky.name, "dnf -y upgrade pd-broken")
    failed = "warning: %post(pd-broken-1.1-1.pdlab.noarch) scriptlet failed, exit status 1"
    assert cp.returncode == 0, cp  # dnf: the transaction completes all the same
    assert "pd-broken: simulated %post scriptlet failure" in cp.stdout
    assert failed in cp.stdout
    assert cp.stderr == "Error in POSTIN scriptlet in rpm package pd-broken\n"
    suse = lab_host(name="susebrk", kind="opensuse")
    cp = lab.exec(suse.name, "zypper -n --no-refresh update pd-broken")
    assert cp.returncode == 107, cp  # ZYPPER_EXIT_INF_RPM_SCRIPT_FAILED
    assert failed in cp.stdout
    for name in (rocky.name, suse.name):
        assert lab.exec(name, "rpm -q pd-broken", check=True).stdout.strip() == (
            "pd-broken-1.1-1.pdlab.noarch")


def test_repository_is_built_with_the_real_tools_and_cached(lab: Lab) -> None:
    t0 = time.monotonic()
    repo = rpmrepo.ensure_repo(lab.cache)
    assert time.monotonic() - t0 < 5  # cached: no rebuild
    pkgs = repo / "Packages"
    arches = {rpmrepo.rpm_query(p, "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}")
              for p in sorted(pkgs.glob("*.rpm"))}
    assert arches == {f"{s.name} {s.evr} {s.arch}" for s in rpmrepo.DEFAULT_RPMS}
    assert {"pd-multi 1.1-1.pdlab i686", "pd-multi 1.1-1.pdlab x86_64"} <= arches
    post = rpmrepo.rpm_query(pkgs / rpmrepo.BROKEN_NEW.filename, "%{POSTIN}")
    assert "exit 1" in post
    repomd = (repo / "repodata" / "repomd.xml").read_text()
    assert 'type="updateinfo"' in repomd
    xml = gzip.decompress((repo / "repodata" / "updateinfo.xml.gz").read_bytes())
    info = ET.fromstring(xml)  # noqa: S314 - built above
    sec = next(u for u in info.iter("update") if u.get("type") == "security")
    assert (sec.findtext("id"), sec.findtext("severity")) == (SECURITY.id, "Important")
    assert [r.get("id") for r in sec.iter("reference") if r.get("type") == "cve"] == [
        "CVE-2024-0727"]
