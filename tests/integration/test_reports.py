"""PDF reports generated from a real site: figures read back with pypdf, pages rendered."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from pypdf import PdfReader

from app.core.assessment import Assessment, HostFacts, Update
from app.core.models import Classification, Severity
from app.core.progress import Cancelled, CancelToken, Progress
from app.reports.data import ReportOptions, collect
from app.reports.report import generate_report
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from app.store.reports import ReportRepo
from tests.reports_fixtures import (
    HOSTILE_NOTE,
    LONG_HOST,
    LONG_TOKEN,
    ReportSite,
    build_report_site,
    png_logo,
)


def pdf_text(path: Path) -> tuple[int, str]:
    """Page count and the text of every page, whitespace collapsed."""
    reader = PdfReader(path)
    text = " ".join(page.extract_text() for page in reader.pages)
    return len(reader.pages), " ".join(text.split())


@pytest.fixture
def site(tmp_path: Path) -> ReportSite:
    built = build_report_site(tmp_path / "acme.pdsite", logo=png_logo(tmp_path / "logo.png"))
    yield built
    built.service.close()


def test_report_figures_match_the_data(site: ReportSite, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    result = generate_report(site.service, out)
    pages, text = pdf_text(out)
    assert pages == result.pages >= 10
    # Branding and cover.
    for needle in ("Acme Dental Ltd", "Northwind IT", "Site: Head office",
                   "1 High Street, Springfield", "Patch management report"):
        assert needle in text
    assert f"Page 3 of {pages}" in text
    # Executive summary: 5 assets, 3 assessed, 1 failed, 1 never; 1 of 3 compliant.
    assert "This report covers 5 asset(s) of Acme Dental Ltd" in text
    assert "3 were deep-scanned successfully, 1 could not be scanned" in text
    assert "1 have never been scanned" in text
    assert "33.3% Compliance 1 of 3 assessed asset(s) have no missing security update" in text
    assert "6 Missing updates 4 security; 2 critical on 3 host(s)" in text
    assert "No patch policy is defined yet" in text
    assert "This is the first report of this site" in text
    # Top risks: the critical, internet-facing host first.
    risks = text[text.index("Top risks"):]
    assert risks.index("web01") < risks.index("db01")
    assert "impact critical; internet-facing; data: payment" in text
    # Inventory, patches, deployments.
    for host in ("web01", "db01", "pc-anna", "mail01", "printer-2f"):
        assert host in text
    assert "PowerEdge R650" in text and "2024-01-31 (expired)" in text
    assert "CVE-2024-5535" in text and "postgresql-15" in text
    assert "Dana Scully" in text and "test ring clean" in text
    assert "Deployment #2 — rolled_back" in text and "postinst failed: exit 1" in text
    assert "dpkg was locked & <busy>" in text
    assert "Sat 22:00-02:00" in text
    # Exceptions are stated honestly, the checklist judged from the data.
    assert "no exception or urgency-decision module yet" in text
    assert "Audit log intact" in text and "hash chain verified" in text
    assert "1 of 2 deployment(s) in the period went through a test ring and a named " \
           "approval" in text
    assert "2 of 2 deployment(s) kept the previous package versions" in text
    # Per-host appendix: facts and software count.
    assert "412 package(s)" in text and "Intel Xeon E-2236" in text
    assert "auth_failed: SSH login refused for user admin" in text
    assert result.figures["compliance_pct"] == 33.3
    assert result.figures["missing_total"] == 6


def test_pages_render_and_are_not_blank(site: ReportSite, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    out = tmp_path / "report.pdf"
    result = generate_report(site.service, out)
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(out), str(tmp_path / "page")],
                   check=True, timeout=120)
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == result.pages
    sizes = set()
    for png in pngs:
        with Image.open(png) as image:
            sizes.add(image.width > image.height)
            stat = ImageStat.Stat(image.convert("L"))
            assert stat.extrema[0][0] < 100, f"{png.name} has no dark ink"
            assert stat.mean[0] < 254, f"{png.name} is blank"
    assert sizes == {True, False}  # portrait pages and landscape table pages


def test_hostile_text_does_not_break_the_pdf(tmp_path: Path) -> None:
    built = build_report_site(tmp_path / "evil.pdsite", hostile=True)
    try:
        out = tmp_path / "evil.pdf"
        result = generate_report(built.service, out)
    finally:
        built.service.close()
    pages, text = pdf_text(out)
    assert pages == result.pages
    compact = text.replace(" ", "")
    assert "<b>bold?</b>&<script>alert(1)</script>>Zürich" in compact
    assert "Ωmega" in text and "Ops <team> & co" in text and "lib<evil>&co" in text
    assert LONG_TOKEN in compact  # wrapped over several lines, nothing lost
    assert LONG_HOST.replace(".", "") in compact.replace(".", "")
    assert HOSTILE_NOTE.split()[0] in text


def test_trend_compares_with_the_previous_report(site: ReportSite, tmp_path: Path) -> None:
    generate_report(site.service, tmp_path / "first.pdf")
    # db01 gets its security updates installed: 2 of 3 assessed hosts are compliant now.
    now = datetime.now(UTC).replace(microsecond=0)
    with site.service.store.atomic() as db:
        AssessmentRepo(db).record_success(
            site.ids["db01"], now, now, Assessment("db01", "apt", HostFacts(), updates=[
                Update("vim", "2", "1", classification=Classification.BUGFIX,
                       severity=Severity.LOW)]))
    result = generate_report(site.service, tmp_path / "second.pdf",
                             ReportOptions(("exec",)))
    _, text = pdf_text(tmp_path / "second.pdf")
    assert "Compared with the report of" in text
    assert "Compliance 33.3% 66.7% +33.4 pt" in text
    assert "Missing security updates 4 2 -2" in text
    assert "Compliance over the site's reports" in text
    runs = ReportRepo(site.service.store.db()).all()
    assert [r.figures["compliance_pct"] for r in runs] == [33.3, 66.7]
    assert runs[-1].sections == ("exec",)
    assert result.figures["compliant"] == 2
    assert [e.action for e in site.service.audit_events(limit=2)] == ["report.generate"] * 2


def test_checklist_names_tampered_audit_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.pdsite"
    build_report_site(path).service.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 3")
    conn.commit()
    conn.close()
    service = SiteService.open(path, actor="auditor")
    try:
        generate_report(service, tmp_path / "t.pdf", ReportOptions(("checklist",)))
    finally:
        service.close()
    _, text = pdf_text(tmp_path / "t.pdf")
    assert "Audit log TAMPERED (rows 3)" in text
    assert "content was changed after it was written" in text
    assert "Efforts documented and access restricted not met" in text
    assert "Audit log intact" not in text
    assert "Per-host appendix" not in text and "1. Patch-audit checklist" in text


def test_checklist_is_judged_from_the_data(site: ReportSite) -> None:
    items = {i.step: i for i in collect(site.service).checklist()}
    assert {k: v.status for k, v in items.items()} == {
        "Inventory complete and current": "partly",  # 3 of 5 scanned lately
        "Priorities set (asset criticality)": "partly",  # 3 of 5 answered
        "Patch policy documented": "not met",
        "Patches tested before deployment": "partly",
        "Efforts documented and access restricted": "partly",  # intact, no vault yet
        "Deployment audited and verified": "partly",
        "Rollback plan": "met",
        "Reporting": "met",
    }
    assert "3 of 5 asset(s) have their impact" in \
        items["Priorities set (asset criticality)"].evidence
    assert "Without: #2" in items["Patches tested before deployment"].evidence


def test_period_filters_deployments_and_events(site: ReportSite, tmp_path: Path) -> None:
    future = date.today() + timedelta(days=30)
    options = ReportOptions(("deployments", "checklist"), future, future + timedelta(days=1))
    generate_report(site.service, tmp_path / "p.pdf", options)
    _, text = pdf_text(tmp_path / "p.pdf")
    assert "No deployment was planned in the period" in text
    assert f"{future.isoformat()} to " in text
    assert "No deployment was started in the period" in text
    assert "No audit events in the period" in text


@pytest.mark.parametrize("logo", ["missing.png", "not-an-image.png", ""])
def test_a_bad_logo_is_left_out(tmp_path: Path, logo: str) -> None:
    (tmp_path / "not-an-image.png").write_text("hello", encoding="utf-8")
    built = build_report_site(tmp_path / "s.pdsite")
    try:
        built.service.update_site(logo_path=str(tmp_path / logo) if logo else "")
        result = generate_report(built.service, tmp_path / "r.pdf", ReportOptions(("exec",)))
    finally:
        built.service.close()
    assert result.pages >= 3


def test_progress_and_cancel(site: ReportSite, tmp_path: Path) -> None:
    seen: list[Progress] = []
    generate_report(site.service, tmp_path / "r.pdf", progress=seen.append)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    token = CancelToken()

    def cancel_midway(p: Progress) -> None:
        if p.fraction > 0.3:
            token.cancel()

    with pytest.raises(Cancelled):
        generate_report(site.service, tmp_path / "c.pdf", progress=cancel_midway,
                        cancel=token)
    assert not (tmp_path / "c.pdf").exists()
    assert not list(tmp_path.glob(".c.pdf*"))
    assert len(ReportRepo(site.service.store.db()).all()) == 1


def test_unwritable_target_is_a_user_error(site: ReportSite, tmp_path: Path) -> None:
    from app.core.errors import UserError

    with pytest.raises(UserError, match="Cannot write"):
        generate_report(site.service, tmp_path / "no" / "such" / "dir.pdf")


def test_report_text_mentions_every_chosen_section(site: ReportSite, tmp_path: Path) -> None:
    generate_report(site.service, tmp_path / "r.pdf")
    _, text = pdf_text(tmp_path / "r.pdf")
    contents = text[text.index("Contents"):text.index("1. Executive summary This report")]
    for number, title in enumerate(["Executive summary", "Inventory", "Missing patches",
                                    "Deployments", "Exceptions and urgency decisions",
                                    "Patch-audit checklist", "Per-host appendix"], start=1):
        assert re.search(rf"{number}\. {title} \d+", contents), title
