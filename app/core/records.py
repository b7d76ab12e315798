"""Flat text records of assets for CSV/JSON import and export, and column-name mapping.

A record is a ``{column: text}`` dict. Lists are joined with ``;``, dates are ISO, booleans
are ``yes``/``no``. Export then import gives back an equal asset.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
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

#: Columns an import may fill (id and seen times are the inventory's own). Besides the
#: record columns: ``os`` (one line such as "Windows Server 2019") and ``category`` (another
#: tool's device type or category: a known word sets the kind, anything else becomes a
#: tag). ``warranty_end`` also takes a number of months, counted from the purchase date.
IMPORTABLE_COLUMNS: tuple[str, ...] = (*RECORD_COLUMNS[1:-2], "os", "category")

#: Header names other tools use, normalised (lower case, no punctuation) → our column.
#: Besides generic names, this covers the exports of PDQ Inventory, Lansweeper, Microsoft
#: Intune and Snipe-IT (tests/data/csv/*/NOTES.md says where each header comes from).
HEADER_SYNONYMS: dict[str, str] = {
    "host": "hostname",
    "assetname": "hostname",
    "itemname": "hostname",
    "computer": "hostname",
    "machinename": "hostname",
    "wifimac": "macs",
    "ethernetmac": "macs",
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
    "type": "category",
    "kind": "kind",
    "devicetype": "category",
    "category": "category",
    "assettype": "category",
    "assettypename": "category",
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
    "warrantymonths": "warranty_end",
    "warrantyend": "warranty_end",
    "warrantyenddate": "warranty_end",
    "warrantyexpires": "warranty_end",
    "warrantyexpiry": "warranty_end",
    "warrantyexpiration": "warranty_end",
    "warrantyexpirationdate": "warranty_end",
    "warrantydate": "warranty_end",
    "support": "support_contact",
    "supportcontact": "support_contact",
    "location": "location",
    "site": "location",
    "room": "location",
    "owner": "owner",
    "user": "owner",
    "assignedto": "owner",
    "checkedoutto": "owner",
    "username": "owner",
    "currentuser": "owner",
    "computercurrentusername": "owner",
    "lastuser": "owner",
    "lastloggedonuser": "owner",
    "lastlogonuser": "owner",
    "primaryuser": "owner",
    "primaryuserupn": "owner",
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

#: A warranty given as a number of months (Snipe-IT's "36 months"), not an end date.
_MONTHS = re.compile(r"^(\d{1,3})\s*(?:months?|mos?\.?)?$", re.IGNORECASE)

_TRUE = {"yes", "y", "true", "1", "x", "on"}
_FALSE = {"no", "n", "false", "0", "", "off"}


def normalise_header(header: str) -> str:
    """Lower-case a header and drop everything but letters and digits."""
    return re.sub(r"[^a-z0-9]", "", header.lower())


#: Vague headers that fill a column only when no more specific header does (Snipe-IT
#: exports both "Warranty", in months, and "Warranty Expires", a date).
WEAK_HEADERS = frozenset({"warranty", "warrantymonths"})


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """Guess which of our columns each CSV header fills; unknown headers are left out.

    Each of our columns is filled from one header: the first that names it, a vague one
    (:data:`WEAK_HEADERS`) only if nothing else does.
    """
    mapping: dict[str, str] = {}
    used: set[str] = set()
    ordered = [h for h in headers if normalise_header(h) not in WEAK_HEADERS] + \
        [h for h in headers if normalise_header(h) in WEAK_HEADERS]
    for header in ordered:
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
    category: tuple[AssetKind | None, str] | None = None
    warranty_months: int | None = None  # "36 months" in the warranty_end column
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
        elif col == "category":
            category = parse_category(value) if value else None
        elif col == "warranty_end" and (months := _MONTHS.match(value)):
            warranty_months = int(months[1])
        elif col == "os":
            if value:
                family, name, version = parse_os(expand_os_text(value))
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
    start = changes.get("purchase_date", base.purchase_date if base else None)
    if warranty_months is not None and start is not None:
        # Without a purchase date there is nothing to count the months from.
        changes["warranty_end"] = add_months(start, warranty_months)
    if category is not None:
        kind, tag = category
        if kind is not None:
            changes.setdefault("kind", kind)
        if tag:
            tags = changes.get("tags", base.tags if base else ())
            if tag.lower() not in (t.lower() for t in tags):
                changes["tags"] = (*tags, tag)
    current = base or Asset()
    if "os_name" in changes and "os_family" not in changes and current.os_family in (
            OsFamily.UNKNOWN, OsFamily.OTHER):
        family = parse_os(expand_os_text(changes["os_name"]))[0]
        if family is not OsFamily.OTHER:
            changes["os_family"] = family
    if errors:
        raise ValidationError(errors)
    asset = current.with_changes(**changes)
    if "kind" not in record and "kind" not in changes and asset.kind is AssetKind.UNKNOWN:
        guess = guess_kind(asset)
        if guess is not AssetKind.UNKNOWN:
            asset = asset.with_changes(kind=guess)
    return asset.normalized()


#: Words other tools use for a device's type or category (singular, lower case) → our kind;
#: None: "a computer", whose kind is then guessed from its OS and model.
CATEGORY_KINDS: dict[str, AssetKind | None] = {
    "laptop": AssetKind.LAPTOP, "notebook": AssetKind.LAPTOP,
    "desktop": AssetKind.WORKSTATION, "workstation": AssetKind.WORKSTATION,
    "pc": AssetKind.WORKSTATION,
    "server": AssetKind.SERVER, "esxi server": AssetKind.SERVER,
    "vmware guest": AssetKind.VIRTUAL_MACHINE, "hyper-v guest": AssetKind.VIRTUAL_MACHINE,
    "virtual machine": AssetKind.VIRTUAL_MACHINE, "vm": AssetKind.VIRTUAL_MACHINE,
    "printer": AssetKind.PRINTER,
    "switch": AssetKind.NETWORK_DEVICE, "router": AssetKind.NETWORK_DEVICE,
    "firewall": AssetKind.NETWORK_DEVICE, "wireless access point": AssetKind.NETWORK_DEVICE,
    "access point": AssetKind.NETWORK_DEVICE, "networking": AssetKind.NETWORK_DEVICE,
    "network device": AssetKind.NETWORK_DEVICE,
    "nas": AssetKind.STORAGE, "san": AssetKind.STORAGE, "storage": AssetKind.STORAGE,
    "mobile phone": AssetKind.PHONE_TABLET, "mobile": AssetKind.PHONE_TABLET,
    "phone": AssetKind.PHONE_TABLET, "smartphone": AssetKind.PHONE_TABLET,
    "tablet": AssetKind.PHONE_TABLET, "iphone": AssetKind.PHONE_TABLET,
    "ipad": AssetKind.PHONE_TABLET, "android": AssetKind.PHONE_TABLET,
    "camera": AssetKind.IOT, "iot": AssetKind.IOT,
    "windows": None, "linux": None, "unix": None, "apple mac": None, "mac": None,
    "computer": None,
}


def parse_category(text: str) -> tuple[AssetKind | None, str]:
    """Read another tool's device type or category: (kind or None, tag to add or "").

    A known word ("Laptops", "VMware Guest", "Windows") gives a kind (None for a plain
    computer, whose kind is guessed from its OS); anything else is kept as a tag.
    """
    value = " ".join(text.split())
    key = value.lower()
    for word in (key, key[:-2] if key.endswith("es") else key, key.rstrip("s")):
        if word in CATEGORY_KINDS:
            return CATEGORY_KINDS[word], ""
    try:
        kind = AssetKind.parse(value)
    except ValueError:
        return None, value[:100]
    return (kind if isinstance(kind, AssetKind) else None), ""


_WIN_SHORT = re.compile(r"^win(?:dows)?\s*(xp|vista|7|8\.1|8|10|11|20\d\d(?:\s*r2)?)\b(.*)$",
                        re.IGNORECASE)


def expand_os_text(text: str) -> str:
    """Expand the short OS names some inventories use: Lansweeper's "Win 2019" is
    "Windows Server 2019", "Win 11" is "Windows 11"; anything else is returned as is."""
    value = " ".join(text.split())
    m = _WIN_SHORT.match(value)
    if not m or value.lower().startswith("windows"):
        return value
    release = re.sub(r"\s*r2$", " R2", m.group(1), flags=re.IGNORECASE)
    server = release.startswith("20")
    return f"Windows {'Server ' if server else ''}{release}{m.group(2)}".strip()


_SERVER_MODELS = ("poweredge", "proliant", "primergy", "thinksystem", "system x", "xserve")
_LAPTOP_MODELS = ("book", "latitude", "thinkpad", "laptop", "notebook", "inspiron 15",
                  "precision 5", "precision 7", "xps 13", "xps 15", "surface pro")
_DESKTOP_MODELS = ("optiplex", "elitedesk", "prodesk", "thinkcentre", "imac", "mac mini",
                   "mac studio", "vostro desktop")
_VIRTUAL = ("virtual machine", "vmware", "virtualbox", "kvm", "qemu", "hvm domu")


def guess_kind(asset: Asset) -> AssetKind:
    """Guess what an asset is from its OS and model, for rows that do not say.

    "Windows Server 2022" is a server; a MacBook or ThinkPad a laptop; an OptiPlex a
    workstation; a VMware or Hyper-V "Virtual Machine" model a virtual machine; iOS and
    Android a phone or tablet; Windows 10/11 and macOS a workstation. Anything else stays
    unknown rather than guessed wrong.
    """
    os_text = f"{asset.os_name} {asset.os_version}".lower()
    model = f"{asset.manufacturer} {asset.model}".lower()
    if "server" in os_text or any(m in model for m in _SERVER_MODELS):
        return AssetKind.SERVER
    if any(v in model for v in _VIRTUAL):
        return AssetKind.VIRTUAL_MACHINE
    if re.search(r"\b(ios|ipados|android)\b", os_text):
        return AssetKind.PHONE_TABLET
    if any(m in model for m in _LAPTOP_MODELS):
        return AssetKind.LAPTOP
    if any(m in model for m in _DESKTOP_MODELS):
        return AssetKind.WORKSTATION
    if asset.os_family is OsFamily.MACOS or (
            asset.os_family is OsFamily.WINDOWS
            and re.search(r"windows\s*(xp|vista|7|8|10|11)?\b", os_text)):
        return AssetKind.WORKSTATION
    return AssetKind.UNKNOWN


def add_months(start: date, months: int) -> date:
    """``start`` plus whole months, on the same day or the month's last day (Jan 31 + 1 →
    Feb 28/29)."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


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
