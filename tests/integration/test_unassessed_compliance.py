"""Hosts that were never assessed (or whose deep scan failed) are "not assessed" in the SLA
compliance figure, the dashboard and the report — never counted as compliant ([9]).

The issue's example: a site of Windows machines nobody could deep-scan showed "SLA
compliance 100 %".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.core.assessment import Assessment, HostFacts, Update
from app.core.models import Asset, AssetKind, Classification, OsFamily, Severity
from app.services import SiteService
from app.services.reports import ReportOptions, collect, generate
from app.store.assessments import AssessmentRepo
from app.ui.pages import risk_overview

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "windows.pdsite", create=True, actor="tech")
    for n in range(16):
        service.add_asset(Asset(hostname=f"pc{n:02d}", ips=(f"10.0.0.{n + 10}",),
                                os_family=OsFamily.WINDOWS, os_name="Windows 11 Pro",
                                kind=AssetKind.WORKSTATION))
    yield service
    service.close()


def test_a_site_of_windows_hosts_never_assessed_is_not_100_percent(
        site: SiteService, tmp_path: Path) -> None:
    figure = site.compliance(NOW)
    assert figure.percent is None  # unknown, not 100 %
    assert (figure.assets, figure.assessed, figure.not_assessed) == (16, 0, 16)
    assert figure.assets_compliant == 0
    data = figure.to_dict()
    assert data["percent"] is None and data["not_assessed"] == 16
    # The dashboard shows the same figure and names every host as not assessed.
    overview = risk_overview(site, stale_days=30, now=NOW)
    assert overview.compliance.percent is None
    assert len(overview.never_assessed) == 16
    # The report's figures: no compliance percentage, 16 never scanned, none compliant.
    report = collect(site, ReportOptions())
    assert report.figures.compliance_pct is None
    assert (report.figures.not_assessed, report.figures.compliant) == (16, 0)
    generate(site, tmp_path / "report.pdf")
    text = " ".join(" ".join(page.extract_text() for page in
                             PdfReader(tmp_path / "report.pdf").pages).split())
    assert "100.0%" not in text
    assert "— SLA compliance" in text
    assert "0 were deep-scanned successfully" in text and "16 have never been scanned" in text


def test_failed_deep_scans_are_not_assessed_and_assessed_hosts_count(
        site: SiteService) -> None:
    assets = site.assets()
    with site.store.atomic() as db:
        repo = AssessmentRepo(db)
        # Two hosts refused the credentials: they are not assessed either.
        for asset in assets[:2]:
            repo.record_failure(int(asset.id or 0), NOW, NOW, "auth_failed", "refused")
        # One host was assessed: nothing missing.
        result = Assessment(host="pc02", driver="windows",
                            facts=HostFacts(os_id="windows", os_name="Windows 11 Pro"))
        repo.record_success(int(assets[2].id or 0), NOW, NOW, result)
        # One host was assessed with a security update missing (first seen now: on time).
        result = Assessment(host="pc03", driver="windows", updates=[Update(
            "KB5046633", "2024-11 Cumulative Update", kb="KB5046633",
            classification=Classification.SECURITY, severity=Severity.CRITICAL)])
        repo.record_success(int(assets[3].id or 0), NOW, NOW, result)
    figure = site.compliance(NOW)
    assert (figure.assessed, figure.not_assessed) == (2, 14)
    assert figure.percent == 100.0  # of what two assessed hosts reported
    assert figure.assets_compliant == 2  # never the 14 hosts nobody could look at
    overview = risk_overview(site, stale_days=30, now=NOW)
    # the dashboard names the failed scans apart from the never-assessed hosts, and counts
    # neither as compliant
    assert {name for _id, name, _why in overview.failed} == {"pc00", "pc01"}
    assert "pc02" not in overview.never_assessed
    assert not {"pc00", "pc01", "pc02", "pc03"} & set(overview.never_assessed)
