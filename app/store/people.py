"""Named people and their PIN hashes ([12].8)."""

from __future__ import annotations

from sqlite_utils import Database

from app.store.db import utcnow


class PersonRepo:
    """The ``people`` table: one row per named person."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str, pin_hash: str, actor: str) -> None:
        self.db.execute("INSERT INTO people (name, pin_hash, created_at, created_by) "
                        "VALUES (?, ?, ?, ?)", [name, pin_hash, utcnow().isoformat(), actor])

    def set_pin(self, name: str, pin_hash: str) -> None:
        self.db.execute("UPDATE people SET pin_hash = ? WHERE name = ?", [pin_hash, name])

    def pin_hash(self, name: str) -> str | None:
        row = self.db.execute("SELECT pin_hash FROM people WHERE name = ?", [name]).fetchone()
        return str(row[0]) if row else None

    def names(self) -> list[str]:
        return [str(r[0]) for r in self.db.execute("SELECT name FROM people ORDER BY name")]


class IdentityConflictRepo:
    """Identity conflicts between assets (a MAC address claimed by two), for a person."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, asset_id: int, other_asset_id: int, mac: str, source: str) -> bool:
        """Record a conflict; False when it was already recorded and open."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO identity_conflicts (asset_id, other_asset_id, mac, source, "
            "detected_at) VALUES (?, ?, ?, ?, ?)",
            [asset_id, other_asset_id, mac, source, utcnow().isoformat()])
        return bool(cursor.rowcount)

    def open_for(self, asset_id: int) -> list[dict[str, object]]:
        """The unresolved conflicts an asset is part of (either side)."""
        rows = self.db.execute(
            "SELECT id, asset_id, other_asset_id, mac, source, detected_at FROM "
            "identity_conflicts WHERE resolved_at IS NULL AND (asset_id = ? OR "
            "other_asset_id = ?) ORDER BY id", [asset_id, asset_id]).fetchall()
        return [{"id": r[0], "claimed_by": r[1],
                 "other_asset_id": r[2] if r[1] == asset_id else r[1],
                 "mac": r[3], "source": r[4], "detected_at": r[5]} for r in rows]

    def open_all(self) -> list[dict[str, object]]:
        """Every unresolved conflict: id, claimed_by (A, the host that reported the MAC
        address), owner (B, the asset that had it), mac, source, detected_at."""
        rows = self.db.execute(
            "SELECT id, asset_id, other_asset_id, mac, source, detected_at FROM "
            "identity_conflicts WHERE resolved_at IS NULL ORDER BY id").fetchall()
        return [{"id": r[0], "claimed_by": r[1], "owner": r[2], "mac": r[3], "source": r[4],
                 "detected_at": r[5]} for r in rows]

    def get(self, conflict_id: int) -> dict[str, object] | None:
        """One conflict (resolved or not) as :meth:`open_all` gives it, plus resolved_at."""
        row = self.db.execute(
            "SELECT id, asset_id, other_asset_id, mac, source, detected_at, resolved_at "
            "FROM identity_conflicts WHERE id = ?", [conflict_id]).fetchone()
        if row is None:
            return None
        return {"id": row[0], "claimed_by": row[1], "owner": row[2], "mac": row[3],
                "source": row[4], "detected_at": row[5], "resolved_at": row[6]}

    def resolve(self, conflict_id: int) -> None:
        """Mark a conflict resolved (the decision itself is in the audit log)."""
        self.db.execute("UPDATE identity_conflicts SET resolved_at = ? WHERE id = ?",
                        [utcnow().isoformat(), conflict_id])
