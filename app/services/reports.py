"""Reports: collect a site's data for the PDF report and the exports, have :mod:`app.reports`
render it, and record each report (for the trend) and export in the audit log.

The PDF renderer (reportlab) is imported when a PDF is written, not with this module: the
command line imports it at start-up.

The shells take everything about reports from here: :data:`SECTIONS`,
:class:`ReportOptions`, :func:`parse_sections`, :class:`ReportResult`, :func:`generate` and
:func:`export` (or ``service.reports``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.clock import utcnow
from app.core.errors import UserError
from app.core.frameworks import FrameworkResult, due_under, duration_text
from app.core.models import PatchStatus
from app.core.progress import CancelToken, Progress, ProgressCallback
from app.core.risk import Compliance, RiskItem
from app.files import atomic_text, write_text
from app.reports.data import (
    SECTIONS,
    Figures,
    ReportData,
    ReportOptions,
    ReportResult,
    compliance_trend,
    compute_figures,
    parse_sections,
)
from app.reports.exports import (
    FORMATS,
    KINDS,
    PATCH_COLUMNS,
    audit_records,
    check_export,
    patch_records,
)
from app.reports.exports import _write_csv as write_csv
from app.reports.exports import _write_json as write_json
from app.reports.exports import write_export as _write_export
from app.reports.handoff import PSA_COLUMNS, ansible_inventory, psa_records, to_yaml
from app.services.audit import head_text
from app.services.base import ServicePart
from app.services.compliance import framework_evidence, framework_results, pick_frameworks
from app.store.deployments import to_json as deployment_json
from app.store.reports import ReportRepo, ReportRun
from app.store.repos import AuditRepo

if TYPE_CHECKING:
    from app.services.site import SiteService

__all__ = ["FORMATS", "KINDS", "SECTIONS", "ReportData", "ReportOptions", "ReportResult",
           "ReportService", "collect", "export", "generate", "parse_sections"]

#: The patch export's columns with a framework's deadline added.
FRAMEWORK_PATCH_COLUMNS = (*PATCH_COLUMNS, "framework", "deadline", "due", "overdue", "clock",
                           "excepted_until")

#: Share of the progress bar given to reading the site (the rest is layout).
COLLECT_SHARE = 0.1


class ReportService(ServicePart):
    """The PDF report and the CSV/JSON exports of one site."""

    def collect(self, options: ReportOptions | None = None, *,
                progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> ReportData:
        """Read everything a report needs from the site.

        Args:
            options: sections and period (default: everything, all history).
            progress: steps done / total.
            cancel: checked between steps.

        Raises:
            Cancelled: cancelled.
        """
        service = self.site
        options = options or ReportOptions()
        steps = 7

        def step(n: int, message: str) -> None:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if progress is not None:
                progress(Progress(n, steps, message))

        step(0, "reading the inventory")
        assets = service.assets()
        assessments = service.assessments()
        step(1, "reading missing updates")
        missing = service.patches()
        excepted = service.patches(status=PatchStatus.EXCEPTED)
        step(2, "reading deployments")
        deployments = [d for d in service.deployments() if options.in_period(d.created_at)]
        logs = {d.id: service.deployment_log(d.id) for d in deployments} \
            if "deployments" in options.sections else {}
        step(3, "verifying the audit log")
        events = service.audit_events()
        problems = service.audit_verify()
        step(4, "reading the credential vault")
        vault = service.credentials.vault_exists
        credentials = len(service.credentials.credentials()) if vault else 0
        history = ReportRepo(self.store.db()).all()
        step(5, "scoring risks against the patch policy")
        now = utcnow()
        # Computed once: the top risks, SLA status and missing-patch columns all read these
        # items, and the compliance figure is made of them (the dashboard's figure).
        risk_items, compliance = service.risk_overview(now)
        judged = framework_results(service, pick_frameworks(options.frameworks), now,
                                   evidence=framework_evidence(
                                       service, now, risk_items=risk_items,
                                       audit_problems=problems, audit_events=len(events),
                                       deployments=deployments)) \
            if options.frameworks else []
        step(6, "computing figures")
        data = ReportData(
            site=service.site(), site_path=str(service.path), options=options,
            generated_at=now, generated_by=service.actor, assets=assets,
            assessments=assessments, missing=missing, excepted=excepted,
            deployments=deployments, deployment_logs=logs,
            audit_events=[e for e in events if options.in_period(e.ts)],
            audit_total=len(events), audit_problems=problems, vault_in_use=vault,
            audit_head=head_text(service.audit.head()),
            credentials=credentials, policy=service.policy(),
            policy_history=service.policy_history(), risk_items=risk_items,
            compliance=compliance, kev=service.kev_status(), reviews=service.reviews(),
            history=history, frameworks=judged,
            stale_feeds=[f"{f.title}: {f.age_days(now)} days old (policy: "
                         f"{service.feeds.max_age_days()} days)"
                         for f in service.feeds.stale(now)],
        )
        step(7, "collected")
        return data

    def chart_figures(self, overview: tuple[list[RiskItem], Compliance] | None = None
                      ) -> tuple[Figures, list[tuple[str, float]]]:
        """The figures and SLA-compliance trend points the report's executive summary
        draws, for the dashboard's charts: the same reads and the same computation.

        Args:
            overview: ``service.risk_overview()`` if the caller has it already.
        """
        service = self.site
        items, compliance = overview or service.risk_overview(utcnow())
        figures = compute_figures(service.assets(), service.assessments(), service.patches(),
                                  compliance, items)
        history = ReportRepo(self.store.db()).all()
        return figures, compliance_trend(history, figures.compliance_pct)

    def generate(self, path: Path | str, options: ReportOptions | None = None, *,
                 progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> ReportResult:
        """Write the site's PDF report and record its key figures (audited).

        Args:
            path: the PDF to write (replaced if it exists).
            options: sections and period.
            progress: reading, then layout progress, as a fraction of 1000.
            cancel: stops between steps and flowables; nothing is written or recorded.

        Raises:
            UserError: the file cannot be written.
            Cancelled: cancelled.
        """
        from app.reports.report import write_pdf

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

        data = self.collect(options, progress=scaled(0, COLLECT_SHARE), cancel=cancel)
        pages = write_pdf(data, path, progress=scaled(COLLECT_SHARE, 1.0), cancel=cancel)
        figures = data.figures.to_dict()
        with self.store.atomic() as db:
            run = ReportRepo(db).add(ReportRun(
                generated_at=data.generated_at, actor=self.actor,
                period_from=data.options.period_from, period_to=data.options.period_to,
                sections=data.options.sections, figures=figures, file=str(path)))
            AuditRepo(db).append(self.actor, "report.generate", "report", str(run.id), {
                "file": str(path), "pages": pages, "sections": list(data.options.sections),
                "frameworks": {r.framework.id: r.counts() for r in data.frameworks},
                "period": data.options.period_text, **figures})
        if progress is not None:
            progress(Progress(total, total, f"wrote {pages} page(s)"))
        return ReportResult(Path(path), pages, time.monotonic() - started, figures)

    def frameworks(self, names: str | Sequence[str], now: datetime | None = None
                   ) -> list[FrameworkResult]:
        """The named compliance frameworks judged on the site's records now (what
        ``patchdesk compliance --framework`` prints and the report's appendices show).

        Raises:
            UserError: an unknown framework id.
        """
        return framework_results(self.site, pick_frameworks(names), now)

    def deployment_records(self, options: ReportOptions | None = None
                           ) -> list[dict[str, Any]]:
        """Deployments (in the period) as their stored JSON, with each one's step log."""
        options = options or ReportOptions()
        deployments = self.site.deployments
        out = []
        for dep in deployments.all():
            if options.in_period(dep.created_at):
                out.append({**deployment_json(dep), "log": deployments.log(dep.id)})
        return out

    def save_document(self, path: Path | str, text: str) -> Path:
        """Write a document a page composed (the patch policy as Markdown) atomically
        (:mod:`app.files`); returns the path.

        Raises:
            UserError: the file cannot be written.
        """
        target = Path(path)
        write_text(target, text)
        return target

    def export(self, kind: str, fmt: str, path: Path | str,
               options: ReportOptions | None = None) -> int:
        """Write one export; return how many records it holds.

        Args:
            kind: ``inventory``, ``patches``, ``deployments`` or ``audit``.
            fmt: ``csv`` or ``json``.
            path: the file to write (replaced).
            options: the period for deployments and audit events (sections are ignored).

        Raises:
            UserError: unknown kind or format, or the file cannot be written.
        """
        check_export(kind, fmt)
        target = Path(path)
        site = self.site
        if kind == "inventory":  # the inventory export exists in the services (and audits)
            return (site.inventory.export_csv(target) if fmt == "csv"
                    else site.inventory.export_json(target))
        # The audit head, to anchor outside the file, in every JSON export ([12].6).
        extra: dict[str, Any] = {"audit_head": site.audit.head()}
        if kind == "patches":
            rows = patch_records(site.inventory.assets(), site.assess.patches())
        elif kind == "deployments":
            rows = self.deployment_records(options)
        else:
            rows = audit_records(site.audit.events(), options)
            problems = site.audit.verify()
            extra["chain"] = {
                "intact": not problems,
                "problems": [{"row": p.row_id, "problem": p.problem} for p in problems]}
        count = _write_export(kind, fmt, target, site.info().to_dict(), rows, extra)
        site.audit.append(f"export.{kind}", "site", "",
                          {"file": str(target), "format": fmt, "records": count})
        return count


    def export_framework_patches(self, framework: str, fmt: str, path: Path | str) -> int:
        """The missing-patch export with each update's deadline under one framework: its
        due date, whether it is overdue there (as the framework's SLA judgement counts it)
        and which clock the deadline runs from. Updates the framework sets no deadline for
        have those columns empty. Returns how many records (audited).

        Raises:
            UserError: unknown framework or format, or the file cannot be written.
        """
        check_export("patches", fmt)
        chosen = pick_frameworks(framework)
        if len(chosen) != 1:
            raise UserError("Name one framework for the patch export.")
        fw = chosen[0]
        site = self.site
        evidence = framework_evidence(site)
        due = due_under(fw, evidence)
        rows = patch_records(site.inventory.assets(), site.assess.patches())
        for row in rows:
            d = due.get((row["asset_id"], row["package"]))
            row.update(framework=fw.id, deadline=duration_text(d.within) if d else "",
                       due=d.due.isoformat() if d else "",
                       overdue=d.overdue if d else "", clock=d.clock if d else "",
                       excepted_until=d.excepted_until.isoformat()
                       if d and d.excepted_until else "")
        target = Path(path)
        if fmt == "csv":
            write_csv(target, FRAMEWORK_PATCH_COLUMNS, rows)
        else:
            write_json(target, site.info().to_dict(), "patches", rows, {
                "framework": {"id": fw.id, "title": fw.title, "version": fw.version,
                              "as_of": evidence.as_of.isoformat()}})
        site.audit.append("export.patches", "site", "", {
            "file": str(target), "format": fmt, "records": len(rows), "framework": fw.id,
            "overdue": sum(1 for d in due.values() if d.overdue)})
        return len(rows)

    def export_psa(self, path: Path | str) -> int:
        """The asset list for a PSA / ticketing import (CSV, :data:`PSA_COLUMNS`); returns
        how many assets (audited)."""
        site = self.site
        info = site.site()
        rows = psa_records(site.inventory.assets(), info.client or info.name)
        target = Path(path)
        write_csv(target, PSA_COLUMNS, rows)
        site.audit.append("export.psa", "site", "", {"file": str(target), "format": "csv",
                                                     "records": len(rows)})
        return len(rows)

    def export_ansible_inventory(self, path: Path | str) -> tuple[int, int]:
        """The Ansible inventory (YAML) of the site's manageable assets: groups by ring,
        OS family, location and tag; connection settings from each asset's credential (user,
        port), never a secret. Returns (hosts written, assets left out) (audited)."""
        site = self.site
        data, skipped = ansible_inventory(site.inventory.assets(),
                                          site.credentials.credentials())
        info = site.site()
        text = (f"# PatchDesk inventory of {info.client or info.name} ({info.name}), written "
                f"{utcnow():%Y-%m-%d %H:%M} UTC.\n# Connection settings only: passwords "
                "and keys stay in PatchDesk's vault.\n" + to_yaml(data))
        target = Path(path)
        with atomic_text(target) as fh:
            fh.write(text)
        hosts = len(data["all"]["hosts"])
        site.audit.append("export.ansible_inventory", "site", "", {
            "file": str(target), "format": "yaml", "records": hosts,
            "groups": len(data["all"].get("children", {})), "skipped": len(skipped)})
        return hosts, len(skipped)


def collect(service: SiteService, options: ReportOptions | None = None, *,
            progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> ReportData:
    """Read everything a report needs from the site (:meth:`ReportService.collect`)."""
    return service.reports.collect(options, progress=progress, cancel=cancel)


def generate(service: SiteService, path: Path | str, options: ReportOptions | None = None, *,
             progress: ProgressCallback | None = None,
             cancel: CancelToken | None = None) -> ReportResult:
    """Write the site's PDF report and record its key figures (:meth:`ReportService.generate`).
    """
    return service.reports.generate(path, options, progress=progress, cancel=cancel)


def export(service: SiteService, kind: str, fmt: str, path: Path | str,
           options: ReportOptions | None = None) -> int:
    """Write one export; return how many records it holds (:meth:`ReportService.export`)."""
    return service.reports.export(kind, fmt, path, options)
