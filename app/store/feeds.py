"""Stored vulnerability feeds: imports, distribution fixes, CVSS and EPSS by CVE."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from app.core.feeds import CveIntel, CvssRecord, EpssRecord, FeedStatus, FixRecord
from app.store.db import SiteDB

#: Rows per executemany while a feed streams in.
BATCH = 5000
#: Keys per SELECT (SQLite's host-parameter limit).
_CHUNK = 400
_TABLES = {"debian": ("vuln_fixes", "distro = 'debian'"),
           "ubuntu": ("vuln_fixes", "distro = 'ubuntu'"),
           "nvd": ("cvss_scores", "1"), "epss": ("epss_scores", "1"),
           "kev": ("kev_entries", "1")}


def _batched(rows: Iterable[tuple[Any, ...]], size: int = BATCH
             ) -> Iterable[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class FeedRepo:
    """The feed tables of one site (inside the caller's transaction)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _insert(self, sql: str, rows: Iterable[tuple[Any, ...]],
                tick: Callable[[], None] | None) -> None:
        for batch in _batched(rows):
            self.db.conn.executemany(sql, batch)
            if tick is not None:
                tick()  # progress, and the place a cancel is raised from

    def store_fixes(self, distro: str, records: Iterable[FixRecord], *, replace: bool,
                    tick: Callable[[], None] | None = None) -> None:
        """Store distribution fixes (``replace``: the feed is a complete dump, so the
        distribution's previous rows go)."""
        if replace:
            self.db.execute("DELETE FROM vuln_fixes WHERE distro = ?", [distro])
        self._insert("INSERT OR REPLACE INTO vuln_fixes (distro, release, package, cve, "
                     "fixed_version, urgency, advisory) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     ((r.distro, r.release, r.package, r.cve, r.fixed_version, r.urgency,
                       r.advisory) for r in records), tick)

    def store_cvss(self, records: Iterable[CvssRecord],
                   tick: Callable[[], None] | None = None) -> None:
        """Store CVSS scores (NVD files come per year: a CVE's row is replaced, others
        are kept)."""
        self._insert("INSERT OR REPLACE INTO cvss_scores (cve, score, version, vector, "
                     "severity, scorer) VALUES (?, ?, ?, ?, ?, ?)",
                     ((r.cve, r.score, r.version, r.vector, r.severity, r.scorer)
                      for r in records), tick)

    def store_epss(self, records: Iterable[EpssRecord],
                   tick: Callable[[], None] | None = None) -> None:
        """Store an EPSS snapshot in place of the previous one (each file is complete)."""
        self.db.execute("DELETE FROM epss_scores")
        self._insert("INSERT OR REPLACE INTO epss_scores (cve, epss, percentile) "
                     "VALUES (?, ?, ?)", ((r.cve, r.epss, r.percentile) for r in records),
                     tick)

    def record_import(self, feed: str, at: datetime, actor: str, source: str,
                      feed_date: str, version: str, records: int, skipped: int) -> None:
        """Record one import."""
        self.db.execute(
            "INSERT INTO feed_imports (feed, imported_at, actor, source, feed_date, version, "
            "records, skipped) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [feed, at.isoformat(), actor, source, feed_date, version, records, skipped])

    def stored(self, feed: str) -> int:
        """Rows the site holds for a feed."""
        table, where = _TABLES[feed]
        return int(self.db.execute(f"SELECT count(*) FROM {table} WHERE {where}"
                                   ).fetchone()[0])

    def status(self, feed: str) -> FeedStatus:
        """The last import of a feed (KEV's come from its own import table)."""
        if feed == "kev":
            rows = list(self.db.query("SELECT imported_at, actor, source, date_released AS "
                                      "feed_date, entries AS records FROM kev_imports "
                                      "ORDER BY id DESC LIMIT 1"))
        else:
            rows = list(self.db.query("SELECT imported_at, actor, source, feed_date, records "
                                      "FROM feed_imports WHERE feed = ? ORDER BY id DESC "
                                      "LIMIT 1", [feed]))
        if not rows:
            return FeedStatus(feed, stored=self.stored(feed))
        r = rows[0]
        return FeedStatus(feed, datetime.fromisoformat(r["imported_at"]), r["source"],
                          r["feed_date"] or "", int(r["records"]), self.stored(feed),
                          r["actor"])

    def intel(self, cves: Iterable[str]) -> dict[str, CveIntel]:
        """CVSS and EPSS of the given CVEs (only those some feed knows)."""
        wanted = sorted(set(cves))
        cvss: dict[str, CvssRecord] = {}
        epss: dict[str, EpssRecord] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for r in self.db.query(f"SELECT * FROM cvss_scores WHERE cve IN ({marks})", chunk):
                cvss[r["cve"]] = CvssRecord(r["cve"], float(r["score"]), r["version"],
                                            r["vector"], r["severity"], r["scorer"])
            for r in self.db.query(f"SELECT * FROM epss_scores WHERE cve IN ({marks})", chunk):
                epss[r["cve"]] = EpssRecord(r["cve"], float(r["epss"]), float(r["percentile"]))
        return {c: CveIntel(c, cvss.get(c), epss.get(c)) for c in wanted
                if c in cvss or c in epss}


class FixIndex:
    """:class:`app.drivers.advisories.AdvisoryIndex` on a site file: the distribution
    fixes of some source packages in some releases (thread-safe: a connection per call)."""

    def __init__(self, store: SiteDB) -> None:
        self.store = store

    def fixes(self, releases: Sequence[str], packages: Sequence[str]
              ) -> dict[str, list[FixRecord]]:
        """Fix records by source package."""
        out: dict[str, list[FixRecord]] = {}
        names = sorted(set(packages))
        if not names or not releases:
            return out
        db = self.store.db()
        rel = ",".join("?" * len(releases))
        for start in range(0, len(names), _CHUNK):
            chunk = names[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for r in db.query(f"SELECT * FROM vuln_fixes WHERE package IN ({marks}) "
                              f"AND release IN ({rel})", [*chunk, *releases]):
                out.setdefault(r["package"], []).append(FixRecord(
                    r["distro"], r["release"], r["package"], r["cve"], r["fixed_version"],
                    r["urgency"], r["advisory"]))
        return out
