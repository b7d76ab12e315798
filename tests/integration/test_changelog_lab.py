"""Changelog lookups on real lab hosts: an update from an archive named like no Debian
security archive is classified security from its own changelog (and ranks first with KEV);
hosts that share updates fetch each changelog once per site."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.models import Asset, Classification, Impact
from app.services import SiteService
from app.store.changelogs import ChangelogCache
from tests.lab.lab import HostSpec, Lab

pytestmark = pytest.mark.lab

MASTER = "lab master password"
KEV_CVE = "CVE-2024-3094"
OLD_ENTRY = """pd-mirrorlib (1.0-1) bookworm; urgency=medium

  * First release.

 -- PatchDesk Lab <lab@patchdesk.invalid>  Mon, 02 Nov 2026 10:00:00 +0000
"""
NEW_ENTRY = f"""pd-mirrorlib (1.0-2) internal-mirror; urgency=high

  * Rebuilt from the vendor's fixed sources ({KEV_CVE}).

 -- Internal Mirror <mirror@patchdesk.invalid>  Thu, 26 Nov 2026 10:00:00 +0000

"""
KEV_FILE = {
    "title": "CISA Catalog of Known Exploited Vulnerabilities (test excerpt)",
    "catalogVersion": "2026.12.05", "dateReleased": "2026-12-05T00:00:00.000Z", "count": 1,
    "vulnerabilities": [{
        "cveID": KEV_CVE, "vendorProject": "XZ Utils", "product": "XZ Utils",
        "vulnerabilityName": "XZ Utils Embedded Malicious Code Vulnerability",
        "dateAdded": "2024-03-29", "shortDescription": "Malicious code in the upstream tarballs.",
        "requiredAction": "Apply mitigations per vendor instructions.",
        "dueDate": "2024-04-19", "knownRansomwareCampaignUse": "Unknown", "notes": ""}],
}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "cl.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    yield service
    service.close()


def test_internal_mirror_update_naming_a_kev_cve_is_security_and_ranks_first(
        lab: Lab, lab_host, site: SiteService, tmp_path: Path) -> None:
    lab.add_package_version("pd-mirrorlib", "1.0-1", changelog=OLD_ENTRY)
    lab.add_package_version("pd-mirrorlib", "1.0-2", archive="internal-mirror",
                            changelog=NEW_ENTRY + OLD_ENTRY)
    info = lab_host(name="mirrorhost")
    lab.add_internal_mirror_source("mirrorhost")
    lab.exec("mirrorhost", "apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive "
                           "apt-get install -y -q pd-mirrorlib=1.0-1 >/dev/null", check=True,
             timeout=120)
    asset = site.add_asset(Asset(hostname="mirrorhost", ips=(info.ip,), impact=Impact.CRITICAL,
                                 public_facing=True))
    [outcome] = site.assess_assets([asset.id or 0])
    assert outcome.ok, outcome.message
    patches = {p.package: p for p in site.patches(asset.id)}
    lib = patches["pd-mirrorlib"]
    assert "internal-mirror" in lib.source and "security" not in lib.source.lower()
    assert lib.classification is Classification.SECURITY
    assert lib.cves == (KEV_CVE,)
    assert f"changelog names {KEV_CVE}" in lib.evidence
    assert "changelog urgency=high" in lib.evidence
    # The lab's other updates ship no changelog: only their archive speaks for them.
    assert patches["pd-tools"].classification is Classification.OTHER
    assert patches["pd-openssl"].evidence == (
        "security archive Debian-Security:12/bookworm-security",)
    assert outcome.lookups is not None and outcome.lookups.fetched == 5

    kev = tmp_path / "kev.json"
    kev.write_text(json.dumps(KEV_FILE), encoding="utf-8")
    site.kev_import(kev)
    items = [i for i in site.risk_items() if i.asset_id == asset.id]
    assert items[0].package == "pd-mirrorlib"
    assert [k.cve_id for k in items[0].kev] == [KEV_CVE]
    assert items[0].risk.score > max(i.risk.score for i in items[1:])


def test_lab_hosts_sharing_updates_fetch_each_changelog_once(lab: Lab, site: SiteService
                                                             ) -> None:
    """50 real hosts (sshd, apt; the number [11] names) offered the same updates, assessed
    8 at a time: each (package, version) changelog is fetched from one host only; a repeat
    fetches none."""
    n = 50
    infos = lab.add_hosts([HostSpec(name=f"share{i}") for i in range(n)], timeout=180)
    try:
        for info in infos:
            site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
        clock = time.monotonic()
        outcomes = site.assess_assets(concurrency=8)
        first = time.monotonic() - clock
        assert all(o.ok for o in outcomes), [o.message for o in outcomes if not o.ok]
        stats = [o.lookups for o in outcomes]
        assert all(s is not None for s in stats)
        fetched = sum(s.fetched for s in stats if s)
        keys = {(p.package, p.candidate_version) for p in site.patches()}
        assert len(keys) == 4  # pd-openssl, pd-tools, pd-broken, pd-kernel
        assert fetched == len(keys)
        assert sum(s.cached for s in stats if s) == n * len(keys) - len(keys)
        assert ChangelogCache(site.store).count() == len(keys)
        # What `patchdesk assess --json` prints, and the stored assessment, carry them.
        shown = [o.to_dict()["cve_lookups"] for o in outcomes]
        assert sum(d["fetched"] for d in shown) == len(keys)
        assert all(set(d) == {"cached", "fetched", "failed", "deferred", "seconds"}
                   for d in shown)
        stored = [site.assessment(o.asset_id) for o in outcomes]
        assert sum(r.lookups.fetched for r in stored if r and r.lookups) == len(keys)

        clock = time.monotonic()
        again = site.assess_assets(concurrency=8)
        repeat = time.monotonic() - clock
        assert all(o.ok and o.lookups and (o.lookups.fetched, o.lookups.cached) == (0, 4)
                   for o in again)
        print(f"{n} hosts: first {first:.1f} s, repeat {repeat:.1f} s")
    finally:
        for info in infos:
            lab.remove_host(info.name)


def test_changelog_script_on_a_real_host(lab: Lab, lab_host, site: SiteService) -> None:
    """The changelog command on a lab host (real apt, apt's download helper, dpkg-deb): a
    group whose smallest binary ships no changelog is answered by its next one; a package
    without any changelog is 'none'; a pin apt does not know is left out without failing
    the others (apt refuses a batch with one unknown pin)."""
    from app.core.changelogs import ChangelogKey
    from app.drivers.changelogs import FetchGroup, fetch_changelogs

    lab.add_package_version("pd-nodoc", "1.0-2")
    lab.add_package_version("pd-withdoc", "1.0-2", changelog=NEW_ENTRY.replace(
        "pd-mirrorlib", "pd-withdoc").replace("internal-mirror;", "bookworm;"))
    info = lab_host(name="clhost")
    lab.exec("clhost", "apt-get -q update >/dev/null", check=True, timeout=120)
    asset = site.add_asset(Asset(hostname="clhost", ips=(info.ip,)))
    keys = [ChangelogKey("pd-doc", "1.0-2"), ChangelogKey("pd-openssl", "1.0-2"),
            ChangelogKey("pd-ghost", "9.9")]
    groups = [FetchGroup(keys[0], ("pd-withdoc=1.0-2", "pd-nodoc=1.0-2")),
              FetchGroup(keys[1], ("pd-openssl=1.0-2",)),
              FetchGroup(keys[2], ("pd-ghost=9.9",))]
    transport = site.remote.transport_for(asset)
    try:
        found = fetch_changelogs(transport, groups)
    finally:
        site.remote.close_all()
    assert set(found) == {keys[0], keys[1]}  # pd-ghost: absent, retried next time
    assert found[keys[0]].status == "ok"
    assert [(e.version, e.cves) for e in found[keys[0]].entries] == [("1.0-2", (KEV_CVE,))]
    assert (found[keys[1]].status, found[keys[1]].entries) == ("none", ())
    # Nothing is left behind on the host.
    left = lab.exec("clhost", "ls -A /var/cache/patchdesk/changelogs", check=True).stdout
    assert left.strip() == ""
