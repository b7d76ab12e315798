"""Assessment: deep scans of hosts over SSH or WinRM (facts, software, missing updates,
reboot)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from app.core.assessment import Assessment, HostFacts, LookupStats, Update, clean_facts
from app.core.clock import utcnow
from app.core.credentials import CredentialKind
from app.core.errors import NotFoundError, UserError
from app.core.inventory_merge import apply_facts
from app.core.models import Asset, AssetPatch, Classification, PatchStatus, Software
from app.core.progress import CancelToken, Progress, ProgressCallback
from app.drivers.changelogs import ChangelogBroker
from app.drivers.registry import assess_host, assess_windows_host
from app.remote.ssh import ConnectionLostError
from app.remote.vault import VaultLockedError
from app.services.base import ServicePart
from app.store.assessments import AssessmentRecord, AssessmentRepo
from app.store.changelogs import ChangelogCache
from app.store.feeds import FixIndex
from app.store.people import IdentityConflictRepo
from app.store.repos import AssetRepo, AuditRepo, asset_diff

log = logging.getLogger(__name__)


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
    driver: str = ""
    missing: tuple[Update, ...] = ()  # the missing updates found

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
                   lookups=result.lookups, warnings=tuple(result.warnings),
                   driver=result.driver, missing=tuple(result.updates))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"asset_id": self.asset_id, "host": self.label, "ip": self.ip, "ok": self.ok,
                "error_kind": self.kind or None, "error": self.message or None,
                "updates": self.updates, "security_updates": self.security_updates,
                "reboot_required": self.reboot_required,
                "duration_s": round(self.duration, 3), "warnings": list(self.warnings),
                "cve_lookups": self.lookups.to_dict() if self.lookups else None,
                "driver": self.driver or None,
                "missing": [{"package": u.package, "kb": u.kb or None, "arch": u.arch,
                             "installed_version": u.installed_version,
                             "candidate_version": u.candidate_version,
                             "classification": str(u.classification),
                             "severity": str(u.severity), "cves": list(u.cves),
                             "advisories": list(u.advisories), "source": u.source,
                             "reboot_required": u.reboot_required} for u in self.missing]}


def _error_kind(exc: BaseException) -> str:
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str):
        return kind
    if isinstance(exc, NotFoundError):
        return "no_credential"
    return "error"


class AssessmentService(ServicePart):
    """Deep scans of the site's hosts and what they found."""

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
        remote = self.site.remote
        if not remote.unlocked:
            raise VaultLockedError("Unlock the credential vault before assessing hosts.")
        assets = self.site.inventory.assets()
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
        changelogs.advisories = FixIndex(self.store)  # trackers first (app/drivers/advisories)

        def one(asset: Asset) -> None:
            nonlocal done
            started = utcnow()
            clock = time.monotonic()
            outcome: HostOutcome
            if cancel.cancelled:
                outcome = HostOutcome.failure(asset, "cancelled", "not started: cancelled", 0.0)
            else:
                try:
                    # Windows hosts (by OS, by open WinRM ports, or by their credential)
                    # go over WinRM to the Windows driver; the others over SSH.
                    if remote.access_kind(asset) is CredentialKind.WINRM:
                        result = assess_windows_host(
                            remote.winrm_transport_for(asset), refresh=refresh,
                            should_stop=lambda: cancel.cancelled)
                    else:
                        try:
                            result = assess_host(remote.transport_for(asset),
                                                 refresh=refresh, changelogs=changelogs)
                        except ConnectionLostError as lost:  # read-only work: once more
                            log.warning("%s: %s; assessing it again", asset.label, lost)
                            result = assess_host(remote.transport_for(asset),
                                                 refresh=refresh, changelogs=changelogs)
                except Exception as exc:  # every host failure is recorded, none stops the run
                    kind = "cancelled" if cancel.cancelled else _error_kind(exc)
                    message = str(exc) if isinstance(exc, UserError) else (
                        f"internal error: {type(exc).__name__}: {exc}")
                    if kind == "error":
                        log.exception("assessing %s failed", asset.label)
                    outcome = HostOutcome.failure(asset, kind, message,
                                                  time.monotonic() - clock)
                    if kind != "cancelled":
                        try:
                            self._store_failure(asset, started, outcome)
                        except Exception:  # the outcome still reports it ([12].1)
                            log.exception("storing the failure of %s failed", asset.label)
                else:
                    outcome = HostOutcome.success(asset, result, time.monotonic() - clock)
                    try:  # storing is per host: a refused result is this host's error
                        self._store_assessment(asset, started, result)
                    except Exception as exc:  # ([12].1)
                        outcome = self._store_refused(asset, started, exc,
                                                      time.monotonic() - clock)
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

    def _store_refused(self, asset: Asset, started: datetime, exc: Exception,
                       duration: float) -> HostOutcome:
        """A host's result the site would not store (e.g. a constraint its output broke):
        stored as that host's failure and audited; the run goes on."""
        log.warning("storing the assessment of %s failed", asset.label, exc_info=exc)
        outcome = HostOutcome.failure(asset, "store_failed", "the host's result could not be "
                                      f"stored ({type(exc).__name__}: {exc})", duration)
        try:
            self._store_failure(asset, started, outcome)
            with self.store.atomic() as db:
                AuditRepo(db).append(self.actor, "assess.store_failed", "asset",
                                     str(asset.id), {"label": asset.label,
                                                     "error": outcome.message})
        except Exception:  # the site refuses every write: the outcome still says it
            log.exception("recording the failure of %s failed", asset.label)
        return outcome

    def _store_failure(self, asset: Asset, started: datetime, outcome: HostOutcome) -> None:
        with self.store.atomic() as db:
            AssessmentRepo(db).record_failure(int(asset.id or 0), started, utcnow(),
                                              outcome.kind, outcome.message)

    def _store_assessment(self, asset: Asset, started: datetime, result: Assessment) -> None:
        facts, warnings = clean_facts(result.facts)  # the host's word is untrusted ([12].5)
        result = replace(result, facts=facts, warnings=[*result.warnings, *warnings])
        with self.store.atomic() as db:
            AssessmentRepo(db).record_success(int(asset.id or 0), started, utcnow(), result)
            repo = AssetRepo(db)
            current = repo.get(int(asset.id or 0))
            facts = self._without_claimed_macs(db, current, facts)
            updated = apply_facts(current, facts)
            changes = asset_diff(current, updated)
            if changes:
                repo.update(updated)
                AuditRepo(db).append(self.actor, "asset.edit", "asset", str(asset.id), {
                    "label": updated.label, "changes": changes, "source": "assess"})

    def _without_claimed_macs(self, db: Any, asset: Asset, facts: HostFacts) -> HostFacts:
        """The facts without MAC addresses another asset already has: a host claiming
        another's identity never takes over its record. Both are kept; the conflict is
        recorded for a person and audited ([12].5)."""
        owners = {m: a for a in AssetRepo(db).all() if a.id != asset.id for m in a.macs}
        kept = []
        for iface in facts.interfaces:
            other = owners.get(iface.mac or "")
            if other is None or iface.mac in asset.macs:
                kept.append(iface)
                continue
            if IdentityConflictRepo(db).add(int(asset.id or 0), int(other.id or 0),
                                            str(iface.mac), "assess"):
                log.warning("%s reports the MAC address %s of %s", asset.label, iface.mac,
                            other.label)
                AuditRepo(db).append(self.actor, "asset.identity_conflict", "asset",
                                     str(asset.id), {
                                         "label": asset.label, "mac": iface.mac,
                                         "other_asset_id": other.id,
                                         "other_label": other.label, "source": "assess",
                                         "kept": "both records; a person decides"})
            kept.append(replace(iface, mac=None))
        return replace(facts, interfaces=tuple(kept))

    def identity_conflicts(self, asset_id: int) -> list[dict[str, Any]]:
        """The unresolved identity conflicts of an asset (either side)."""
        return IdentityConflictRepo(self.store.db()).open_for(asset_id)

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
