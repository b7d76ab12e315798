"""The report's record sections: deployments, exceptions and urgency decisions, the
patch-audit checklist, the per-host appendix and the patch-policy appendix."""

from __future__ import annotations

from collections import Counter
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Spacer,
)

from app.core.deployment import Deployment, HostState, Stage
from app.core.models import Asset, AssetPatch, Classification
from app.core.patchgroups import SEVERITY_RANK
from app.core.policy import Role
from app.core.risk import Decision
from app.reports.cells import (
    DECISION_TEXT,
    MAX_HOST_PATCHES,
    MAX_LOG_LINES,
    MAX_TOC_DEPLOYMENTS,
    STATUS_COLOURS,
    _d,
    _day,
    _n,
    _sev,
    _some,
)
from app.reports.data import ReportData, exception_status, hours_text
from app.reports.pdf import BAD, Heading, Styles
from app.reports.table import Cell


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
