"""What the deploy wizard's pages and the wizard share: page ids, labels, the phases a run
works in, patch grouping, maintenance-window text, and the CSV/JSON export.

No widgets here: the export runs on a worker thread.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.deployment import Deployment, Phase, RebootPolicy, Stage
from app.core.models import Asset, AssetPatch, Classification, Ring, Severity
from app.ui.deployments_page import versions_text

if TYPE_CHECKING:
    from app.services import SiteService

# Page ids.
P_PATCHES, P_TARGETS, P_SCHEDULE, P_TEST, P_REVIEW, P_ROLLOUT, P_SUMMARY = range(7)

CLASS_LABELS = {Classification.SECURITY: "Security", Classification.BUGFIX: "Bug fix",
                Classification.ENHANCEMENT: "Enhancement", Classification.OTHER: "Other"}
_CLASS_RANK = {c: i for i, c in enumerate(CLASS_LABELS)}
_SEVERITY_RANK = {Severity.UNKNOWN: 0, Severity.LOW: 1, Severity.MODERATE: 2,
                  Severity.IMPORTANT: 3, Severity.CRITICAL: 4}
STAGE_LABELS = {Stage.TEST: "Test", Stage.PILOT: "Pilot", Stage.PRODUCTION: "Production"}
REBOOT_LABELS = {RebootPolicy.NEVER: "Never", RebootPolicy.IF_NEEDED: "If needed",
                 RebootPolicy.ALWAYS: "Always"}
#: Phases in which a run has work to do.
RUNNING_PHASES = frozenset({Phase.PLANNED, Phase.PREFLIGHT, Phase.TEST_RING, Phase.PILOT,
                            Phase.PRODUCTION, Phase.VERIFICATION})


def halted_at_preflight(dep: Deployment | None) -> bool:
    """Halted before anything was installed: overrides and a retry can go on."""
    return dep is not None and dep.phase is Phase.HALTED and dep.untouched


def paused_after_preflight(dep: Deployment) -> bool:
    """A run started with ``pause_after_preflight`` came back right after pre-flight: hosts
    were left out, and nothing is installed until someone overrides them or goes on.

    The engine's ``run`` only returns in a phase that still has work when it was cancelled
    or paused there, so the caller checks its cancel token too.
    """
    return dep.phase in RUNNING_PHASES - {Phase.PLANNED, Phase.PREFLIGHT} \
        and any(t.excluded for t in dep.targets)


_WINDOW_RE = re.compile(r"^starts (\S+)")


# -- pure helpers ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PatchGroup:
    """One package at one candidate version, with the hosts missing it."""

    package: str
    version: str
    classification: Classification
    severity: Severity
    asset_ids: tuple[int, ...]
    cves: tuple[str, ...] = ()
    reboot: bool = False

    @property
    def spec(self) -> str:
        """``name=version`` as the planner takes it."""
        return f"{self.package}={self.version}"


def group_patches(patches: Iterable[AssetPatch]) -> list[PatchGroup]:
    """Missing patches grouped by (package, candidate version), most urgent first."""
    groups: dict[tuple[str, str], list[AssetPatch]] = {}
    for patch in patches:
        groups.setdefault((patch.package, patch.candidate_version), []).append(patch)
    out = []
    for (package, version), items in groups.items():
        out.append(PatchGroup(
            package=package, version=version,
            classification=min((p.classification for p in items),
                               key=lambda c: _CLASS_RANK.get(c, 9)),
            severity=max((p.severity for p in items), key=lambda s: _SEVERITY_RANK.get(s, 0)),
            asset_ids=tuple(sorted({p.asset_id for p in items})),
            cves=tuple(sorted({c for p in items for c in p.cves})),
            reboot=any(p.reboot_required for p in items)))
    out.sort(key=lambda g: (_CLASS_RANK.get(g.classification, 9),
                            -_SEVERITY_RANK.get(g.severity, 0), g.package, g.version))
    return out


def default_stage(asset: Asset) -> Stage:
    """The ring an asset is deployed in by default: its own ring, else production."""
    return {Ring.TEST: Stage.TEST, Ring.PILOT: Stage.PILOT}.get(asset.ring, Stage.PRODUCTION)


def window_text(start: datetime) -> str:
    """The stored form of a maintenance-window start (``Deployment.window``)."""
    return f"starts {start.astimezone(UTC).isoformat(timespec='seconds')}"


def window_start(window: str) -> datetime | None:
    """The start time of a stored maintenance window, or None ("now")."""
    match = _WINDOW_RE.match(window or "")
    if not match:
        return None
    try:
        return datetime.fromisoformat(match.group(1))
    except ValueError:
        return None


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell that a spreadsheet would run as a formula is exported as text.
    return "'" + text if text.startswith(_FORMULA_START) else text


CSV_COLUMNS = ("deployment", "host", "address", "ring", "wave", "state", "verified",
               "before", "after", "reboot", "detail", "preflight", "override", "started_at",
               "finished_at")


def targets_csv(dep: Deployment) -> str:
    """The deployment's hosts as CSV text (one row per target)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in dep.targets:
        writer.writerow([_cell(v) for v in (
            dep.id, t.label, t.address, t.stage, t.wave + 1, t.state, t.verified,
            versions_text(t.before), versions_text(t.after), t.reboot, t.detail,
            "; ".join(t.preflight), t.override,
            t.started_at.isoformat() if t.started_at else "",
            t.finished_at.isoformat() if t.finished_at else "")])
    return out.getvalue()


def export_deployment(service: SiteService, dep_id: int, path: str, kind: str) -> str:
    """Write a deployment as CSV (its hosts) or JSON (all of it, with its log); returns path.

    Runs on a worker thread.
    """
    if kind == "json":
        text = json.dumps(service.deployment_json(dep_id), indent=2, sort_keys=True) + "\n"
    else:
        text = targets_csv(service.deployment(dep_id))
    Path(path).write_text(text, encoding="utf-8")
    return path
