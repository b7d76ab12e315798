"""Pure parsers for the output of commands PatchDesk runs on managed hosts (no I/O)."""

from app.drivers.parsers._common import ParseError

__all__ = ["ParseError"]
