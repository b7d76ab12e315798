"""The one door for every shell: per-domain services behind the :class:`SiteService` facade.

``SiteService`` (in :mod:`app.services.site`) owns ``inventory``, ``discovery``,
``assess``, ``deployments``, ``risk``, ``credentials``, ``reports`` and ``audit``, one module
each. The names the shells used before the split are re-exported here.
"""

from typing import TYPE_CHECKING, Any

from app.core.inventory_merge import apply_facts
from app.services.discovery import (
    LargeRangeError,
    PublicScanError,
    ScanRecord,
    check_scan_range,
    local_scan_ranges,
    observation_from,
    parse_scan_ports,
    scan_profiles,
)
from app.services.inventory import (
    MAX_CSV_BYTES,
    CsvPreview,
    ImportReport,
    asset_to_json,
    preview_csv,
)
from app.services.site import SiteInfo, SiteService, current_user, default_site_path

if TYPE_CHECKING:
    from app.services.assessment import HostOutcome

__all__ = [
    "MAX_CSV_BYTES",
    "CsvPreview",
    "HostOutcome",
    "ImportReport",
    "LargeRangeError",
    "PublicScanError",
    "ScanRecord",
    "SiteInfo",
    "SiteService",
    "apply_facts",
    "asset_to_json",
    "check_scan_range",
    "current_user",
    "default_site_path",
    "local_scan_ranges",
    "observation_from",
    "parse_scan_ports",
    "preview_csv",
    "scan_profiles",
]


def __getattr__(name: str) -> Any:
    """``HostOutcome`` on first use: its module brings the drivers."""
    if name == "HostOutcome":
        from app.services import assessment

        return getattr(assessment, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
