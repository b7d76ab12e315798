"""Real apt on a multiarch (amd64 + i386) package set ([11]), without touching the machine.

apt-get is run against a private root in a temporary folder: its own dpkg status file (the
same library installed for amd64 and i386), its own ``file:`` repository offering newer
versions for both, and every ``Dir::*`` option pointing there. ``apt-get update`` reads
only that folder (no network, no system lists). The real simulation output then goes
through the apt driver and the store: one row per architecture, shown as ``libc6:i386``.
tests/data/apt/debian-12-multiarch holds a capture of the same run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.core.models import Asset, Classification
from app.drivers.parsers.apt import parse_apt_simulation
from app.drivers.registry import assess_host
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from tests.fakes import contains
from tests.unit.test_apt_driver import debian_host

pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get")

OLD, NEW = "2.36-9+deb12u7", "2.36-9+deb12u13"


def _stanza(name: str, arch: str, version: str, *, status: str = "",
            multi_arch: bool = True, depends: str = "") -> str:
    lines = [f"Package: {name}"]
    if status:
        lines.append(f"Status: {status}")
    lines += ["Priority: required", "Section: libs", "Installed-Size: 100",
              "Maintainer: PatchDesk Test <test@example.org>", f"Architecture: {arch}"]
    if multi_arch:
        lines.append("Multi-Arch: same")
    lines += ["Source: glibc", f"Version: {version}"]
    if depends:
        lines.append(f"Depends: {depends}")
    lines.append("Description: test package")
    if not status:
        lines += [f"Filename: pool/{name}_{version}_{arch}.deb", "Size: 1000",
                  f"SHA256: {'0' * 64}"]
    return "\n".join(lines) + "\n\n"


def run_apt_multiarch(root: Path) -> str:
    """Build the private apt root under ``root`` and return apt-get -s dist-upgrade's
    stdout (the driver's exact options)."""
    repo = root / "repo"
    for sub in ("repo", "state/lists/partial", "cache/archives/partial", "etc", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    status, packages = "", ""
    for arch in ("amd64", "i386"):
        status += _stanza("libc6", arch, OLD, status="install ok installed",
                          depends="libgcc-s1")
        status += _stanza("libgcc-s1", arch, "12.2.0-14", status="install ok installed")
        status += _stanza("libzstd1", arch, "1.5.4+dfsg2-5", status="install ok installed")
        packages += _stanza("libc6", arch, NEW, depends="libgcc-s1")
        packages += _stanza("libgcc-s1", arch, "12.2.0-14")
        packages += _stanza("libzstd1", arch, "1.5.4+dfsg2-5+deb12u1")
    status += _stanza("tzdata", "all", "2024a-0+deb12u1", status="install ok installed",
                      multi_arch=False)
    packages += _stanza("tzdata", "all", "2025b-0+deb12u1", multi_arch=False)
    (root / "status").write_text(status, encoding="utf-8")
    (repo / "Packages").write_text(packages, encoding="utf-8")
    (repo / "Release").write_text(
        "Origin: Debian\nLabel: Debian-Security\nSuite: oldstable-security\n"
        "Codename: bookworm-security\nVersion: 12\nArchitectures: amd64 i386 all\n"
        "Components: main\nDescription: PatchDesk multiarch test\n", encoding="utf-8")
    (root / "etc" / "sources.list").write_text(f"deb [trusted=yes] file:{repo} ./\n",
                                               encoding="utf-8")
    options = [
        "-o", f"Dir::Etc={root / 'etc'}",
        "-o", f"Dir::Etc::sourcelist={root / 'etc' / 'sources.list'}",
        "-o", "Dir::Etc::sourceparts=-", "-o", "Dir::Etc::parts=-",
        "-o", "Dir::Etc::preferencesparts=-",
        "-o", f"Dir::State={root / 'state'}",
        "-o", f"Dir::State::status={root / 'status'}",
        "-o", f"Dir::Cache={root / 'cache'}", "-o", f"Dir::Log={root / 'log'}",
        "-o", "APT::Architecture=amd64",
        "-o", "APT::Architectures::=amd64", "-o", "APT::Architectures::=i386",
        "-o", "Debug::NoLocking=1", "-o", "Acquire::Languages=none",
    ]
    env = {**os.environ, "LANG": "C", "LC_ALL": "C"}
    subprocess.run(["apt-get", *options, "update"], check=True, capture_output=True,
                   env=env, timeout=120)
    return subprocess.run(
        ["apt-get", "-s", *options, "-o", "APT::Get::Always-Include-Phased-Updates=true",
         "dist-upgrade"], check=True, capture_output=True, text=True, env=env,
        timeout=120).stdout


def test_real_apt_multiarch_simulation_is_one_update_per_architecture(tmp_path: Path) -> None:
    text = run_apt_multiarch(tmp_path / "aptroot")
    assert "[libc6:amd64 on libc6:i386]" in text  # apt's own ordering hint is there
    sim = parse_apt_simulation(text)
    assert sim.unreadable == ()
    assert sorted((u.package, u.arch, u.candidate_version) for u in sim.upgrades) == [
        ("libc6", "amd64", NEW), ("libc6", "i386", NEW),
        ("libzstd1", "amd64", "1.5.4+dfsg2-5+deb12u1"),
        ("libzstd1", "i386", "1.5.4+dfsg2-5+deb12u1"), ("tzdata", "all", "2025b-0+deb12u1")]

    transport = debian_host(simulation=text)
    transport.rules.insert(0, (contains("changelogs"), (0, "\n@@pd:end@@\n", "")))
    result = assess_host(transport)
    assert all(u.classification is Classification.SECURITY for u in result.updates)
    service = SiteService.open(tmp_path / "ma.pdsite", create=True, actor="tech")
    try:
        asset = service.add_asset(Asset(hostname="multiarch", ips=("10.0.0.7",)))
        now = datetime.now(UTC)
        with service.store.atomic() as db:
            AssessmentRepo(db).record_success(int(asset.id or 0), now, now, result)
        rows = service.patches(asset.id)
        assert sorted(p.label("x86_64") for p in rows) == [
            "libc6", "libc6:i386", "libzstd1", "libzstd1:i386", "tzdata"]
    finally:
        service.close()
