"""Repositories: the only place that turns rows into domain objects and back.

Every write that changes what a person sees is paired with an audit event in the same
transaction, so the log and the data can never disagree.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlite_utils import Database

from app.core.audit import (
    GENESIS_HASH,
    ChainProblem,
    canonical_details,
    evolve_key,
    row_hash,
    row_mac,
    verify_chain,
    verify_seals,
)
from app.core.clock import utcnow
from app.core.errors import NotFoundError
from app.core.models import (
    Asset,
    AssetKind,
    AuditEvent,
    DataSensitivity,
    Impact,
    OsFamily,
    Outcome,
    Ring,
    Site,
)

_LIST_FIELDS = ("ips", "macs", "tags")
_DATE_FIELDS = ("purchase_date", "warranty_end")
_TIME_FIELDS = ("first_seen", "last_seen", "created_at", "updated_at")
_BOOL_FIELDS = ("critical_operations", "public_facing", "internet_facing")
_ENUM_FIELDS: dict[str, Any] = {
    "os_family": OsFamily,
    "kind": AssetKind,
    "ring": Ring,
    "impact": Impact,
}
ASSET_COLUMNS = tuple(f.name for f in fields(Asset))


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def asset_to_row(asset: Asset) -> dict[str, Any]:
    """Serialise an asset to the ``assets`` table's columns."""
    row: dict[str, Any] = {}
    for name in ASSET_COLUMNS:
        value = getattr(asset, name)
        if name in _LIST_FIELDS:
            row[name] = json.dumps(list(value))
        elif name == "data_sensitivity":
            row[name] = json.dumps([str(v) for v in value])
        elif name == "open_ports":
            row[name] = json.dumps([int(v) for v in value])
        elif name == "field_sources":
            row[name] = json.dumps(value, sort_keys=True)
        elif name in _DATE_FIELDS:
            row[name] = value.isoformat() if value else None
        elif name in _TIME_FIELDS:
            row[name] = _ts(value)
        elif name in _BOOL_FIELDS:
            row[name] = int(bool(value))
        elif name in _ENUM_FIELDS:
            row[name] = str(value)
        else:
            row[name] = value
    return row


def row_to_asset(row: dict[str, Any] | Any) -> Asset:
    """Build an asset from a row of the ``assets`` table (a dict or sqlite3.Row)."""
    return Asset(
        id=row["id"],
        hostname=row["hostname"],
        location=row["location"],
        ips=tuple(json.loads(row["ips"])),
        macs=tuple(json.loads(row["macs"])),
        os_family=OsFamily(row["os_family"]),
        os_name=row["os_name"],
        os_version=row["os_version"],
        os_build=row["os_build"],
        kind=AssetKind(row["kind"]),
        manufacturer=row["manufacturer"],
        model=row["model"],
        serial=row["serial"],
        vendor=row["vendor"],
        order_number=row["order_number"],
        purchase_date=date.fromisoformat(row["purchase_date"]) if row["purchase_date"] else None,
        warranty_end=date.fromisoformat(row["warranty_end"]) if row["warranty_end"] else None,
        support_contact=row["support_contact"],
        owner=row["owner"],
        tags=tuple(json.loads(row["tags"])),
        ring=Ring(row["ring"]),
        impact=Impact(row["impact"]),
        data_sensitivity=tuple(DataSensitivity(v) for v in json.loads(row["data_sensitivity"])),
        critical_operations=bool(row["critical_operations"]),
        public_facing=bool(row["public_facing"]),
        internet_facing=bool(row["internet_facing"]),
        notes=row["notes"],
        open_ports=tuple(json.loads(row["open_ports"])),
        nic_vendor=row["nic_vendor"],
        field_sources=json.loads(row["field_sources"]),
        first_seen=_parse_ts(row["first_seen"]),
        last_seen=_parse_ts(row["last_seen"]),
        created_at=_parse_ts(row["created_at"]),
        updated_at=_parse_ts(row["updated_at"]),
    )


def asset_diff(old: Asset, new: Asset) -> dict[str, list[Any]]:
    """Fields that differ between two versions of an asset, as ``{field: [old, new]}``."""
    changes: dict[str, list[Any]] = {}
    skip = {"id", "created_at", "updated_at", "field_sources", "first_seen", "last_seen"}
    old_row, new_row = asset_to_row(old), asset_to_row(new)
    for name in ASSET_COLUMNS:
        if name in skip:
            continue
        if old_row[name] != new_row[name]:
            changes[name] = [_plain(getattr(old, name)), _plain(getattr(new, name))]
    return changes


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [str(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class SealInfo:
    """The audit log's head (to anchor outside the file) and whether it is sealed."""

    head_id: int
    head_hash: str
    sealed: bool
    first_key_in_vault: bool


class AuditRepo:
    """The append-only, hash-chained audit log."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(
        self,
        actor: str,
        action: str,
        object_type: str = "",
        object_id: str | int = "",
        details: dict[str, Any] | None = None,
        outcome: Outcome = Outcome.OK,
    ) -> AuditEvent:
        """Append one event, chained to the last; call inside the change's transaction."""
        head = self.db.execute(
            "SELECT audit_head_id, audit_head_hash FROM site WHERE id = 1"
        ).fetchone()
        last_id, last_hash = (head[0], head[1]) if head else (0, "")
        row_id = last_id + 1
        prev = last_hash or GENESIS_HASH
        ts = utcnow()
        details_json = canonical_details(details or {})
        digest = row_hash(
            row_id=row_id,
            ts=ts.isoformat(),
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            details_json=details_json,
            outcome=str(outcome),
            prev_hash=prev,
        )
        mac, next_key, next_position = "", "", 0
        state = self.db.execute("SELECT audit_key, audit_key_next FROM site WHERE id = 1"
                                ).fetchone()
        if state and state[0]:
            # the key for this row; a log behind its key (rows cut off the end) keeps the
            # key's position, so the cut stays visible to a check with the first key
            key, position = bytes.fromhex(state[0]), int(state[1])
            while position < row_id:
                key, position = evolve_key(key), position + 1
            mac, next_key, next_position = row_mac(key, digest), evolve_key(key).hex(), position + 1
        self.db.execute(
            "INSERT INTO audit_log (id, ts, actor, action, object_type, object_id, details, "
            "outcome, prev_hash, hash, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [row_id, ts.isoformat(), actor, action, object_type, str(object_id), details_json,
             str(outcome), prev, digest, mac],
        )
        self.db.execute(
            "UPDATE site SET audit_head_id = ?, audit_head_hash = ? WHERE id = 1",
            [row_id, digest],
        )
        if next_key:
            self.db.execute("UPDATE site SET audit_key = ?, audit_key_next = ? WHERE id = 1",
                            [next_key, next_position])
        return AuditEvent(
            ts=ts, actor=actor, action=action, object_type=object_type,
            object_id=str(object_id), details=details or {}, outcome=outcome,
            id=row_id, prev_hash=prev, hash=digest,
        )

    def events(
        self,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Events, newest first, optionally for one object."""
        where, params = [], []
        if object_type is not None:
            where.append("object_type = ?")
            params.append(object_type)
        if object_id is not None:
            where.append("object_id = ?")
            params.append(object_id)
        sql = "SELECT * FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_row_to_event(r) for r in self.db.query(sql, params)]

    def verify(self, first_key: tuple[bytes, int] | None = None) -> list[ChainProblem]:
        """Check the whole chain; every edited or deleted row is reported.

        Args:
            first_key: ``(k_0, first sealed row)`` opened from the vault (see
                :meth:`open_seal`); with it the rows' forward-secure seals and the stored
                key state are checked too (recomputed chains, truncated tails).
        """
        head = self.db.execute(
            "SELECT audit_head_id, audit_head_hash FROM site WHERE id = 1"
        ).fetchone()
        recorded = (head[0], head[1]) if head and head[0] else None
        rows = list(self.db.query("SELECT * FROM audit_log ORDER BY id"))
        problems = verify_chain(rows, recorded)
        if first_key is not None:
            state = self.db.execute("SELECT audit_key, audit_key_next FROM site WHERE id = 1"
                                    ).fetchone()
            try:
                stored = bytes.fromhex(state[0] or "")
            except ValueError:
                stored = b""
            problems += verify_seals(rows, first_key[0], first_key[1], stored, int(state[1]))
        return sorted(problems, key=lambda p: p.row_id)

    def seal_info(self) -> SealInfo:
        """Whether the log is sealed, from which row, and its head (for reports/exports)."""
        row = self.db.execute("SELECT audit_head_id, audit_head_hash, audit_key, audit_seal "
                              "FROM site WHERE id = 1").fetchone()
        if row is None:
            return SealInfo(0, "", False, False)
        return SealInfo(int(row[0]), str(row[1]), bool(row[2]), row[3] is not None)

    def start_seal(self, seal: Callable[[dict[str, Any]], bytes]) -> int:
        """Begin sealing the log from the next row: a fresh ``k_0`` is sealed into the vault
        through ``seal`` and becomes the current key. Returns the first sealed row id."""
        head = self.db.execute("SELECT audit_head_id FROM site WHERE id = 1").fetchone()
        first = int(head[0] if head else 0) + 1
        key = secrets.token_bytes(32)
        self.db.execute("UPDATE site SET audit_key = ?, audit_key_next = ?, audit_seal = ? "
                        "WHERE id = 1", [key.hex(), first, seal({"k0": key.hex(),
                                                                   "first": first})])
        return first

    def sealed_first_key(self) -> bytes | None:
        """The vault-sealed ``{k0, first}`` blob, if the log is sealed."""
        row = self.db.execute("SELECT audit_seal FROM site WHERE id = 1").fetchone()
        return bytes(row[0]) if row and row[0] is not None else None


def _row_to_event(row: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        id=row["id"],
        ts=datetime.fromisoformat(row["ts"]),
        actor=row["actor"],
        action=row["action"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        details=json.loads(row["details"]),
        outcome=Outcome(row["outcome"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


class SiteRepo:
    """The single ``site`` row: identity, branding and settings."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self) -> Site:
        """The site's identity."""
        row = self.db.execute(
            "SELECT name, client, address, msp_name, logo_path, created_at FROM site WHERE id=1"
        ).fetchone()
        if row is None:
            raise NotFoundError("the site file has no site record")
        return Site(row[0], row[1], row[2], row[3], row[4], _parse_ts(row[5]))

    def exists(self) -> bool:
        """Whether the site record was written."""
        return self.db.execute("SELECT 1 FROM site WHERE id = 1").fetchone() is not None

    def create(self, site: Site) -> None:
        """Write the site record (once, when the file is created)."""
        self.db.table("site").insert(
            {
                "id": 1,
                "name": site.name,
                "client": site.client,
                "address": site.address,
                "msp_name": site.msp_name,
                "logo_path": site.logo_path,
                "created_at": _ts(site.created_at or utcnow()),
            }
        )

    def update(self, site: Site) -> None:
        """Change the site's identity fields."""
        self.db.table("site").update(
            1,
            {
                "name": site.name,
                "client": site.client,
                "address": site.address,
                "msp_name": site.msp_name,
                "logo_path": site.logo_path,
            },
        )

    def settings(self) -> dict[str, Any]:
        """Per-site settings (JSON object)."""
        row = self.db.execute("SELECT settings FROM site WHERE id = 1").fetchone()
        return dict(json.loads(row[0])) if row else {}

    def set_settings(self, settings: dict[str, Any]) -> None:
        """Replace the per-site settings."""
        self.db.table("site").update(1, {"settings": json.dumps(settings, sort_keys=True)})


class AssetRepo:
    """Assets of one site."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def all(self) -> list[Asset]:
        """Every asset, ordered by id."""
        cursor = self.db.execute("SELECT * FROM assets ORDER BY id")
        names = [d[0] for d in cursor.description]
        return [row_to_asset(dict(zip(names, r, strict=True))) for r in cursor]

    def count(self) -> int:
        """How many assets the site has."""
        return int(self.db.execute("SELECT count(*) FROM assets").fetchone()[0])

    def get(self, asset_id: int) -> Asset:
        """One asset by id.

        Raises:
            NotFoundError: no asset has that id.
        """
        rows = list(self.db.query("SELECT * FROM assets WHERE id = ?", [asset_id]))
        if not rows:
            raise NotFoundError(f"No asset with id {asset_id}.")
        return row_to_asset(rows[0])

    def insert(self, asset: Asset) -> Asset:
        """Insert a new asset; return it with its id and timestamps."""
        now = utcnow()
        asset = asset.with_changes(
            id=None, created_at=now, updated_at=now, first_seen=asset.first_seen
        )
        row = asset_to_row(asset)
        row.pop("id")
        cursor = self.db.execute(
            f"INSERT INTO assets ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        return asset.with_changes(id=int(cursor.lastrowid or 0))

    def insert_many(self, assets: Iterable[Asset]) -> list[Asset]:
        """Insert several assets in one go (ids assigned in order)."""
        return [self.insert(a) for a in assets]

    def update(self, asset: Asset) -> Asset:
        """Write every field of an existing asset; return it with the new timestamp."""
        if asset.id is None:
            raise NotFoundError("This asset has not been saved yet.")
        asset_id: int = asset.id
        asset = asset.with_changes(updated_at=utcnow())
        row = asset_to_row(asset)
        row.pop("id")
        row.pop("created_at")
        self.db.table("assets").update(asset_id, row)
        return asset

    def delete(self, asset_id: int) -> None:
        """Delete one asset (its software and patch rows go with it)."""
        self.db.execute("DELETE FROM assets WHERE id = ?", [asset_id])
