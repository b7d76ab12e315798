"""The site's changelog/CVE cache: what each (source package, candidate version)'s
changelog says, fetched once and reused for every host (see app/drivers/changelogs.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.core.changelogs import ChangelogEntry, ChangelogInfo, ChangelogKey
from app.store.db import SiteDB

#: Keys per SELECT (SQLite's default host-parameter limit is 999 or 32766).
_CHUNK = 400


class ChangelogCache:
    """:class:`app.drivers.changelogs.ChangelogStore` on a site file; safe to use from
    the assessment's worker threads (each uses its own connection)."""

    def __init__(self, store: SiteDB) -> None:
        self.store = store

    def get_changelogs(self, keys: Sequence[ChangelogKey]) -> dict[ChangelogKey, ChangelogInfo]:
        """The cached changelogs among ``keys``."""
        out: dict[ChangelogKey, ChangelogInfo] = {}
        db = self.store.db()
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            where = " OR ".join(["(package = ? AND version = ?)"] * len(chunk))
            params = [v for k in chunk for v in (k.package, k.version)]
            for row in db.query(f"SELECT * FROM changelog_cache WHERE {where}", params):
                info = _info(row)
                out[info.key] = info
        return out

    def put_changelogs(self, infos: Sequence[ChangelogInfo]) -> None:
        """Cache fetched changelogs (a row of the same key is replaced)."""
        with self.store.atomic() as db:
            db.conn.executemany(
                "INSERT OR REPLACE INTO changelog_cache (package, version, status, entries, "
                "fetched_at) VALUES (?, ?, ?, ?, ?)",
                [(i.key.package, i.key.version, i.status,
                  json.dumps([[e.version, e.urgency, list(e.cves), e.security]
                              for e in i.entries]),
                  i.fetched_at.isoformat()) for i in infos])

    def count(self) -> int:
        """Cached changelogs."""
        return int(self.store.db().execute("SELECT count(*) FROM changelog_cache").fetchone()[0])


def _info(row: dict[str, Any]) -> ChangelogInfo:
    entries = tuple(ChangelogEntry(str(v), str(u), tuple(str(c) for c in cves), bool(sec))
                    for v, u, cves, sec in json.loads(row["entries"]))
    return ChangelogInfo(ChangelogKey(row["package"], row["version"]), row["status"], entries,
                         datetime.fromisoformat(row["fetched_at"]))
