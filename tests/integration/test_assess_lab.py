"""Deep scans of the lab's real Debian hosts over SSH: missing updates, classification,
reboot state, and clear per-host errors that never stop the run."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.models import Asset, Classification
from app.services import SiteService
from tests.lab.lab import Lab

MASTER = "lab master password"

pytestmark = pytest.mark.lab


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "assess.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    yield service
    service.close()


def upgradable(lab: Lab, host: str) -> dict[str, tuple[str, str]]:
    """What `apt list --upgradable` says on the host: package → (installed, candidate)."""
    out = lab.exec(host, "apt list --upgradable 2>/dev/null", check=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"(\S+)/\S+ (\S+) \S+ \[upgradable from: (\S+)\]", line)
        if m:
            found[m.group(1)] = (m.group(3), m.group(2))
    return found


def test_missing_updates_match_apt_on_every_host(lab: Lab, site: SiteService) -> None:
    names = lab.host_names("debian")
    for name in names:
        site.add_asset(Asset(hostname=name, ips=(lab.host(name).ip,)))
    outcomes = site.assess_assets()
    assert [(o.label, o.ok) for o in outcomes] == [(n, True) for n in names]
    by_label = {a.hostname: a for a in site.assets()}
    for name in names:
        asset = by_label[name]
        ours = {p.package: (p.installed_version, p.candidate_version)
                for p in site.patches(asset.id)}
        assert ours == upgradable(lab, name), name
        security = {p.package for p in site.patches(asset.id)
                    if p.classification is Classification.SECURITY}
        assert security == {"pd-openssl"}
        assert asset.os_name == "Debian GNU/Linux"
        assert asset.macs == (lab.host(name).mac,)
        record = site.assessment(asset.id or 0)
        assert record is not None
        assert record.ok
        assert record.facts["hostname"] == name
        assert {s.name for s in site.software(asset.id or 0)} >= {"pd-openssl", "openssh-server"}


def test_per_host_errors_are_clear_and_the_rest_succeed(lab: Lab, lab_host, site: SiteService,
                                                        tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # every log record of the run, paramiko's included
    good = lab.host("deb1")
    rebooter = lab_host(name="rebooter")
    lab.exec("rebooter", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q pd-kernel",
             check=True, timeout=120)
    wrongpw = lab_host(name="wrongpw", sudo_password="not-the-office-password")
    locked = lab_host(name="locked")
    down = lab_host(name="down")
    lab.stop_host("down")
    for info in (good, rebooter, wrongpw, locked, down):
        site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
    with lab.hold_dpkg_lock("locked"):
        outcomes = {o.label: o for o in site.assess_assets(concurrency=5)}
    assert outcomes["deb1"].ok
    assert outcomes["rebooter"].ok
    assert outcomes["rebooter"].reboot_required is True
    assert (outcomes["wrongpw"].ok, outcomes["wrongpw"].kind) == (False, "auth_failed")
    assert "authentication failed for user 'admin'" in outcomes["wrongpw"].message
    assert (outcomes["locked"].ok, outcomes["locked"].kind) == (False, "apt_lock")
    assert "dpkg is locked" in outcomes["locked"].message
    assert (outcomes["down"].ok, outcomes["down"].kind) == (False, "unreachable")
    # The errors are stored per host and shown later.
    assets = {a.hostname: a for a in site.assets()}
    record = site.assessment(assets["locked"].id or 0)
    assert record is not None
    assert (record.ok, record.error_kind) == (False, "apt_lock")
    reboot = site.assessment(assets["rebooter"].id or 0)
    assert reboot is not None
    assert any("reboot-required" in r for r in reboot.reboot_reasons)

    # No secret anywhere: the site file, its WAL, exports, the PDF report and the logs.
    from pypdf import PdfReader

    from app.services.reports import generate

    site.export_csv(tmp_path / "inv.csv")
    site.export_json(tmp_path / "inv.json")
    generate(site, tmp_path / "report.pdf")
    report_text = " ".join(p.extract_text() for p in PdfReader(tmp_path / "report.pdf").pages)
    assert "wrongpw" in report_text  # the report does cover these hosts
    site.store.db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    blobs = [site.path.read_bytes(), (tmp_path / "inv.csv").read_bytes(),
             (tmp_path / "inv.json").read_bytes(), report_text.encode(),
             caplog.text.encode(), (tmp_path / "report.pdf").read_bytes()]
    assert caplog.records  # the run did log
    assert not any(b"labpass" in blob for blob in blobs)
