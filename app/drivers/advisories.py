"""Distribution security trackers as the first classification signal of an apt update.

The Debian Security Tracker and Ubuntu's OSV records say, per release and source package,
which version fixes which CVE (and its urgency). An update whose source package has a fix
with ``installed < fixed <= candidate`` fixes those CVEs: it is a security update carrying
them, and its changelog need not be read (the broker skips it). The site's imported
records are reached through an :class:`AdvisoryIndex` (the store implements it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.core.feeds import FEED_TITLES, URGENCY_ORDER, FixRecord
from app.drivers.base import Update
from app.drivers.linux import LinuxFacts
from app.drivers.parsers import ParseError
from app.drivers.parsers.debversion import compare_versions
from app.drivers.parsers.osrelease import parse_os_release


class AdvisoryIndex(Protocol):
    """The site's distribution fixes (thread-safe)."""

    def fixes(self, releases: Sequence[str], packages: Sequence[str]
              ) -> dict[str, list[FixRecord]]:
        """Fix records of these source packages in these releases, by package."""
        ...


@dataclass(frozen=True, slots=True)
class TrackerFinding:
    """What the trackers say one update fixes."""

    cves: tuple[str, ...]
    urgency: str  # the highest urgency/priority among them ("" none given)
    sources: tuple[str, ...]  # feed titles and advisory ids (USN-…)

    def evidence(self) -> str:
        """The evidence line recorded on the update."""
        shown = ", ".join(self.cves[:5]) + (f" (+{len(self.cves) - 5} more)"
                                            if len(self.cves) > 5 else "")
        urgency = f", urgency {self.urgency}" if self.urgency else ""
        return f"{'; '.join(self.sources)} names {shown}{urgency}"


def release_keys(facts: LinuxFacts | None) -> tuple[str, ...]:
    """The host's release as the trackers name it: the codename (Debian: bookworm) and
    the version (Ubuntu's OSV: 22.04). Empty when the host's release is unknown."""
    text = (facts.sections.get("os-release") if facts is not None else None) or ""
    if not text:
        return ()
    try:
        release = parse_os_release(text)
    except ParseError:
        return ()
    return tuple(k for k in (release.version_codename, release.version_id) if k)


def _newer(a: str, b: str) -> int:
    try:
        return compare_versions(a, b)
    except ValueError:
        return 0  # not comparable: never in range


def finding(records: Iterable[FixRecord], installed: str, candidate: str
            ) -> TrackerFinding | None:
    """The fixes an update from ``installed`` to ``candidate`` brings (None: none known)."""
    cves: dict[str, None] = {}
    sources: dict[str, None] = {}
    urgency = ""
    for r in records:
        if not (_newer(installed, r.fixed_version) < 0 <= _newer(candidate, r.fixed_version)):
            continue
        cves.setdefault(r.cve, None)
        sources.setdefault(FEED_TITLES.get(r.distro, r.distro), None)
        if r.advisory:
            sources.setdefault(r.advisory, None)
        if r.urgency in URGENCY_ORDER and (
                not urgency or URGENCY_ORDER.index(r.urgency) > URGENCY_ORDER.index(urgency)):
            urgency = r.urgency
    if not cves:
        return None
    return TrackerFinding(tuple(sorted(cves)), urgency, tuple(sources))


def update_key(update: Update) -> tuple[str, str, str]:
    """What identifies one update of one host (package, architecture, candidate)."""
    return (update.package, update.arch, update.candidate_version)


def lookup(index: AdvisoryIndex | None, releases: Sequence[str], updates: Sequence[Update],
           sources: Mapping[str, str]) -> dict[tuple[str, str, str], TrackerFinding]:
    """The tracker findings of a host's updates, by :func:`update_key` (one query)."""
    if index is None or not releases:
        return {}
    wanted = [u for u in updates if u.installed_version]
    packages = {u.package: sources.get(u.package) or u.package for u in wanted}
    known = index.fixes(list(releases), sorted(set(packages.values())))
    out: dict[tuple[str, str, str], TrackerFinding] = {}
    for u in wanted:
        found = finding(known.get(packages[u.package], ()), u.installed_version,
                        u.candidate_version)
        if found is not None:
            out[update_key(u)] = found
    return out
