"""The application API that both the GUI and the CLI call.

Synchronous and Qt-free. A :class:`SiteService` wraps one open site file; every method that
changes data writes the matching audit event in the same transaction. Long operations take
an optional progress callback and cancel token (see :mod:`app.core.progress`).
"""

from __future__ import annotations

import contextlib
import csv
import getpass
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from app import APP_NAME, __version__
from app.core.assessment import Assessment, HostFacts, LookupStats
from app.core.audit import ChainProblem
from app.core.deployment import Deployment, Gates
from app.core.errors import FieldError, NotFoundError, UserError, ValidationError
from app.core.inventory_merge import Observation, apply_observation, match, plan_merge
from app.core.models import (
    EDITABLE_FIELDS,
    Asset,
    AssetPatch,
    AuditEvent,
    Classification,
    OsFamily,
    Outcome,
    PatchStatus,
    Site,
    Software,
)
from app.core.policy import Role
from app.core.progress import CancelToken, Progress, ProgressCallback
from app.core.records import (
    IMPORTABLE_COLUMNS,
    RECORD_COLUMNS,
    RowError,
    asset_to_record,
    record_to_asset,
    suggest_mapping,
)
from app.core.risk import Decision, Review
from app.core.validate import normalize_ip, normalize_mac
from app.store.assessments import AssessmentRecord, AssessmentRepo
from app.store.db import SITE_SUFFIX, SiteDB, utcnow
from app.store.repos import AssetRepo, AuditRepo, SiteRepo, asset_diff
from app.store.scans import ScanRecord, ScanRepo

if TYPE_CHECKING:
    from app.core.kev import KevEntry
    from app.core.policy import Policy, PolicyVersion
    from app.core.risk import Compliance, RiskItem
    from app.deploy.engine import DeployEngine
    from app.remote.access import RemoteAccess
    from app.store.risk import KevImport

log = logging.getLogger(__name__)

MAX_CSV_BYTES = 50 * 1024 * 1024


def default_site_path() -> Path:
    """Where the default site lives: ``$PATCHDESK_SITE`` or the user's data folder."""
    env = os.environ.get("PATCHDESK_SITE")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / f"default{SITE_SUFFIX}"


def current_user() -> str:
    """The name recorded as actor in the audit log when none is given."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """A summary of an open site for the status bar, ``site info`` and reports."""

    path: str
    site: Site
    schema_version: int
    assets: int
    audit_events: int
    app_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "name": self.site.name,
            "client": self.site.client,
            "address": self.site.address,
            "msp_name": self.site.msp_name,
            "logo_path": self.site.logo_path,
            "created_at": self.site.created_at.isoformat() if self.site.created_at else None,
            "schema_version": self.schema_version,
            "assets": self.assets,
            "audit_events": self.audit_events,
            "app_version": self.app_version,
        }


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
    return [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]


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


class SiteService:
    """One open site and everything that can be done to it."""

    def __init__(self, store: SiteDB, actor: str | None = None) -> None:
        self.store = store
        self.actor = actor or current_user()
        self._remote: RemoteAccess | None = None
        self._engine: DeployEngine | None = None

    @property
    def remote(self) -> RemoteAccess:
        """Credentials, vault session, pinned host keys and SSH connections of this site."""
        if self._remote is None:
            from app.remote.access import RemoteAccess

            self._remote = RemoteAccess(self.store, self.actor)
        return self._remote

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        create: bool = False,
        name: str | None = None,
        actor: str | None = None,
    ) -> SiteService:
        """Open a site file, creating it (with ``name``) if asked and missing.

        Raises:
            SiteFileError: missing, not a site, damaged or too new.
        """
        path = Path(path).expanduser()
        existed = path.exists()
        store = SiteDB.open(path, create=create)
        service = cls(store, actor)
        if not existed or not SiteRepo(store.db()).exists():
            site_name = name or path.stem
            with store.atomic() as db:
                SiteRepo(db).create(Site(name=site_name))
                AuditRepo(db).append(
                    service.actor, "site.create", "site", site_name,
                    {"path": str(path), "app_version": __version__},
                )
        return service

    @classmethod
    def open_default(cls, actor: str | None = None) -> SiteService:
        """Open the default site, creating it on first run."""
        return cls.open(default_site_path(), create=True, name="Default site", actor=actor)

    def close(self) -> None:
        """Close the site file (and any SSH connections)."""
        if self._remote is not None:
            self._remote.lock()
        self.store.close()

    @property
    def path(self) -> Path:
        """The site file."""
        return self.store.path

    # -- site ----------------------------------------------------------------------------
    def site(self) -> Site:
        """The site's identity and branding."""
        return SiteRepo(self.store.db()).get()

    def info(self) -> SiteInfo:
        """A summary of the site."""
        db = self.store.db()
        events = int(db.execute("SELECT count(*) FROM audit_log").fetchone()[0])
        return SiteInfo(
            str(self.path), self.site(), self.store.schema_version(),
            AssetRepo(db).count(), events,
        )

    def update_site(self, **changes: str) -> Site:
        """Change the site's name, client, address, MSP name or logo path."""
        allowed = {"name", "client", "address", "msp_name", "logo_path"}
        bad = set(changes) - allowed
        if bad:
            raise UserError(f"Unknown site field(s): {', '.join(sorted(bad))}")
        if "name" in changes and not changes["name"].strip():
            raise ValidationError([FieldError("name", "a site needs a name")])
        with self.store.atomic() as db:
            repo = SiteRepo(db)
            old = repo.get()
            new = Site(
                name=changes.get("name", old.name).strip() or old.name,
                client=changes.get("client", old.client),
                address=changes.get("address", old.address),
                msp_name=changes.get("msp_name", old.msp_name),
                logo_path=changes.get("logo_path", old.logo_path),
                created_at=old.created_at,
            )
            repo.update(new)
            diff = {k: [getattr(old, k), getattr(new, k)] for k in allowed
                    if getattr(old, k) != getattr(new, k)}
            if diff:
                AuditRepo(db).append(self.actor, "site.update", "site", new.name, diff)
        return new

    def settings(self) -> dict[str, Any]:
        """Per-site settings."""
        return SiteRepo(self.store.db()).settings()

    def update_settings(self, **changes: Any) -> dict[str, Any]:
        """Merge changes into the per-site settings (audited)."""
        with self.store.atomic() as db:
            repo = SiteRepo(db)
            settings = repo.settings()
            settings.update(changes)
            repo.set_settings(settings)
            AuditRepo(db).append(self.actor, "site.settings", "site", "", changes)
        return settings

    # -- assets --------------------------------------------------------------------------
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

    def update_asset(self, asset: Asset, *, source: str = "manual") -> Asset:
        """Validate and save an edited asset; the change is recorded field by field.

        Raises:
            ValidationError: a field is invalid; nothing was written.
            NotFoundError: the asset was deleted meanwhile.
        """
        if asset.id is None:
            raise UserError("This asset has not been saved yet.")
        asset_id: int = asset.id
        asset = asset.normalized()
        with self.store.atomic() as db:
            repo = AssetRepo(db)
            old = repo.get(asset_id)
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
        try:
            with _atomic_write(target) as fh:
                writer = csv.DictWriter(fh, fieldnames=list(RECORD_COLUMNS))
                writer.writeheader()
                for asset in items:
                    writer.writerow(asset_to_record(asset))
        except OSError as exc:
            raise UserError(f"Cannot write {target}: {exc.strerror or exc}") from exc
        self._audit("export.csv", "site", "", {"file": str(target), "assets": len(items)})
        return len(items)

    def export_json(self, path: Path | str, assets: Sequence[Asset] | None = None) -> int:
        """Write assets (all by default) to a JSON file; return how many."""
        items = list(assets) if assets is not None else self.assets()
        target = Path(path)
        data = {
            "site": self.info().to_dict(),
            "assets": [asset_to_json(a) for a in items],
        }
        try:
            with _atomic_write(target) as fh:
                json.dump(data, fh, indent=2, ensure_ascii=False)
                fh.write("\n")
        except OSError as exc:
            raise UserError(f"Cannot write {target}: {exc.strerror or exc}") from exc
        self._audit("export.json", "site", "", {"file": str(target), "assets": len(items)})
        return len(items)

    # -- discovery -----------------------------------------------------------------------
    def scan_network(
        self,
        targets: str,
        *,
        exclude: str = "",
        ports: Sequence[int] | None = None,
        allow_large: bool = False,
        merge: bool = True,
        options: Any = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        on_host: Callable[[Any], None] | None = None,
    ) -> ScanRecord:
        """Sweep an IP range, store the scan and its diff, and merge it into the inventory.

        Args:
            targets: CIDR, ``a-b`` ranges, IPs, host names, lists, ``!exclusions``.
            exclude: more exclusions, in the same syntax.
            ports: TCP ports to fingerprint (default: the default profile).
            allow_large: confirm a scan of more than a /16.
            merge: add new devices and update seen ones (fields a person typed are kept);
                when false the scan is only recorded and reported.
            options: an :class:`app.discovery.ScanOptions` overriding ``ports``.
            progress: addresses done / total.
            cancel: stops the sweep; what was found so far is still stored (a cancelled
                scan never reports devices as gone).
            on_host: called with each live ``HostResult`` as soon as it is complete.

        Raises:
            ValidationError: the range or ports are invalid (field ``range``/``ports``).
        """
        from app.discovery import (
            DEFAULT_PORTS,
            RangeError,
            ScanOptions,
            parse_targets,
            raise_nofile_limit,
            scan,
        )

        try:
            target_set = parse_targets(targets, exclude, allow_large)
        except RangeError as exc:
            raise ValidationError([FieldError("range", str(exc))]) from None
        try:
            opts = options or ScanOptions(ports=tuple(ports or DEFAULT_PORTS))
        except ValueError as exc:
            raise ValidationError([FieldError("ports", str(exc))]) from None
        raise_nofile_limit()
        started = utcnow()
        with self.store.atomic() as db:
            scan_id = ScanRepo(db).start(
                started_at=started, targets=targets, exclude=exclude,
                ports=list(opts.ports), addresses=target_set.count, actor=self.actor,
            )
        result = scan(target_set, opts, progress, cancel, on_host)
        observations = [observation_from(h.to_dict()) for h in result.hosts]
        plan = plan_merge(self.assets(), observations, target_set.__contains__)
        if result.cancelled:
            plan.gone = []
        now = utcnow()
        with self.store.atomic() as db:
            repo, scans, audit = AssetRepo(db), ScanRepo(db), AuditRepo(db)
            for change, host in zip(plan.hosts, result.hosts, strict=True):
                asset_id = change.asset.id if change.asset else None
                if merge:
                    asset_id = self._merge_observation(repo, audit, change.asset,
                                                       change.observation, now, scan_id)
                scans.add_host(scan_id, host.to_dict(), change.change, change.changes,
                               asset_id)
            for asset in plan.gone:
                scans.add_gone(scan_id, asset)
            summary = plan.summary()
            scans.finish(scan_id, finished_at=now, cancelled=result.cancelled, merged=merge,
                         summary=summary)
            audit.append(
                self.actor, "scan.run", "scan", str(scan_id),
                {"targets": targets, "exclude": exclude, "addresses": target_set.count,
                 "ports": list(opts.ports), "cancelled": result.cancelled,
                 "unresolved": list(result.unresolved), **summary},
            )
        return ScanRepo(self.store.db()).get(scan_id)

    def _merge_observation(self, repo: AssetRepo, audit: AuditRepo, asset: Asset | None,
                           obs: Observation, now: datetime, scan_id: int) -> int:
        updated = apply_observation(asset, obs, now)
        if asset is None:
            stored = repo.insert(updated)
            audit.append(self.actor, "asset.discover", "asset", str(stored.id),
                         {"label": stored.label, "scan": scan_id, "ip": obs.ip,
                          "mac": obs.mac, "source": "scan"})
            return int(stored.id or 0)
        changes = asset_diff(asset, updated)
        repo.update(updated)
        if changes:
            audit.append(self.actor, "asset.edit", "asset", str(asset.id),
                         {"label": updated.label, "changes": changes, "source": "scan",
                          "scan": scan_id})
        return int(asset.id or 0)

    def add_scanned_hosts(self, scan_id: int, ips: Iterable[str]) -> list[Asset]:
        """Add hosts of a stored scan to the inventory (the Discover page's "add selected").

        Hosts already in the inventory are updated from the observation instead.
        """
        wanted = set(ips)
        record = ScanRepo(self.store.db()).get(scan_id)
        now = utcnow()
        added: list[Asset] = []
        with self.store.atomic() as db:
            repo, scans, audit = AssetRepo(db), ScanRepo(db), AuditRepo(db)
            assets = repo.all()
            for host in record.hosts:
                if host["ip"] not in wanted:
                    continue
                obs = observation_from(host)
                existing = match(assets, obs)
                asset_id = self._merge_observation(repo, audit, existing, obs, now, scan_id)
                scans.set_host_asset(scan_id, obs.ip, asset_id)
                stored = repo.get(asset_id)
                assets.append(stored)
                added.append(stored)
        return added

    def scans(self, limit: int = 50) -> list[ScanRecord]:
        """Recent scans, newest first."""
        return ScanRepo(self.store.db()).list(limit)

    def scan_record(self, scan_id: int) -> ScanRecord:
        """One stored scan with its hosts and diff."""
        return ScanRepo(self.store.db()).get(scan_id)

    # -- assessment ----------------------------------------------------------------------
    def assess_assets(
        self,
        asset_ids: Sequence[int] | None = None,
        *,
        refresh: bool = True,
        concurrency: int = 8,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        on_result: Callable[[HostOutcome], None] | None = None,
    ) -> list[HostOutcome]:
        """Deep-scan assets over SSH: facts, software, missing updates, reboot state.

        Hosts run in parallel (``concurrency`` at a time). A host that fails (unreachable,
        authentication failed, sudo refused, dpkg locked, unknown OS, changed host key...)
        gets a stored per-host error; the others go on. Results are stored per host as
        soon as each finishes.

        Args:
            asset_ids: the assets (default: every asset with an IP or host name).
            refresh: run the package manager's metadata refresh first (apt-get update).
            concurrency: hosts assessed at the same time.
            progress: hosts done / total.
            cancel: stops starting hosts and closes open connections; hosts cut short are
                reported as cancelled and nothing is stored for them.
            on_result: called (on a worker thread) with each host's outcome.

        Raises:
            VaultLockedError: the credential vault is locked.
        """
        from concurrent.futures import ThreadPoolExecutor

        from app.drivers.changelogs import ChangelogBroker
        from app.drivers.registry import assess_host
        from app.store.changelogs import ChangelogCache

        remote = self.remote
        if not remote.unlocked:
            from app.remote.vault import VaultLockedError

            raise VaultLockedError("Unlock the credential vault before assessing hosts.")
        assets = self.assets()
        if asset_ids is not None:
            wanted = set(asset_ids)
            assets = [a for a in assets if a.id in wanted]
        assets = [a for a in assets if a.primary_ip or a.hostname]
        cancel = cancel or CancelToken()
        total = len(assets)
        done = 0
        lock = threading.Lock()
        outcomes: list[HostOutcome] = []
        # One broker per run: changelogs come from the site's cache, and a changelog two
        # hosts need is fetched by one of them only.
        changelogs = ChangelogBroker(ChangelogCache(self.store))

        def one(asset: Asset) -> None:
            nonlocal done
            started = utcnow()
            clock = time.monotonic()
            outcome: HostOutcome
            if cancel.cancelled:
                outcome = HostOutcome.failure(asset, "cancelled", "not started: cancelled", 0.0)
            else:
                try:
                    transport = remote.transport_for(asset)
                    result = assess_host(transport, refresh=refresh,
                                         changelogs=changelogs)
                except Exception as exc:  # every host failure is recorded, none stops the run
                    kind = "cancelled" if cancel.cancelled else _error_kind(exc)
                    message = str(exc) if isinstance(exc, UserError) else (
                        f"internal error: {type(exc).__name__}: {exc}")
                    if kind == "error":
                        log.exception("assessing %s failed", asset.label)
                    outcome = HostOutcome.failure(asset, kind, message,
                                                  time.monotonic() - clock)
                    if kind != "cancelled":
                        self._store_failure(asset, started, outcome)
                else:
                    outcome = HostOutcome.success(asset, result, time.monotonic() - clock)
                    self._store_assessment(asset, started, result)
            with lock:
                done += 1
                outcomes.append(outcome)
                if progress is not None:
                    progress(Progress(done, total, f"{asset.label}: {outcome.summary}"))
            if on_result is not None:
                on_result(outcome)

        watcher_stop = threading.Event()

        def watch_cancel() -> None:
            while not watcher_stop.wait(0.1):
                if cancel.cancelled:
                    remote.close_all()  # in-flight commands fail fast
                    return

        watcher = threading.Thread(target=watch_cancel, name="assess-cancel", daemon=True)
        watcher.start()
        try:
            if progress is not None:
                progress(Progress(0, total, f"assessing {total} host(s)"))
            with ThreadPoolExecutor(max_workers=max(1, min(concurrency, total or 1)),
                                    thread_name_prefix="assess") as pool:
                list(pool.map(one, assets))
        finally:
            watcher_stop.set()
            watcher.join()
            remote.close_all()
        with self.store.atomic() as db:
            AuditRepo(db).append(self.actor, "assess.run", "site", "", {
                "hosts": total, "ok": sum(1 for o in outcomes if o.ok),
                "failed": {o.label: o.kind for o in outcomes if not o.ok},
                "cancelled": cancel.cancelled})
        order = {a.id: i for i, a in enumerate(assets)}
        return sorted(outcomes, key=lambda o: order.get(o.asset_id, 0))

    def _store_failure(self, asset: Asset, started: datetime, outcome: HostOutcome) -> None:
        with self.store.atomic() as db:
            AssessmentRepo(db).record_failure(int(asset.id or 0), started, utcnow(),
                                              outcome.kind, outcome.message)

    def _store_assessment(self, asset: Asset, started: datetime, result: Assessment) -> None:
        with self.store.atomic() as db:
            AssessmentRepo(db).record_success(int(asset.id or 0), started, utcnow(), result)
            repo = AssetRepo(db)
            current = repo.get(int(asset.id or 0))
            updated = apply_facts(current, result.facts)
            changes = asset_diff(current, updated)
            if changes:
                repo.update(updated)
                AuditRepo(db).append(self.actor, "asset.edit", "asset", str(asset.id), {
                    "label": updated.label, "changes": changes, "source": "assess"})

    def assessment(self, asset_id: int) -> AssessmentRecord | None:
        """The latest deep scan of an asset (facts, outcome or error)."""
        return AssessmentRepo(self.store.db()).latest(asset_id)

    def assessments(self) -> dict[int, AssessmentRecord]:
        """The latest deep scan of every assessed asset."""
        return AssessmentRepo(self.store.db()).latest_all()

    def software(self, asset_id: int) -> list[Software]:
        """Installed software of an asset (from its last successful deep scan)."""
        return AssessmentRepo(self.store.db()).software(asset_id)

    def patches(self, asset_id: int | None = None,
                status: PatchStatus | None = PatchStatus.MISSING) -> list[AssetPatch]:
        """Missing (by default) updates of one asset or of the whole site."""
        return AssessmentRepo(self.store.db()).patches(asset_id, status)

    # -- deployment ----------------------------------------------------------------------
    @property
    def deployer(self) -> DeployEngine:
        """The deployment engine of this site (one per open site)."""
        if self._engine is None:
            from app.deploy.engine import DeployEngine

            self._engine = DeployEngine(
                self.store, self.remote, self.actor,
                reassess=lambda ids: self.assess_assets(ids, refresh=False))
            self._engine.approval_guard = self._approval_guard  # policy: who may approve
        return self._engine

    def plan_deployment(
        self,
        patches: Sequence[str],
        targets: Sequence[str] | None = None,
        *,
        test_ring: Sequence[str] = (),
        pilot: Sequence[str] = (),
        gates: Gates | None = None,
        window: str = "",
    ) -> Deployment:
        """Plan a deployment of exact versions to hosts in rings.

        Args:
            patches: ``name`` (the candidate version the last assessment found, which must
                be the same on every target) or ``name=version``.
            targets: asset selectors; None or ``["all"]`` means every asset missing one of
                the patches.
            test_ring: selectors of the test ring (also targets).
            pilot: selectors of the pilot group (also targets).
            gates: thresholds, wave size, reboot policy (defaults from :class:`Gates`).

        Raises:
            UserError: unknown package or asset, ambiguous versions, empty plan; the patch
                policy names deployers and the actor is not one of them (audited).
        """
        from app.core.deployment import PackagePin, Stage

        self.check_role(self.actor, Role.DEPLOYER, "plan deployments")  # patch policy
        missing = self.patches()
        pins: list[PackagePin] = []
        for spec in patches:
            name, _, version = spec.partition("=")
            name = name.strip()
            if not version:
                versions = {p.candidate_version for p in missing if p.package == name}
                if not versions:
                    raise UserError(f"No assessed host is missing '{name}'; assess first or "
                                    "give name=version.")
                if len(versions) > 1:
                    raise UserError(f"'{name}' has several candidate versions "
                                    f"({', '.join(sorted(versions))}); give name=version.")
                version = versions.pop()
            pins.append(PackagePin(name, version.strip()))
        names = {p.name for p in pins}

        def resolve(selectors: Sequence[str]) -> list[Asset]:
            found: dict[int, Asset] = {}
            for sel in selectors:
                for asset in self.find_assets(sel):
                    found[int(asset.id or 0)] = asset
            return list(found.values())

        if not targets or list(targets) == ["all"]:
            ids = {p.asset_id for p in missing if p.package in names}
            chosen = [a for a in self.assets() if a.id in ids]
        else:
            chosen = resolve(targets)
        test = {a.id for a in resolve(test_ring)}
        pilots = {a.id for a in resolve(pilot)}
        everyone = {a.id: a for a in [*chosen, *resolve(test_ring), *resolve(pilot)]}
        staged = [(a, Stage.TEST if a.id in test else Stage.PILOT if a.id in pilots
                   else Stage.PRODUCTION) for a in everyone.values()]
        staged.sort(key=lambda item: (list(Stage).index(item[1]), item[0].label))
        return self.deployer.plan(pins, staged, gates or Gates(), window)

    def deployments(self) -> list[Deployment]:
        """Every deployment, newest first."""
        from app.store.deployments import DeploymentRepo

        return DeploymentRepo(self.store.db()).all()

    def deployment(self, dep_id: int | None = None) -> Deployment:
        """One deployment (the newest when ``dep_id`` is None)."""
        from app.store.deployments import DeploymentRepo

        repo = DeploymentRepo(self.store.db())
        if dep_id is None:
            last = repo.last_id()
            if last is None:
                raise NotFoundError("There are no deployments yet.")
            dep_id = last
        return repo.get(dep_id)

    def deployment_log(self, dep_id: int, asset_id: int | None = None) -> list[dict[str, Any]]:
        """A deployment's step log."""
        from app.store.deployments import DeploymentRepo

        return DeploymentRepo(self.store.db()).log_lines(dep_id, asset_id)

    def deployment_json(self, dep_id: int, *, with_log: bool = True) -> dict[str, Any]:
        """A deployment as JSON data (plan, hosts, approval), with its step log."""
        from app.store.deployments import to_json

        data = to_json(self.deployment(dep_id))
        if with_log:
            data["log"] = self.deployment_log(dep_id)
        return data

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

    # -- risk and policy: KEV catalogue, patch policy, priorities, reviews, compliance ------
    def kev_import(self, source: str | Path | None = None, *, sample: bool = False,
                   timeout: float = 30.0) -> KevImport:
        """Import the CISA KEV catalogue in place of the site's copy (audited).

        Args:
            source: a file or an http(s) URL in CISA's JSON format.
            sample: import the bundled 20-entry sample instead (offline first run, demos).
            timeout: seconds to wait for a URL.

        Raises:
            UserError: unreadable source, or not a KEV catalogue (nothing is changed).
        """
        from app.core.kev import parse_kev
        from app.feeds import kev_sample_path, read_source
        from app.store.risk import KevRepo

        if sample:
            source = kev_sample_path()
        if source is None:
            raise UserError("Give a file or URL of the KEV catalogue (or use the sample).")
        catalog = parse_kev(read_source(source, timeout))
        label = "bundled sample" if sample else str(source)
        with self.store.atomic() as db:
            result = KevRepo(db).replace(catalog, label, self.actor)
            AuditRepo(db).append(self.actor, "kev.import", "kev", catalog.version,
                                 {"source": label, **result.to_dict()})
        return result

    def kev_status(self) -> KevImport | None:
        """The last KEV import (None: never imported, so nothing is flagged as exploited)."""
        from app.store.risk import KevRepo

        return KevRepo(self.store.db()).last_import()

    def kev_catalogue(self) -> dict[str, KevEntry]:
        """The site's KEV catalogue by CVE id."""
        from app.store.risk import KevRepo

        return KevRepo(self.store.db()).entries()

    def policy(self, version: int | None = None) -> PolicyVersion:
        """The current patch policy (version 0 = built-in defaults), or one version."""
        from app.store.risk import PolicyRepo

        repo = PolicyRepo(self.store.db())
        return repo.current() if version is None else repo.get(version)

    def policy_history(self) -> list[PolicyVersion]:
        """Every saved policy version, newest first."""
        from app.store.risk import PolicyRepo

        return PolicyRepo(self.store.db()).history()

    def save_policy(self, policy: Policy, note: str = "") -> PolicyVersion:
        """Save a policy as a new version by the current actor (audited with the diff).

        Raises:
            UserError: the policy is the same as the current one.
        """
        from app.core.policy import policy_diff
        from app.store.risk import PolicyRepo

        with self.store.atomic() as db:
            repo = PolicyRepo(db)
            current = repo.current()
            diff = policy_diff(current.policy, policy)
            if not diff:
                raise UserError(f"Nothing changed: this is policy version {current.version}.")
            saved = repo.add(policy, self.actor, note.strip())
            AuditRepo(db).append(self.actor, "policy.set", "policy", str(saved.version),
                                 {"from_version": current.version, "changes": diff,
                                  "note": note.strip()})
        return saved

    def set_policy_values(self, pairs: Sequence[tuple[str, str]],
                          note: str = "") -> PolicyVersion:
        """Change policy settings (``KEY VALUE`` pairs, see :func:`app.core.policy.set_value`)
        and save the result as a new version.

        Raises:
            ValidationError: an unknown key or invalid value (nothing is saved).
        """
        from app.core.policy import set_value

        policy = self.policy().policy
        for key, value in pairs:
            policy = set_value(policy, key, value)
        return self.save_policy(policy, note)

    def check_role(self, name: str, role: Role, action: str = "") -> None:
        """Refuse (audited) when the policy does not let ``name`` act in ``role``.

        A role nobody holds is open to everyone.

        Raises:
            UserError: naming who may.
        """
        current = self.policy()
        if current.policy.may(name, role):
            return
        holders = ", ".join(current.policy.holders(role))
        has = ", ".join(str(r) for r in current.policy.roles_of(name)) or "no role"
        message = (f"{name} may not {action or 'act as ' + str(role)}: patch policy "
                   f"version {current.version} gives that to {holders} only ({name} has "
                   f"{has}).")
        if action:
            with self.store.atomic() as db:
                AuditRepo(db).append(self.actor, "policy.refused", "policy",
                                     str(current.version), {"name": name, "role": str(role),
                                                            "action": action,
                                                            "refused": message},
                                     outcome=Outcome.DENIED)
        raise UserError(message)

    def _approval_guard(self, approver: str) -> None:
        """The deployment engine's approval hook: only the policy's approvers may approve
        (anyone, while the policy names no approver). The engine audits the refusal."""
        current = self.policy()
        if current.policy.may(approver, Role.APPROVER):
            return
        has = ", ".join(str(r) for r in current.policy.roles_of(approver)) or "no role"
        raise UserError(
            f"{approver} may not approve deployments: patch policy version "
            f"{current.version} lets only {', '.join(current.policy.holders(Role.APPROVER))} "
            f"approve ({approver} has {has}).")

    def risk_items(self, now: datetime | None = None) -> list[RiskItem]:
        """Every missing update on the assets the policy covers: score, priority, due date,
        overdue flag, KEV entries, "why" factors and review — highest risk first."""
        from app.core.risk import prioritise
        from app.store.risk import ReviewRepo

        db = self.store.db()
        return prioritise(self.assets(), self.patches(), self.kev_catalogue(),
                          self.policy().policy, ReviewRepo(db).all(), now or utcnow())

    def compliance(self, now: datetime | None = None) -> Compliance:
        """The SLA compliance figure and its parts (:func:`app.core.risk.compliance`)."""
        return self.risk_overview(now)[1]

    def risk_overview(self, now: datetime | None = None) -> tuple[list[RiskItem], Compliance]:
        """:meth:`risk_items` and the compliance figure made of those same items, computed
        once (the PDF report shows both; :meth:`compliance` is this figure)."""
        from app.core.risk import compliance

        now = now or utcnow()
        items = self.risk_items(now)
        policy = self.policy().policy
        covered = sum(1 for a in self.assets() if policy.in_scope(a))
        return items, compliance(items, covered, now)

    def add_review(self, decision: Decision, *, reason: str, by: str, package: str = "",
                   cve: str = "", host: str | None = None, until: date | None = None,
                   planned: date | None = None) -> Review:
        """Record an urgency review by a named person (audited): patch now, schedule, or
        workaround + exception until a date.

        Args:
            host: an asset selector (one asset); None covers every host.

        Raises:
            ValidationError: missing reason, name, update or expiry; past dates.
            UserError: the host matches several assets, or the policy names reviewers and
                ``by`` is not one of them (the refusal is audited).
        """
        from app.core.risk import check_review
        from app.store.risk import ReviewRepo

        asset: Asset | None = None
        if host:
            found = self.find_assets(host)
            if len(found) > 1:
                raise UserError(f"'{host}' matches {len(found)} assets; give one id.")
            asset = found[0]
        now = utcnow()
        review = check_review(Review(
            decision, reason, by, now, package, cve,
            asset.id if asset else None, asset.label if asset else "", until, planned),
            now.date())
        self.check_role(review.decided_by, Role.REVIEWER, f"record a '{decision}' decision")
        with self.store.atomic() as db:
            stored = ReviewRepo(db).add(review, self.actor)
            AuditRepo(db).append(self.actor, f"review.{decision}", "review", str(stored.id),
                                 stored.to_dict())
        return stored

    def reviews(self, decision: Decision | None = None) -> list[Review]:
        """Urgency reviews (and exceptions), oldest first."""
        from app.store.risk import ReviewRepo

        return ReviewRepo(self.store.db()).all(decision)

    def exceptions(self) -> list[Review]:
        """Every exception, expired ones too (``Review.expired(now)`` tells which)."""
        return self.reviews(Decision.EXCEPTION)

    def end_exception(self, review_id: int, by: str | None = None) -> Review:
        """End an exception now: its update is back under its SLA, overdue (audited).

        Raises:
            NotFoundError: no such review.
            UserError: not an exception, or already ended/expired.
        """
        from app.store.risk import ReviewRepo

        now = utcnow()
        with self.store.atomic() as db:
            repo = ReviewRepo(db)
            review = repo.get(review_id)
            if review.decision is not Decision.EXCEPTION:
                raise UserError(f"Review {review_id} is a '{review.decision}' decision, not "
                                "an exception.")
            if review.expired(now):
                raise UserError(f"Exception {review_id} has already expired.")
            ended = repo.end(review_id, now, by or self.actor)
            AuditRepo(db).append(self.actor, "review.exception_end", "review", str(review_id),
                                 {"ended_by": ended.ended_by, "package": ended.package,
                                  "cve": ended.cve, "host": ended.host})
        return ended

    # -- audit ---------------------------------------------------------------------------
    def audit_events(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first (filters: object_type, object_id, limit)."""
        return AuditRepo(self.store.db()).events(**filters)

    def audit_verify(self) -> list[ChainProblem]:
        """Check the audit chain; an empty list means intact."""
        return AuditRepo(self.store.db()).verify()

    def _audit(self, action: str, object_type: str, object_id: str,
               details: dict[str, Any]) -> None:
        with self.store.atomic() as db:
            AuditRepo(db).append(self.actor, action, object_type, object_id, details)


_BLANK_ASSET = Asset()


class LargeRangeError(ValidationError):
    """A scan range larger than a /16 that the user has not confirmed."""

    def __init__(self, errors: list[FieldError], count: int) -> None:
        super().__init__(errors)
        self.count = count


@dataclass(frozen=True, slots=True)
class HostOutcome:
    """How the deep scan of one host went."""

    asset_id: int
    label: str
    ip: str
    ok: bool
    kind: str = ""  # error kind when not ok: unreachable, auth_failed, sudo_refused, ...
    message: str = ""
    updates: int = 0
    security_updates: int = 0
    reboot_required: bool | None = None
    duration: float = 0.0
    lookups: LookupStats | None = None  # changelog/CVE lookups of the assessment
    warnings: tuple[str, ...] = ()  # what the scan could not fully read (result stands)

    @property
    def summary(self) -> str:
        """One line for progress and logs."""
        if not self.ok:
            return f"{self.kind}: {self.message}"
        return f"{self.updates} missing ({self.security_updates} security)"

    @classmethod
    def failure(cls, asset: Asset, kind: str, message: str, duration: float) -> HostOutcome:
        """A failed host."""
        return cls(int(asset.id or 0), asset.label, asset.primary_ip, False, kind, message,
                   duration=duration)

    @classmethod
    def success(cls, asset: Asset, result: Assessment, duration: float) -> HostOutcome:
        """A host that was assessed."""
        security = sum(1 for u in result.updates if u.classification is Classification.SECURITY)
        return cls(int(asset.id or 0), asset.label, asset.primary_ip, True,
                   updates=len(result.updates), security_updates=security,
                   reboot_required=result.reboot.required, duration=duration,
                   lookups=result.lookups, warnings=tuple(result.warnings))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"asset_id": self.asset_id, "host": self.label, "ip": self.ip, "ok": self.ok,
                "error_kind": self.kind or None, "error": self.message or None,
                "updates": self.updates, "security_updates": self.security_updates,
                "reboot_required": self.reboot_required,
                "duration_s": round(self.duration, 3), "warnings": list(self.warnings),
                "cve_lookups": self.lookups.to_dict() if self.lookups else None}


def _error_kind(exc: BaseException) -> str:
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str):
        return kind
    if isinstance(exc, NotFoundError):
        return "no_credential"
    return "error"


def apply_facts(asset: Asset, facts: HostFacts) -> Asset:
    """The asset updated with what a deep scan learned (a person's values are kept)."""
    sources = dict(asset.field_sources)
    changes: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if value in ("", None) or getattr(asset, name) == value:
            return
        if sources.get(name) == "manual" and getattr(asset, name) not in ("", None):
            return
        changes[name] = value
        sources[name] = "assess"

    put("os_family", OsFamily.LINUX)
    put("os_name", facts.os_name)
    put("os_version", facts.os_version)
    put("os_build", facts.kernel)
    put("manufacturer", facts.manufacturer)
    put("model", facts.model)
    put("serial", facts.serial)
    if not asset.hostname and facts.hostname:
        put("hostname", facts.hostname)
    for iface in facts.interfaces:
        if iface.mac and any(a.split("/")[0] in asset.ips for a in iface.addresses) \
                and iface.mac not in asset.macs:
            put("macs", (*asset.macs, iface.mac))
    if not changes:
        return asset
    return asset.with_changes(**changes, field_sources=sources)


def scan_profiles() -> dict[str, tuple[int, ...]]:
    """Named port profiles for discovery ("default", "quick", "windows", ...)."""
    from app.discovery import PROFILES

    return {name: tuple(ports) for name, ports in PROFILES.items()}


def parse_scan_ports(text: str) -> list[int]:
    """Parse a port list such as ``22,80,8000-8010`` or a profile name.

    Raises:
        ValidationError: naming the bad token (field ``ports``).
    """
    from app.discovery import PortError, parse_ports

    try:
        return parse_ports(text)
    except PortError as exc:
        raise ValidationError([FieldError("ports", str(exc))]) from None


def check_scan_range(targets: str, exclude: str = "", *, allow_large: bool = False) -> int:
    """Validate a scan range without scanning; return how many addresses it covers.

    Raises:
        ValidationError: field ``range`` with the bad token and why; a range larger than a
            /16 without ``allow_large`` raises :class:`LargeRangeError`.
    """
    from app.discovery import RangeError, RangeTooLargeError, parse_targets

    try:
        return parse_targets(targets, exclude, allow_large).count
    except RangeTooLargeError as exc:
        raise LargeRangeError([FieldError("range", str(exc))], exc.count) from None
    except RangeError as exc:
        raise ValidationError([FieldError("range", str(exc))]) from None


def local_scan_ranges() -> list[str]:
    """The machine's own IPv4 subnets (the default range to scan)."""
    from app.discovery import local_subnets

    return local_subnets()


def observation_from(host: dict[str, Any]) -> Observation:
    """The inventory-relevant part of a discovered host (``HostResult.to_dict()`` form)."""
    names = list(host.get("hostnames") or [])
    netbios = host.get("netbios_name")
    if netbios and netbios not in names:
        names.append(netbios)
    return Observation(
        ip=host["ip"],
        mac=host.get("mac") or None,
        vendor=host.get("vendor") or None,
        hostnames=tuple(names),
        open_ports=tuple(int(p) for p in host.get("open_ports") or ()),
        device_type=host.get("device_type") or "unknown",
        os_guess=host.get("os_guess") or None,
    )


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


class _atomic_write:  # noqa: N801 - used like a function
    """Write a text file via a temporary sibling and rename, so a crash never leaves half."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")

    def __enter__(self) -> io.TextIOWrapper:
        self.fh = self.tmp.open("w", encoding="utf-8", newline="")
        return self.fh

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.fh.close()
        if exc_type is None:
            os.replace(self.tmp, self.target)
        else:
            self.tmp.unlink(missing_ok=True)
