"""KEV matching on real assessed lab hosts: CVE ids come from the security update's own
changelog (apt's simulation names none), and the bundled KEV sample marks exactly those
of them that CISA lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.models import Asset
from app.services import SiteService
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

MASTER = "lab master password"
ENTRY_1 = """pd-cvelib (1.0-1) bookworm; urgency=medium

  * First release. Mentions CVE-2023-34192, fixed long before this host was set up.

 -- PatchDesk Lab <lab@patchdesk.invalid>  Mon, 02 Nov 2026 10:00:00 +0000
"""
ENTRY_2 = """pd-cvelib (1.0-2) bookworm-security; urgency=high

  * CVE-2024-21413 (listed in CISA's KEV catalogue).
  * CVE-2099-0001 (not listed anywhere).

 -- PatchDesk Lab <lab@patchdesk.invalid>  Thu, 26 Nov 2026 10:00:00 +0000

"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "kev.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    yield service
    service.close()


def test_kev_sample_marks_exactly_the_matching_cves(lab: Lab, lab_host,
                                                     site: SiteService) -> None:
    lab.add_package_version("pd-cvelib", "1.0-1", changelog=ENTRY_1)
    lab.add_package_version("pd-cvelib", "1.0-2", security=True, changelog=ENTRY_2 + ENTRY_1)
    info = lab_host(name="kevhost")
    lab.exec("kevhost", "apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive "
                        "apt-get install -y -q pd-cvelib=1.0-1 >/dev/null", check=True,
             timeout=120)
    asset = site.add_asset(Asset(hostname="kevhost", ips=(info.ip,)))
    [outcome] = site.assess_assets([asset.id or 0])
    assert outcome.ok, outcome.message
    cves = {p.package: p.cves for p in site.patches(asset.id)}
    # Only versions newer than the installed 1.0-1 count; pd-openssl's changelog names none.
    assert cves["pd-cvelib"] == ("CVE-2024-21413", "CVE-2099-0001")
    assert cves["pd-openssl"] == ()

    site.kev_import(sample=True)
    items = {i.package: i for i in site.risk_items() if i.asset_id == asset.id}
    assert [k.cve_id for k in items["pd-cvelib"].kev] == ["CVE-2024-21413"]
    assert all(not i.kev for name, i in items.items() if name != "pd-cvelib")
    assert "known exploited" in items["pd-cvelib"].risk.why
