"""Generated reports: when each was made, for which period, and its key figures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlite_utils import Database


@dataclass(frozen=True, slots=True)
class ReportRun:
    """One generated report and the figures the next report's trend compares to."""

    generated_at: datetime
    actor: str = ""
    period_from: date | None = None
    period_to: date | None = None
    sections: tuple[str, ...] = ()
    figures: dict[str, Any] = field(default_factory=dict)
    file: str = ""
    id: int | None = None


class ReportRepo:
    """The report history of one site."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, run: ReportRun) -> ReportRun:
        """Record a generated report; returns it with its id."""
        cursor = self.db.execute(
            "INSERT INTO report_runs (generated_at, actor, period_from, period_to, sections, "
            "figures, file) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run.generated_at.isoformat(), run.actor,
             run.period_from.isoformat() if run.period_from else None,
             run.period_to.isoformat() if run.period_to else None,
             json.dumps(list(run.sections)), json.dumps(run.figures, sort_keys=True),
             run.file])
        return ReportRun(run.generated_at, run.actor, run.period_from, run.period_to,
                         run.sections, run.figures, run.file, int(cursor.lastrowid or 0))

    def all(self) -> list[ReportRun]:
        """Every generated report, oldest first."""
        return [_run(r) for r in self.db.query("SELECT * FROM report_runs ORDER BY id")]


def _run(row: dict[str, Any]) -> ReportRun:
    return ReportRun(
        generated_at=datetime.fromisoformat(row["generated_at"]),
        actor=row["actor"],
        period_from=date.fromisoformat(row["period_from"]) if row["period_from"] else None,
        period_to=date.fromisoformat(row["period_to"]) if row["period_to"] else None,
        sections=tuple(json.loads(row["sections"])),
        figures=dict(json.loads(row["figures"])),
        file=row["file"],
        id=row["id"],
    )
