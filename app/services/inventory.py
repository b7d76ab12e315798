"""Inventory: assets, their CSV/JSON import and export, and backup attestations."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.csvtext import records_csv, unguard_cell
from app.core.errors import FieldError, NotFoundError, UserError, ValidationError
from app.core.models import EDITABLE_FIELDS, Asset
from app.core.progress import CancelToken, Progress, ProgressCallback
from app.core.records import (
    IMPORTABLE_COLUMNS,
    RECORD_COLUMNS,
    RowError,
    asset_to_record,
    record_to_asset,
    suggest_mapping,
)
from app.core.validate import normalize_ip, normalize_mac
from app.files import atomic_text, write_text
from app.services.base import ServicePart
from app.store.repos import AssetRepo, AuditRepo, asset_diff

MAX_CSV_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CsvPreview:
    """What a CSV file holds before it is imported: headers, first rows, a column mapping."""

    headers: list[str]
    rows: list[list[str]]
    total_rows: int
    mapping: dict[str, str]


@dataclass(slots=True)
class ImportReport:
    """What an import did: assets added and updated, and each row that was refused."""

    added: list[Asset] = field(default_factory=list)
    updated: list[Asset] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "dry_run": self.dry_run,
            "errors": [
                {"row": e.row, "errors": [{"field": f.field, "message": f.message}
                                           for f in e.errors]}
                for e in self.errors
            ],
        }


class EditConflictError(UserError):
    """A field an edit changes was changed meanwhile by someone else ([12].16)."""


def _read_csv_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise UserError(f"{path} is {size // 1_048_576} MB; CSV imports are limited to 50 MB.")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"There is no file {path}.") from None
    except OSError as exc:
        raise UserError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text"
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{path} is damaged UTF-16 text.") from None
    if b"\x00" in raw:  # binary, or UTF-16 without its byte-order mark ([12].17)
        raise UserError(f"{path} contains NUL bytes: not a text CSV file (save it as CSV "
                        "UTF-8).")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UserError(f"{path} is neither UTF-8 nor Windows-1252 text.")


def _sniff_rows(text: str) -> list[list[str]]:
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        # A CSV this product exported keeps formula-like cells behind a "'": read them back
        # as they were (:func:`app.core.csvtext.unguard_cell`).
        return [[unguard_cell(c) for c in row] for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:  # a field over csv.field_size_limit() (128 kB), a stray quote
        what = ("has a field larger than 128 kB" if "field larger" in str(exc)
                else f"is not valid CSV ({exc})")
        raise UserError(f"Line {reader.line_num} of the CSV file {what}.") from None


def preview_csv(path: Path | str, max_rows: int = 20) -> CsvPreview:
    """Read a CSV file's headers and first rows and suggest a column mapping.

    Raises:
        UserError: the file cannot be read or has no header row.
    """
    rows = _sniff_rows(_read_csv_text(Path(path)))
    if not rows:
        raise UserError(f"{path} is empty.")
    headers = [h.strip() for h in rows[0]]
    return CsvPreview(headers, rows[1 : 1 + max_rows], len(rows) - 1, suggest_mapping(headers))


class InventoryService(ServicePart):
    """The site's assets: list, find, add, edit, delete, import and export."""

    def assets(self) -> list[Asset]:
        """Every asset of the site."""
        return AssetRepo(self.store.db()).all()

    def asset(self, asset_id: int) -> Asset:
        """One asset by id."""
        return AssetRepo(self.store.db()).get(asset_id)

    def find_assets(self, selector: str) -> list[Asset]:
        """Assets matching a selector: an id, ``#id``, a host name, an IP or a MAC.

        Raises:
            NotFoundError: nothing matches.
        """
        text = selector.strip()
        assets = self.assets()
        key = text.lstrip("#")
        if key.isdigit():
            found = [a for a in assets if a.id == int(key)]
        else:
            ip = mac = None
            try:
                ip = normalize_ip(text)
            except ValueError:
                with contextlib.suppress(ValueError):
                    mac = normalize_mac(text)
            found = [
                a for a in assets
                if a.hostname.lower() == text.lower()
                or (ip is not None and ip in a.ips)
                or (mac is not None and mac in a.macs)
            ]
        if not found:
            raise NotFoundError(f"No asset matches '{selector}'.")
        return found

    def add_asset(self, asset: Asset, *, source: str = "manual") -> Asset:
        """Validate and add a new asset.

        Raises:
            ValidationError: a field is invalid; nothing was written.
        """
        asset = asset.normalized()
        sources = dict.fromkeys(_set_fields(asset), source)
        asset = asset.with_changes(field_sources={**sources, **asset.field_sources})
        with self.store.atomic() as db:
            stored = AssetRepo(db).insert(asset)
            AuditRepo(db).append(
                self.actor, "asset.add", "asset", str(stored.id),
                {"label": stored.label, "source": source},
            )
        return stored

    def update_asset(self, asset: Asset, *, source: str = "manual",
                     base: Asset | None = None) -> Asset:
        """Validate and save an edited asset; the change is recorded field by field.

        Args:
            base: the version the caller loaded and edited. Only the fields that differ
                from it are written, on top of what is stored now, so another process's
                edit of other fields is kept; a field that was changed meanwhile to
                something else is a conflict ([12].16). Without it every field is written.

        Raises:
            ValidationError: a field is invalid; nothing was written.
            NotFoundError: the asset was deleted meanwhile.
            EditConflictError: ``base`` is given and a field it changes was changed
                meanwhile; nothing was written.
        """
        if asset.id is None:
            raise UserError("This asset has not been saved yet.")
        asset_id: int = asset.id
        asset = asset.normalized()
        with self.store.atomic() as db:
            repo = AssetRepo(db)
            old = repo.get(asset_id)
            if base is not None:  # compare-and-set per field, inside the write lock
                wanted = asset_diff(base, asset)
                meanwhile = asset_diff(base, old)
                clashes = [f for f in wanted if f in meanwhile and meanwhile[f][1] != wanted[f][1]]
                if clashes:
                    raise EditConflictError(
                        f"{old.label} was changed meanwhile (by another window or process): "
                        + ", ".join(f"{f} is now {meanwhile[f][1]!r}" for f in clashes)
                        + ". Reload it and edit again; nothing was saved.")
                asset = old.with_changes(**{f: getattr(asset, f) for f in wanted})
            changes = asset_diff(old, asset)
            if not changes:
                return old
            sources = dict(old.field_sources)
            for name in changes:
                sources[name] = source
            stored = repo.update(asset.with_changes(field_sources=sources))
            AuditRepo(db).append(
                self.actor, "asset.edit", "asset", str(asset.id),
                {"label": stored.label, "changes": changes, "source": source},
            )
        return stored

    def delete_assets(self, asset_ids: Iterable[int]) -> list[Asset]:
        """Delete assets (with their software and patch rows); return what was deleted."""
        deleted: list[Asset] = []
        with self.store.atomic() as db:
            repo, audit = AssetRepo(db), AuditRepo(db)
            for asset_id in asset_ids:
                old = repo.get(asset_id)
                repo.delete(asset_id)
                audit.append(
                    self.actor, "asset.delete", "asset", str(asset_id),
                    {"label": old.label, "record": asset_to_record(old)},
                )
                deleted.append(old)
        return deleted

    def restore_assets(self, assets: Sequence[Asset]) -> list[Asset]:
        """Put deleted assets back (the GUI's undo); they get new ids."""
        restored: list[Asset] = []
        with self.store.atomic() as db:
            repo, audit = AssetRepo(db), AuditRepo(db)
            for asset in assets:
                stored = repo.insert(asset)
                audit.append(
                    self.actor, "asset.restore", "asset", str(stored.id),
                    {"label": stored.label, "was_id": asset.id},
                )
                restored.append(stored)
        return restored

    # -- import / export -----------------------------------------------------------------
    def import_csv(
        self,
        path: Path | str,
        mapping: dict[str, str] | None = None,
        *,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ImportReport:
        """Import assets from a CSV file; bad rows are reported, good rows imported.

        A row whose host name, MAC or (for nameless rows) IP matches an existing asset
        updates it; other rows add new assets.

        Args:
            path: the CSV file (UTF-8 or Windows-1252; comma, semicolon or tab).
            mapping: CSV header → our column (see :data:`IMPORTABLE_COLUMNS`); guessed
                from the headers when omitted.
            dry_run: validate and report without writing.
            progress: called with rows done / total.
            cancel: stops between rows; nothing is written if cancelled.

        Raises:
            UserError: the file cannot be read or the mapping names unknown columns.
            Cancelled: cancelled before writing.
        """
        rows = _sniff_rows(_read_csv_text(Path(path)))
        if not rows:
            raise UserError(f"{path} is empty.")
        headers = [h.strip() for h in rows[0]]
        mapping = mapping if mapping is not None else suggest_mapping(headers)
        unknown = [h for h in mapping if h not in headers]
        if unknown:
            raise UserError(f"The mapping names columns the file does not have: {unknown}")
        bad = sorted({t for t in mapping.values() if t not in IMPORTABLE_COLUMNS})
        if bad:
            raise UserError(f"Cannot import into column(s): {', '.join(bad)}")
        if not mapping:
            raise UserError(
                f"None of the columns of {path} could be matched; map them by hand "
                "(e.g. hostname, ips, macs, os)."
            )
        report = ImportReport(dry_run=dry_run)
        existing = self.assets()
        by_name = {a.hostname.lower(): a for a in existing if a.hostname}
        by_mac = {m: a for a in existing for m in a.macs}
        by_ip = {ip: a for a in existing for ip in a.ips}
        index = {h: i for i, h in enumerate(headers)}
        pending_add: list[tuple[int, Asset]] = []
        pending_update: list[Asset] = []
        total = len(rows) - 1
        for number, row in enumerate(rows[1:], start=2):
            if cancel is not None:
                cancel.raise_if_cancelled()
            record = {
                target: (row[index[h]] if index[h] < len(row) else "")
                for h, target in mapping.items()
            }
            try:
                probe = record_to_asset(record)
            except ValidationError as exc:
                report.errors.append(RowError(number, tuple(exc.errors)))
                continue
            match = (
                (by_name.get(probe.hostname.lower()) if probe.hostname else None)
                or next((by_mac[m] for m in probe.macs if m in by_mac), None)
                or (next((by_ip[i] for i in probe.ips if i in by_ip), None)
                    if not probe.hostname else None)
            )
            if match is None:
                pending_add.append((number, probe))
                if probe.hostname:
                    by_name[probe.hostname.lower()] = probe
            else:
                merged = record_to_asset(record, base=match)
                if match.id is None:
                    dup = FieldError("hostname", f"'{probe.hostname}' appears twice in the file")
                    report.errors.append(RowError(number, (dup,)))
                elif asset_diff(match, merged):
                    pending_update.append(merged)
                else:
                    report.unchanged += 1
            if progress is not None and (number % 200 == 0 or number - 1 == total):
                progress(Progress(number - 1, total, f"checked {number - 1} of {total} rows"))
        if dry_run:
            report.added = [a for _, a in pending_add]
            report.updated = pending_update
            return report
        if cancel is not None:
            cancel.raise_if_cancelled()
        with self.store.atomic() as db:
            repo, audit = AssetRepo(db), AuditRepo(db)
            for _number, asset in pending_add:
                sources = dict.fromkeys(_set_fields(asset), "manual")
                stored = repo.insert(asset.with_changes(field_sources=sources))
                report.added.append(stored)
            for asset in pending_update:
                old = repo.get(asset.id or 0)
                changes = asset_diff(old, asset)
                sources = dict(old.field_sources)
                sources.update(dict.fromkeys(changes, "manual"))
                report.updated.append(repo.update(asset.with_changes(field_sources=sources)))
            audit.append(
                self.actor, "asset.import", "site", "",
                {"file": str(path), "added": len(report.added),
                 "updated": len(report.updated), "refused_rows": [e.row for e in report.errors]},
            )
        return report

    def export_csv(self, path: Path | str, assets: Sequence[Asset] | None = None) -> int:
        """Write assets (all by default) to a CSV file; return how many."""
        items = list(assets) if assets is not None else self.assets()
        target = Path(path)
        write_text(target, records_csv(RECORD_COLUMNS, (asset_to_record(a) for a in items)))
        self._audit("export.csv", "site", "", {"file": str(target), "assets": len(items)})
        return len(items)

    def export_json(self, path: Path | str, assets: Sequence[Asset] | None = None) -> int:
        """Write assets (all by default) to a JSON file; return how many."""
        items = list(assets) if assets is not None else self.assets()
        target = Path(path)
        data = {
            "site": self.site.info().to_dict(),
            "audit_head": self.site.audit.head(),  # to anchor outside the file ([12].6)
            "assets": [asset_to_json(a) for a in items],
        }
        with atomic_text(target) as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        self._audit("export.json", "site", "", {"file": str(target), "assets": len(items)})
        return len(items)

    def attest_backup(self, asset_ids: Sequence[int], note: str) -> None:
        """Record that a person verified recent backups of these assets (audited)."""
        if not note.strip():
            raise UserError("Say how the backup was verified.")
        with self.store.atomic() as db:
            repo, audit = AssetRepo(db), AuditRepo(db)
            for asset_id in asset_ids:
                asset = repo.get(asset_id)
                audit.append(self.actor, "asset.backup_verified", "asset", str(asset_id),
                             {"label": asset.label, "note": note.strip()})


_BLANK_ASSET = Asset()


def _set_fields(asset: Asset) -> list[str]:
    """Editable fields whose value differs from a blank asset's."""
    return [n for n in EDITABLE_FIELDS if getattr(asset, n) != getattr(_BLANK_ASSET, n)]


def asset_to_json(asset: Asset) -> dict[str, Any]:
    """An asset as a JSON object: the record's text fields with lists as lists."""
    record: dict[str, Any] = dict(asset_to_record(asset))
    record["id"] = asset.id
    for name in ("ips", "macs", "tags", "data_sensitivity"):
        record[name] = [str(v) for v in getattr(asset, name)]
    for name in ("critical_operations", "public_facing", "internet_facing"):
        record[name] = bool(getattr(asset, name))
    for name in ("purchase_date", "warranty_end", "first_seen", "last_seen"):
        record[name] = record[name] or None
    record["created_at"] = asset.created_at.isoformat() if asset.created_at else None
    record["updated_at"] = asset.updated_at.isoformat() if asset.updated_at else None
    return record
