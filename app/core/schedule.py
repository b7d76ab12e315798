"""Scheduled jobs for the background runner (pure): what runs, when it is next due.

A schedule is a job kind with its argument (``scan 10.0.0.0/24``, ``assess ring:test``,
``deploy 12``, ``report``, ``feed refresh``) and a spec: ``Sat 22:00`` (weekly),
``daily 02:00``, ``mon-fri 06:30`` or ``in the window`` (when one of the patch policy's
maintenance windows next opens). ``patchdesk run-due``, started by the OS's own scheduler,
runs whatever is due; there is no PatchDesk daemon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from app.core.models import StrEnum
from app.core.policy import MaintenanceWindow, parse_selector

IN_WINDOW = "in the window"
_SPEC = re.compile(r"^\s*(?P<days>[a-z,\s-]+?)\s+(?P<at>\d{1,2}:\d{2})\s*$", re.IGNORECASE)
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class JobKind(StrEnum):
    """What a schedule runs."""

    SCAN = "scan"  # argument: an IP range
    ASSESS = "assess"  # argument: an asset selector
    DEPLOY = "deploy"  # argument: a planned deployment's id
    REPORT = "report"  # argument: the output file (.pdf/.html), optional
    FEED_REFRESH = "feed-refresh"  # argument: the KEV catalogue's file or URL


@dataclass(frozen=True, slots=True)
class Schedule:
    """One scheduled job and what happened the last time it ran."""

    id: int
    kind: JobKind
    arg: str
    spec: str
    next_run: datetime | None = None
    last_run: datetime | None = None
    last_status: str = ""  # "ok" | "failed" | ""
    last_result: str = ""
    enabled: bool = True
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "kind": str(self.kind), "arg": self.arg, "spec": self.spec,
                "next_run": self.next_run.isoformat() if self.next_run else None,
                "last_run": self.last_run.isoformat() if self.last_run else None,
                "last_status": self.last_status, "last_result": self.last_result,
                "enabled": self.enabled, "created_by": self.created_by}


def parse_kind(text: str) -> JobKind:
    """A job kind from ``scan``, ``assess``, ``deploy``, ``report``, ``feed refresh``.

    Raises:
        ValueError: naming the kinds.
    """
    value = "-".join(text.strip().lower().split())
    try:
        return JobKind(value)
    except ValueError:
        raise ValueError(f"'{text}' is not a job kind (scan, assess, deploy, report, "
                         "feed refresh)") from None


def check_arg(kind: JobKind, arg: str) -> str:
    """The job's argument, checked for its kind.

    Raises:
        ValueError: a missing or malformed argument.
    """
    arg = arg.strip()
    if kind is JobKind.SCAN and not arg:
        raise ValueError("a scan needs an IP range (e.g. 192.168.1.0/24)")
    if kind is JobKind.ASSESS:
        parse_selector(arg or "all")
        return arg or "all"
    if kind is JobKind.DEPLOY and not arg.lstrip("#").isdigit():
        raise ValueError("a scheduled deployment needs the id of a planned deployment")
    return arg.lstrip("#") if kind is JobKind.DEPLOY else arg


def parse_spec(text: str) -> str:
    """Normalise a schedule spec: ``Sat 22:00``, ``daily 02:00``, ``mon-fri 06:30``,
    ``sat,sun 03:00`` or ``in the window``.

    Raises:
        ValueError: saying what is accepted.
    """
    value = " ".join(text.strip().lower().split())
    if value in (IN_WINDOW, "window", "in window"):
        return IN_WINDOW
    m = _SPEC.fullmatch(value)
    if not m:
        raise ValueError(f"'{text}' is not a schedule (e.g. 'Sat 22:00', 'daily 02:00', "
                         "'mon-fri 06:30', 'in the window')")
    # A window's day syntax, one minute long: reuse its parser for the days.
    window = MaintenanceWindow.parse(f"{m['days']} {m['at']}-{_plus_minute(m['at'])}")
    return f"{_days_text(window.days)} {window.start:%H:%M}"


def _plus_minute(at: str) -> str:
    t = time.fromisoformat(f"{at:0>5}")
    return f"{(t.hour * 60 + t.minute + 1) % 1440 // 60:02d}:{(t.minute + 1) % 60:02d}"


def _days_text(days: tuple[int, ...]) -> str:
    if len(days) == 7:
        return "daily"
    return ",".join(_DAY_NAMES[d].capitalize() for d in days)


def next_run(spec: str, after: datetime,
             windows: tuple[MaintenanceWindow, ...] = ()) -> datetime | None:
    """When a schedule is next due, strictly after ``after`` (local time). ``in the
    window``: when one of the policy's windows next opens (None without windows)."""
    if spec == IN_WINDOW:
        if not windows:
            return None
        later = after + timedelta(minutes=1)
        starts = []
        for w in windows:
            opens = w.next_open(later)
            if opens == later:  # open now: the next opening after this one
                closes = w.closes_at(later)
                opens = w.next_open(closes) if closes else later
            starts.append(opens)
        return min(starts)
    days_text, _, at = spec.rpartition(" ")
    window = MaintenanceWindow.parse(f"{days_text} {at}-{_plus_minute(at)}")
    candidate = window.next_open(after + timedelta(seconds=1))
    if candidate != after + timedelta(seconds=1):
        return candidate
    return window.next_open(window.closes_at(candidate) or candidate)
