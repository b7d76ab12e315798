"""Generate a site's PDF report: collect, render, write atomically, record for the trend."""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.errors import UserError
from app.core.progress import CancelToken, Progress, ProgressCallback
from app.reports.data import ReportData, ReportOptions, collect
from app.reports.pdf import Branding, load_logo, render
from app.reports.sections import build_story
from app.store.reports import ReportRepo, ReportRun
from app.store.repos import AuditRepo

if TYPE_CHECKING:
    from app.services import SiteService

#: Share of the progress bar given to reading the site (the rest is layout).
COLLECT_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What a generated report holds."""

    path: Path
    pages: int
    seconds: float
    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"path": str(self.path), "pages": self.pages,
                "seconds": round(self.seconds, 2), "figures": self.figures}


def branding_for(data: ReportData) -> Branding:
    """Header, footer and cover text of a report."""
    site = data.site
    return Branding(
        title="Patch management report", client=site.client, site_name=site.name,
        address=site.address, msp=site.msp_name, logo=load_logo(site.logo_path),
        period=data.options.period_text, generated=f"{data.generated_at:%Y-%m-%d %H:%M} UTC")


def write_pdf(data: ReportData, path: Path | str, *, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> int:
    """Render collected data to a PDF file (written via a temporary sibling); return pages.

    Raises:
        UserError: the file cannot be written.
        Cancelled: cancelled; no file is left behind.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    # The collected data (20,000 scored items on a large site) lives through the whole
    # layout and never forms garbage: keep the cyclic collector from re-scanning it at every
    # full collection (~10% of the layout time at 1,000 hosts). Unfrozen afterwards.
    gc.freeze()
    try:
        with tmp.open("wb") as fh:
            pages = render(build_story(data), fh, branding_for(data), progress=progress,
                           cancel=cancel)
        os.replace(tmp, target)
    except OSError as exc:
        raise UserError(f"Cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        gc.unfreeze()
        tmp.unlink(missing_ok=True)
    return pages


def generate_report(service: SiteService, path: Path | str,
                    options: ReportOptions | None = None, *,
                    progress: ProgressCallback | None = None,
                    cancel: CancelToken | None = None) -> ReportResult:
    """Write the site's PDF report and record its key figures (audited).

    Args:
        service: the open site.
        path: the PDF to write (replaced if it exists).
        options: sections and period.
        progress: reading, then layout progress, as a fraction of 1000.
        cancel: stops between steps and flowables; nothing is written or recorded.

    Raises:
        UserError: the file cannot be written.
        Cancelled: cancelled.
    """
    started = time.monotonic()
    total = 1000

    def scaled(lo: float, hi: float) -> ProgressCallback | None:
        if progress is None:
            return None
        report = progress

        def forward(p: Progress) -> None:
            done = int(total * (lo + (hi - lo) * p.fraction))
            report(Progress(done, total, p.message))

        return forward

    data = collect(service, options, progress=scaled(0, COLLECT_SHARE), cancel=cancel)
    pages = write_pdf(data, path, progress=scaled(COLLECT_SHARE, 1.0), cancel=cancel)
    figures = data.figures.to_dict()
    with service.store.atomic() as db:
        run = ReportRepo(db).add(ReportRun(
            generated_at=data.generated_at, actor=service.actor,
            period_from=data.options.period_from, period_to=data.options.period_to,
            sections=data.options.sections, figures=figures, file=str(path)))
        AuditRepo(db).append(service.actor, "report.generate", "report", str(run.id), {
            "file": str(path), "pages": pages, "sections": list(data.options.sections),
            "period": data.options.period_text, **figures})
    if progress is not None:
        progress(Progress(total, total, f"wrote {pages} page(s)"))
    return ReportResult(Path(path), pages, time.monotonic() - started, figures)
