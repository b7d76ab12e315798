"""The report's sections, one function each, turning :class:`ReportData` into flowables."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    Spacer,
    Table,
)
from reportlab.platypus import TableStyle as GridStyle

from app.core.deployment import Deployment, HostState, Stage
from app.core.models import Asset, AssetPatch, Classification, Severity
from app.core.policy import PolicyVersion, Priority, Role
from app.core.risk import PRIORITY_ORDER, Decision, RiskItem
from app.reports import charts
from app.reports.data import (
    SECTIONS,
    SEVERITY_RANK,
    ReportData,
    exception_status,
    hours_text,
    short_why,
    stored_figure,
)
from app.reports.pdf import (
    ACCENT,
    ACCENT_LIGHT,
    BAD,
    GOOD,
    MUTED,
    WARN,
    Heading,
    Styles,
    TocPlaceholder,
)
from app.reports.table import Cell

#: Page orientation of each section (wide tables go landscape).
ORIENTATION = {"exec": "portrait", "inventory": "landscape", "patches": "landscape",
               "deployments": "landscape", "exceptions": "portrait",
               "checklist": "portrait", "hosts": "portrait"}
STATUS_COLOURS = {"met": GOOD, "partly": WARN, "not met": BAD, "n/a": MUTED}
SEVERITY_TEXT = {Severity.CRITICAL: BAD, Severity.IMPORTANT: WARN}
PRIORITY_TEXT = {Priority.EMERGENCY: BAD, Priority.HIGH: WARN}
DECISION_TEXT = {Decision.PATCH_NOW: "patch now", Decision.SCHEDULE: "schedule",
                 Decision.EXCEPTION: "exception"}
#: Sections after which the patch-policy appendix is printed (they cite it).
POLICY_APPENDIX_AFTER = ("exec", "checklist")
MAX_LOG_LINES = 150
MAX_HOST_PATCHES = 60
MAX_TOC_DEPLOYMENTS = 12


def _d(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "—"


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _some(items: Sequence[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _sev(p: AssetPatch | Severity) -> Cell:
    sev = p if isinstance(p, Severity) else p.severity
    return Cell(str(sev), color=SEVERITY_TEXT.get(sev), bold=sev in SEVERITY_TEXT)


def _prio(priority: Priority) -> Cell:
    return Cell(str(priority), color=PRIORITY_TEXT.get(priority),
                bold=priority in PRIORITY_TEXT)


def _due(item: RiskItem) -> Cell:
    """The due date, in red with "overdue" once it has passed."""
    if item.overdue:
        return Cell(f"{item.due:%Y-%m-%d} overdue", color=BAD, bold=True)
    return Cell(f"{item.due:%Y-%m-%d}")


def _update_name(item: RiskItem) -> str:
    return f"{item.package} {item.candidate_version}".strip() + (f" ({item.kb})" if item.kb
                                                                else "")


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
    points = [(_day(r.generated_at), float(stored_figure(r.figures, "compliance_pct")))
              for r in data.history
              if stored_figure(r.figures, "compliance_pct") is not None
              and data.options.in_period(r.generated_at)][-11:]
    if now["compliance_pct"] is not None:
        points.append(("now", float(now["compliance_pct"])))
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
    groups: dict[tuple[str, str], list[AssetPatch]] = {}
    for p in data.missing:
        groups.setdefault((p.package, p.candidate_version), []).append(p)
    by_patch = []
    for (package, version), items in groups.items():
        worst = max((p.severity for p in items), key=lambda s: SEVERITY_RANK[s])
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


def _ring_summary(dep: Deployment, stage: Stage) -> str:
    hosts = [t for t in dep.targets if t.stage is stage]
    if not hosts:
        return "none"
    counts = Counter(str(t.state) for t in hosts)
    states = ", ".join(f"{n} {s}" for s, n in counts.most_common())
    names = ", ".join(f"{t.label} ({t.state})" for t in hosts[:8])
    more = f" (+{len(hosts) - 8} more)" if len(hosts) > 8 else ""
    return f"{len(hosts)} host(s): {states} — {names}{more}"


def _deployment(dep: Deployment, log: list[dict[str, Any]], st: Styles,
                labels: dict[int, str], toc: bool) -> list[Flowable]:
    g = dep.gates
    prod = [t for t in dep.targets if t.stage is Stage.PRODUCTION]
    waves = sorted({t.wave for t in prod})
    wave_text = "; ".join(
        f"wave {w + 1}: " + ", ".join(f"{n} {s}" for s, n in Counter(
            str(t.state) for t in prod if t.wave == w).most_common()) for w in waves) or "none"
    reboots = Counter(t.reboot.split(":")[0] for t in dep.targets if t.reboot)
    failed = [t for t in dep.targets if t.state is HostState.FAILED]
    rolled = [t for t in dep.targets if t.state is HostState.ROLLED_BACK]
    verified = Counter(t.verified for t in dep.targets if t.verified)
    kept = sum(1 for t in dep.targets if t.health_before.get("kept"))
    limit = (f"{g.max_failures} failed host(s)" if g.max_failures is not None
             else f"{g.max_failure_rate:.0%} failed")
    summary = [
        ("Packages", ", ".join(str(p) for p in dep.packages) or "—"),
        ("Planned", f"{_d(dep.created_at)} by {dep.created_by or '—'}"
                    + (f"; window: {dep.window}" if dep.window else "")),
        ("Plan", f"test ring {len(dep.stage_targets(Stage.TEST))}, pilot "
                 f"{len(dep.stage_targets(Stage.PILOT))}, production {len(prod)} host(s) in "
                 f"{len(waves)} wave(s) of {g.wave_size}; gates: test {g.test_success:.0%}, "
                 f"pilot {g.pilot_success:.0%}, production halts at {limit}; reboot "
                 f"{g.reboot}"),
        ("Test ring", _ring_summary(dep, Stage.TEST)),
        ("Approval", f"{dep.approval.approver} at {_d(dep.approval.at)}"
                     + (f" — {dep.approval.note}" if dep.approval.note else "")
         if dep.approval else "not approved"),
        ("Pilot", _ring_summary(dep, Stage.PILOT)),
        ("Production waves", wave_text),
        ("Reboots", ", ".join(f"{n} {k}" for k, n in reboots.most_common()) or "none"),
        ("Failures", "; ".join(f"{t.label}: {t.detail or 'failed'}" for t in failed)
         or "none"),
        ("Rollbacks", (", ".join(t.label for t in rolled) or "none")
         + f"; previous versions kept on {kept} host(s)"),
        ("Verification", ", ".join(f"{n} {k}" for k, n in verified.most_common())
         or "not verified"),
    ]
    if dep.halt_reason:
        summary.append(("Halted", dep.halt_reason))
    out: list[Flowable] = [
        CondPageBreak(60 * mm),
        Heading(f"Deployment #{dep.id} — {dep.phase}", st.h2, 1, toc=toc),
        st.table(["Step", "Record"], [[Cell(k, bold=True), v] for k, v in summary], [1.3, 8]),
        Spacer(1, 3 * mm),
        st.table(["Host", "Ring", "Wave", "State", "Pre-flight", "Reboot", "Verified",
                  "Detail"],
                 [[Cell(t.label, bold=True), str(t.stage),
                   str(t.wave + 1) if t.stage is Stage.PRODUCTION else "—",
                   Cell(str(t.state), color=BAD if t.state is HostState.FAILED else None),
                   ("; ".join(t.preflight) + (f" (override: {t.override})" if t.override
                                              else "")) or "passed",
                   t.reboot or "—", t.verified or "—", t.detail]
                  for t in dep.targets],
                 [1.8, 0.8, 0.5, 0.9, 2, 1.2, 0.9, 3]),
    ]
    if log:
        shown = log[-MAX_LOG_LINES:]
        out.append(st.para(
            f"Step log ({len(log)} line(s)"
            + (f", the last {MAX_LOG_LINES} shown" if len(log) > MAX_LOG_LINES else "")
            + ")", st.h3))
        out.append(st.table(["Time", "Host", "Message"],
                            [[str(r["ts"])[:19].replace("T", " "),
                              labels.get(r["asset_id"], "") if r["asset_id"] else "",
                              r["message"]] for r in shown], [1.3, 1.6, 8]))
    return out


def deployments(data: ReportData, st: Styles, number: int) -> list[Flowable]:
    """4. Each deployment with plan, rings, approval, waves, reboots, failures, rollback."""
    out: list[Flowable] = [Heading(f"{number}. Deployments", st.h1, 0)]
    if not data.deployments:
        out.append(st.para(f"No deployment was planned in the period "
                           f"({data.options.period_text})."))
        return out
    out.append(st.para(f"{len(data.deployments)} deployment(s) planned in the period, "
                       "newest first."))
    labels = {int(a.id or 0): a.label for a in data.assets}
    for dep in data.deployments:
        labels.update({t.asset_id: t.label for t in dep.targets})
        # The contents page holds ~45 lines: many deployments go only into the outline.
        out += _deployment(dep, data.deployment_logs.get(dep.id, []), st, labels,
                           toc=len(data.deployments) <= MAX_TOC_DEPLOYMENTS)
    return out


def exceptions(data: ReportData, st: Styles, number: int) -> list[Flowable]:
    """5. Exceptions and urgency decisions: who decided what, why, until when."""
    out: list[Flowable] = [Heading(f"{number}. Exceptions and urgency decisions", st.h1, 0)]
    reviews = data.reviews_in_period()
    effects = data.review_effects()
    now = data.generated_at
    out.append(st.para(
        "An urgency review records a named person's decision about an urgent update: "
        "\u201cpatch now\u201d (due within the emergency SLA), \u201cschedule\u201d (a "
        "planned date), or \u201cworkaround + exception\u201d until a date, during which "
        "the update is not overdue. Once an exception expires, or is ended early, the "
        "update is overdue again and back for review. Listed: decisions recorded in the "
        f"period ({data.options.period_text}) and exceptions in force during it."))
    exceptions = [r for r in reviews if r.decision is Decision.EXCEPTION]
    expired = [r for r in exceptions if r.expired(now)]
    if not reviews:
        out.append(st.para("No urgency decision or exception was recorded for the period.",
                           st.note))
    else:
        counts = Counter(r.decision for r in reviews)
        out.append(st.para(
            f"{len(reviews)} decision(s) — " + ", ".join(
                f"{DECISION_TEXT[d]}: {counts[d]}" for d in Decision if counts[d])
            + (f"; {len(expired)} exception(s) expired or ended." if expired else ".")))
        rows = []
        for r in sorted(reviews, key=lambda r: (r.created_at, r.id or 0), reverse=True):
            covered = effects.get(r.id or -1, [])
            if r.decision is Decision.EXCEPTION:
                status = Cell(exception_status(r, covered, now),
                              color=BAD if r.expired(now) else None, bold=r.expired(now))
            elif r.decision is Decision.SCHEDULE:
                status = Cell(f"planned for {_d(r.planned)}" if r.planned else "scheduled")
            else:
                due = min((i.due for i in covered), default=None)
                late = any(i.overdue for i in covered)
                status = Cell(f"due {_day(due)}" + (" — overdue" if late else "")
                              if due else "no missing update depends on it now",
                              color=BAD if late else None, bold=late)
            what = " / ".join(x for x in (r.package, r.cve) if x)
            hosts = sorted({i.host for i in covered})
            rows.append([
                f"#{r.id}", Cell(DECISION_TEXT[r.decision], bold=True), what,
                r.host or "every host", f"{r.decided_by}, {_day(r.created_at)}", r.reason,
                status, f"{len(covered)} on {_some(hosts, 3)}" if covered else "none now"])
        out.append(st.table(
            ["#", "Decision", "Update / CVE", "Host", "Decided by", "Why", "Status",
             "Missing updates it decides"], rows,
            [0.35, 1.2, 1.3, 1.0, 1.3, 2.5, 2.1, 1.2], align="RLLLLLLL"))
    if data.excepted:
        assets = data.asset_by_id()
        out.append(st.para(f"{len(data.excepted)} update(s) are marked as excepted in the "
                           "patch records:"))
        out.append(st.table(["Host", "Package", "Candidate", "Severity", "First seen"],
                            [[assets[p.asset_id].label if p.asset_id in assets else "",
                              p.package, p.candidate_version, _sev(p), _day(p.first_seen)]
                             for p in data.excepted], [2, 2.5, 2, 1, 1.2]))
    return out


def checklist(data: ReportData, st: Styles, number: int) -> list[Flowable]:
    """6. The patch-audit checklist, each step judged from the data."""
    items = data.checklist()
    out: list[Flowable] = [Heading(f"{number}. Patch-audit checklist", st.h1, 0)]
    counts = Counter(i.status for i in items)
    out.append(st.para(
        f"Each step is judged from the site's records as met, partly met or not met; the "
        f"evidence says what was counted. {counts['met']} met, {counts['partly']} partly, "
        f"{counts['not met']} not met, {counts['n/a']} not applicable."))
    out.append(st.table(
        ["Step", "Status", "Evidence"],
        [[Cell(i.step, bold=True),
          Cell(i.status, color=colors.white, fill=STATUS_COLOURS[i.status], bold=True),
          i.evidence] for i in items], [2.4, 0.9, 6.2]))
    out.append(Heading("Audit activity in the period", st.h2, 1))
    if data.audit_problems:
        rows = sorted({p.row_id for p in data.audit_problems})
        out.append(st.para("The audit log's hash chain is broken: rows "
                           + ", ".join(str(r) for r in rows)
                           + " were changed or deleted after they were written.", st.note))
    else:
        out.append(st.para(f"The audit log is intact: {_n(data.audit_total)} event(s), "
                           "each sealed with a SHA-256 hash of its content and the "
                           "previous event."))
    if data.audit_head:  # the head to anchor outside the file, and what was checked
        out.append(st.para(f"{data.audit_head[0].upper()}{data.audit_head[1:]}."))
    actions = Counter(e.action for e in data.audit_events)
    actors = Counter(e.actor for e in data.audit_events)
    if actions:
        out.append(st.table(["Action", "Events", "Actors"],
                            [[action, _n(n), _some(sorted({e.actor for e in data.audit_events
                                                           if e.action == action}), 5)]
                             for action, n in actions.most_common()], [3, 1, 4],
                            align="LRL"))
        out.append(Spacer(1, 2 * mm))
        out.append(st.para(f"{_n(len(data.audit_events))} event(s) by {len(actors)} "
                           "actor(s) in the period.", st.small))
    else:
        out.append(st.para("No audit events in the period."))
    return out


def _bytes(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"{value / 1024**3:.1f} GiB"


def _host(asset: Asset, data: ReportData, missing: list[AssetPatch],
          st: Styles) -> list[Flowable]:
    record = data.assessments.get(int(asset.id or 0))
    facts: dict[str, Any] = record.facts if record else {}
    rows: list[tuple[str, str]] = [
        ("Address", ", ".join([*asset.ips, *asset.macs]) or "—"),
        ("Operating system", facts.get("os_pretty") or asset.os_display or "—"),
        ("Kernel / build", " ".join(str(facts.get(k) or "") for k in ("kernel", "arch"))
         .strip() or asset.os_build or "—"),
        ("Hardware", " ".join(p for p in (asset.manufacturer, asset.model) if p)
         + (f", serial {asset.serial}" if asset.serial else "") or "—"),
        ("Location / owner", " / ".join(p for p in (asset.location, asset.owner) if p) or "—"),
        ("Impact", f"{asset.impact}" + (f"; data: {', '.join(map(str, asset.data_sensitivity))}"
                                       if asset.data_sensitivity else "")),
    ]
    if facts:
        cpu = facts.get("cpu_model") or ""
        if facts.get("cpu_count"):
            cpu = f"{facts['cpu_count']} × {cpu}".strip(" ×")
        rows += [
            ("CPU / memory", f"{cpu or '—'} / {_bytes(facts.get('memory_total'))}"),
            ("Disks", "; ".join(f"{d.get('mount')} {_bytes(d.get('size_bytes'))} "
                                f"({_bytes(d.get('free_bytes'))} free)"
                                for d in facts.get("disks") or []) or "—"),
            ("Last boot", str(facts.get("last_boot") or "—")[:19].replace("T", " ")),
            ("Logged-in users", ", ".join(facts.get("logged_in_users") or []) or "none"),
        ]
    if record is None:
        rows.append(("Last deep scan", "never"))
    elif record.ok:
        reboot = {True: "reboot required", False: "no reboot needed",
                  None: "reboot state unknown"}[record.reboot_required]
        if record.reboot_reasons:
            reboot += f" ({'; '.join(record.reboot_reasons)})"
        rows += [
            ("Last deep scan", f"{_d(record.finished_at)} UTC via {record.driver}; {reboot}"),
            ("Installed software", f"{_n(record.packages)} package(s)"),
        ]
    else:
        rows.append(("Last deep scan", f"failed {_d(record.finished_at)} UTC: "
                                       f"{record.error_kind}: {record.error}"))
    if missing:
        security = sum(1 for p in missing if p.classification is Classification.SECURITY)
        ordered = sorted(missing, key=lambda p: (-SEVERITY_RANK[p.severity], p.package))
        listed = "; ".join(f"{p.package} {p.candidate_version} ({p.severity}"
                           + (", security" if p.classification is Classification.SECURITY
                              else "") + ")" for p in ordered[:MAX_HOST_PATCHES])
        if len(ordered) > MAX_HOST_PATCHES:
            listed += f"; and {len(ordered) - MAX_HOST_PATCHES} more (see Missing patches)"
        rows.append((f"Missing updates ({len(missing)}, {security} security)", listed))
    elif record is not None and record.ok:
        rows.append(("Missing updates", "none"))
    if asset.notes:
        rows.append(("Notes", asset.notes))
    return [
        CondPageBreak(45 * mm),
        Heading(asset.label, st.h3, 1, toc=False),
        st.table(["Fact", "Value"], [[Cell(k, bold=True), v] for k, v in rows], [1.5, 5]),
    ]


def hosts(data: ReportData, st: Styles, number: int) -> list[Flowable]:
    """7. One block per host: facts, software count, missing patches."""
    out: list[Flowable] = [Heading(f"{number}. Per-host appendix", st.h1, 0)]
    out.append(st.para("Facts from each host's latest deep scan, with the inventory "
                       "record for hosts never scanned."))
    by_host = data.missing_by_host()
    for asset in sorted(data.assets, key=lambda a: a.label.lower()):
        out += _host(asset, data, by_host.get(int(asset.id or 0), []), st)
    return out


def policy_appendix(data: ReportData, st: Styles) -> list[Flowable]:
    """Appendix: the patch policy in force, with its version, author and date."""
    version = data.policy
    p = version.policy
    out: list[Flowable] = [Heading("Appendix: Patch policy", st.h1, 0)]
    if version.version == 0:
        out.append(st.para("No patch policy has been saved for this site yet: these are "
                           "PatchDesk's built-in defaults (version 0), which apply until "
                           "someone saves the site's own policy.", st.note))
    else:
        out.append(st.para(
            f"Version {version.version}, saved by {version.author or 'unknown'} on "
            f"{_d(version.created_at)} UTC"
            + (f" (\u201c{version.note}\u201d)" if version.note else "") + ". "
            + (f"{len(data.policy_history)} version(s) are kept; every change is in the "
               "audit log with what changed." if data.policy_history else "")))
    roles = {r: ", ".join(p.holders(r)) or "anyone (nobody named)" for r in Role}
    failures = (f"halt production after {p.max_failures} failed host(s)"
                if p.max_failures is not None
                else f"halt production after more than {p.max_failure_rate:.0%} failed hosts")
    rows: list[tuple[str, str]] = [
        ("Responsible", p.responsible or "nobody named"),
        ("Approve deployments", roles[Role.APPROVER]),
        ("Plan and run deployments", roles[Role.DEPLOYER]),
        ("Decide urgency / grant exceptions", roles[Role.REVIEWER]),
        ("Assets covered", (", ".join(p.scope_include) or "none")
         + (f" except {', '.join(p.scope_exclude)}" if p.scope_exclude else "")),
        ("Update kinds", ", ".join(str(c) for c in p.classifications)),
        ("SLAs (from first seen missing)",
         "; ".join(f"{pr} {hours_text(h)}" for pr, h in p.sla_hours)),
        ("Maintenance windows", "; ".join(str(w) for w in p.windows)
         or "none: any time"),
        ("Test ring / pilot", f"{', '.join(p.test_group) or 'none'} / "
                              f"{', '.join(p.pilot_group) or 'none'}"),
        ("Reboot", f"{p.reboot}; notice {p.reboot_lead_minutes} min before: "
                   f"\u201c{p.reboot_notice}\u201d"),
        ("Failure threshold", failures),
        ("Backup rule", f"servers need a verified backup within {p.backup_days} day(s) "
                        "before patching" if p.backup_required else "not required"),
        ("Emergency procedure", p.emergency_procedure),
    ]
    if p.notes:
        rows.append(("Notes", p.notes))
    out.append(st.table(["Setting", "Policy"], [[Cell(k, bold=True), v] for k, v in rows],
                        [2, 6]))
    older = data.policy_history[1:6]
    if older:
        out.append(Spacer(1, 3 * mm))
        out.append(st.para("Earlier versions: " + "; ".join(
            f"{v.version} by {v.author or 'unknown'} on {_day(v.created_at)}"
            + (f" ({v.note})" if v.note else "") for v in older)
            + ("; …" if len(data.policy_history) > 6 else "") + ".", st.small))
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
