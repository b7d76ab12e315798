"""Changelog lookups: classification from the update's own changelog whatever its archive,
one fetch per (source, version) per site through the shared broker and the site's cache."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.core.changelogs import ChangelogInfo, ChangelogKey
from app.core.models import Classification
from app.drivers.changelogs import ChangelogBroker, FetchGroup, fetch_changelogs, parse_sections
from app.drivers.parsers.apt import changelog_entries
from app.drivers.registry import assess_host
from app.store.changelogs import ChangelogCache
from app.store.db import SiteDB
from tests.fakes import FakeResult, ScriptedTransport
from tests.unit.test_apt_driver import debian_host

INTERNAL = (
    "Reading package lists...\nBuilding dependency tree...\nCalculating upgrade...\n"
    "The following packages will be upgraded:\n  pd-cvelib pd-tools\n"
    "2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
    "Inst pd-cvelib [1.0-1] (1.0-2 Internal:12/internal-mirror [all])\n"
    "Inst pd-tools [2.0-1] (2.1-1 Internal:12/internal-mirror [all])\n"
    "Conf pd-cvelib (1.0-2 Internal:12/internal-mirror [all])\n"
    "Conf pd-tools (2.1-1 Internal:12/internal-mirror [all])\n"
)

CHANGELOGS = {
    "pd-cvelib": """pd-cvelib (1.0-2) internal-mirror; urgency=high

  * Fix a heap overflow (CVE-2024-21413).

 -- Lab <lab@patchdesk.invalid>  Thu, 26 Nov 2026 10:00:00 +0000

pd-cvelib (1.0-1) bookworm; urgency=medium

  * First release; CVE-2023-34192 was fixed long before.

 -- Lab <lab@patchdesk.invalid>  Mon, 02 Nov 2026 10:00:00 +0000
""",
    "pd-tools": """pd-tools (2.1-1) internal-mirror; urgency=low

  * New upstream release. Tidy the security-relevant build flags.

 -- Lab <lab@patchdesk.invalid>  Thu, 26 Nov 2026 10:00:00 +0000
""",
    "pd-openssl": """pd-openssl (1.0-2) bookworm-security; urgency=medium

  * Non-maintainer upload by the Security Team.
  * Fix a timing side channel.

 -- Lab <lab@patchdesk.invalid>  Thu, 26 Nov 2026 10:00:00 +0000
""",
}


@dataclass
class ChangelogHost:
    """A scripted Debian host whose changelog command answers from :data:`CHANGELOGS`
    for the pins it is given (slowly, so concurrent hosts overlap), counting each pin."""

    inner: ScriptedTransport
    fetched: Counter[str]
    lock: threading.Lock
    delay: float = 0.05
    fail: frozenset[str] = frozenset()
    host: str = "10.0.0.5"
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def run(self, argv: Sequence[str], *, sudo: bool = False, timeout: float = 120.0,
            input: str | None = None, env: Mapping[str, str] | None = None,
            c_locale: bool = True) -> FakeResult:
        if "changelogs" not in argv:
            return self.inner.run(argv, sudo=sudo, timeout=timeout, input=input, env=env)
        self.calls.append(tuple(argv))
        args = list(argv[argv.index("changelogs") + 2:])
        out = []
        for index, pins in zip(args[::2], args[1::2], strict=True):
            name = pins.split(",")[0].split("=")[0]
            with self.lock:
                self.fetched[pins] += 1
            body = ("@@pd-absent@@" if name in self.fail
                    else CHANGELOGS.get(name, "@@pd-nochangelog@@"))
            out.append(f"\n@@pd:{index}@@\n{body}")
        time.sleep(self.delay)
        return FakeResult(tuple(argv), 0, "".join(out) + "\n@@pd:end@@\n", "")


def host(fetched: Counter[str], lock: threading.Lock, simulation: str | None = None,
         **kw: object) -> ChangelogHost:
    return ChangelogHost(debian_host(simulation=simulation), fetched, lock, **kw)  # type: ignore[arg-type]


def test_changelog_naming_a_cve_makes_an_internal_mirror_update_security() -> None:
    result = assess_host(host(Counter(), threading.Lock(), INTERNAL))
    by_name = {u.package: u for u in result.updates}
    cvelib, tools = by_name["pd-cvelib"], by_name["pd-tools"]
    assert cvelib.classification is Classification.SECURITY
    assert cvelib.cves == ("CVE-2024-21413",)  # not the 1.0-1 entry's: it is installed
    assert cvelib.evidence == ("archive Internal:12/internal-mirror",
                               "changelog names CVE-2024-21413", "changelog urgency=high")
    # "security-relevant build flags" is not security-fix wording.
    assert tools.classification is Classification.OTHER
    assert tools.evidence == ("archive Internal:12/internal-mirror",)


def test_security_team_wording_and_archive_both_recorded() -> None:
    [ssl] = [u for u in assess_host(host(Counter(), threading.Lock())).updates
             if u.package == "pd-openssl"]
    assert ssl.classification is Classification.SECURITY
    assert ssl.evidence == ("security archive Debian-Security:12/bookworm-security",
                            "changelog mentions a security fix")


def test_changelog_entries_urgency_cves_and_wording() -> None:
    entries = changelog_entries(CHANGELOGS["pd-cvelib"])
    assert [(e.version, e.urgency, e.cves, e.security) for e in entries] == [
        ("1.0-2", "high", ("CVE-2024-21413",), False),
        ("1.0-1", "medium", ("CVE-2023-34192",), False)]
    ubuntu = ("foo (1.2-1ubuntu0.1) jammy-security; urgency=medium\n\n"
              "  * SECURITY UPDATE: buffer overflow\n\n -- U <u@x.invalid>  "
              "Mon, 02 Nov 2026 10:00:00 +0000\n")
    assert changelog_entries(ubuntu)[0].security


def site_hosts(n: int, fetched: Counter[str], lock: threading.Lock) -> list[ChangelogHost]:
    return [host(fetched, lock) for _ in range(n)]


def assess_all(hosts: list[ChangelogHost], broker: ChangelogBroker) -> list:  # type: ignore[type-arg]
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda t: assess_host(t, changelogs=broker), hosts))


def test_fifty_hosts_sharing_updates_fetch_each_changelog_once(tmp_path: Path) -> None:
    """50 hosts assessed 8 at a time, all offered the same 3 updates: each changelog is
    read from one host only (the others wait for it or find it cached), and a second run
    reads none."""
    site = SiteDB.open(tmp_path / "s.pdsite", create=True)
    try:
        fetched: Counter[str] = Counter()
        lock = threading.Lock()
        broker = ChangelogBroker(ChangelogCache(site))
        results = assess_all(site_hosts(50, fetched, lock), broker)
        assert fetched == Counter({"pd-broken=1.1-1": 1, "pd-kernel=5.1-1": 1,
                                   "pd-openssl=1.0-2": 1})
        assert broker.fetches == 3
        stats = [r.lookups for r in results]
        assert sum(s.fetched for s in stats) == 3
        assert sum(s.cached for s in stats) == 50 * 3 - 3
        assert all(s.failed == 0 and s.deferred == 0 for s in stats)
        assert ChangelogCache(site).count() == 3

        again: Counter[str] = Counter()
        results = assess_all(site_hosts(50, again, lock),
                             ChangelogBroker(ChangelogCache(site)))
        assert not again
        assert all((r.lookups.cached, r.lookups.fetched) == (3, 0) for r in results)
        [ssl] = [u for u in results[0].updates if u.package == "pd-openssl"]
        assert ssl.evidence[-1] == "changelog mentions a security fix"  # from the cache
    finally:
        site.close()


def test_failed_fetch_is_not_cached_and_retried(tmp_path: Path) -> None:
    site = SiteDB.open(tmp_path / "s.pdsite", create=True)
    try:
        fetched: Counter[str] = Counter()
        lock = threading.Lock()
        [first] = assess_all([host(fetched, lock, fail=frozenset({"pd-openssl"}))],
                             ChangelogBroker(ChangelogCache(site)))
        assert (first.lookups.fetched, first.lookups.failed) == (2, 1)
        [second] = assess_all([host(fetched, lock)], ChangelogBroker(ChangelogCache(site)))
        assert (second.lookups.cached, second.lookups.fetched) == (2, 1)
        assert fetched["pd-openssl=1.0-2"] == 2
    finally:
        site.close()


def test_binaries_of_one_source_share_one_fetch() -> None:
    """libssl3 and openssl (source openssl) at the same version: one key, both pins offered
    (the script tries the smallest first), both updates get the CVEs."""
    simulation = (
        "Inst libssl3 [3.0.1-1] (3.0.2-1 Debian-Security:12/oldstable-security [amd64])\n"
        "Inst openssl [3.0.1-1] (3.0.2-1 Debian-Security:12/oldstable-security [amd64])\n"
        "2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
    inventory = ("libssl3\tii \t3.0.1-1\tamd64\topenssl\t3.0.1-1\n"
                 "openssl\tii \t3.0.1-1\tamd64\topenssl\t3.0.1-1\n")
    t = debian_host(simulation=simulation)
    t.rules.insert(0, (lambda argv: argv[0] == "dpkg-query" and "binary:Package" in argv[2],
                       (0, inventory, "")))
    text = ("openssl (3.0.2-1) bookworm-security; urgency=medium\n\n  * CVE-2026-0001\n\n"
            " -- X <x@x.invalid>  Mon, 02 Nov 2026 10:00:00 +0000\n")
    t.rules.insert(0, (lambda argv: "changelogs" in argv,
                       (0, f"\n@@pd:0@@\n{text}\n@@pd:end@@\n", "")))
    result = assess_host(t)
    [call] = [argv for argv, _ in t.calls if "changelogs" in argv]
    assert call[-2:] == ("0", "libssl3:amd64=3.0.2-1,openssl:amd64=3.0.2-1")
    assert {u.package: u.cves for u in result.updates} == {
        "libssl3": ("CVE-2026-0001",), "openssl": ("CVE-2026-0001",)}


def test_fetch_limit_defers_the_rest() -> None:
    broker = ChangelogBroker()
    keys = [ChangelogKey(f"p{i}", "1") for i in range(5)]
    asked: list[list[ChangelogKey]] = []

    def fetch(ks: list[ChangelogKey]) -> dict[ChangelogKey, ChangelogInfo]:
        asked.append(ks)
        return {k: ChangelogInfo(k, "none") for k in ks}

    found, stats = broker.lookup(keys, fetch, limit=3)
    assert asked == [keys[:3]] and set(found) == set(keys[:3])
    assert (stats.fetched, stats.deferred) == (3, 2)
    found, stats = broker.lookup(keys, fetch, limit=3)
    assert asked[-1] == keys[3:] and (stats.cached, stats.fetched) == (3, 2)


def test_a_fetch_that_raises_releases_its_keys() -> None:
    broker = ChangelogBroker()
    key = ChangelogKey("p", "1")

    def boom(ks: list[ChangelogKey]) -> dict[ChangelogKey, ChangelogInfo]:
        raise OSError("connection lost")

    with pytest.raises(OSError):
        broker.lookup([key], boom)
    found, stats = broker.lookup([key], lambda ks: {k: ChangelogInfo(k, "none") for k in ks})
    assert key in found and stats.fetched == 1


def test_script_output_sections_and_statuses() -> None:
    text = ("\n@@pd:0@@\n@@pd-nochangelog@@\n\n@@pd:1@@\n@@pd-absent@@\n"
            "\n@@pd:2@@\n<html>not a changelog</html>\n\n@@pd:3@@\npd-x (1) x; urgency=low\n")
    assert set(parse_sections(text)) == {"0", "1", "2"}  # 3 was cut short (no end marker)
    groups = [FetchGroup(ChangelogKey(f"p{i}", "1"), (f"p{i}=1",)) for i in range(4)]
    t = ScriptedTransport().on(lambda argv: True, 0, text)
    infos = fetch_changelogs(t, groups)
    assert {k.package: i.status for k, i in infos.items()} == {"p0": "none",
                                                               "p2": "unreadable"}
