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
