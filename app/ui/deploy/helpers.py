"""What the deploy wizard's pages and the wizard share: page ids, labels, maintenance-window
text, and the CSV/JSON export (through the deployments service).

The phase sets and patch grouping are the core's (:mod:`app.core.deployment`,
:mod:`app.core.patchgroups`). No widgets here: the export runs on a worker thread.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.core.deployment import RebootPolicy, Stage
from app.core.models import Asset, Classification, Ring

if TYPE_CHECKING:
    from app.services import SiteService

# Page ids.
P_PATCHES, P_TARGETS, P_SCHEDULE, P_TEST, P_REVIEW, P_ROLLOUT, P_SUMMARY = range(7)

CLASS_LABELS = {Classification.SECURITY: "Security", Classification.BUGFIX: "Bug fix",
                Classification.ENHANCEMENT: "Enhancement", Classification.OTHER: "Other"}
STAGE_LABELS = {Stage.TEST: "Test", Stage.PILOT: "Pilot", Stage.PRODUCTION: "Production"}
REBOOT_LABELS = {RebootPolicy.NEVER: "Never", RebootPolicy.IF_NEEDED: "If needed",
                 RebootPolicy.ALWAYS: "Always"}
_WINDOW_RE = re.compile(r"^starts (\S+)")


# -- pure helpers ---------------------------------------------------------------------------
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


def export_deployment(service: SiteService, dep_id: int, path: str, kind: str) -> str:
    """Write a deployment as CSV (its hosts) or JSON (all of it, with its log); returns path.

    Runs on a worker thread.
    """
    service.deployments.export(dep_id, path, kind)
    return path
