"""Identity conflicts between assets (a host reporting a MAC address another asset has):
how a person's decision folds two records into one ([12].5). Pure rules, no I/O."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from app.core.errors import UserError
from app.core.models import Asset, AssetKind, OsFamily


class Keep(StrEnum):
    """Which record a resolution keeps: A is the host that reported the MAC address, B
    the asset that had it; both: they are different machines (B keeps the address)."""

    A = "A"
    B = "B"
    BOTH = "both"


#: Text fields the kept record takes from the other one when its own is empty.
_TEXT = ("hostname", "location", "os_name", "os_version", "os_build", "manufacturer",
         "model", "serial", "vendor", "order_number", "support_contact", "owner", "notes",
         "nic_vendor")


def parse_keep(value: str) -> Keep:
    """``A``, ``B`` or ``both`` (any case).

    Raises:
        UserError: anything else.
    """
    for keep in Keep:
        if value.strip().lower() == keep.value.lower():
            return keep
    raise UserError(f"keep must be A, B or both, not {value!r}")


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))


def merged(kept: Asset, other: Asset, mac: str) -> Asset:
    """The kept record with the other's identity folded in: its addresses, MAC addresses,
    tags and open ports added, and each field the kept one leaves empty taken from it."""
    changes: dict[str, object] = {
        "ips": _union(kept.ips, other.ips),
        "macs": _union(kept.macs, (*other.macs, mac)),
        "tags": _union(kept.tags, other.tags),
        "open_ports": tuple(sorted({*kept.open_ports, *other.open_ports})),
    }
    for name in _TEXT:
        if not getattr(kept, name) and getattr(other, name):
            changes[name] = getattr(other, name)
    for name in ("purchase_date", "warranty_end"):
        if getattr(kept, name) is None and getattr(other, name) is not None:
            changes[name] = getattr(other, name)
    if kept.os_family is OsFamily.UNKNOWN:
        changes["os_family"] = other.os_family
    if kept.kind is AssetKind.UNKNOWN:
        changes["kind"] = other.kind
    return replace(kept, **changes)  # type: ignore[arg-type]


def resolution(claimant: Asset, owner: Asset, mac: str, keep: Keep,
               merge: bool) -> tuple[Asset | None, Asset | None]:
    """What a decision does: (the record to save, the record to delete), None for none.

    Keeping A (the claimant) deletes B and gives A the disputed MAC address; keeping B
    deletes A (B already has it); ``merge`` first folds the deleted record into the kept
    one. Keeping both changes no record: B keeps the address and A's claim is dismissed.

    Raises:
        UserError: ``merge`` with both kept (there is nothing to merge into).
    """
    if keep is Keep.BOTH:
        if merge:
            raise UserError("--merge needs one record to keep (A or B), not both")
        return None, None
    kept, dropped = (claimant, owner) if keep is Keep.A else (owner, claimant)
    if merge:
        return merged(kept, dropped, mac), dropped
    if keep is Keep.A:
        return replace(kept, macs=_union(kept.macs, (mac,))), dropped
    return None, dropped
