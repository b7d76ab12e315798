"""The risk, KEV, policy, review and exception commands, and approvals refused by role."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from app.cli import main
from app.core.assessment import Assessment, Update
from app.core.deployment import Gates, PackagePin, Phase, Stage
from app.core.models import Classification, Severity
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from app.store.deployments import DeploymentRepo

SAMPLE = Path(__file__).parents[1] / "data" / "kev" / "known_exploited_vulnerabilities.json"


def run(*argv: str, stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    old, sys.stdin = sys.stdin, io.StringIO(stdin)
    try:
        code = main(list(argv), out=out)
    finally:
        sys.stdin = old
    return code, out.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> str:
    """A site with a public-facing payment server and a lab PC, both assessed."""
    path = str(tmp_path / "r.pdsite")
    assert run("--site", path, "asset", "add", "--hostname", "pay01", "--ip", "10.0.0.5",
               "--kind", "server")[0] == 0
    assert run("--site", path, "asset", "add", "--hostname", "lab-ws3", "--ip",
               "10.0.0.33")[0] == 0
    # the criticality answers, as the issue gives them
    assert run("--site", path, "asset", "edit", "pay01", "--impact", "critical",
               "--public-facing", "--data", "payment,personal")[0] == 0
    service = SiteService.open(path)
    try:
        service.people.add("J. Smith", "4711-blue")  # proof for approvals, exceptions ([12].8)
        now = datetime.now(UTC).replace(microsecond=0)
        pay, lab = service.find_assets("pay01")[0], service.find_assets("lab-ws3")[0]
        with service.store.atomic() as db:
            repo = AssessmentRepo(db)
            repo.record_success(int(pay.id or 0), now, now, Assessment("pay01", "dnf", updates=[
                Update("kernel", "6.1.2", "6.1.1", classification=Classification.SECURITY,
                       severity=Severity.CRITICAL, cves=("CVE-2024-53104",)),
                Update("openssl", "3.0.2", "3.0.1", classification=Classification.SECURITY,
                       severity=Severity.IMPORTANT, cves=("CVE-2024-5535",))]))
            repo.record_success(int(lab.id or 0), now, now, Assessment("lab-ws3", "dnf", updates=[
                Update("vim", "9.1", "9.0", classification=Classification.SECURITY,
                       severity=Severity.MODERATE)]))
    finally:
        service.close()
    return path


def test_asset_edit_takes_the_criticality_answers(site: str) -> None:
    asset = json.loads(run("--site", site, "asset", "show", "pay01", "--json")[1])
    assert (asset["impact"], asset["public_facing"], asset["data_sensitivity"]) == \
        ("critical", True, ["payment", "personal"])


def test_risk_json_after_a_kev_import(site: str) -> None:
    code, text = run("--site", site, "kev", "import", str(SAMPLE))
    assert code == 0 and "20 entries" in text
    code, text = run("--site", site, "risk", "--json")
    assert code == 0
    items = json.loads(text)
    assert [(i["host"], i["package"]) for i in items] == [
        ("pay01", "kernel"), ("pay01", "openssl"), ("lab-ws3", "vim")]
    top = items[0]
    assert (top["ip"], top["priority"], top["kev"], top["kev_cves"], top["overdue"]) == \
        ("10.0.0.5", "emergency", True, ["CVE-2024-53104"], False)
    assert top["score"] == 100 and "known exploited (CISA KEV)" in top["why"]
    due = datetime.fromisoformat(top["due"]) - datetime.fromisoformat(top["first_seen"])
    assert due == timedelta(hours=48)
    assert {f["factor"] for f in top["factors"]} >= {"severity", "asset impact",
                                                     "payment data", "public-facing"}
    assert items[2]["kev"] is False
    code, text = run("--site", site, "risk", "--top", "1", "--why")
    assert code == 0 and "kernel" in text and "vim" not in text and "→ emergency" in text
    code, text = run("--site", site, "kev", "status", "--json")
    assert json.loads(text)["matched_cves"] == ["CVE-2024-53104"]


def test_kev_import_usage_and_errors(site: str, tmp_path: Path, capsys) -> None:
    assert run("--site", site, "kev", "import")[0] == 2
    assert run("--site", site, "kev", "import", str(SAMPLE), "--sample")[0] == 2
    bad = tmp_path / "kev.json"
    bad.write_text("<html>Access denied</html>", encoding="utf-8")
    code, _ = run("--site", site, "kev", "import", str(bad))
    assert code == 1
    assert "KEV catalogue: not JSON" in capsys.readouterr().err
    code, text = run("--site", site, "kev", "status")
    assert code == 0 and "no KEV catalogue imported" in text


def test_policy_set_show_history(site: str, tmp_path: Path, capsys) -> None:
    code, text = run("--site", site, "policy", "show")
    assert code == 0 and "version 0" in text and "may approve deployments: anyone" in text
    code, text = run("--site", site, "--actor", "J. Smith", "policy", "set", "approvers",
                     "alice,carol", "sla_hours.high", "5d", "windows",
                     "ring:production=sat 22:00-04:00", "--note", "first policy")
    assert code == 0 and "version 1" in text
    code, text = run("--site", site, "policy", "show", "--json")
    shown = json.loads(text)
    assert (shown["version"], shown["author"], shown["note"]) == (1, "J. Smith",
                                                                 "first policy")
    assert shown["policy"]["people"] == {"alice": ["approver"], "carol": ["approver"]}
    assert shown["policy"]["sla_hours"]["high"] == 120
    # the JSON of `policy show --json` goes back in with --file
    shown["policy"]["responsible"] = "J. Smith"
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(shown), encoding="utf-8")
    assert run("--site", site, "policy", "set", "--file", str(policy_file))[0] == 0
    assert "responsible: J. Smith" in run("--site", site, "policy", "show")[1]
    assert "alice" not in run("--site", site, "policy", "show", "--version", "0")[1]
    code, text = run("--site", site, "policy", "history", "--json")
    assert [v["version"] for v in json.loads(text)] == [2, 1]
    capsys.readouterr()
    assert run("--site", site, "policy", "set", "approvers")[0] == 2
    assert "has no value" in capsys.readouterr().err
    assert run("--site", site, "policy", "set", "sla_hours.low", "ages")[0] == 2
    assert "invalid sla_hours.low" in capsys.readouterr().err
    assert run("--site", site, "policy", "show", "--version", "9")[0] == 1


def test_exception_past_expiry_is_overdue_and_flagged(site: str, capsys) -> None:
    until = (date.today() + timedelta(days=30)).isoformat()
    code, text = run("--site", site, "exception", "add", "--patch", "openssl", "--host",
                     "pay01", "--reason", "WAF rule 42", "--until", until, "--by", "J. Smith",
                     "--pin-stdin", stdin="4711-blue\n")
    assert code == 0 and "recorded exception #1" in text
    [listed] = json.loads(run("--site", site, "exception", "list", "--json")[1])
    assert (listed["expired"], listed["host"], listed["until"]) == (False, "pay01", until)
    item = next(i for i in json.loads(run("--site", site, "risk", "--json")[1])
                if i["package"] == "openssl")
    assert (item["state"], item["overdue"]) == ("excepted", False)
    assert run("--site", site, "exception", "expire", "1", "--by", "A. Jones")[0] == 0
    [listed] = json.loads(run("--site", site, "exception", "list", "--json")[1])
    assert listed["expired"] is True and listed["ended_by"] == "A. Jones"
    assert "EXPIRED" in run("--site", site, "exception", "list")[1]
    assert json.loads(run("--site", site, "exception", "list", "--active", "--json")[1]) == []
    item = next(i for i in json.loads(run("--site", site, "risk", "--json")[1])
                if i["package"] == "openssl")
    assert (item["state"], item["overdue"]) == ("exception_expired", True)
    assert [i["package"] for i in json.loads(run("--site", site, "risk", "--overdue",
                                                 "--json")[1])] == ["openssl"]
    figure = json.loads(run("--site", site, "compliance", "--json")[1])
    assert (figure["pairs"], figure["overdue"], figure["percent"]) == (3, 1, 66.7)
    assert "SLA compliance 66.7%" in run("--site", site, "compliance")[1]
    capsys.readouterr()
    assert run("--site", site, "exception", "add", "--patch", "openssl", "--reason", "x",
               "--until", "2001-01-01", "--by", "J. Smith", "--pin-stdin",
               stdin="4711-blue\n")[0] == 2
    assert "expire today or later" in capsys.readouterr().err
    assert run("--site", site, "exception", "add", "--patch", "openssl", "--reason", "x",
               "--until", "someday", "--by", "J. Smith", "--pin-stdin",
               stdin="4711-blue\n")[0] == 2


def test_review_decisions(site: str) -> None:
    code, text = run("--site", site, "review", "add", "--cve", "CVE-2024-53104", "--decision",
                     "patch-now", "--reason", "exploited, DMZ", "--by", "J. Smith")
    assert code == 0 and "recorded patch_now #1 for CVE-2024-53104 on all hosts" in text
    planned = (date.today() + timedelta(days=4)).isoformat()
    assert run("--site", site, "review", "add", "--patch", "vim", "--decision", "schedule",
               "--date", planned, "--reason", "next window", "--by", "J. Smith")[0] == 0
    reviews = json.loads(run("--site", site, "review", "list", "--json")[1])
    assert [(r["decision"], r["cve"], r["package"], r["planned"]) for r in reviews] == [
        ("patch_now", "CVE-2024-53104", None, None), ("schedule", None, "vim", planned)]
    states = {i["package"]: i["state"] for i in json.loads(run("--site", site, "risk",
                                                               "--json")[1])}
    assert states == {"kernel": "patch_now", "openssl": "open", "vim": "scheduled"}
    audit = json.loads(run("--site", site, "audit", "list", "--json")[1])
    assert {"review.patch_now", "review.schedule"} <= {e["action"] for e in audit}


def test_a_role_that_may_not_approve_cannot_approve_a_deployment(site: str, capsys) -> None:
    service = SiteService.open(site)
    try:
        lab, pay = service.find_assets("lab-ws3")[0], service.find_assets("pay01")[0]
        dep = service.deployer.plan([PackagePin("openssl", "3.0.2")],
                                    [(lab, Stage.TEST), (pay, Stage.PRODUCTION)], Gates())
        dep = dep.moved(Phase.PREFLIGHT).moved(Phase.TEST_RING).moved(
            Phase.AWAITING_APPROVAL)
        with service.store.atomic() as db:
            DeploymentRepo(db).save(dep)
    finally:
        service.close()
    assert run("--site", site, "policy", "set", "approvers", "J. Smith", "people.bob",
               "deployer")[0] == 0
    capsys.readouterr()
    assert run("--site", site, "person", "add", "bob", "--pin-stdin", stdin="bob-pin\n")[0] == 0
    code, _ = run("--site", site, "--actor", "bob", "deploy", "approve", str(dep.id), "--as",
                  "bob", "--pin-stdin", stdin="bob-pin\n")
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("patchdesk: error: bob may not approve deployments")
    assert "only J. Smith approve (bob has deployer)" in err
    audit = json.loads(run("--site", site, "audit", "list", "--json")[1])
    refusal = next(e for e in audit if e["action"] == "deploy.approve")
    assert refusal["outcome"] == "denied" and refusal["object_id"] == str(dep.id)
    assert refusal["details"]["approver"] == "bob"
    assert "bob may not approve" in refusal["details"]["refused"]
    status = json.loads(run("--site", site, "deploy", "status", str(dep.id), "--json")[1])
    assert status["phase"] == "awaiting_approval"
    code, text = run("--site", site, "deploy", "approve", str(dep.id), "--as", "J. Smith",
                     "--pin-stdin", stdin="4711-blue\n")
    assert code == 0 and "approved by J. Smith" in text


def test_only_the_policy_deployers_may_plan_deployments(site: str, capsys) -> None:
    assert run("--site", site, "policy", "set", "deployers", "bob")[0] == 0
    capsys.readouterr()
    code, _ = run("--site", site, "--actor", "carol", "deploy", "plan", "--patch", "openssl",
                  "--targets", "all")
    assert code == 1
    assert "carol may not plan deployments" in capsys.readouterr().err
    audit = json.loads(run("--site", site, "audit", "list", "--json")[1])
    assert audit[0]["action"] == "policy.refused" and audit[0]["outcome"] == "denied"
    code, text = run("--site", site, "--actor", "Bob", "deploy", "plan", "--patch", "openssl",
                     "--targets", "all")
    assert code == 0 and "planned" in text
