"""A repeat assessment of a real lab host reuses apt's simulation only while the host's
package state is unchanged: installed packages, holds, pins, sources and lists each
invalidate it (real apt and dpkg on the host; the state is stored in the site)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.models import Asset
from app.drivers.apt_state import STATE_KEY
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from tests.integration.test_assess_lab import MASTER, upgradable
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

REUSED = "package state unchanged since"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "reuse.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    yield service
    service.close()


def test_repeat_assessment_reuses_the_simulation_until_the_package_state_changes(
        lab: Lab, lab_host, site: SiteService) -> None:
    info = lab_host(name="reuse1")
    asset = site.add_asset(Asset(hostname="reuse1", ips=(info.ip,)))
    asset_id = int(asset.id or 0)

    def assess() -> tuple[bool, dict[str, tuple[str, str]]]:
        [outcome] = site.assess_assets([asset_id])
        assert outcome.ok, outcome.message
        missing = {p.package: (p.installed_version, p.candidate_version)
                   for p in site.patches(asset_id)}
        assert missing == upgradable_kept(lab), "the result must match apt on the host"
        return any(REUSED in w for w in outcome.warnings), missing

    def host(command: str) -> None:
        lab.exec("reuse1", command, check=True, timeout=120)

    reused, first = assess()
    assert not reused and set(first) == {"pd-openssl", "pd-tools", "pd-broken", "pd-kernel"}
    reused, again = assess()
    assert reused and again == first
    # Only the latest assessment keeps the stored state (not every row of the history).
    rows = site.store.db().execute(
        "SELECT count(*) FROM assessments WHERE asset_id = ? AND "
        f"json_extract(facts, '$.details.{STATE_KEY}') IS NOT NULL", [asset_id]).fetchone()
    assert rows[0] == 1
    assert set(AssessmentRepo(site.store.db()).previous_details([asset_id, 999])) == {asset_id}

    host("apt-mark hold pd-tools >/dev/null")  # a hold (dpkg's selections)
    reused, held = assess()
    assert not reused and "pd-tools" not in held
    reused, _ = assess()
    assert reused

    host("printf 'Package: pd-openssl\\nPin: version 1.0-2\\nPin-Priority: -1\\n' "
         "> /etc/apt/preferences.d/pd-no-openssl")  # a pin
    reused, pinned = assess()
    assert not reused and "pd-openssl" not in pinned

    host("apt-mark unhold pd-tools >/dev/null && rm /etc/apt/preferences.d/pd-no-openssl && "
         "DEBIAN_FRONTEND=noninteractive apt-get install -y -q pd-tools >/dev/null")
    reused, installed = assess()  # an installed package
    assert not reused
    assert "pd-tools" not in installed and "pd-openssl" in installed
    reused, _ = assess()
    assert reused

    # A source, hence new lists after the assessment's refresh.
    lab.add_package_version("pd-reuselib", "1.0-1", archive="internal-mirror")
    lab.add_internal_mirror_source("reuse1")
    reused, _ = assess()
    assert not reused
    host("DEBIAN_FRONTEND=noninteractive apt-get install -y -q pd-reuselib >/dev/null")
    reused, _ = assess()
    assert not reused
    reused, _ = assess()
    assert reused
    # A new version in the lists (the refresh fetches them): simulated again, and listed.
    lab.add_package_version("pd-reuselib", "1.0-2", archive="internal-mirror")
    reused, listed = assess()
    assert not reused and listed["pd-reuselib"] == ("1.0-1", "1.0-2")


def upgradable_kept(lab: Lab) -> dict[str, tuple[str, str]]:
    """apt's upgradable list on reuse1 without what apt would keep back (holds, pins)."""
    found = upgradable(lab, "reuse1")
    kept = lab.exec("reuse1", "apt-mark showhold", check=True).stdout.split()
    return {name: versions for name, versions in found.items() if name not in kept}
