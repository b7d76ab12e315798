"""Changelog lookups of Debian-family updates: what a candidate version's own changelog says
(CVE ids, urgency, security wording), fetched from the host at most once per site.

A changelog is the same for every host that is offered the same (source package, version),
so lookups go through a :class:`ChangelogBroker` shared by all hosts of one assessment run:
it answers from the site's cache (a :class:`ChangelogStore`, implemented by the store),
lets exactly one host fetch what is missing while other hosts asking for the same key wait
for that fetch, and writes what was fetched back to the cache.

The cache keeps every entry of the changelog read (version, urgency, CVE ids, security
wording), so one row answers any installed version: the entries newer than it are picked at
lookup time (:func:`relevant`). The installed-version bound is therefore not part of the key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Protocol

from app.core.assessment import LookupStats
from app.core.changelogs import ChangelogInfo, ChangelogKey

if TYPE_CHECKING:
    from app.drivers.advisories import AdvisoryIndex
from app.drivers.base import Transport
from app.drivers.parsers import ParseError
from app.drivers.parsers.apt import changelog_entries, newer_entries

#: Bytes of each changelog read (newest entries come first).
MAX_CHANGELOG_BYTES = 200_000
#: How long a host waits for another host's fetch of the same changelog (seconds).
WAIT_TIMEOUT = 600.0
#: Urgencies that are worth recording as evidence.
HIGH_URGENCIES = frozenset({"high", "critical", "emergency"})


@dataclass(frozen=True, slots=True)
class Finding:
    """What the entries newer than the installed version say."""

    cves: tuple[str, ...] = ()
    urgency: str = ""  # the highest urgency among them
    security: bool = False  # security wording


_URGENCY_ORDER = ("low", "medium", "high", "critical", "emergency")


def relevant(info: ChangelogInfo, installed_version: str) -> Finding:
    """The CVE ids, highest urgency and security wording of the entries newer than the
    installed version."""
    cves: dict[str, None] = {}
    urgency = ""
    security = False
    for entry in newer_entries(info.entries, installed_version or None):
        for cve in entry.cves:
            cves.setdefault(cve, None)
        security = security or entry.security
        if entry.urgency in _URGENCY_ORDER and (
                not urgency or _URGENCY_ORDER.index(entry.urgency) > _URGENCY_ORDER.index(urgency)):
            urgency = entry.urgency
    return Finding(tuple(cves), urgency, security)


class ChangelogStore(Protocol):
    """The site's changelog cache (the store implements it; thread-safe)."""

    def get_changelogs(self, keys: Sequence[ChangelogKey]) -> dict[ChangelogKey, ChangelogInfo]:
        """The cached changelogs among ``keys``."""
        ...

    def put_changelogs(self, infos: Sequence[ChangelogInfo]) -> None:
        """Cache fetched changelogs (replacing older rows of the same key)."""
        ...


Fetcher = Callable[[list[ChangelogKey]], dict[ChangelogKey, ChangelogInfo]]


class ChangelogBroker:
    """Changelog lookups shared by the hosts of one run: cache first, each missing key
    fetched by one host only, concurrent askers of the same key wait for that fetch.

    Args:
        store: the site's cache; None keeps results for this broker's lifetime only.
    """

    def __init__(self, store: ChangelogStore | None = None) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._known: dict[ChangelogKey, ChangelogInfo] = {}
        self._inflight: dict[ChangelogKey, threading.Event] = {}
        self.fetches = 0  # keys fetched from hosts through this broker (all hosts)
        #: The security trackers' data (app/drivers/advisories.py), asked before changelogs.
        self.advisories: AdvisoryIndex | None = None
        self.tracked = 0  # updates the trackers answered (no changelog read for them)

    def count_tracked(self, count: int) -> None:
        """Count updates the trackers answered (thread-safe)."""
        with self._lock:
            self.tracked += count

    def lookup(self, keys: Iterable[ChangelogKey], fetch: Fetcher, *,
               limit: int | None = None
               ) -> tuple[dict[ChangelogKey, ChangelogInfo], LookupStats]:
        """The changelogs of ``keys``; ``fetch`` is called (once, with every key this
        caller must read) for the keys neither cached nor being read by another caller.
        A key whose fetch failed is absent from the result (and counted as failed).

        Args:
            keys: in order of importance.
            fetch: reads the given keys from the caller's host.
            limit: at most this many keys are fetched; the rest (the last ones) are left
                for a later lookup and counted as deferred.
        """
        clock = time.monotonic()
        wanted = list(dict.fromkeys(keys))
        found: dict[ChangelogKey, ChangelogInfo] = {}
        waits: dict[ChangelogKey, threading.Event] = {}
        claimed: list[ChangelogKey] = []
        with self._lock:
            for key in wanted:
                if key in self._known:
                    found[key] = self._known[key]
                elif key in self._inflight:
                    waits[key] = self._inflight[key]
                else:
                    self._inflight[key] = threading.Event()
                    claimed.append(key)
        cached = len(found)
        deferred = 0
        fetched: dict[ChangelogKey, ChangelogInfo] = {}
        try:
            if claimed and self._store is not None:
                stored = self._store.get_changelogs(claimed)
                found.update(stored)
                cached += len(stored)
                self._publish(stored)
                claimed = [k for k in claimed if k not in stored]
            if limit is not None and len(claimed) > limit:
                later = claimed[limit:]
                claimed = claimed[:limit]
                deferred = len(later)
                self._publish({}, release=later)
            if claimed:
                fetched = {k: v for k, v in fetch(claimed).items() if k in set(claimed)}
                if fetched and self._store is not None:
                    self._store.put_changelogs(list(fetched.values()))
                with self._lock:
                    self.fetches += len(fetched)
                found.update(fetched)
        finally:
            self._publish(fetched, release=claimed)
        failed = len(claimed) - len(fetched)
        deadline = time.monotonic() + WAIT_TIMEOUT
        for key, event in waits.items():
            event.wait(max(0.0, deadline - time.monotonic()))
            with self._lock:
                info = self._known.get(key)
            if info is None:
                failed += 1
            else:
                found[key] = info
                cached += 1
        return found, LookupStats(cached=cached, fetched=len(fetched), failed=failed,
                                  deferred=deferred, seconds=time.monotonic() - clock)

    def _publish(self, infos: Mapping[ChangelogKey, ChangelogInfo],
                 release: Sequence[ChangelogKey] = ()) -> None:
        with self._lock:
            self._known.update(infos)
            for key in [*infos, *release]:
                event = self._inflight.pop(key, None)
                if event is not None:
                    event.set()


# ------------------------------------------------------------------------------ fetching
@dataclass(frozen=True, slots=True)
class FetchGroup:
    """One key to read and the binary packages (``name=version`` pins) that may carry
    its changelog; the script tries the smallest download first."""

    key: ChangelogKey
    pins: tuple[str, ...]


def fetch_changelogs(transport: Transport, groups: Sequence[FetchGroup]
                     ) -> dict[ChangelogKey, ChangelogInfo]:
    """Read the changelogs of ``groups`` from the host in one command (the host's own
    repositories, batch ``apt-get download``, parallel extraction). Keys whose download
    failed are absent from the result; a package without a changelog is ``none``."""
    if not groups:
        return {}
    args: list[str] = []
    for index, group in enumerate(groups):
        args += [str(index), ",".join(group.pins)]
    result = transport.run(["sh", "-c", _script(), "changelogs", str(MAX_CHANGELOG_BYTES),
                            *args], sudo=True, timeout=900,
                           env={"DEBIAN_FRONTEND": "noninteractive"})
    sections = parse_sections(result.stdout)
    now = datetime.now(UTC)
    out: dict[ChangelogKey, ChangelogInfo] = {}
    for index, group in enumerate(groups):
        body = sections.get(str(index))
        if body is None or body.strip() == "@@pd-absent@@":
            continue
        if body.strip() == "@@pd-nochangelog@@":
            out[group.key] = ChangelogInfo(group.key, "none", (), now)
            continue
        try:
            entries = changelog_entries(body)
        except ParseError:
            out[group.key] = ChangelogInfo(group.key, "unreadable", (), now)
            continue
        out[group.key] = ChangelogInfo(group.key, "ok", entries, now)
    return out


_SECTION_MARK = "@@pd:"


def parse_sections(text: str) -> dict[str, str]:
    """``@@pd:N@@`` sections of the script's output (``end`` closes the output; a section
    not followed by another marker or ``end`` was cut short and is dropped)."""
    sections: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith(_SECTION_MARK) and line.endswith("@@") and len(line) > 7:
            if name is not None:
                sections[name] = "\n".join(lines).strip("\n")
            name = line[len(_SECTION_MARK):-2]
            lines = []
            if name == "end":
                return sections
            continue
        if name is not None:
            lines.append(line)
    return sections


def _script() -> str:
    return resources.files("app.drivers").joinpath("scripts/changelogs.sh").read_text(
        encoding="utf-8")
