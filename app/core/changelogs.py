"""What a package version's own changelog says, reduced to what classification needs
(filled by the apt driver, cached per site by the store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class ChangelogEntry:
    """What one changelog entry says that matters for classification.

    Attributes:
        version: the entry's version.
        urgency: its ``urgency=`` value, lower case ("" when absent).
        cves: CVE ids it names, in order of first mention.
        security: its text uses security-fix wording.
    """

    version: str
    urgency: str = ""
    cves: tuple[str, ...] = ()
    security: bool = False


@dataclass(frozen=True, slots=True, order=True)
class ChangelogKey:
    """What identifies one changelog: the source package (the binary's name when the
    source is unknown) and the candidate version."""

    package: str
    version: str


@dataclass(frozen=True, slots=True)
class ChangelogInfo:
    """One fetched changelog.

    Attributes:
        status: ``ok``; ``none`` (the package ships no changelog); ``unreadable``.
        entries: newest first.
    """

    key: ChangelogKey
    status: str
    entries: tuple[ChangelogEntry, ...] = ()
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
