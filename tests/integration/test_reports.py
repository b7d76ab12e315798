"""PDF reports generated from a real site: figures read back with pypdf, pages rendered."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from pypdf import PdfReader

from app.core.assessment import Assessment, HostFacts, Update
from app.core.models import Classification, Severity
from app.core.progress import Cancelled, CancelToken, Progress
from app.services import SiteService
from app.services.reports import ReportOptions, collect, generate
from app.store.assessments import AssessmentRepo
from app.store.reports import ReportRepo, ReportRun
from tests.reports_fixtures import (
    HOSTILE_NOTE,
    LONG_HOST,
    LONG_TOKEN,
    ReportSite,
    add_risk_records,
    build_report_site,
    kev_file,
    png_logo,
)


def pdf_text(path: Path) -> tuple[int, str]:
    """Page count and the text of every page, whitespace collapsed."""
    reader = PdfReader(path)
    text = " ".join(page.extract_text() for page in reader.pages)
    return len(reader.pages), " ".join(text.split())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ReportSite]:
    built = build_report_site(tmp_path / "acme.pdsite", logo=png_logo(tmp_path / "logo.png"))
    yield built
    built.service.close()


def test_report_figures_match_the_data(site: ReportSite, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    result = generate(site.service, out)
    pages, text = pdf_text(out)
    assert pages == result.pages >= 10
    # Branding and cover.
    for needle in ("Acme Dental Ltd", "Northwind IT", "Site: Head office",
                   "1 High Street, Springfield", "Patch management report"):
        assert needle in text
    assert f"Page 3 of {pages}" in text
    # Executive summary: 5 assets, 3 assessed, 1 failed, 1 never; web01's two security
    # updates overdue under the default policy, db01's two not yet: 50.0% SLA compliance.
    assert "This report covers 5 asset(s) of Acme Dental Ltd" in text
    assert "3 were deep-scanned successfully, 1 could not be scanned" in text
    assert "1 have never been scanned" in text
    assert "50.0% SLA compliance 2 of 4 missing security update(s) within their SLA" in text
    assert site.service.compliance().percent == 50.0
    assert "6 Missing updates 4 security; 2 critical on 3 host(s)" in text
    assert "3 of 5 asset(s) are assessed, 1 never scanned and 1 failed" in text
    assert "No patch policy has been saved for this site yet, so PatchDesk's default " \
           "policy (version 0) applies." in text
    assert "emergency 2 days 1 1 0 0 " in text  # SLA status: web01 openssl is overdue
    assert "high 7 days 4 2 2 0 " in text
    assert "This is the first report of this site" in text
    # Top risks: prioritised items; web01's openssl (critical on a critical, internet-
    # facing payment server) first, with its score, due date and why.
    risks = text[text.index("# Host Update Score Priority Due KEV Why"):]
    assert risks.startswith("# Host Update Score Priority Due KEV Why 1 web01 openssl "
                            "2.0-1 82 emergency")
    assert "severity critical +40, security +10, impact critical +15, payment data +8, " \
           "internet-facing +8, age 10 d +1" in risks
    assert risks.index("web01") < risks.index("db01")
    assert "No KEV catalogue has been imported" in text
    assert "no KEV column is shown" in text
    # Inventory, patches, deployments.
    for host in ("web01", "db01", "pc-anna", "mail01", "printer-2f"):
        assert host in text
    assert "PowerEdge R650" in text and "2024-01-31 (expired)" in text
    assert "CVE-2024-5535" in text and "postgresql-15" in text
    assert "Dana Scully" in text and "test ring clean" in text
    assert "Deployment #2 — rolled_back" in text and "postinst failed: exit 1" in text
    assert "dpkg was locked & <busy>" in text
    assert "Sat 22:00-02:00" in text
    # No decisions yet, said so; the checklist judged from the data.
    assert "No urgency decision or exception was recorded for the period." in text
    assert "Audit log intact" in text and "hash chain verified" in text
    assert "1 of 2 deployment(s) in the period went through a test ring and a named " \
           "approval" in text
    assert "2 of 2 deployment(s) kept the previous package versions" in text
    # Per-host appendix: facts and software count.
    assert "412 package(s)" in text and "Intel Xeon E-2236" in text
    assert "auth_failed: SSH login refused for user admin" in text
    # The default policy is printed in the appendix.
    appendix = text[text.index("Appendix: Patch policy No patch policy"):]
    assert "built-in defaults (version 0)" in appendix
    assert "emergency 2 days; high 7 days; standard 30 days; low 90 days" in appendix
    assert result.figures["compliance_pct"] == 50.0
    assert result.figures["compliance_basis"] == "sla"
    assert result.figures["assets_compliant_pct"] == 33.3
    assert result.figures["missing_total"] == 6


def test_pages_render_and_are_not_blank(site: ReportSite, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    out = tmp_path / "report.pdf"
    result = generate(site.service, out)
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
        result = generate(built.service, out)
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
    generate(site.service, tmp_path / "first.pdf")
    # web01 gets its overdue security updates installed: db01's two are within their SLA.
    now = datetime.now(UTC).replace(microsecond=0)
    with site.service.store.atomic() as db:
        AssessmentRepo(db).record_success(
            site.ids["web01"], now, now, Assessment("web01", "apt", HostFacts(), updates=[
                Update("vim", "2", "1", classification=Classification.BUGFIX,
                       severity=Severity.LOW)]))
    result = generate(site.service, tmp_path / "second.pdf",
                             ReportOptions(("exec",)))
    _, text = pdf_text(tmp_path / "second.pdf")
    assert "Compared with the report of" in text
    assert "predates the patch policy" not in text
    assert "SLA compliance 50.0% 100.0% +50.0 pt" in text
    assert "Overdue updates 3 0 -3" in text
    assert "Assessed assets with no missing security update 33.3% 66.7% +33.4 pt" in text
    assert "Missing security updates 4 2 -2" in text
    assert "SLA compliance over the site's reports" in text
    runs = ReportRepo(site.service.store.db()).all()
    assert [r.figures["compliance_pct"] for r in runs] == [50.0, 100.0]
    assert runs[-1].sections == ("exec",)
    assert result.figures["compliant"] == 2
    assert result.figures["compliance_pct"] == site.service.compliance().percent
    assert [e.action for e in site.service.audit_events(limit=2)] == ["report.generate"] * 2


def test_trend_reads_reports_stored_before_the_patch_policy(site: ReportSite,
                                                            tmp_path: Path) -> None:
    # A run stored by the earlier report: "compliance_pct" was the share of assessed
    # assets without a missing security update, and there was no compliance_basis.
    old = {"assets": 5, "assessed": 3, "compliant": 1, "compliance_pct": 33.3,
           "fully_patched": 0, "missing_total": 7, "missing_security": 5, "critical": 2,
           "important": 2, "hosts_with_missing": 3}
    earlier = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    with site.service.store.atomic() as db:
        ReportRepo(db).add(ReportRun(generated_at=earlier, actor="bob", period_from=None,
                                     period_to=None, sections=("exec",), figures=old,
                                     file="old.pdf"))
    generate(site.service, tmp_path / "r.pdf", ReportOptions(("exec",)))
    _, text = pdf_text(tmp_path / "r.pdf")
    assert "That report predates the patch policy" in text
    # Not compared across definitions: the old figure goes to its own row.
    assert "SLA compliance — 50.0% —" in text
    assert "Assessed assets with no missing security update 33.3% 33.3% +0.0 pt" in text
    assert "Missing updates 7 6 -1" in text
    assert "Overdue updates — 3 —" in text
    # One SLA point only (the old run has none): no trend chart yet.
    assert "SLA compliance over the site's reports" not in text


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
        generate(service, tmp_path / "t.pdf", ReportOptions(("checklist",)))
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
        "Patch policy documented": "partly",  # only the built-in defaults
        "Patches tested before deployment": "partly",
        "Efforts documented and access restricted": "partly",  # intact, no vault yet
        "Deployment audited and verified": "partly",
        "Rollback plan": "met",
        "Reporting": "met",
    }
    assert "3 of 5 asset(s) have their impact" in \
        items["Priorities set (asset criticality)"].evidence
    assert "Without: #2" in items["Patches tested before deployment"].evidence
    assert "default policy (version 0) applies" in items["Patch policy documented"].evidence


def test_period_filters_deployments_and_events(site: ReportSite, tmp_path: Path) -> None:
    future = date.today() + timedelta(days=30)
    options = ReportOptions(("deployments", "checklist"), future, future + timedelta(days=1))
    generate(site.service, tmp_path / "p.pdf", options)
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
        result = generate(built.service, tmp_path / "r.pdf", ReportOptions(("exec",)))
    finally:
        built.service.close()
    assert result.pages >= 3


def test_progress_and_cancel(site: ReportSite, tmp_path: Path) -> None:
    seen: list[Progress] = []
    generate(site.service, tmp_path / "r.pdf", progress=seen.append)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    token = CancelToken()

    def cancel_midway(p: Progress) -> None:
        if p.fraction > 0.3:
            token.cancel()

    with pytest.raises(Cancelled):
        generate(site.service, tmp_path / "c.pdf", progress=cancel_midway,
                        cancel=token)
    assert not (tmp_path / "c.pdf").exists()
    assert not list(tmp_path.glob(".c.pdf*"))
    assert len(ReportRepo(site.service.store.db()).all()) == 1


def test_unwritable_target_is_a_user_error(site: ReportSite, tmp_path: Path) -> None:
    from app.core.errors import UserError

    with pytest.raises(UserError, match="Cannot write"):
        generate(site.service, tmp_path / "no" / "such" / "dir.pdf")


def test_report_text_mentions_every_chosen_section(site: ReportSite, tmp_path: Path) -> None:
    generate(site.service, tmp_path / "r.pdf")
    _, text = pdf_text(tmp_path / "r.pdf")
    contents = text[text.index("Contents"):text.index("1. Executive summary This report")]
    for number, title in enumerate(["Executive summary", "Inventory", "Missing patches",
                                    "Deployments", "Exceptions and urgency decisions",
                                    "Patch-audit checklist", "Per-host appendix"], start=1):
        assert re.search(rf"{number}\. {title} \d+", contents), title


@pytest.fixture
def risk_site(site: ReportSite, tmp_path: Path) -> ReportSite:
    """The report site with policy version 1, a KEV file and four urgency decisions."""
    add_risk_records(site, kev_file(tmp_path / "kev.json", "CVE-2024-7348"))
    return site


def test_report_shows_the_risk_module(risk_site: ReportSite, tmp_path: Path) -> None:
    service = risk_site.service
    out = tmp_path / "risk.pdf"
    result = generate(service, out)
    _, text = pdf_text(out)
    # The executive summary's figure is the dashboard's, printed as "50.0%".
    figure = service.compliance()
    assert (figure.percent, figure.pairs, figure.excepted) == (50.0, 4, 1)
    assert f"{figure.percent:.1f}% SLA compliance {figure.on_time} of {figure.pairs} " \
           f"missing security update(s) within their SLA (1 under exception)" in text
    assert result.figures["compliance_pct"] == figure.percent
    # Which policy is in force, by whom.
    assert "Patch policy version 1, saved by alice on " in text
    assert "is in force" in text
    # Top risk #1: db01's postgresql-15, raised by its known-exploited CVE.
    risks = text[text.index("# Host Update Score Priority Due KEV Why"):]
    assert risks.startswith("# Host Update Score Priority Due KEV Why 1 db01 postgresql-15 "
                            "2.0-1 93 emergency")
    assert "known exploited (KEV) +35" in risks.split(" 2 web01 ")[0]
    assert "KEV marks a CVE in CISA's Known Exploited Vulnerabilities catalogue " \
           "(version 2025.01.10" in text
    # Missing patches: the KEV column marks exactly that CVE's rows.
    patches = text[text.rindex("3.2 By host"):text.rindex("4. Deployments")]
    assert "Priority, score Due KEV CVEs / advisories / KB" in patches
    assert re.search(r"db01 postgresql-15 1\.0-1 → 2\.0-1 security important emergency 93 "
                     r"\S+ KEV CVE-2024-7348", patches)
    assert patches.count("KEV") == 2  # the column header and the one listed update
    assert re.search(r"db01 openssl 1\.0-1 → 2\.0-1 security critical high 68 \S+ overdue",
                     patches)
    # Exceptions and decisions: who, what, why, until; the expired one flagged.
    decisions = text[text.rindex("5. Exceptions and urgency decisions"):
                     text.rindex("6. Patch-audit checklist")]
    assert "4 decision(s) — patch now: 1, schedule: 1, exception: 2; 1 exception(s) " \
           "expired or ended." in decisions
    expired = decisions[decisions.index("#4 exception openssl db01"):]
    assert "vendor fix pending; port closed" in expired
    assert "expired — item overdue again (last day " in expired
    assert "#2 exception libc6 web01 J. Smith" in decisions
    assert "WAF rule 42 blocks the iconv vector in force until" in decisions
    assert "#1 patch now openssl web01" in decisions and "planned for" in decisions
    # Checklist and the policy appendix: version, author, date.
    assert "Patch policy documented met Patch policy version 1 saved by alice" in text
    appendix = text[text.index("Appendix: Patch policy Version 1"):]
    assert "saved by alice on" in appendix
    assert "signed off by the practice manager" in appendix
    assert "Responsible Dana Scully Approve deployments Dana Scully" in appendix
    assert "Decide urgency / grant exceptions J. Smith" in appendix
    assert "kind:server=sat 22:00-04:00" in appendix


def test_report_data_is_the_services_risk_view(risk_site: ReportSite) -> None:
    service = risk_site.service
    data = collect(service)
    assert data.compliance == service.compliance(data.generated_at)
    assert [(i.host, i.package) for i in data.risk_items] == \
        [(i.host, i.package) for i in service.risk_items(data.generated_at)]
    assert data.figures.to_dict()["compliance_pct"] == data.compliance.percent
    assert data.policy.version == 1 and data.kev is not None
    assert data.figures.overdue_by_priority == {"emergency": 1, "high": 2}
    items = {i.step: i for i in data.checklist()}
    assert items["Patch policy documented"].status == "met"


def test_decisions_follow_the_report_period(risk_site: ReportSite, tmp_path: Path) -> None:
    today = date.today()
    generate(risk_site.service, tmp_path / "today.pdf",
                    ReportOptions(("exceptions",), today, today))
    _, text = pdf_text(tmp_path / "today.pdf")
    # Recorded today, or in force today; the exception that ran out five days ago is not.
    assert "3 decision(s)" in text and "#4" not in text
    later = today + timedelta(days=60)
    generate(risk_site.service, tmp_path / "later.pdf",
                    ReportOptions(("exceptions",), later, later))
    _, text = pdf_text(tmp_path / "later.pdf")
    assert "No urgency decision or exception was recorded for the period." in text
