"""Vulnerability data feeds: importing the Debian Security Tracker, Ubuntu OSV, NVD CVSS,
FIRST EPSS and CISA KEV from files or URLs (offline first), and their status.

Imports stream: the parser reads the file a chunk at a time and rows are written in
batches inside one transaction, so a cancel or a bad record half-way leaves the site's
previous data untouched. Each import is audited with its source, date and counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.clock import utcnow
from app.core.errors import UserError
from app.core.feeds import (
    FEEDS,
    CveIntel,
    FeedHeader,
    FeedStatus,
    parse_debian_tracker,
    parse_epss,
    parse_nvd,
    parse_ubuntu_osv,
)
from app.feeds import FEED_URLS, Progress, open_feed
from app.services.base import ServicePart
from app.store.feeds import FeedRepo
from app.store.repos import AuditRepo


@dataclass(frozen=True, slots=True)
class FeedImport:
    """What one import stored."""

    feed: str
    source: str
    feed_date: str
    version: str
    records: int
    skipped: int
    stored: int  # rows the site holds for the feed afterwards

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"feed": self.feed, "source": self.source, "feed_date": self.feed_date or None,
                "version": self.version or None, "records": self.records,
                "skipped": self.skipped, "stored": self.stored}


class FeedService(ServicePart):
    """The site's vulnerability feeds."""

    def import_feed(self, feed: str, source: str | Path | None = None, *,
                    progress: Progress | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    timeout: float = 60.0) -> FeedImport:
        """Import a feed from a file or an http(s) URL (audited).

        Args:
            feed: debian, ubuntu, nvd, epss or kev.
            source: a file or URL; None takes the feed's published URL (only when asked
                for explicitly by a person: "Update now").
            progress: called with (bytes read, total) while the file is read.
            should_stop: answers True to stop; nothing is changed then.

        Raises:
            UserError: unknown feed, unreadable source, not that feed's format
                (FeedFormatError), cancelled (FeedCancelledError).
        """
        if feed not in FEEDS:
            raise UserError(f"Unknown feed '{feed}'; one of {', '.join(FEEDS)}.")
        if source is None:
            if feed not in FEED_URLS:
                raise UserError(f"The {feed} feed has no single published file; give a file "
                                "or URL.")
            source = FEED_URLS[feed]
        if feed == "kev":
            kev = self.site.risk.kev_import(source, timeout=timeout)
            return FeedImport("kev", kev.source, kev.date_released, kev.catalog_version,
                              kev.entries, 0, kev.entries)
        header = FeedHeader()
        with open_feed(source, timeout=timeout, progress=progress,
                       should_stop=should_stop) as opened, \
                self.store.atomic() as db:
            repo = FeedRepo(db)
            if feed == "debian":
                repo.store_fixes("debian", parse_debian_tracker(opened.chunks(), header),
                                 replace=True)
            elif feed == "ubuntu":
                repo.store_fixes("ubuntu", parse_ubuntu_osv(opened.chunks(), header),
                                 replace=False)
            elif feed == "nvd":
                repo.store_cvss(parse_nvd(opened.chunks(), header))
            else:
                repo.store_epss(parse_epss(opened.lines(), header))
            if header.records == 0:
                raise UserError(f"{opened.label} holds no usable {feed} record "
                                f"({header.skipped} skipped); nothing was imported.")
            date = header.date or opened.modified
            repo.record_import(feed, utcnow(), self.actor, opened.label, date,
                               header.version, header.records, header.skipped)
            result = FeedImport(feed, opened.label, date, header.version, header.records,
                                header.skipped, repo.stored(feed))
            AuditRepo(db).append(self.actor, "feed.import", "feed", feed,
                                 result.to_dict())
        return result

    def published_url(self, feed: str) -> str | None:
        """Where a feed is published (what "Update now" fetches); None: no single file."""
        return FEED_URLS.get(feed)

    def status(self) -> list[FeedStatus]:
        """Every feed's last import (never imported: no import time)."""
        repo = FeedRepo(self.store.db())
        return [repo.status(feed) for feed in FEEDS]

    def max_age_days(self) -> int:
        """The policy's limit on a feed's age before it is flagged stale."""
        return self.site.risk.policy().policy.feeds_max_age_days

    def stale(self, now: datetime | None = None) -> list[FeedStatus]:
        """Imported feeds older than the policy allows (dashboard, report)."""
        now = now or utcnow()
        limit = self.max_age_days()
        return [s for s in self.status() if s.stale(now, limit)]

    def intel(self, cves: Iterable[str]) -> dict[str, CveIntel]:
        """CVSS and EPSS of CVEs (only those a feed knows)."""
        return FeedRepo(self.store.db()).intel(cves)
