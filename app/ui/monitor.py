"""Monitoring while the app runs: scheduled rescans and deep scans, and a notification when
something new appears (DESIGN §2.11).

Every ``monitor_hours`` (a per-site setting; 0, the default, means off) the :class:`Monitor`
repeats the site's last network scan and, when the credential vault is unlocked, deep-scans
the assets, both on the worker pool through the existing services. It compares a snapshot
of the site from before with one from after: new missing updates, new devices, updates that
became overdue, new known-exploited matches and halted deployments. The differences come
out as :attr:`Monitor.checked` and, when there are any, as a tray notification.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.core.deployment import Phase
from app.core.progress import CancelToken, Progress
from app.ui.qt import QObject, QSystemTrayIcon, QTimer, Signal
from app.ui.tasks import Task, TaskError, TaskRunner

log = logging.getLogger(__name__)

#: Per-site setting keys (``SiteService.settings()``) and their defaults.
MONITOR_HOURS = "monitor_hours"
STALE_DAYS = "stale_days"
DEFAULT_STALE_DAYS = 30


def monitor_hours(settings: dict[str, Any]) -> float:
    """The check interval in hours from the site settings (0: monitoring is off)."""
    try:
        return max(0.0, float(settings.get(MONITOR_HOURS) or 0))
    except (TypeError, ValueError):
        return 0.0


def stale_days(settings: dict[str, Any]) -> int:
    """After how many days an assessment counts as stale (default 30)."""
    try:
        value = int(settings.get(STALE_DAYS) or DEFAULT_STALE_DAYS)
    except (TypeError, ValueError):
        return DEFAULT_STALE_DAYS
    return value if value > 0 else DEFAULT_STALE_DAYS


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the monitor compares between two checks."""

    labels: dict[int, str]
    patches: frozenset[tuple[int, str, str]]  # (asset id, package, candidate version)
    overdue: frozenset[tuple[int, str]]
    kev: frozenset[tuple[int, str, str]]  # (asset id, package, CVE)
    halted: frozenset[int]  # deployment ids


def take_snapshot(service: Any, now: datetime | None = None) -> Snapshot:
    """Read the site's current state (worker thread)."""
    now = now or datetime.now(UTC)
    labels = {a.id: a.label for a in service.assets() if a.id is not None}
    patches = frozenset((p.asset_id, p.package, p.candidate_version)
                        for p in service.patches())
    items = service.risk_items(now)
    overdue = frozenset((i.asset_id, i.package) for i in items if i.overdue)
    kev = frozenset((i.asset_id, i.package, e.cve_id) for i in items for e in i.kev)
    halted = frozenset(d.id for d in service.deployments() if d.phase is Phase.HALTED)
    return Snapshot(labels, patches, overdue, kev, halted)


@dataclass(frozen=True, slots=True)
class Changes:
    """What is new since the previous check, each as short lines (``openssl on web01``)."""

    new_patches: tuple[str, ...] = ()
    new_devices: tuple[str, ...] = ()
    new_overdue: tuple[str, ...] = ()
    new_kev: tuple[str, ...] = ()
    failed_deployments: tuple[str, ...] = ()
    ran: tuple[str, ...] = field(default=())  # what the check did ("rescan 10.0.0.0/24")

    def __bool__(self) -> bool:
        return bool(self.new_patches or self.new_devices or self.new_overdue or self.new_kev
                    or self.failed_deployments)

    def summary(self) -> str:
        """The notification's text: one line per kind of news."""
        parts = []
        for items, one, many in (
                (self.new_patches, "new missing update", "new missing updates"),
                (self.new_devices, "new device", "new devices"),
                (self.new_overdue, "update now overdue", "updates now overdue"),
                (self.new_kev, "new known-exploited match", "new known-exploited matches"),
                (self.failed_deployments, "deployment halted", "deployments halted")):
            if items:
                shown = ", ".join(items[:3]) + (f" +{len(items) - 3}" if len(items) > 3
                                                 else "")
                parts.append(f"{len(items)} {one if len(items) == 1 else many}: {shown}")
        return "\n".join(parts) or "Nothing new."


def changes_between(before: Snapshot, after: Snapshot, ran: tuple[str, ...] = ()) -> Changes:
    """What appeared in ``after`` that was not in ``before``."""
    def label(asset_id: int) -> str:
        return after.labels.get(asset_id) or before.labels.get(asset_id) or f"#{asset_id}"

    return Changes(
        new_patches=tuple(sorted(f"{p} on {label(a)}" for a, p, _v in
                                 after.patches - before.patches)),
        new_devices=tuple(sorted(label(a) for a in set(after.labels) - set(before.labels))),
        new_overdue=tuple(sorted(f"{p} on {label(a)}" for a, p in
                                 after.overdue - before.overdue)),
        new_kev=tuple(sorted(f"{c} ({p} on {label(a)})" for a, p, c in
                             after.kev - before.kev)),
        failed_deployments=tuple(f"deployment {d}" for d in sorted(after.halted -
                                                                    before.halted)),
        ran=ran,
    )


class Monitor(QObject):
    """Scheduled checks of one open site, with a notification when something is new.

    Args:
        runner: the window's task runner (checks run on its read pool).
        can_assess: whether deep scans may run now (the credential vault is unlocked).
        is_busy: whether the user is running a scan or a deep scan (the check waits).
    """

    #: A check finished (:class:`Changes`, possibly empty).
    checked = Signal(object)
    #: A notification was shown (title, text).
    notified = Signal(str, str)

    def __init__(self, runner: TaskRunner, can_assess: Callable[[], bool] = lambda: False,
                 is_busy: Callable[[], bool] = lambda: False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.can_assess = can_assess
        self.is_busy = is_busy
        self.service: Any = None
        self.baseline: Snapshot | None = None
        self.hours = 0.0
        self.task: Task | None = None
        self.tray: QSystemTrayIcon | None = None
        self.last_changes: Changes | None = None
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check_now)

    def set_service(self, service: Any, settings: dict[str, Any] | None = None) -> None:
        """Watch another site (None: stop); the interval comes from its settings."""
        if self.task is not None:
            self.task.cancel()
        self.service = service
        self.baseline = None
        self.configure(monitor_hours(settings or {}) if service is not None else 0)
        if service is not None and self.hours:
            self._take_baseline()

    def configure(self, hours: float) -> None:
        """Check every ``hours`` (0: off)."""
        self.hours = max(0.0, hours)
        if self.hours and self.service is not None:
            self.timer.start(max(60_000, int(self.hours * 3_600_000)))
        else:
            self.timer.stop()

    @property
    def active(self) -> bool:
        """Whether scheduled checks are on."""
        return self.timer.isActive()

    def _take_baseline(self) -> None:
        service = self.service

        def done(snapshot: Snapshot) -> None:
            if service is self.service and self.baseline is None:
                self.baseline = snapshot

        self.runner.submit(lambda: take_snapshot(service), name="monitor baseline",
                           on_result=done, on_error=self._on_error)

    def check_now(self) -> Task | None:
        """Rescan and deep-scan as the settings say, then report what is new (worker pool).

        Returns:
            The running check, or None when there is no site or one is already running.
        """
        service = self.service
        if service is None or self.task is not None:
            return None
        if self.is_busy():
            log.info("monitor: the user is scanning; the check waits for the next round")
            return None
        baseline = self.baseline
        assess = self.can_assess()

        def run(progress: Callable[[Progress], None],
                cancel: CancelToken) -> tuple[Snapshot, Snapshot, tuple[str, ...]]:
            before = baseline or take_snapshot(service)
            ran: list[str] = []
            scans = service.scans(1)
            if scans and scans[0].targets:  # the last range scanned, as it was scanned
                last = scans[0]
                service.scan_network(last.targets, exclude=last.exclude,
                                     ports=list(last.ports) or None, progress=progress,
                                     cancel=cancel)
                ran.append(f"rescan of {last.targets}")
            if assess and not cancel.cancelled:
                outcomes = service.assess_assets(progress=progress, cancel=cancel)
                ran.append(f"deep scan of {len(outcomes)} host(s)")
            return before, take_snapshot(service), tuple(ran)

        def done(result: tuple[Snapshot, Snapshot, tuple[str, ...]]) -> None:
            if service is not self.service:
                return
            before, after, ran = result
            self.baseline = after
            changes = changes_between(before, after, ran)
            self.last_changes = changes
            if changes:
                self.notify(changes)
            self.checked.emit(changes)

        def finished() -> None:
            self.task = None

        task = self.runner.submit(run, name="monitor check", with_progress=True,
                                  on_result=done, on_error=self._on_error)
        task.finished.connect(finished)
        self.task = task
        return task

    def notify(self, changes: Changes) -> None:
        """Tell the user (tray balloon where the desktop has a tray)."""
        title = "PatchDesk: something new on this site"
        text = changes.summary()
        tray = self.tray
        if tray is not None and QSystemTrayIcon.isSystemTrayAvailable() and tray.isVisible():
            tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 15_000)
        self.notified.emit(title, text)

    def _on_error(self, error: TaskError) -> None:
        # A failed background check is logged, never a modal box popping up unattended.
        log.warning("monitor check failed: %s", error.message)
