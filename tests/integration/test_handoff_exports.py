"""Exports other tools import: the missing-patch list under a framework's deadlines, the PSA
asset list and the Ansible inventory (no secret in it), on a real site ([16], [15])."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.cli import main
from app.core.credentials import Scope, ScopeKind, SudoMode
from app.reports.handoff import PSA_COLUMNS
from tests.reports_fixtures import ReportSite, add_risk_records, build_report_site, kev_file

MASTER = "correct horse battery staple 42"
SECRETS = ("Pa55word-for-ssh!", "sudo-S3cret-pw", MASTER)


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> ReportSite:
    then = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    built = build_report_site(tmp_path / "acme.pdsite", now=then)
    add_risk_records(built, kev_file(tmp_path / "kev.json", "CVE-2024-7348"), now=then)
    yield built
    built.service.close()


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def test_patches_under_a_framework_match_its_judgement(site: ReportSite,
                                                       tmp_path: Path) -> None:
    path = str(site.service.path)
    site.service.close()
    for fw, requirement in (("cyber-essentials", "A6.4/A6.5"), ("pci-dss", "6.3.3")):
        code, text = run("--site", path, "--json", "compliance", "--framework", fw)
        assert code == 0
        figures = next(j["figures"] for j in json.loads(text)["frameworks"][0]["judgements"]
                       if j["requirement"] == requirement)
        overdue = int(re.search(r"; (\d+) overdue", figures).group(1))
        due = int(re.search(r"(\d+) missing update\(s\) fall under", figures).group(1))
        out = tmp_path / f"{fw}.csv"
        assert run("--site", path, "export", "patches", "--framework", fw, "-o",
                   str(out))[0] == 0
        header, rows = read_csv(out)
        assert header[-6:] == ["framework", "deadline", "due", "overdue", "clock",
                               "excepted_until"]
        assert len(rows) == 6 and {r["framework"] for r in rows} == {fw}
        assert sum(r["overdue"] == "True" for r in rows) == overdue
        # every security update the judgement counted has a due date; the others none
        assert sum(bool(r["due"]) for r in rows if r["host"] != "mail01") >= due
        if fw == "cyber-essentials":
            openssl = next(r for r in rows if r["host"] == "web01" and r["package"] == "openssl")
            assert openssl["deadline"] == "14 days" and openssl["overdue"] == "True"
            assert openssl["clock"] == "first seen"
            curl = next(r for r in rows if r["package"] == "curl")
            assert curl["due"] == "" and curl["overdue"] == ""  # a bug fix: no deadline
        else:
            assert overdue == 0
    code, text = run("--site", path, "export", "patches", "--framework", "pci-dss",
                     "--format", "json")
    data = json.loads(text)
    assert code == 0 and data["framework"]["id"] == "pci-dss" and len(data["patches"]) == 6
    assert run("--site", path, "export", "patches", "--framework", "nope")[0] == 2
    assert run("--site", path, "export", "audit", "--framework", "pci-dss")[0] == 2


def test_psa_asset_list(site: ReportSite, tmp_path: Path) -> None:
    path = str(site.service.path)
    site.service.close()
    out = tmp_path / "psa.csv"
    assert run("--site", path, "export", "psa", "-o", str(out))[0] == 0
    header, rows = read_csv(out)
    assert header == list(PSA_COLUMNS)
    assert [r["Name"] for r in rows] == ["web01", "db01", "pc-anna", "mail01", "printer-2f"]
    web = rows[0]
    assert (web["Organization"], web["Serial Number"], web["Manufacturer"], web["Model"],
            web["OS"], web["IP Address"], web["MAC Address"], web["Location"],
            web["Owner/Contact"], web["Warranty Expiration"]) == (
        "Acme Dental Ltd", "7XK2Q3", "Dell Inc.", "PowerEdge R650", "Debian 12", "10.0.0.10",
        "00:1A:2B:3C:4D:01", "HQ rack 2", "Ops", "2027-03-31")
    assert rows[4]["Type"] == "Printer"


def test_ansible_inventory_has_no_secret_and_ansible_reads_it(site: ReportSite,
                                                              tmp_path: Path) -> None:
    service = site.service
    service.credentials.unlock(MASTER, create=True)
    service.credentials.add_ssh_credential(
        "ops", "patchadmin", password=SECRETS[0], sudo_mode=SudoMode.PASSWORD,
        sudo_password=SECRETS[1], port=2222, scopes=(Scope(ScopeKind.ALL),))
    web = service.asset(site.ids["web01"])
    service.update_asset(web.with_changes(tags=("pci", "front desk")))
    path = str(service.path)
    service.close()
    out = tmp_path / "inventory.yml"
    code, _ = run("--site", path, "export", "ansible-inventory", "-o", str(out))
    assert code == 0
    raw = out.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in raw
    # nor anything from the vault's sealed columns
    assert b"password" not in raw.lower().replace(b"passwords and keys", b"")
    ansible = shutil.which("ansible-inventory", path=str(Path(sys.executable).parent))
    if ansible is None:
        pytest.skip("ansible-core is not installed in this venv (optional: pip install "
                    "ansible-core); the file was checked for secrets above")
    proc = subprocess.run([ansible, "-i", str(out), "--list"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr.lower(), proc.stderr
    listed = json.loads(proc.stdout)
    hostvars = listed["_meta"]["hostvars"]
    assert set(hostvars) == {"web01", "db01", "pc-anna", "mail01"}  # the printer left out
    assert hostvars["web01"]["ansible_user"] == "patchadmin"
    assert hostvars["web01"]["ansible_port"] == 2222
    assert hostvars["web01"]["ansible_become"] is True
    assert hostvars["web01"]["ansible_host"] == "10.0.0.10"
    assert set(listed["os_linux"]["hosts"]) == {"web01", "db01", "pc-anna", "mail01"}
    assert set(listed["location_hq_rack_2"]["hosts"]) == {"web01", "db01"}
    assert listed["tag_front_desk"]["hosts"] == ["web01"]
    assert listed["tag_pci"]["hosts"] == ["web01"]
