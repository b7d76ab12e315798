"""Flat text records of assets for CSV/JSON import and export, and column-name mapping.

A record is a ``{column: text}`` dict. Lists are joined with ``;``, dates are ISO, booleans
are ``yes``/``no``. Export then import gives back an equal asset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.core.errors import FieldError, ValidationError
from app.core.models import (
    EDITABLE_FIELDS,
    Asset,
    AssetKind,
    DataSensitivity,
    Impact,
    OsFamily,
    Ring,
    parse_os,
)
from app.core.validate import parse_date

#: Columns written by CSV export, in order (every field a person can edit, plus seen times).
RECORD_COLUMNS: tuple[str, ...] = (
    "id",
    "hostname",
    "ips",
    "macs",
    *(name for name in EDITABLE_FIELDS if name not in ("hostname", "ips", "macs")),
    "first_seen",
    "last_seen",
)

#: Columns an import may fill (id and seen times are the inventory's own).
IMPORTABLE_COLUMNS: tuple[str, ...] = (*RECORD_COLUMNS[1:-2], "os")

#: Header names other tools use, normalised (lower case, no punctuation) → our column.
HEADER_SYNONYMS: dict[str, str] = {
    "host": "hostname",
    "hostname": "hostname",
    "name": "hostname",
    "computername": "hostname",
    "devicename": "hostname",
    "machine": "hostname",
    "fqdn": "hostname",
    "ip": "ips",
    "ips": "ips",
    "ipaddress": "ips",
    "ipaddresses": "ips",
    "ipv4": "ips",
    "address": "ips",
    "mac": "macs",
    "macs": "macs",
    "macaddress": "macs",
    "macaddresses": "macs",
    "os": "os",
    "operatingsystem": "os",
    "osfamily": "os_family",
    "osname": "os_name",
    "osversion": "os_version",
    "version": "os_version",
    "osbuild": "os_build",
    "build": "os_build",
    "revision": "os_build",
    "revisionlevel": "os_build",
    "type": "kind",
    "kind": "kind",
    "devicetype": "kind",
    "manufacturer": "manufacturer",
    "make": "manufacturer",
    "model": "model",
    "serial": "serial",
    "serialnumber": "serial",
    "sn": "serial",
    "vendor": "vendor",
    "supplier": "vendor",
    "ordernumber": "order_number",
    "po": "order_number",
    "purchaseorder": "order_number",
    "purchasedate": "purchase_date",
    "purchased": "purchase_date",
    "warranty": "warranty_end",
    "warrantyend": "warranty_end",
    "warrantyexpires": "warranty_end",
    "warrantyexpiry": "warranty_end",
    "support": "support_contact",
    "supportcontact": "support_contact",
    "location": "location",
    "site": "location",
    "room": "location",
    "owner": "owner",
    "user": "owner",
    "assignedto": "owner",
    "tags": "tags",
    "groups": "tags",
    "ring": "ring",
    "impact": "impact",
    "criticality": "impact",
    "datasensitivity": "data_sensitivity",
    "data": "data_sensitivity",
    "criticaloperations": "critical_operations",
    "publicfacing": "public_facing",
    "internetfacing": "internet_facing",
    "notes": "notes",
    "comment": "notes",
    "comments": "notes",
    "description": "notes",
}

_TRUE = {"yes", "y", "true", "1", "x", "on"}
_FALSE = {"no", "n", "false", "0", "", "off"}


def normalise_header(header: str) -> str:
    """Lower-case a header and drop everything but letters and digits."""
    return re.sub(r"[^a-z0-9]", "", header.lower())


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """Guess which of our columns each CSV header fills; unknown headers are left out."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        target = HEADER_SYNONYMS.get(normalise_header(header))
        if target is None and header in IMPORTABLE_COLUMNS:
            target = header
        if target and target not in used:
            mapping[header] = target
            used.add(target)
    return mapping


def asset_to_record(asset: Asset) -> dict[str, str]:
    """Flatten an asset into text columns (see :data:`RECORD_COLUMNS`)."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, tuple):
            return ";".join(str(v) for v in value)
        if hasattr(value, "isoformat"):
            return str(value.isoformat())
        return str(value)

    return {col: text(getattr(asset, col)) for col in RECORD_COLUMNS}


def _parse_bool(field: str, value: str, errors: list[FieldError]) -> bool:
    key = value.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    errors.append(FieldError(field, f"'{value}' is not yes/no"))
    return False


def _split(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in re.split(r"[;,|\n]+", value) if p.strip())


def record_to_asset(record: dict[str, str], base: Asset | None = None) -> Asset:
    """Build (or update ``base`` with) an asset from text columns, validating every field.

    Only columns present in ``record`` are applied. Unknown columns are ignored.

    Raises:
        ValidationError: listing every bad field.
    """
    errors: list[FieldError] = []
    changes: dict[str, Any] = {}
    for col, raw in record.items():
        value = (raw or "").strip()
        if col in ("hostname", "location", "os_name", "os_version", "os_build",
                   "manufacturer", "model", "serial", "vendor", "order_number",
                   "support_contact", "owner"):
            changes[col] = value
        elif col == "notes":
            changes[col] = (raw or "").strip()
        elif col in ("ips", "macs", "tags"):
            changes[col] = _split(value)
        elif col == "os":
            if value:
                family, name, version = parse_os(value)
                changes.setdefault("os_family", family)
                changes.setdefault("os_name", name)
                changes.setdefault("os_version", version)
        elif col in ("purchase_date", "warranty_end"):
            try:
                changes[col] = parse_date(value)
            except ValueError as exc:
                errors.append(FieldError(col, str(exc)))
        elif col in ("critical_operations", "public_facing", "internet_facing"):
            changes[col] = _parse_bool(col, value, errors)
        elif col == "data_sensitivity":
            items = []
            for item in _split(value):
                try:
                    items.append(DataSensitivity.parse(item))
                except ValueError as exc:
                    errors.append(FieldError(col, str(exc)))
            changes[col] = tuple(items)
        elif col in _ENUMS:
            enum_cls, default = _ENUMS[col]
            try:
                changes[col] = enum_cls.parse(value) if value else default
            except ValueError as exc:
                errors.append(FieldError(col, str(exc)))
    if errors:
        raise ValidationError(errors)
    asset = (base or Asset()).with_changes(**changes)
    return asset.normalized()


_ENUMS: dict[str, tuple[Any, Any]] = {
    "os_family": (OsFamily, OsFamily.UNKNOWN),
    "kind": (AssetKind, AssetKind.UNKNOWN),
    "ring": (Ring, Ring.NONE),
    "impact": (Impact, Impact.LOW),
}


@dataclass(frozen=True, slots=True)
class RowError:
    """A CSV row that was not imported and why (row numbers count the header as row 1)."""

    row: int
    errors: tuple[FieldError, ...]

    def __str__(self) -> str:
        return f"row {self.row}: " + "; ".join(str(e) for e in self.errors)
