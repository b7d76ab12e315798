"""Compliance frameworks in the report and ``patchdesk compliance --framework`` ([16]):
the PDF's appendices, read back with pypdf, hold the same requirement ids, judgements and
figures as the command prints under each framework's deadlines."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from app.cli import main
from app.core.frameworks import Status, load_frameworks
from app.reports.frameworks import EVIDENCE_TEXT, STATUS_TEXT
from tests.reports_fixtures import ReportSite, add_risk_records, build_report_site, kev_file


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def squash(text: str) -> str:
    """Text without any white space (pypdf breaks lines where the table cells wrap)."""
    return re.sub(r"\s+", "", text)


@pytest.fixture
def site(tmp_path: Path) -> ReportSite:
    # five days back: web01's updates were first seen missing 15 days ago, past Cyber
    # Essentials' 14 days but within PCI DSS's month
    then = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    built = build_report_site(tmp_path / "acme.pdsite", now=then)
    add_risk_records(built, kev_file(tmp_path / "kev.json", "CVE-2024-7348"), now=then)
    yield built
    built.service.close()


def test_report_appendices_match_compliance_command(site: ReportSite, tmp_path: Path) -> None:
    path = str(site.service.path)
    site.service.close()
    # the command first: the report adds its own audit event after collecting
    code, text = run("--site", path, "--json", "compliance", "--framework",
                     "pci-dss,cyber-essentials")
    assert code == 0, text
    judged: list[dict[str, Any]] = json.loads(text)["frameworks"]
    assert [f["framework"] for f in judged] == ["pci-dss", "cyber-essentials"]
    out = tmp_path / "report.pdf"
    code, text = run("--site", path, "report", "--framework", "pci-dss,cyber-essentials",
                     "-o", str(out))
    assert code == 0, text
    pages = [p.extract_text() for p in PdfReader(out).pages]
    known = load_frameworks()
    exec_page = next(p for p in pages if "1. Executive summary" in p and "Contents" not in p)
    appendices = {f["framework"]: squash(" ".join(
        p for p in pages if squash(f"Appendix: {known[f['framework']].title}") in squash(p)
        and "Contents" not in p)) for f in judged}
    statuses = set()
    for fw in judged:
        framework = known[fw["framework"]]
        assert squash(framework.title) in squash(exec_page)
        counts = ", ".join(f"{n} {s}" for s, n in fw["counts"].items())
        assert squash(counts) in squash(exec_page)
        body = appendices[fw["framework"]]
        assert body, fw["framework"]
        for rule in fw["deadlines"]:
            days = rule["within_hours"] // 24
            assert squash(f"{rule['rule']} {days} days {rule['text']}") in body
        assert len(fw["judgements"]) == len(framework.requirements)
        for j in fw["judgements"]:
            label = STATUS_TEXT[Status(j["status"])][0]
            evidence = ", ".join(EVIDENCE_TEXT[k] for k in framework.requirement(
                j["requirement"]).evidence)
            row = squash(f"{j['requirement']} {j['title']} {label} {evidence} {j['figures']}")
            assert row in body, (fw["framework"], j["requirement"])
            statuses.add(j["status"])
    # the site gives every kind of answer, so the match is not between empty judgements
    assert {"met", "partly", "not met"} <= statuses
    # the same missing updates judged under each framework's own deadline
    ce = next(j for j in judged[1]["judgements"] if j["requirement"] == "A6.4/A6.5")
    pci = next(j for j in judged[0]["judgements"] if j["requirement"] == "6.3.3")
    assert ce["status"] == "not met" and "web01: openssl 15 days old (limit 14 days)" in \
        ce["figures"]
    assert pci["status"] != "not met" and "0 overdue" in pci["figures"]


def test_compliance_framework_text_and_errors(site: ReportSite) -> None:
    path = str(site.service.path)
    site.service.close()
    code, text = run("--site", path, "compliance", "--framework", "cyber-essentials")
    assert code == 0
    assert "A6.4/A6.5" in text and "deadline 14-days: 14 days" in text
    code, text = run("--site", path, "compliance", "--list")
    assert code == 0 and "pci-dss" in text and "essential-eight" in text
    assert run("--site", path, "compliance", "--framework", "pci-dss,nope")[0] == 2
    assert run("--site", path, "report", "--framework", "nope", "-o", "x.pdf")[0] == 2
    assert not Path("x.pdf").exists()
