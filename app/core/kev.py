"""The CISA Known Exploited Vulnerabilities (KEV) catalogue: parsing and checking its JSON.

The format is CISA's own (``known_exploited_vulnerabilities.json``; schema in
https://github.com/cisagov/kev-data): a header (``title``, ``catalogVersion``,
``dateReleased``, ``count``) and ``vulnerabilities``, one object per CVE. The file comes from
the network or from a person, so it is untrusted: every entry is checked, ``count`` is
cross-checked against the list, and a file that does not fit is refused as a whole rather
than imported in part. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.core.errors import UserError

#: CVE ids as MITRE assigns them: year and a sequence of at least four digits.
CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")
#: A catalogue larger than this is not CISA's (it has ~1,500 entries, ~1.5 MB).
MAX_BYTES = 64 * 1024 * 1024


class KevFormatError(UserError):
    """The file is not a KEV catalogue in CISA's JSON format; nothing was imported."""


@dataclass(frozen=True, slots=True)
class KevEntry:
    """One known exploited vulnerability."""

    cve_id: str
    vendor_project: str = ""
    product: str = ""
    name: str = ""
    date_added: date | None = None
    short_description: str = ""
    required_action: str = ""
    due_date: date | None = None
    ransomware: bool = False  # knownRansomwareCampaignUse == "Known"
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "cve": self.cve_id, "vendor_project": self.vendor_project,
            "product": self.product, "name": self.name,
            "date_added": self.date_added.isoformat() if self.date_added else None,
            "short_description": self.short_description,
            "required_action": self.required_action,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "known_ransomware_use": self.ransomware, "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class KevCatalog:
    """A whole catalogue as published."""

    title: str
    version: str
    released: str
    entries: tuple[KevEntry, ...]

    def by_cve(self) -> dict[str, KevEntry]:
        """Entries keyed by CVE id."""
        return {e.cve_id: e for e in self.entries}


def _text(item: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = item.get(key)
    if value is None:
        if required:
            raise KevFormatError(f"KEV catalogue: {where} has no '{key}'.")
        return ""
    if not isinstance(value, str):
        raise KevFormatError(f"KEV catalogue: {where}: '{key}' is not text.")
    return value.strip()


def _date(item: Mapping[str, Any], key: str, where: str) -> date | None:
    text = _text(item, key, where)
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise KevFormatError(f"KEV catalogue: {where}: '{key}' is not a date "
                             f"({text[:40]!r}).") from None


def parse_kev(data: bytes | str) -> KevCatalog:
    """Parse and check a KEV catalogue in CISA's JSON format.

    Args:
        data: the file's content.

    Returns:
        The catalogue; duplicate CVE ids are merged (the first entry wins).

    Raises:
        KevFormatError: not JSON, not a KEV catalogue, an entry without a valid
            ``cveID``, or ``count`` disagreeing with the number of entries.
    """
    if len(data) > MAX_BYTES:
        raise KevFormatError(f"KEV catalogue: the file is {len(data) // 1_048_576} MB; "
                             "CISA's catalogue is about 1.5 MB — this is not it.")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KevFormatError(f"KEV catalogue: not JSON ({exc}).") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        raise KevFormatError("KEV catalogue: no 'vulnerabilities' list; this is not CISA's "
                             "known_exploited_vulnerabilities.json.")
    items: list[Any] = doc["vulnerabilities"]
    count = doc.get("count")
    if count is not None and (not isinstance(count, int) or count != len(items)):
        raise KevFormatError(f"KEV catalogue: 'count' says {count} but the file lists "
                             f"{len(items)} vulnerabilities; the file is truncated or altered.")
    entries: dict[str, KevEntry] = {}
    for index, item in enumerate(items):
        where = f"entry {index + 1}"
        if not isinstance(item, dict):
            raise KevFormatError(f"KEV catalogue: {where} is not an object.")
        cve = _text(item, "cveID", where, required=True).upper()
        if not CVE_ID.fullmatch(cve):
            raise KevFormatError(f"KEV catalogue: {where}: {cve[:40]!r} is not a CVE id.")
        where = f"{where} ({cve})"
        entries.setdefault(cve, KevEntry(
            cve_id=cve,
            vendor_project=_text(item, "vendorProject", where),
            product=_text(item, "product", where),
            name=_text(item, "vulnerabilityName", where),
            date_added=_date(item, "dateAdded", where),
            short_description=_text(item, "shortDescription", where),
            required_action=_text(item, "requiredAction", where),
            due_date=_date(item, "dueDate", where),
            ransomware=_text(item, "knownRansomwareCampaignUse", where).lower() == "known",
            notes=_text(item, "notes", where),
        ))
    return KevCatalog(
        title=_text(doc, "title", "header"),
        version=_text(doc, "catalogVersion", "header"),
        released=_text(doc, "dateReleased", "header"),
        entries=tuple(entries.values()),
    )


def kev_matches(cves: tuple[str, ...] | list[str], catalogue: Mapping[str, KevEntry]
                ) -> tuple[KevEntry, ...]:
    """The KEV entries of a patch's CVE ids (case-insensitive, in the patch's order)."""
    found: dict[str, KevEntry] = {}
    for cve in cves:
        entry = catalogue.get(cve.strip().upper())
        if entry is not None:
            found.setdefault(entry.cve_id, entry)
    return tuple(found.values())
