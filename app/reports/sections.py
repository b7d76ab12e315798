"""The report's sections, one function each, turning :class:`ReportData` into flowables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    Spacer,
    Table,
)
from reportlab.platypus import TableStyle as GridStyle

from app.core.models import AssetPatch, Classification
from app.core.patchgroups import SEVERITY_RANK, group_patches
from app.core.policy import PolicyVersion
from app.core.risk import PRIORITY_ORDER, Decision
from app.reports import charts
from app.reports.appendix import checklist, deployments, exceptions, hosts, policy_appendix
from app.reports.cells import (
    _d,
    _day,
    _due,
    _n,
    _pct,
    _prio,
    _sev,
    _some,
    _update_name,
)
from app.reports.data import (
    SECTIONS,
    ReportData,
    compliance_trend,
    hours_text,
    short_why,
    stored_figure,
)
from app.reports.frameworks import framework_appendices, framework_summary
from app.reports.pdf import (
    ACCENT,
    ACCENT_LIGHT,
    BAD,
    Heading,
    Styles,
    TocPlaceholder,
)
from app.reports.table import Cell

#: Page orientation of each section (wide tables go landscape).
ORIENTATION = {"exec": "portrait", "inventory": "landscape", "patches": "landscape",
               "deployments": "landscape", "exceptions": "portrait",
               "checklist": "portrait", "hosts": "portrait"}
#: Sections after which the patch-policy appendix is printed (they cite it).
POLICY_APPENDIX_AFTER = ("exec", "checklist")


def policy_in_force(version: PolicyVersion) -> str:
    """Which policy version applies, said in one sentence."""
    if version.version == 0:
        return ("No patch policy has been saved for this site yet, so PatchDesk's default "
                "policy (version 0) applies.")
    return (f"Patch policy version {version.version}, saved by {version.author or 'unknown'} "
            f"on {_d(version.created_at)} UTC, is in force.")


def build_story(data: ReportData) -> Callable[[Styles], list[Flowable]]:
    """The story builder for :func:`app.reports.pdf.render`."""

    def build(st: Styles) -> list[Flowable]:
        story: list[Flowable] = cover(data, st)
        story += [NextPageTemplate("portrait"), PageBreak(),
                  Heading("Contents", st.h1, 0, toc=False), TocPlaceholder()]
        for number, key in enumerate(data.options.sections, start=1):
            story += [NextPageTemplate(ORIENTATION[key]), PageBreak()]
            story += SECTION_BUILDERS[key](data, st, number)
        if any(k in data.options.sections for k in POLICY_APPENDIX_AFTER):
            story += [NextPageTemplate("portrait"), PageBreak(), *policy_appendix(data, st)]
        story += framework_appendices(data, st)
        return story

    return build


def cover(data: ReportData, st: Styles) -> list[Flowable]:
    """The cover page."""
    site = data.site
    f = data.figures
    out: list[Flowable] = [
        Spacer(1, 25 * mm),
        st.para("Patch management report", st.cover_title),
        Spacer(1, 6 * mm),
        st.para(site.client or site.name, st.cover_big),
    ]
    if site.client and site.name != site.client:
        out.append(st.para(f"Site: {site.name}", st.cover_text))
    if site.address:
        out.append(st.para(site.address, st.cover_text))
    out += [
        Spacer(1, 12 * mm),
        _facts_grid(st, [
            ("Period", data.options.period_text),
            ("Generated", f"{_d(data.generated_at)} UTC by {data.generated_by}"),
            ("Prepared by", site.msp_name or "—"),
            ("Assets", f"{_n(f.assets)} ({_n(f.assessed)} assessed)"),
            ("Sections", ", ".join(SECTIONS[s] for s in data.options.sections)),
        ]),
    ]
    return out


def _facts_grid(st: Styles, rows: Sequence[tuple[str, str]]) -> Table:
    table = Table([[st.para(k, st.small), st.para(v)] for k, v in rows],
                  colWidths=[35 * mm, None])
    table.setStyle(GridStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#C9D2DE")),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


def _tiles(st: Styles, tiles: Sequence[tuple[str, str, str]]) -> Table:
    cells = [[st.para(value, st.tile_value), st.para(label, st.h3),
              st.para(detail, st.tile_label)] for value, label, detail in tiles]
    table = Table([cells], colWidths=[None] * len(tiles))
    table.setStyle(GridStyle([
        ("BACKGROUND", (0, 0), (-1, -1), ACCENT_LIGHT),
        ("LINEABOVE", (0, 0), (-1, 0), 2.5, ACCENT),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 7),
        ("RIGHTPADDING", (0, 0), (-1, -1), 7),
        ("TOPPADDING", (0, 0), (-1, -1), 6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
        ("LINEAFTER", (0, 0), (-2, -1), 3, colors.white),
    ]))
    return table


def _side_by_side(*drawings: Flowable) -> Table:
    table = Table([list(drawings)])
    table.setStyle(GridStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return table


def executive(data: ReportData, st: Styles, number: int) -> list[Flowable]:
    """1. SLA compliance, missing patches, devices by OS, SLA status, trend and top risks."""
    f = data.figures
    c = data.compliance
    fonts = st.fonts
    site = data.site
    out: list[Flowable] = [Heading(f"{number}. Executive summary", st.h1, 0)]
    out.append(st.para(
        f"This report covers {_n(f.assets)} asset(s) of {site.client or site.name} "
        f"({data.options.period_text}). {_n(f.assessed)} were deep-scanned successfully, "
        f"{_n(f.assessment_failed)} could not be scanned at their last attempt and "
        f"{_n(f.not_assessed)} have never been scanned."))
    out += framework_summary(data, st)
    due_soon = sum(1 for i in data.risk_items if not i.overdue
                   and (i.due - data.generated_at).days < 7)
    out.append(_tiles(st, [
        (_pct(c.percent), "SLA compliance",
         f"{_n(c.on_time)} of {_n(c.pairs)} missing security update(s) within their SLA"
         + (f" ({_n(c.excepted)} under exception)" if c.excepted else "")),
        (_n(f.missing_total), "Missing updates",
         f"{_n(f.missing_security)} security; {_n(f.by_severity.get('critical', 0))} "
         f"critical on {_n(f.hosts_with_missing)} host(s)"),
        (_n(f.overdue), "Overdue",
         f"past their due date on {_n(len({i.asset_id for i in data.risk_items if i.overdue}))}"
         f" host(s); {_n(due_soon)} more due within 7 days"),
        (_n(f.assets), "Assets",
         f"{_n(f.assessed)} assessed, {_n(f.fully_patched)} fully patched, "
         f"{_n(f.reboot_required)} waiting for a reboot"),
    ]))
    out.append(st.para(
        "SLA compliance is the share of missing (asset, security update) pairs on the "
        "assets the patch policy covers that are not past their SLA due date (an update "
        "under an unexpired exception counts as on time, one whose exception expired as "
        "overdue; 100% when none is missing) — the same figure as the dashboard. It counts "
        f"only what deep scans found: {_n(f.assessed)} of {_n(f.assets)} asset(s) are "
        f"assessed, {_n(f.not_assessed)} never scanned and {_n(f.assessment_failed)} failed "
        f"their last scan, so their updates are not in it. {_n(c.assets_compliant)} of "
        f"{_n(c.assets)} covered asset(s) have no overdue security update.", st.small))
    # What to act on first, then the pictures and the trend.
    out += _sla_status(data, st)
    out += _top_risks(data, st)
    severity = list(f.by_severity.items())
    out.append(Spacer(1, 4 * mm))
    out.append(_side_by_side(
        charts.bar_chart("Missing updates by severity", severity, fonts.regular, fonts.bold,
                         bar_colours=[charts.SEVERITY_COLOURS.get(s, ACCENT)
                                      for s, _ in severity]),
        charts.pie_chart("Missing updates by classification",
                         list(f.by_classification.items()), fonts.regular, fonts.bold)))
    os_items = list(f.by_os.items())
    if len(os_items) > 8:
        os_items = [*os_items[:7], ("Other", sum(v for _, v in os_items[7:]))]
    scans = [("No missing security update", f.compliant),
             ("Security updates missing", f.assessed - f.compliant),
             ("Scan failed", f.assessment_failed), ("Never scanned", f.not_assessed)]
    out.append(_side_by_side(
        charts.bar_chart("Devices by operating system", os_items, fonts.regular, fonts.bold),
        charts.pie_chart("Assets by scan result", scans, fonts.regular, fonts.bold)))

    # Kept with its heading, so the heading never ends a page alone.
    out.append(KeepTogether([Heading("Trend since the last report", st.h2, 1),
                             *_trend(data, st)]))
    return out


def _sla_status(data: ReportData, st: Styles) -> list[Flowable]:
    """Overdue items per priority against the policy's SLAs."""
    policy = data.policy.policy
    now = data.generated_at
    out: list[Flowable] = [Heading("SLA status", st.h2, 1)]
    keep: list[Flowable] = []
    keep.append(st.para(
        f"{policy_in_force(data.policy)} Each missing update gets a priority from its risk "
        "score and must be installed within that priority's SLA, counted from the day a "
        "scan first found it missing; a \u201cpatch now\u201d decision brings the date "
        "forward and an exception moves it to the exception's last day. Every update kind "
        f"the policy covers ({', '.join(str(k) for k in policy.classifications)}) is "
        "counted here; the compliance figure counts security updates only."))
    rows = []
    for priority in PRIORITY_ORDER:
        items = [i for i in data.risk_items if i.priority is priority]
        overdue = [i for i in items if i.overdue]
        oldest = min((i.due for i in overdue), default=None)
        soon = sum(1 for i in items if not i.overdue and (i.due - now).days < 7)
        excepted = sum(1 for i in items if i.review is not None
                       and i.review.decision is Decision.EXCEPTION and not i.overdue)
        rows.append([
            _prio(priority), hours_text(int(policy.sla(priority).total_seconds() // 3600)),
            _n(len(items)),
            Cell(_n(len(overdue)), color=BAD if overdue else None, bold=bool(overdue)),
            _n(soon), _n(excepted),
            f"{_day(oldest)} ({(now - oldest).days} d ago)" if oldest else "—"])
    keep.append(st.table(["Priority", "SLA", "Missing", "Overdue", "Due within 7 days",
                          "Under exception", "Longest overdue since"], rows,
                         [1.2, 1, 0.9, 0.9, 1.2, 1.2, 1.8], align="LLRRRRL"))
    # The heading, its explanation and the five-row table stay on one page.
    return [KeepTogether([*out, *keep])]


def _top_risks(data: ReportData, st: Styles) -> list[Flowable]:
    out: list[Flowable] = [Heading("Top risks", st.h2, 1)]
    kev = data.kev
    kev_text = (f"KEV marks a CVE in CISA's Known Exploited Vulnerabilities catalogue "
                f"(version {kev.catalog_version}, imported {kev.imported_at:%Y-%m-%d})."
                if kev else "No KEV catalogue has been imported, so no update is flagged "
                "as known exploited.")
    out.append(st.para(
        "The missing updates with the highest risk score (0\u2013100): the sum of the "
        "points listed under \u201cwhy\u201d — vendor severity, security update, known "
        "exploitation, the asset's impact, sensitive data and exposure, and age. The "
        f"priority, and so the SLA, follows from the score. {kev_text}", st.small))
    if data.stale_feeds:  # the CVSS/EPSS/tracker data behind these scores is old
        out.append(st.para("Stale vulnerability data — scores and classifications may be "
                           "out of date: " + "; ".join(data.stale_feeds) + ".", st.body))
    top = data.top_risks()
    if not top:
        out.append(st.para("No missing update is covered by the patch policy."))
        return out
    out.append(st.table(
        ["#", "Host", "Update", "Score", "Priority", "Due", "KEV", "Why"],
        [[str(n), Cell(i.host, bold=True), _update_name(i), _n(i.risk.score),
          _prio(i.priority), _due(i),
          Cell("KEV", color=BAD, bold=True) if i.kev else "—", short_why(i)]
         for n, i in enumerate(top, start=1)],
        [0.3, 1.4, 1.7, 0.65, 1.05, 1.15, 0.45, 3.5], align="RLLRLLLL"))
    return out


TREND_ROWS = (("SLA compliance", "compliance_pct", True),
              ("Overdue updates", "overdue", False),
              ("Assets", "assets", False), ("Assessed", "assessed", False),
              ("Assessed assets with no missing security update", "assets_compliant_pct",
               True),
              ("Missing updates", "missing_total", False),
              ("Missing security updates", "missing_security", False),
              ("Critical", "critical", False), ("Important", "important", False))


def _figure(value: Any, pct: bool) -> str:
    if value is None:
        return "—"
    return _pct(float(value)) if pct else _n(int(value))


def _trend(data: ReportData, st: Styles) -> list[Flowable]:
    now = data.figures.to_dict()
    prev = data.previous
    if prev is None:
        return [st.para("This is the first report of this site; the next report will show "
                        "the change against these figures.")]
    rows = []
    for label, key, pct in TREND_ROWS:
        before, after = stored_figure(prev.figures, key), stored_figure(now, key)
        if before is None or after is None:
            change = "—"
        else:
            delta = float(after) - float(before)
            change = f"{delta:+.1f} pt" if pct else f"{int(delta):+,}"
        rows.append([label, _figure(before, pct), _figure(after, pct), change])
    out: list[Flowable] = [
        st.para(f"Compared with the report of {_d(prev.generated_at)} UTC "
                f"(by {prev.actor or 'unknown'})."
                + ("" if stored_figure(prev.figures, "compliance_pct") is not None else
                   " That report predates the patch policy: it measured compliance as the "
                   "share of assessed assets with no missing security update, compared "
                   "in its own row; SLA compliance has no earlier value.")),
        st.table(["Figure", f"Previous ({_day(prev.generated_at)})",
                  f"Now ({_day(data.generated_at)})", "Change"],
                 rows, [3, 2, 2, 1.5], align="LRRR")]
    points = compliance_trend(data.history, now["compliance_pct"], data.options)
    if len(points) >= 2:
        out.append(Spacer(1, 3 * mm))
        out.append(charts.trend_chart("SLA compliance over the site's reports", points,
                                      st.fonts.regular, st.fonts.bold))
    return out


def inventory(data: ReportData, st: Styles, number: int) -> list[Flowable]:
    """2. Every asset with its identity, OS revision, hardware, warranty and owner."""
    today = data.generated_at.date()
    rows = []
    for a in sorted(data.assets, key=lambda a: a.label.lower()):
        record = data.assessments.get(int(a.id or 0))
        seen = [t for t in (a.last_seen, record.finished_at if record else None) if t]
        warranty = a.warranty_end.isoformat() if a.warranty_end else "—"
        expired = a.warranty_end is not None and a.warranty_end < today
        rows.append([
            Cell(a.label, bold=True), a.location, ", ".join(a.ips), ", ".join(a.macs),
            " ".join(p for p in (a.os_name, a.os_version) if p) or str(a.os_family),
            a.os_build, " ".join(p for p in (a.manufacturer, a.model) if p), a.serial,
            Cell(warranty + (" (expired)" if expired else ""), color=BAD if expired else None),
            a.owner, _day(max(seen)) if seen else "—",
        ])
    return [
        Heading(f"{number}. Inventory", st.h1, 0),
        st.para(f"{_n(len(rows))} asset(s). \u201cRevision\u201d is the OS build or kernel "
                "release; \u201cLast seen\u201d is the latest discovery sighting or deep scan."),
        st.table(["Host", "Location", "IP", "MAC", "OS", "Revision", "Hardware", "Serial",
                  "Warranty end", "Owner", "Last seen"], rows,
                 [2.1, 1.6, 1.3, 1.5, 1.7, 1.6, 1.8, 1.2, 1.2, 1.4, 1.0]),
    ]


def patches(data: ReportData, st: Styles, number: int) -> list[Flowable]:
    """3. Missing patches per patch and per host, with priority, score, due date and KEV."""
    f = data.figures
    assets = data.asset_by_id()
    risk = data.risk_by_patch()
    kev = data.kev is not None
    out: list[Flowable] = [Heading(f"{number}. Missing patches", st.h1, 0)]
    kev_text = (f"\u201cKEV\u201d marks an update fixing a CVE in CISA's Known Exploited "
                f"Vulnerabilities catalogue (version {data.kev.catalog_version}, imported "
                f"{data.kev.imported_at:%Y-%m-%d})." if data.kev else
                "No known-exploited (KEV) catalogue has been imported, so no KEV column is "
                "shown.")
    out.append(st.para(
        f"{_n(f.missing_total)} missing update(s) on {_n(f.hosts_with_missing)} host(s), "
        f"{_n(f.missing_security)} of them security updates, from each host's latest deep "
        "scan. Priority and score come from the risk score; the due date is the "
        f"priority's SLA in policy version {data.policy.version}, counted from when a scan "
        "first found the update missing (or a review's date), in red once it has passed. "
        f"Updates the policy does not cover show \u201c—\u201d. {kev_text}"))
    by_patch = []
    for group in group_patches(data.missing):
        package, version, items, worst = group.package, group.version, group.patches, \
            group.severity
        cves = list(dict.fromkeys(c for p in items for c in p.cves))
        classes = sorted({str(p.classification) for p in items})
        scored = [r for p in items if (r := risk.get((p.asset_id, p.package))) is not None]
        top = max(scored, key=lambda r: r.risk.score, default=None)
        overdue = sum(1 for r in scored if r.overdue)
        due = min((r.due for r in scored), default=None)
        listed = any(r.kev for r in scored)
        row: list[str | Cell] = [
            Cell(package, bold=True), version, ", ".join(classes), _sev(worst),
            _prio(top.priority) if top else "—", _n(top.risk.score) if top else "—",
            _n(len(items)),
            Cell(_n(overdue), color=BAD, bold=True) if overdue else "0",
            _day(due)]
        if kev:
            row.append(Cell("KEV", color=BAD, bold=True) if listed else "")
        row.append(_some(cves, 6) or "—")
        by_patch.append((top.risk.score if top else -1, SEVERITY_RANK[worst], len(items),
                         package, row))
    by_patch.sort(key=lambda item: (-item[0], -item[1], -item[2], item[3]))
    out.append(Heading(f"{number}.1 By patch", st.h2, 1))
    if by_patch:
        header = ["Package", "Version", "Classification", "Severity", "Priority",
                  "Top score", "Hosts", "Overdue", "Earliest due"]
        weights = [2.2, 1.8, 1.1, 0.9, 0.9, 0.6, 0.6, 0.7, 1.0]
        if kev:
            header.append("KEV")
            weights.append(0.5)
        out.append(st.table([*header, "CVEs"], [row for *_, row in by_patch],
                            [*weights, 3.0], align="LLLLLRRRL" + "L" * (2 if kev else 1)))
    else:
        out.append(st.para("No missing updates."))
    out.append(Heading(f"{number}.2 By host", st.h2, 1))
    rows = []
    labels = {k: a.label.lower() for k, a in assets.items()}

    def order(p: AssetPatch) -> tuple[str, int, int, str]:
        item = risk.get((p.asset_id, p.package))
        return (labels.get(p.asset_id, ""), -(item.risk.score if item else -1),
                -SEVERITY_RANK[p.severity], p.package)

    for p in sorted(data.missing, key=order):
        asset = assets.get(p.asset_id)
        item = risk.get((p.asset_id, p.package))
        refs = [*p.cves[:4], *([f"+{len(p.cves) - 4} CVEs"] if len(p.cves) > 4 else []),
                *p.advisories[:2], *([p.kb] if p.kb else [])]
        row = [
            asset.label if asset else f"asset #{p.asset_id}", p.package,
            f"{p.installed_version or '—'} → {p.candidate_version}",
            Cell(str(p.classification), bold=p.classification is Classification.SECURITY),
            _sev(p), f"{item.priority} {item.risk.score}" if item else "—",
            _due(item) if item else "—",
        ]
        if kev:
            row.append(Cell("KEV", color=BAD, bold=True) if item and item.kev else "")
        row.append(", ".join(refs) or "—")
        rows.append(row)
    if rows:
        # Every cell and colour change costs layout time at 20,000 rows: priority and
        # score share a plain cell, the KEV column is there only when it can say something,
        # and "first seen" is folded into the due date.
        header = ["Host", "Package", "Installed → candidate", "Classification", "Severity",
                  "Priority, score", "Due"]
        weights = [1.7, 1.8, 2.0, 1.2, 1.0, 1.3, 1.65]
        if kev:
            header.append("KEV")
            weights.append(0.4)
        out.append(st.table([*header, "CVEs / advisories / KB"], rows, [*weights, 2.8]))
    else:
        out.append(st.para("No missing updates."))
    return out


SECTION_BUILDERS: dict[str, Callable[[ReportData, Styles, int], list[Flowable]]] = {
    "exec": executive,
    "inventory": inventory,
    "patches": patches,
    "deployments": deployments,
    "exceptions": exceptions,
    "checklist": checklist,
    "hosts": hosts,
}
