"""Stored schedules of the background runner (table ``schedules``, migration 0013)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlite_utils import Database

from app.core.errors import NotFoundError
from app.core.schedule import JobKind, Schedule
from app.store.db import utcnow


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _row(row: dict[str, Any]) -> Schedule:
    return Schedule(id=int(row["id"]), kind=JobKind(row["kind"]), arg=row["arg"],
                    spec=row["spec"], next_run=_dt(row["next_run"]),
                    last_run=_dt(row["last_run"]), last_status=row["last_status"],
                    last_result=row["last_result"], enabled=bool(row["enabled"]),
                    created_by=row["created_by"])


class ScheduleRepo:
    """Add, list, change and claim scheduled jobs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, kind: JobKind, arg: str, spec: str, next_run: datetime | None,
            by: str) -> Schedule:
        """Store a new schedule."""
        cur = self.db.execute(
            "INSERT INTO schedules (kind, arg, spec, next_run, created_by, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [str(kind), arg, spec, _ts(next_run), by, utcnow().isoformat()])
        return self.get(int(cur.lastrowid or 0))

    def get(self, schedule_id: int) -> Schedule:
        """One schedule.

        Raises:
            NotFoundError: no such schedule.
        """
        rows = list(self.db.query("SELECT * FROM schedules WHERE id = ?", [schedule_id]))
        if not rows:
            raise NotFoundError(f"There is no schedule {schedule_id}.")
        return _row(rows[0])

    def all(self) -> list[Schedule]:
        """Every schedule, by id."""
        return [_row(r) for r in self.db.query("SELECT * FROM schedules ORDER BY id")]

    def update(self, schedule_id: int, **fields: Any) -> Schedule:
        """Change a schedule's spec, argument, next run or enabled flag."""
        allowed = {"arg", "spec", "next_run", "enabled"}
        values = {k: (_ts(v) if isinstance(v, datetime) else v) for k, v in fields.items()
                  if k in allowed}
        if values:
            sets = ", ".join(f"{k} = ?" for k in values)
            self.db.execute(f"UPDATE schedules SET {sets} WHERE id = ?",
                            [*values.values(), schedule_id])
        return self.get(schedule_id)

    def remove(self, schedule_id: int) -> Schedule:
        """Delete a schedule (returns it as it was)."""
        gone = self.get(schedule_id)
        self.db.execute("DELETE FROM schedules WHERE id = ?", [schedule_id])
        return gone

    def claim(self, schedule: Schedule, next_run: datetime | None) -> bool:
        """Move a due schedule's next run on, unless another runner already did (two
        ``run-due`` started at once never run the same job twice)."""
        cur = self.db.execute(
            "UPDATE schedules SET next_run = ? WHERE id = ? AND next_run IS ?",
            [_ts(next_run), schedule.id, _ts(schedule.next_run)])
        return cur.rowcount == 1

    def finished(self, schedule_id: int, at: datetime, status: str, result: str) -> None:
        """Record how a run ended."""
        self.db.execute("UPDATE schedules SET last_run = ?, last_status = ?, last_result = ? "
                        "WHERE id = ?", [_ts(at), status, result[:4000], schedule_id])
