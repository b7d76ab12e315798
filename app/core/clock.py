"""The one clock: the current time as the product records it (UTC, whole seconds)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time in UTC, second precision (what the store records)."""
    return datetime.now(UTC).replace(microsecond=0)
