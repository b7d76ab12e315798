"""The report's compliance-framework parts ([16]): one appendix per chosen framework mapping
each requirement to the evidence PatchDesk holds, and the executive summary's sentence naming
the frameworks. The judgements are :attr:`ReportData.frameworks`, the same objects
``patchdesk compliance --framework`` prints.
"""

from __future__ import annotations

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, NextPageTemplate, PageBreak, Spacer

from app.core.frameworks import EvidenceKind, FrameworkResult, Status, duration_text
from app.reports.data import ReportData
from app.reports.pdf import BAD, GOOD, MUTED, WARN, Heading, Styles
from app.reports.table import Cell

__all__ = ["EVIDENCE_TEXT", "STATUS_TEXT", "framework_appendices", "framework_summary"]

#: How a status is printed, and its colour.
STATUS_TEXT = {Status.MET: ("met", GOOD), Status.PARTLY: ("partly", WARN),
               Status.NOT_MET: ("not met", BAD), Status.NOT_APPLICABLE: ("n.a.", MUTED)}

#: Evidence kinds in words (the appendix's "Evidence" column).
EVIDENCE_TEXT = {
    EvidenceKind.INVENTORY_COVERAGE: "inventory coverage",
    EvidenceKind.ASSESSMENT_COVERAGE: "deep-scan coverage",
    EvidenceKind.SCAN_RECENCY: "scan recency",
    EvidenceKind.SLA_COMPLIANCE: "SLA compliance under the framework's deadlines",
    EvidenceKind.RISK_RANKING: "risk ranking",
    EvidenceKind.VULNERABILITY_INTEL: "known-exploited catalogue",
    EvidenceKind.EXCEPTIONS: "exceptions",
    EvidenceKind.APPROVALS: "approvals",
    EvidenceKind.TEST_BEFORE_DEPLOY: "test ring before production",
    EvidenceKind.VERIFICATION: "verification rescans",
    EvidenceKind.AUDIT_LOG_INTEGRITY: "audit log integrity",
    EvidenceKind.POLICY_DOCUMENTED: "documented patch policy",
}


def _title(result: FrameworkResult) -> str:
    fw = result.framework
    return f"{fw.title} {fw.version}".strip()


def framework_summary(data: ReportData, st: Styles) -> list[Flowable]:
    """The executive summary's paragraph naming the frameworks judged (nothing if none)."""
    if not data.frameworks:
        return []
    parts = [f"{_title(r)}: {r.counts_text()}" for r in data.frameworks]
    return [st.para("Compliance frameworks judged in this report (one appendix each): "
                    + "; ".join(parts) + ".")]


def framework_appendices(data: ReportData, st: Styles) -> list[Flowable]:
    """One portrait appendix per framework (each starts on a new page)."""
    out: list[Flowable] = []
    for result in data.frameworks:
        out += [NextPageTemplate("portrait"), PageBreak(), *_appendix(result, st)]
    return out


def _appendix(result: FrameworkResult, st: Styles) -> list[Flowable]:
    fw = result.framework
    out: list[Flowable] = [Heading(f"Appendix: {fw.title}", st.h1, 0)]
    out.append(st.para(f"Version: {fw.version}", st.small))
    out.append(st.para(
        f"Each requirement of {fw.title} that PatchDesk holds evidence for, judged from this "
        f"site's records at {result.as_of:%Y-%m-%d %H:%M} UTC as met, partly, not met or "
        f"n.a. (not applicable: nothing to judge, such as approvals when no deployment was "
        f"started). {result.counts_text()}. The requirement texts are our own summary; the "
        f"source is {fw.source.publisher}, {fw.source.section} ({fw.source.url})."))
    if fw.rules:
        out.append(Heading("Deadlines for installing updates", st.h2, 1))
        out.append(st.table(
            ["Rule", "Within", "Applies to"],
            [[Cell(r.id, bold=True), duration_text(r.within),
              r.text + ("" if r.verified else f" (unverified: {r.why_unverified})")]
             for r in fw.rules], [1.6, 1.0, 5.4]))
        out.append(st.para(
            "A deadline runs from the update's release when PatchDesk knows it, else from "
            "the day a deep scan first found it missing; the SLA figures below say which.",
            st.small))
    out.append(Heading("Requirements and evidence", st.h2, 1))
    rows = []
    for j in result.judgements:
        req = fw.requirement(j.requirement_id)
        label, colour = STATUS_TEXT[j.status]
        rows.append([Cell(f"{req.id} {req.title}", bold=True),
                     Cell(label, color=colors.white, fill=colour, bold=True),
                     ", ".join(EVIDENCE_TEXT[k] for k in j.evidence),
                     j.figures])
    out.append(st.table(["Requirement", "Status", "Evidence", "Figures"], rows,
                        [2.2, 0.9, 1.6, 4.3]))
    if fw.not_covered:
        out.append(Spacer(1, 3 * mm))
        out.append(Heading("Requirements PatchDesk holds no evidence for", st.h2, 1))
        out.append(st.table(["Requirement", "Why"],
                            [[Cell(i, bold=True), why] for i, why in fw.not_covered],
                            [1.6, 6.4]))
    if fw.notes:
        out.append(Spacer(1, 2 * mm))
        out.append(st.para(fw.notes, st.small))
    return out
