"""The error types of PatchDesk, split into what a user can fix and what is our bug."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class PatchDeskError(Exception):
    """Base of every error PatchDesk raises on purpose."""


class UserError(PatchDeskError):
    """Something the user can fix (bad input, wrong file, disk full, host down...).

    The message is shown as-is in the GUI and printed as one line by the CLI.
    """


class NotFoundError(UserError):
    """A named object (asset, site, credential...) does not exist."""


class SiteFileError(UserError):
    """A site file cannot be used: not a PatchDesk site, damaged, too new or locked.

    ``backup``: for a damaged site, its newest backup copy (a path) when one exists.
    """

    backup: Path | None = None


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: which one and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationError(UserError):
    """One or more fields are invalid; nothing was written."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors) or "invalid input")
