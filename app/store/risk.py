"""Stored risk data: the KEV catalogue, policy versions and urgency reviews / exceptions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlite_utils import Database

from app.core.clock import utcnow
from app.core.errors import NotFoundError
from app.core.kev import KevCatalog, KevEntry
from app.core.policy import Policy, PolicyVersion
from app.core.risk import Decision, Review


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class KevImport:
    """One import of the KEV catalogue: where from, which version, what changed."""

    id: int
    imported_at: datetime
    actor: str
    source: str
    title: str
    catalog_version: str
    date_released: str
    entries: int
    added: int
    removed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "imported_at": self.imported_at.isoformat(),
                "actor": self.actor, "source": self.source, "title": self.title,
                "catalog_version": self.catalog_version,
                "date_released": self.date_released, "entries": self.entries,
                "added": self.added, "removed": self.removed}


class KevRepo:
    """The site's copy of the KEV catalogue (replaced as a whole on every import)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def replace(self, catalog: KevCatalog, source: str, actor: str) -> KevImport:
        """Store a catalogue in place of the previous one and record the import."""
        old = {r[0] for r in self.db.execute("SELECT cve_id FROM kev_entries")}
        new = {e.cve_id for e in catalog.entries}
        self.db.execute("DELETE FROM kev_entries")
        self.db.conn.executemany(
            "INSERT INTO kev_entries (cve_id, vendor_project, product, name, date_added, "
            "short_description, required_action, due_date, ransomware, notes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(e.cve_id, e.vendor_project, e.product, e.name,
              e.date_added.isoformat() if e.date_added else None, e.short_description,
              e.required_action, e.due_date.isoformat() if e.due_date else None,
              int(e.ransomware), e.notes) for e in catalog.entries])
        now = utcnow()
        cursor = self.db.execute(
            "INSERT INTO kev_imports (imported_at, actor, source, title, catalog_version, "
            "date_released, entries, added, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [now.isoformat(), actor, source, catalog.title, catalog.version, catalog.released,
             len(new), len(new - old), len(old - new)])
        return KevImport(int(cursor.lastrowid or 0), now, actor, source, catalog.title,
                         catalog.version, catalog.released, len(new), len(new - old),
                         len(old - new))

    def entries(self) -> dict[str, KevEntry]:
        """The catalogue by CVE id."""
        return {r["cve_id"]: KevEntry(
            cve_id=r["cve_id"], vendor_project=r["vendor_project"], product=r["product"],
            name=r["name"], date_added=_d(r["date_added"]),
            short_description=r["short_description"], required_action=r["required_action"],
            due_date=_d(r["due_date"]), ransomware=bool(r["ransomware"]), notes=r["notes"])
            for r in self.db.query("SELECT * FROM kev_entries")}

    def last_import(self) -> KevImport | None:
        """The newest import, or None when the catalogue was never imported."""
        rows = list(self.db.query("SELECT * FROM kev_imports ORDER BY id DESC LIMIT 1"))
        if not rows:
            return None
        r = rows[0]
        return KevImport(r["id"], datetime.fromisoformat(r["imported_at"]), r["actor"],
                         r["source"], r["title"], r["catalog_version"], r["date_released"],
                         r["entries"], r["added"], r["removed"])


class PolicyRepo:
    """Every saved version of the patch policy (append-only)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def current(self) -> PolicyVersion:
        """The newest version, or version 0 (the built-in defaults) when none was saved."""
        rows = list(self.db.query(
            "SELECT * FROM policy_versions ORDER BY version DESC LIMIT 1"))
        return _version(rows[0]) if rows else PolicyVersion(0, Policy(), "PatchDesk defaults")

    def get(self, version: int) -> PolicyVersion:
        """One version (0: the built-in defaults).

        Raises:
            NotFoundError: no such version.
        """
        if version == 0:
            return PolicyVersion(0, Policy(), "PatchDesk defaults")
        rows = list(self.db.query("SELECT * FROM policy_versions WHERE version = ?",
                                  [version]))
        if not rows:
            raise NotFoundError(f"There is no policy version {version}.")
        return _version(rows[0])

    def history(self) -> list[PolicyVersion]:
        """Every saved version, newest first."""
        return [_version(r) for r in self.db.query(
            "SELECT * FROM policy_versions ORDER BY version DESC")]

    def add(self, policy: Policy, author: str, note: str = "") -> PolicyVersion:
        """Save a new version (numbered one past the newest)."""
        number = int(self.db.execute(
            "SELECT coalesce(max(version), 0) FROM policy_versions").fetchone()[0]) + 1
        now = utcnow()
        self.db.execute(
            "INSERT INTO policy_versions (version, created_at, author, note, data) "
            "VALUES (?, ?, ?, ?, ?)",
            [number, now.isoformat(), author, note, json.dumps(policy.to_dict(),
                                                                sort_keys=True)])
        return PolicyVersion(number, policy, author, now, note)


def _version(row: dict[str, Any]) -> PolicyVersion:
    return PolicyVersion(row["version"], Policy.from_dict(json.loads(row["data"])),
                         row["author"], datetime.fromisoformat(row["created_at"]), row["note"])


class ReviewRepo:
    """Urgency reviews and exceptions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, review: Review, actor: str) -> Review:
        """Store a new review; return it with its id."""
        cursor = self.db.execute(
            "INSERT INTO urgency_reviews (decision, asset_id, host, package, cve, reason, "
            "decided_by, created_at, until, planned, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [str(review.decision), review.asset_id, review.host, review.package, review.cve,
             review.reason, review.decided_by, review.created_at.isoformat(),
             review.until.isoformat() if review.until else None,
             review.planned.isoformat() if review.planned else None, actor])
        return self.get(int(cursor.lastrowid or 0))

    def get(self, review_id: int) -> Review:
        """One review.

        Raises:
            NotFoundError: no such review.
        """
        rows = list(self.db.query("SELECT * FROM urgency_reviews WHERE id = ?", [review_id]))
        if not rows:
            raise NotFoundError(f"There is no review or exception {review_id}.")
        return _review(rows[0])

    def all(self, decision: Decision | None = None) -> list[Review]:
        """Reviews, oldest first (optionally of one decision)."""
        if decision is None:
            rows = self.db.query("SELECT * FROM urgency_reviews ORDER BY id")
        else:
            rows = self.db.query("SELECT * FROM urgency_reviews WHERE decision = ? "
                                 "ORDER BY id", [str(decision)])
        return [_review(r) for r in rows]

    def end(self, review_id: int, at: datetime, by: str) -> Review:
        """End an exception now (it stops covering its update)."""
        self.db.execute("UPDATE urgency_reviews SET ended_at = ?, ended_by = ? WHERE id = ?",
                        [at.isoformat(), by, review_id])
        return self.get(review_id)


def _review(row: dict[str, Any]) -> Review:
    return Review(
        decision=Decision(row["decision"]), reason=row["reason"],
        decided_by=row["decided_by"], created_at=datetime.fromisoformat(row["created_at"]),
        package=row["package"], cve=row["cve"], asset_id=row["asset_id"], host=row["host"],
        until=_d(row["until"]), planned=_d(row["planned"]), ended_at=_t(row["ended_at"]),
        ended_by=row["ended_by"], id=row["id"])
