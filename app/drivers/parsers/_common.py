"""Shared error type and small helpers for the pure output parsers."""

from __future__ import annotations

from collections.abc import Iterator

_MAX_SHOWN = 120


class ParseError(ValueError):
    """Output did not look like what the parser was written for.

    Parsers raise this instead of guessing: unknown lines that might be data, counts
    that disagree with the tool's own summary, and exit codes that contradict the
    text all end here (STYLE.md, Vuls anchor: fail loudly).

    Attributes:
        line: the offending line (truncated), or None when the problem is global.
        lineno: 1-based line number of ``line``, when known.
    """

    def __init__(self, message: str, line: str | None = None, lineno: int | None = None):
        self.line = None if line is None else truncate(line)
        self.lineno = lineno
        where = f" (line {lineno})" if lineno is not None else ""
        shown = f": {self.line!r}" if self.line is not None else ""
        super().__init__(f"{message}{where}{shown}")


def truncate(text: str, limit: int = _MAX_SHOWN) -> str:
    """Return ``text`` cut to ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(lineno, line)`` for each line of ``text`` without its line ending."""
    for i, line in enumerate(text.splitlines(), start=1):
        yield i, line.rstrip("\r")
