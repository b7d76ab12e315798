"""The same package for several architectures ([11]): one stored row per architecture, never
merged, never a crash — a dnf multilib pair and an apt multiarch pair, through the real
store (migration 0008) and what the CLI shows."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from app.core.models import Asset, AssetPatch, PatchStatus
from app.drivers.registry import assess_host
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from app.store.schema import APPLICATION_ID, migrations
from tests.fakes import ScriptedTransport, contains
from tests.unit.test_apt_driver import debian_host
from tests.unit.test_dnf_driver import rocky_host

DATA = Path(__file__).parents[1] / "data"
MULTILIB = DATA / "yum" / "centos-6-rocks" / "check-update-multilib.txt"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

MULTIARCH = (
    "Reading package lists...\nBuilding dependency tree...\nCalculating upgrade...\n"
    "The following packages will be upgraded:\n  libc6 libc6:i386 tzdata\n"
    "3 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
    "Inst libc6:i386 [2.36-9+deb12u7] (2.36-9+deb12u13 Debian-Security:12/"
    "oldstable-security [i386]) [libc6:amd64 on libc6:i386]\n"
    "Inst libc6 [2.36-9+deb12u7] (2.36-9+deb12u13 Debian-Security:12/oldstable-security "
    "[amd64]) [libc6:amd64 on libc6:i386] [libc6:i386 on libc6:amd64]\n"
    "Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.15/oldstable [all])\n"
    "Conf libc6:i386 (2.36-9+deb12u13 Debian-Security:12/oldstable-security [i386]) []\n"
    "Conf libc6 (2.36-9+deb12u13 Debian-Security:12/oldstable-security [amd64]) []\n"
    "Conf tzdata (2025b-0+deb12u1 Debian:12.15/oldstable [all])\n")


@pytest.fixture
def site(tmp_path: Path):
    service = SiteService.open(tmp_path / "arch.pdsite", create=True, actor="tech")
    yield service
    service.close()


def _no_changelogs(t: ScriptedTransport) -> ScriptedTransport:
    t.rules.insert(0, (contains("changelogs"), (0, "\n@@pd:end@@\n", "")))
    return t


def _record(site: SiteService, asset_id: int, transport: ScriptedTransport,
            when: datetime) -> None:
    result = assess_host(transport)
    with site.store.atomic() as db:
        AssessmentRepo(db).record_success(asset_id, when, when, result)


def test_dnf_multilib_pair_is_stored_as_two_rows(site: SiteService) -> None:
    asset = site.add_asset(Asset(hostname="rocky1", ips=("10.0.0.5",)))
    check = (100, MULTILIB.read_text(encoding="utf-8"), "")
    _record(site, int(asset.id or 0), rocky_host(check=check), T0)
    rows = {(p.package, p.arch): p for p in site.patches(asset.id)}
    assert {("glibc", "i686"), ("glibc", "x86_64"), ("glibc-devel", "i686"),
            ("glibc-devel", "x86_64")} <= set(rows)
    assert len(rows) == 18
    assert rows[("glibc", "i686")].candidate_version == "2.12-1.132.el6_5.4"
    assert rows[("glibc", "i686")].label("x86_64") == "glibc:i686"
    assert rows[("glibc", "x86_64")].label("x86_64") == "glibc"
    assert rows[("kernel-doc", "noarch")].label("x86_64") == "kernel-doc"


def test_apt_multiarch_pair_rows_and_partial_fix(site: SiteService) -> None:
    asset = site.add_asset(Asset(hostname="deb1", ips=("10.0.0.6",)))
    asset_id = int(asset.id or 0)
    _record(site, asset_id, _no_changelogs(debian_host(simulation=MULTIARCH)), T0)
    rows = {(p.package, p.arch) for p in site.patches(asset_id)}
    assert rows == {("libc6", "amd64"), ("libc6", "i386"), ("tzdata", "all")}
    labels = sorted(p.label("amd64") for p in site.patches(asset_id))
    assert labels == ["libc6", "libc6:i386", "tzdata"]
    assert sorted(p.label("x86_64") for p in site.patches(asset_id)) == labels

    # Next scan: the i386 copy was upgraded, the amd64 one is still missing.
    only_amd64 = MULTIARCH.replace("libc6 libc6:i386 tzdata", "libc6 tzdata").replace(
        "3 upgraded", "2 upgraded")
    only_amd64 = "\n".join(line for line in only_amd64.splitlines()
                           if not line.startswith(("Inst libc6:i386", "Conf libc6:i386")))
    _record(site, asset_id, _no_changelogs(debian_host(simulation=only_amd64 + "\n")), T1)
    missing = {(p.package, p.arch) for p in site.patches(asset_id)}
    assert missing == {("libc6", "amd64"), ("tzdata", "all")}
    installed = site.patches(asset_id, PatchStatus.INSTALLED)
    assert [(p.package, p.arch) for p in installed] == [("libc6", "i386")]
    first_seen = {p.arch: p.first_seen for p in site.patches(asset_id) if p.package == "libc6"}
    assert first_seen["amd64"] == T0  # still missing since the first scan


def test_cli_patches_json_carries_arch_and_the_qualified_name(site: SiteService,
                                                               capsys) -> None:
    from app.cli import main

    asset = site.add_asset(Asset(hostname="deb1", ips=("10.0.0.6",)))
    _record(site, int(asset.id or 0), _no_changelogs(debian_host(simulation=MULTIARCH)), T0)
    path = site.path
    site.close()
    assert main(["--site", str(path), "patches", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted((r["package"], r["arch"], r["name"]) for r in rows) == [
        ("libc6", "amd64", "libc6"), ("libc6", "i386", "libc6:i386"),
        ("tzdata", "all", "tzdata")]


def test_migration_0008_keys_patches_by_architecture(tmp_path: Path) -> None:
    """A site at 0007 with stored patches migrates; the old rows stay and a second
    architecture of the same package can then be stored (it could not before)."""
    path = tmp_path / "old.pdsite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db = Database(conn)
    migrations.apply(db, stop_before="0008_patches_per_arch")
    db.execute("INSERT INTO assets (hostname, created_at, updated_at) VALUES "
               "('x', '2026-01-01', '2026-01-01')")
    row = ("INSERT INTO asset_patches (asset_id, package, candidate_version, arch, status) "
           "VALUES (1, 'glibc', '2.12', ?, 'missing')")
    db.execute(row, ["x86_64"])
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(row, ["i686"])
    conn.commit()
    conn.close()

    service = SiteService.open(path)
    try:
        with service.store.atomic() as sdb:
            sdb.execute(row, ["i686"])
        assert sorted(p.arch for p in service.patches(1)) == ["i686", "x86_64"]
        with pytest.raises(sqlite3.IntegrityError), service.store.atomic() as sdb:
            sdb.execute(row, ["i686"])
    finally:
        service.close()


def test_label_rules() -> None:
    def patch(arch: str) -> AssetPatch:
        return AssetPatch(asset_id=1, package="libc6", candidate_version="1", arch=arch)

    assert patch("i386").label("amd64") == "libc6:i386"
    assert patch("i386").label("x86_64") == "libc6:i386"
    assert patch("amd64").label("x86_64") == "libc6"
    assert patch("arm64").label("aarch64") == "libc6"
    assert patch("all").label("amd64") == "libc6"
    assert patch("").label("amd64") == "libc6"
    assert patch("i386").label("") == "libc6:i386"
    assert patch("amd64").label("") == "libc6:amd64"  # host arch unknown: say it
