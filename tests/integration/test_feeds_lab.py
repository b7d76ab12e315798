"""The security tracker on a real lab host: after ``feeds import debian``, an update from
an internal mirror that the tracker names is classified security with the tracker's CVE
and evidence, and its changelog is not fetched (counted: the site's changelog cache never
gets it, and the assessment's lookups skip it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.changelogs import ChangelogKey
from app.core.models import Asset, Classification
from app.services import SiteService
from app.store.changelogs import ChangelogCache
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

MASTER = "lab master password"
OLD_ENTRY = """pd-trackerlib (1.0-1) bookworm; urgency=medium

  * First release.

 -- PatchDesk Lab <lab@patchdesk.invalid>  Mon, 02 Nov 2026 10:00:00 +0000
"""
# The changelog names another CVE: had it been read, that one would show.
NEW_ENTRY = """pd-trackerlib (1.0-2) internal-mirror; urgency=low

  * Rebuilt (CVE-2099-4242).

 -- Internal Mirror <mirror@patchdesk.invalid>  Thu, 26 Nov 2026 10:00:00 +0000

"""
TRACKER = {"pd-trackerlib": {"CVE-2024-3094": {"scope": "remote", "releases": {
    "bookworm": {"status": "resolved", "repositories": {"bookworm": "1.0-1"},
                 "fixed_version": "1.0-2", "urgency": "high"},
    "bullseye": {"status": "open", "urgency": "high"}}}}}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "tr.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    yield service
    service.close()


def test_tracker_answers_a_lab_update_without_a_changelog_fetch(
        lab: Lab, lab_host, site: SiteService, tmp_path: Path) -> None:
    lab.add_package_version("pd-trackerlib", "1.0-1", changelog=OLD_ENTRY)
    lab.add_package_version("pd-trackerlib", "1.0-2", archive="internal-mirror",
                            changelog=NEW_ENTRY + OLD_ENTRY)
    info = lab_host(name="trackerhost")
    lab.add_internal_mirror_source("trackerhost")
    lab.exec("trackerhost", "apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive "
                            "apt-get install -y -q pd-trackerlib=1.0-1 >/dev/null", check=True,
             timeout=120)
    tracker = tmp_path / "tracker.json"
    tracker.write_text(json.dumps(TRACKER), encoding="utf-8")
    imported = site.feeds.import_feed("debian", tracker)
    assert imported.records == 1
    asset = site.add_asset(Asset(hostname="trackerhost", ips=(info.ip,)))
    [outcome] = site.assess_assets([asset.id or 0])
    assert outcome.ok, outcome.message
    patches = {p.package: p for p in site.patches(asset.id)}
    lib = patches["pd-trackerlib"]
    assert lib.classification is Classification.SECURITY
    assert lib.cves == ("CVE-2024-3094",)
    assert lib.evidence[0] == "Debian Security Tracker names CVE-2024-3094, urgency high"
    # Not fetched: the cache never saw its changelog, and the lookups counted the others.
    key = ChangelogKey("pd-trackerlib", "1.0-2")
    assert ChangelogCache(site.store).get_changelogs([key]) == {}
    others = {(p.package, p.candidate_version) for p in patches.values()
              if p.package != "pd-trackerlib"}
    assert outcome.lookups is not None
    assert outcome.lookups.fetched + outcome.lookups.cached == len(others)
    assert ChangelogCache(site.store).count() == outcome.lookups.fetched
