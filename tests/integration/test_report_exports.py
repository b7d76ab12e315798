"""CSV/JSON exports and the report/export commands, on a real site."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.cli import main
from app.core.errors import UserError
from app.services.reports import ReportOptions, export
from tests.reports_fixtures import ReportSite, build_report_site


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> ReportSite:
    built = build_report_site(tmp_path / "acme.pdsite")
    yield built
    built.service.close()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_patches_export_csv_and_json(site: ReportSite, tmp_path: Path) -> None:
    assert export(site.service, "patches", "csv", tmp_path / "p.csv") == 6
    rows = read_csv(tmp_path / "p.csv")
    assert len(rows) == 6
    openssl = [r for r in rows if r["package"] == "openssl"]
    assert {r["host"] for r in openssl} == {"web01", "db01"}
    assert openssl[0]["cves"] == "CVE-2024-5535 CVE-2024-6119"
    assert openssl[0]["severity"] == "critical"
    assert export(site.service, "patches", "json", tmp_path / "p.json") == 6
    data = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    assert data["site"]["client"] == "Acme Dental Ltd"
    assert sorted(p["package"] for p in data["patches"] if p["host"] == "db01") == \
        ["openssl", "postgresql-15"]


def test_deployments_export_one_csv_row_per_host(site: ReportSite, tmp_path: Path) -> None:
    assert export(site.service, "deployments", "csv", tmp_path / "d.csv") == 2
    rows = read_csv(tmp_path / "d.csv")
    assert len(rows) == 4
    first = [r for r in rows if r["deployment_id"] == "1"]
    assert {r["approver"] for r in first} == {"Dana Scully"}
    assert {(r["host"], r["stage"], r["state"]) for r in first} == {
        ("pc-anna", "test", "succeeded"), ("db01", "production", "succeeded")}
    export(site.service, "deployments", "json", tmp_path / "d.json")
    deps = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))["deployments"]
    assert [d["id"] for d in deps] == [2, 1]
    assert deps[1]["log"][0]["message"] == "planned"


def test_audit_export_keeps_the_chain(site: ReportSite, tmp_path: Path) -> None:
    total = len(site.service.audit_events())
    assert export(site.service, "audit", "json", tmp_path / "a.json") == total
    data = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert data["chain"] == {"intact": True, "problems": []}
    events = data["events"]
    assert [e["id"] for e in events] == list(range(1, total + 1))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))
    export(site.service, "audit", "csv", tmp_path / "a.csv")
    rows = read_csv(tmp_path / "a.csv")
    assert rows[0]["action"] == "site.create"
    # Exports are audited themselves.
    assert site.service.audit_events(limit=1)[0].action == "export.audit"


def test_period_filters_exports(site: ReportSite, tmp_path: Path) -> None:
    from datetime import date

    options = ReportOptions(period_from=date(2000, 1, 1), period_to=date(2000, 12, 31))
    assert export(site.service, "deployments", "csv", tmp_path / "d.csv", options) == 0
    assert export(site.service, "audit", "csv", tmp_path / "a.csv", options) == 0


def test_unknown_kind_or_format(site: ReportSite, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Cannot export"):
        export(site.service, "secrets", "csv", tmp_path / "x")
    with pytest.raises(UserError, match="format"):
        export(site.service, "patches", "xml", tmp_path / "x")


def test_cli_export_forms(site: ReportSite, tmp_path: Path) -> None:
    path = str(site.service.path)
    site.service.close()
    code, _ = run("--site", path, "export", "patches", "--format", "csv", "-o",
                  str(tmp_path / "p.csv"))
    assert code == 0
    assert len(read_csv(tmp_path / "p.csv")) == 6
    # The original inventory form still works, to a file and to stdout.
    assert run("--site", path, "export", "csv", "-o", str(tmp_path / "i.csv"))[0] == 0
    assert len(read_csv(tmp_path / "i.csv")) == 5
    code, text = run("--site", path, "export", "json")
    assert code == 0 and len(json.loads(text)["assets"]) == 5
    code, text = run("--site", path, "export", "inventory", "--format", "json")
    assert code == 0 and len(json.loads(text)["assets"]) == 5
    code, text = run("--site", path, "export", "deployments", "--format", "json")
    assert code == 0 and len(json.loads(text)["deployments"]) == 2
    assert run("--site", path, "export", "csv", "--format", "json")[0] == 2


def test_cli_report(site: ReportSite, tmp_path: Path) -> None:
    path = str(site.service.path)
    site.service.close()
    out = tmp_path / "r.pdf"
    code, text = run("--site", path, "report", "--sections", "exec,checklist", "--from",
                     "2020-01-01", "--to", "2099-12-31", "-o", str(out))
    assert code == 0, text
    assert "compliance 50.0%" in text and "6 missing update(s)" in text
    pdf = " ".join(p.extract_text() for p in PdfReader(out).pages)
    assert "2020-01-01 to 2099-12-31" in pdf
    code, text = run("--site", path, "--json", "report", "-o", str(out))
    assert code == 0 and json.loads(text)["figures"]["compliant"] == 1


@pytest.mark.parametrize("bad", [["--sections", "exec,nope"], ["--from", "2026-13-01"],
                                 ["--from", "2026-03-01", "--to", "2026-02-01"]])
def test_cli_report_usage_errors(tmp_path: Path, bad: list[str]) -> None:
    site = tmp_path / "none.pdsite"
    assert run("--site", str(site), "report", *bad, "-o", str(tmp_path / "r.pdf"))[0] == 2
    assert not site.exists()
