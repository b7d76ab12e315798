"""Render a site's PDF report from the :class:`ReportData` it is given, written atomically."""

from __future__ import annotations

import gc
from pathlib import Path

from app.core.progress import CancelToken, ProgressCallback
from app.files import atomic_binary
from app.reports.data import ReportData
from app.reports.pdf import Branding, load_logo, render
from app.reports.sections import build_story


def branding_for(data: ReportData) -> Branding:
    """Header, footer and cover text of a report."""
    site = data.site
    return Branding(
        title="Patch management report", client=site.client, site_name=site.name,
        address=site.address, msp=site.msp_name, logo=load_logo(site.logo_path),
        period=data.options.period_text, generated=f"{data.generated_at:%Y-%m-%d %H:%M} UTC")


def write_pdf(data: ReportData, path: Path | str, *, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> int:
    """Render collected data to a PDF file (written atomically, :mod:`app.files`); return pages.

    Raises:
        UserError: the file cannot be written.
        Cancelled: cancelled; no file is left behind.
    """
    target = Path(path)
    # The collected data (20,000 scored items on a large site) lives through the whole
    # layout and never forms garbage: keep the cyclic collector from re-scanning it at every
    # full collection (~10% of the layout time at 1,000 hosts). Unfrozen afterwards.
    gc.freeze()
    try:
        with atomic_binary(target) as fh:
            pages = render(build_story(data), fh, branding_for(data), progress=progress,
                           cancel=cancel)
    finally:
        gc.unfreeze()
    return pages
