"""The site facade that both the GUI and the CLI hold: one open site file and the per-domain
services it owns (Anki's ``Collection`` owning its ``DeckManager``, ``TagManager``, ...).

Synchronous and Qt-free. Every method that changes data writes the matching audit event in
the same transaction. Long operations take an optional progress callback and cancel token
(see :mod:`app.core.progress`).

The shells use the services by domain: ``service.inventory``, ``service.discovery``,
``service.assess``, ``service.deployments`` (the only way to the deployment engine),
``service.risk``, ``service.credentials`` (the vault, credentials and host keys),
``service.reports`` and ``service.audit``. The older flat methods below stay as thin
delegates. ``store``, ``remote`` and ``deployer`` are for :mod:`app.services` (and tests)
only; a test checks that no shell touches them.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from app import APP_NAME, __version__
from app.core.audit import ChainProblem
from app.core.deployment import Deployment, Gates
from app.core.errors import FieldError, UserError, ValidationError
from app.core.kev import KevEntry
from app.core.models import Asset, AssetPatch, AuditEvent, PatchStatus, Site, Software
from app.core.policy import Policy, PolicyVersion, Role
from app.core.progress import CancelToken, ProgressCallback
from app.core.risk import Compliance, Decision, Review, RiskItem
from app.services.audit import AuditService
from app.services.discovery import DiscoveryService
from app.services.feeds import FeedService
from app.services.inventory import ImportReport, InventoryService
from app.services.people import PeopleService
from app.services.reports import ReportService
from app.services.risk import RiskService
from app.store.assessments import AssessmentRecord
from app.store.db import SITE_SUFFIX, SiteDB
from app.store.repos import AssetRepo, AuditRepo, SiteRepo
from app.store.risk import KevImport
from app.store.scans import ScanRecord

if TYPE_CHECKING:
    from app.deploy.engine import DeployEngine
    from app.remote.access import RemoteAccess
    from app.services.assessment import AssessmentService, HostOutcome
    from app.services.credentials import CredentialService
    from app.services.deployments import DeploymentService
    from app.services.schedules import ScheduleService


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


class SiteService:
    """One open site and everything that can be done to it."""

    def __init__(self, store: SiteDB, actor: str | None = None) -> None:
        self.store = store
        self.actor = actor or current_user()
        self.inventory = InventoryService(self)
        self.discovery = DiscoveryService(self)
        self.risk = RiskService(self)
        self.reports = ReportService(self)
        self.audit = AuditService(self)
        self.people = PeopleService(self)  # named people and their PINs ([12].8)
        self.feeds = FeedService(self)  # vulnerability data feeds (NVD, EPSS, trackers)

    # The services that bring SSH (paramiko), the drivers and the deployment engine are made
    # (and their modules imported) on first use: the GUI and the CLI import this module at
    # start-up, and the GUI's cold start must stay under 0.5 s (DESIGN.md §6).
    @cached_property
    def assess(self) -> AssessmentService:
        """Deep scans over SSH and what they found."""
        from app.services.assessment import AssessmentService

        return AssessmentService(self)

    @cached_property
    def deployments(self) -> DeploymentService:
        """The deployments and the only way to the deployment engine."""
        from app.services.deployments import DeploymentService

        return DeploymentService(self)

    @cached_property
    def schedules(self) -> ScheduleService:
        """Scheduled jobs, the background runner and its notifications."""
        from app.services.schedules import ScheduleService

        return ScheduleService(self)

    @cached_property
    def credentials(self) -> CredentialService:
        """The vault, its credentials and the pinned host keys."""
        from app.services.credentials import CredentialService

        return CredentialService(self)

    @property
    def remote(self) -> RemoteAccess:
        """Credentials, vault session, pinned host keys and SSH connections of this site
        (for the services and tests; the shells use :attr:`credentials`)."""
        return self.credentials.access

    @property
    def deployer(self) -> DeployEngine:
        """The deployment engine of this site (for the services and tests; the shells use
        :attr:`deployments`)."""
        return self.deployments.engine

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
        if "credentials" in self.__dict__:  # made (cached) on first use
            self.credentials.lock()
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

    # -- delegates to the domain services (the API before the split) ---------------------
    # inventory
    def assets(self) -> list[Asset]:
        """Every asset of the site."""
        return self.inventory.assets()

    def asset(self, asset_id: int) -> Asset:
        """One asset by id."""
        return self.inventory.asset(asset_id)

    def find_assets(self, selector: str) -> list[Asset]:
        """Assets matching an id, ``#id``, host name, IP or MAC (raises NotFoundError)."""
        return self.inventory.find_assets(selector)

    def add_asset(self, asset: Asset, *, source: str = "manual") -> Asset:
        """Validate and add a new asset."""
        return self.inventory.add_asset(asset, source=source)

    def update_asset(self, asset: Asset, *, source: str = "manual",
                     base: Asset | None = None) -> Asset:
        """Validate and save an edited asset (only what differs from ``base``)."""
        return self.inventory.update_asset(asset, source=source, base=base)

    def delete_assets(self, asset_ids: Iterable[int]) -> list[Asset]:
        """Delete assets; return what was deleted."""
        return self.inventory.delete_assets(asset_ids)

    def restore_assets(self, assets: Sequence[Asset]) -> list[Asset]:
        """Put deleted assets back (the GUI's undo)."""
        return self.inventory.restore_assets(assets)

    def import_csv(self, path: Path | str, mapping: dict[str, str] | None = None, *,
                   dry_run: bool = False, progress: ProgressCallback | None = None,
                   cancel: CancelToken | None = None) -> ImportReport:
        """Import assets from a CSV file (:meth:`InventoryService.import_csv`)."""
        return self.inventory.import_csv(path, mapping, dry_run=dry_run, progress=progress,
                                         cancel=cancel)

    def export_csv(self, path: Path | str, assets: Sequence[Asset] | None = None) -> int:
        """Write assets (all by default) to a CSV file; return how many."""
        return self.inventory.export_csv(path, assets)

    def export_json(self, path: Path | str, assets: Sequence[Asset] | None = None) -> int:
        """Write assets (all by default) to a JSON file; return how many."""
        return self.inventory.export_json(path, assets)

    def attest_backup(self, asset_ids: Sequence[int], note: str) -> None:
        """Record that a person verified recent backups of these assets (audited)."""
        self.inventory.attest_backup(asset_ids, note)

    # discovery
    def scan_network(self, targets: str, *, exclude: str = "",
                     ports: Sequence[int] | None = None, allow_large: bool = False,
                     allow_public: bool = False,
                     merge: bool = True, progress: ProgressCallback | None = None,
                     cancel: CancelToken | None = None,
                     on_host: Callable[[Any], None] | None = None) -> ScanRecord:
        """Sweep an IP range and merge it (:meth:`DiscoveryService.scan_network`)."""
        return self.discovery.scan_network(
            targets, exclude=exclude, ports=ports, allow_large=allow_large,
            allow_public=allow_public, merge=merge, progress=progress, cancel=cancel,
            on_host=on_host)

    def add_scanned_hosts(self, scan_id: int, ips: Iterable[str]) -> list[Asset]:
        """Add hosts of a stored scan to the inventory."""
        return self.discovery.add_scanned_hosts(scan_id, ips)

    def scans(self, limit: int = 50) -> list[ScanRecord]:
        """Recent scans, newest first."""
        return self.discovery.scans(limit)

    def scan_record(self, scan_id: int) -> ScanRecord:
        """One stored scan with its hosts and diff."""
        return self.discovery.scan_record(scan_id)

    # assessment
    def assess_assets(self, asset_ids: Sequence[int] | None = None, *, refresh: bool = True,
                      concurrency: int = 8, progress: ProgressCallback | None = None,
                      cancel: CancelToken | None = None,
                      on_result: Callable[[HostOutcome], None] | None = None,
                      ) -> list[HostOutcome]:
        """Deep-scan assets over SSH (:meth:`AssessmentService.assess_assets`)."""
        return self.assess.assess_assets(asset_ids, refresh=refresh, concurrency=concurrency,
                                         progress=progress, cancel=cancel,
                                         on_result=on_result)

    def assessment(self, asset_id: int) -> AssessmentRecord | None:
        """The latest deep scan of an asset."""
        return self.assess.assessment(asset_id)

    def assessments(self) -> dict[int, AssessmentRecord]:
        """The latest deep scan of every assessed asset."""
        return self.assess.assessments()

    def software(self, asset_id: int) -> list[Software]:
        """Installed software of an asset."""
        return self.assess.software(asset_id)

    def patches(self, asset_id: int | None = None,
                status: PatchStatus | None = PatchStatus.MISSING) -> list[AssetPatch]:
        """Missing (by default) updates of one asset or of the whole site."""
        return self.assess.patches(asset_id, status)

    # deployments (``self.deployments()`` still lists them: the service is callable)
    def plan_deployment(self, patches: Sequence[str], targets: Sequence[str] | None = None, *,
                        test_ring: Sequence[str] = (), pilot: Sequence[str] = (),
                        gates: Gates | None = None, window: str = "",
                        **rules: Any) -> Deployment:
        """Plan a deployment by selectors (:meth:`DeploymentService.plan_deployment`;
        ``rules``: requested, source, override_reason, emergency)."""
        return self.deployments.plan_deployment(patches, targets, test_ring=test_ring,
                                                pilot=pilot, gates=gates, window=window,
                                                **rules)

    def deployment(self, dep_id: int | None = None) -> Deployment:
        """One deployment (the newest when ``dep_id`` is None)."""
        return self.deployments.deployment(dep_id)

    def deployment_log(self, dep_id: int, asset_id: int | None = None) -> list[dict[str, Any]]:
        """A deployment's step log."""
        return self.deployments.log(dep_id, asset_id)

    def deployment_json(self, dep_id: int, *, with_log: bool = True) -> dict[str, Any]:
        """A deployment as JSON data, with its step log."""
        return self.deployments.json(dep_id, with_log=with_log)

    # risk and policy
    def kev_import(self, source: str | Path | None = None, *, sample: bool = False,
                   timeout: float = 30.0) -> KevImport:
        """Import the CISA KEV catalogue (:meth:`RiskService.kev_import`)."""
        return self.risk.kev_import(source, sample=sample, timeout=timeout)

    def kev_status(self) -> KevImport | None:
        """The last KEV import."""
        return self.risk.kev_status()

    def kev_catalogue(self) -> dict[str, KevEntry]:
        """The site's KEV catalogue by CVE id."""
        return self.risk.kev_catalogue()

    def policy(self, version: int | None = None) -> PolicyVersion:
        """The current patch policy, or one version."""
        return self.risk.policy(version)

    def policy_history(self) -> list[PolicyVersion]:
        """Every saved policy version, newest first."""
        return self.risk.policy_history()

    def save_policy(self, policy: Policy, note: str = "") -> PolicyVersion:
        """Save a policy as a new version (audited)."""
        return self.risk.save_policy(policy, note)

    def set_policy_values(self, pairs: Sequence[tuple[str, str]],
                          note: str = "") -> PolicyVersion:
        """Change policy settings and save a new version."""
        return self.risk.set_policy_values(pairs, note)

    def check_role(self, name: str, role: Role, action: str = "") -> None:
        """Refuse (audited) when the policy does not let ``name`` act in ``role``."""
        self.risk.check_role(name, role, action)

    def risk_items(self, now: datetime | None = None) -> list[RiskItem]:
        """Every missing update on the covered assets, highest risk first."""
        return self.risk.risk_items(now)

    def compliance(self, now: datetime | None = None) -> Compliance:
        """The SLA compliance figure and its parts."""
        return self.risk.compliance(now)

    def risk_overview(self, now: datetime | None = None) -> tuple[list[RiskItem], Compliance]:
        """The risk items and the compliance figure made of them, computed once."""
        return self.risk.risk_overview(now)

    def add_review(self, decision: Decision, *, reason: str, by: str, package: str = "",
                   cve: str = "", host: str | None = None, until: date | None = None,
                   planned: date | None = None, pin: str | None = None) -> Review:
        """Record an urgency review (:meth:`RiskService.add_review`)."""
        return self.risk.add_review(decision, reason=reason, by=by, package=package, cve=cve,
                                    host=host, until=until, planned=planned, pin=pin)

    def reviews(self, decision: Decision | None = None) -> list[Review]:
        """Urgency reviews (and exceptions), oldest first."""
        return self.risk.reviews(decision)

    def exceptions(self) -> list[Review]:
        """Every exception, expired ones too."""
        return self.risk.exceptions()

    def end_exception(self, review_id: int, by: str | None = None) -> Review:
        """End an exception now (audited)."""
        return self.risk.end_exception(review_id, by)

    # audit
    def audit_events(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first (filters: object_type, object_id, limit)."""
        return self.audit.events(**filters)

    def audit_verify(self) -> list[ChainProblem]:
        """Check the audit chain (and its seals when the vault is unlocked)."""
        return self.audit.verify()

    def audit_seal_checked(self) -> bool:
        """Whether :meth:`audit_verify` checks the seals now (:meth:`AuditService.seal_checked`)."""
        return self.audit.seal_checked()
