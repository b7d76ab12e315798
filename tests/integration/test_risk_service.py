"""Risk and policy through the services on a real site file: KEV import and matching,
policy versions, urgency reviews and exceptions, approvals refused by role, compliance."""

from __future__ import annotations

import functools
import http.server
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.assessment import Assessment, Update
from app.core.deployment import Gates, PackagePin, Phase, Stage
from app.core.errors import UserError, ValidationError
from app.core.models import (
    Asset,
    Classification,
    DataSensitivity,
    Impact,
    Outcome,
    Severity,
)
from app.core.policy import Priority
from app.core.risk import Decision, ItemState
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from app.store.deployments import DeploymentRepo

KEV_DIR = Path(__file__).parents[1] / "data" / "kev"
SAMPLE = KEV_DIR / "known_exploited_vulnerabilities.json"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SiteService]:
    svc = SiteService.open(tmp_path / "risk.pdsite", create=True, actor="tester")
    yield svc
    svc.close()


def add_updates(service: SiteService, asset: Asset, updates: list[Update],
                when: datetime | None = None) -> None:
    """Store updates the way a deep scan does."""
    when = when or datetime.now(UTC).replace(microsecond=0)
    with service.store.atomic() as db:
        AssessmentRepo(db).record_success(int(asset.id or 0), when, when,
                                          Assessment(asset.label, "dnf", updates=updates))


def security(package: str, *cves: str, severity: Severity = Severity.IMPORTANT) -> Update:
    return Update(package, "2.0", "1.0", classification=Classification.SECURITY,
                  severity=severity, cves=cves)


@pytest.fixture
def fleet(service: SiteService) -> dict[str, Asset]:
    pay = service.add_asset(Asset(hostname="pay01", ips=("10.0.0.5",), impact=Impact.CRITICAL,
                                  data_sensitivity=(DataSensitivity.PAYMENT,),
                                  public_facing=True))
    lab = service.add_asset(Asset(hostname="lab-ws3", ips=("10.0.0.33",)))
    add_updates(service, pay, [
        security("kernel", "CVE-2024-53104", "CVE-2024-0001", severity=Severity.CRITICAL),
        security("openssl", "CVE-2024-5535"),
        Update("tzdata", "2025a", "2024b", classification=Classification.ENHANCEMENT),
    ])
    add_updates(service, lab, [security("p7zip", "CVE-2025-0411", severity=Severity.MODERATE),
                               security("vim", severity=Severity.MODERATE)])
    return {"pay": pay, "lab": lab}


def kev_marks(service: SiteService) -> dict[tuple[str, str], list[str]]:
    return {(i.host, i.package): [e.cve_id for e in i.kev]
            for i in service.risk_items() if i.kev}


def test_kev_import_marks_exactly_the_matching_cves(service: SiteService,
                                                    fleet: dict[str, Asset]) -> None:
    assert service.kev_status() is None
    assert kev_marks(service) == {}
    result = service.kev_import(SAMPLE)
    assert (result.entries, result.added, result.removed) == (20, 20, 0)
    assert result.catalog_version == "2025.02.25"
    assert kev_marks(service) == {("pay01", "kernel"): ["CVE-2024-53104"],
                                  ("lab-ws3", "p7zip"): ["CVE-2025-0411"]}
    items = {i.package: i for i in service.risk_items()}
    assert items["kernel"].priority is Priority.EMERGENCY
    assert items["p7zip"].priority is Priority.HIGH  # moderate on a lab PC, but exploited
    assert not items["openssl"].kev and not items["vim"].kev
    [event] = service.audit_events(object_type="kev")
    assert event.action == "kev.import" and event.details["entries"] == 20


def test_reimport_replaces_the_catalogue_and_a_bad_file_changes_nothing(
        service: SiteService, fleet: dict[str, Asset], tmp_path: Path) -> None:
    service.kev_import(SAMPLE)
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    doc["vulnerabilities"] = [v for v in doc["vulnerabilities"]
                              if v["cveID"] != "CVE-2025-0411"]
    doc["count"] = len(doc["vulnerabilities"])
    smaller = tmp_path / "kev.json"
    smaller.write_text(json.dumps(doc), encoding="utf-8")
    result = service.kev_import(smaller)
    assert (result.entries, result.added, result.removed) == (19, 0, 1)
    assert kev_marks(service) == {("pay01", "kernel"): ["CVE-2024-53104"]}
    broken = tmp_path / "broken.json"
    broken.write_text('{"count": 5, "vulnerabilities": []}', encoding="utf-8")
    with pytest.raises(UserError, match="'count' says 5"):
        service.kev_import(broken)
    with pytest.raises(UserError, match="There is no file"):
        service.kev_import(tmp_path / "missing.json")
    status = service.kev_status()
    assert status is not None and status.entries == 19
    assert len(service.kev_catalogue()) == 19


def test_bundled_sample_is_found(service: SiteService) -> None:
    result = service.kev_import(sample=True)
    assert result.entries == 20 and result.source == "bundled sample"


@pytest.fixture
def local_http() -> Iterator[str]:
    """A web server on 127.0.0.1 serving tests/data/kev (tests never touch the network)."""
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(KEV_DIR)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_kev_import_from_a_url(service: SiteService, fleet: dict[str, Asset],
                               local_http: str) -> None:
    url = f"{local_http}/{SAMPLE.name}"
    result = service.kev_import(url, timeout=5)
    assert result.entries == 20 and result.source == url
    assert ("pay01", "kernel") in kev_marks(service)
    with pytest.raises(UserError, match="HTTP 404"):
        service.kev_import(f"{local_http}/nothing.json", timeout=5)
    with pytest.raises(UserError, match="not JSON"):
        service.kev_import(f"{local_http}/NOTES.md", timeout=5)
    with pytest.raises(UserError, match="Only http and https"):
        service.kev_import(f"file://{SAMPLE}")


def test_policy_versions_are_kept_audited_and_never_changed(service: SiteService) -> None:
    assert service.policy().version == 0
    v1 = service.set_policy_values([("approvers", "alice"), ("sla_hours.emergency", "24h")],
                                   "named approvers")
    v2 = service.set_policy_values([("people.bob", "deployer")])
    assert (v1.version, v2.version) == (1, 2)
    assert service.policy().version == 2
    assert service.policy(1).policy.sla(Priority.EMERGENCY) == timedelta(hours=24)
    assert service.policy(1).policy.roles_of("bob") == ()
    assert [v.version for v in service.policy_history()] == [2, 1]
    assert (v1.author, v1.note) == ("tester", "named approvers")
    events = service.audit_events(object_type="policy")
    assert [e.action for e in events] == ["policy.set", "policy.set"]
    assert events[-1].details["changes"]["sla_hours.emergency"] == [48, 24]
    with pytest.raises(UserError, match="Nothing changed"):
        service.set_policy_values([("people.bob", "deployer")])
    with pytest.raises(ValidationError):
        service.set_policy_values([("sla_hours.emergency", "whenever")])
    assert service.policy().version == 2
    with pytest.raises(sqlite3.IntegrityError, match="never changed"):
        service.store.db().execute("UPDATE policy_versions SET author = 'mallory'")


def test_an_expired_exception_is_overdue_again_and_listed_for_the_report(
        service: SiteService, fleet: dict[str, Asset]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    before = {i.package: i for i in service.risk_items()}
    assert not before["openssl"].overdue
    service.people.add("J. Smith", "4711-blue")
    exc = service.add_review(Decision.EXCEPTION, package="openssl", host="pay01",
                             reason="WAF rule 42 blocks the vector", by="J. Smith",
                             until=(now + timedelta(days=10)).date(), pin="4711-blue")
    assert (exc.asset_id, exc.host) == (fleet["pay"].id, "pay01")
    # past the SLA (important on a critical server: high, 7 days) but still excepted
    in_9_days = now + timedelta(days=9)
    items = {i.package: i for i in service.risk_items(in_9_days)}
    assert items["openssl"].state is ItemState.EXCEPTED and not items["openssl"].overdue
    # after its last day the exception has expired: overdue again, back for review
    later = now + timedelta(days=12)
    items = {i.package: i for i in service.risk_items(later)}
    assert items["openssl"].state is ItemState.EXCEPTION_EXPIRED
    assert items["openssl"].overdue
    [listed] = service.exceptions()
    assert listed.expired(later) and not listed.expired(now)
    assert listed.to_dict(later)["expired"] is True
    # the exception covers pay01 only
    assert service.compliance(in_9_days).excepted == 1
    figure = service.compliance(later)
    assert figure.overdue >= 1 and figure.excepted == 0
    # ending it early is audited and makes it overdue at once
    ended = service.end_exception(int(exc.id or 0), "A. Jones")
    assert ended.ended_by == "A. Jones"
    assert {i.package: i for i in service.risk_items()}["openssl"].overdue
    with pytest.raises(UserError, match="already expired"):
        service.end_exception(int(exc.id or 0))
    actions = [e.action for e in service.audit_events(object_type="review")]
    assert actions == ["review.exception_end", "review.exception"]


def test_reviews_need_a_reviewer_once_the_policy_names_one(service: SiteService,
                                                           fleet: dict[str, Asset]) -> None:
    service.set_policy_values([("reviewers", "J. Smith")])
    with pytest.raises(UserError, match="bob may not record a 'patch_now' decision"):
        service.add_review(Decision.PATCH_NOW, cve="CVE-2024-53104", reason="exploited",
                           by="bob")
    [denied] = [e for e in service.audit_events() if e.action == "policy.refused"]
    assert denied.outcome is Outcome.DENIED and denied.details["name"] == "bob"
    review = service.add_review(Decision.PATCH_NOW, cve="cve-2024-53104",
                                reason="exploited", by="j. smith")
    assert review.cve == "CVE-2024-53104"
    service.add_asset(Asset(hostname="pay01", ips=("10.0.0.6",)))
    with pytest.raises(UserError, match="matches 2 assets"):
        service.add_review(Decision.SCHEDULE, package="openssl", host="pay01",
                           reason="next window", by="J. Smith")


def awaiting_approval(service: SiteService, fleet: dict[str, Asset]) -> int:
    dep = service.deployer.plan([PackagePin("openssl", "2.0")],
                                [(fleet["lab"], Stage.TEST), (fleet["pay"], Stage.PRODUCTION)],
                                Gates())
    dep = dep.moved(Phase.PREFLIGHT).moved(Phase.TEST_RING).moved(Phase.AWAITING_APPROVAL)
    with service.store.atomic() as db:
        DeploymentRepo(db).save(dep)
    return dep.id


def test_only_the_policy_approvers_may_approve(service: SiteService,
                                               fleet: dict[str, Asset]) -> None:
    dep_id = awaiting_approval(service, fleet)
    service.set_policy_values([("approvers", "alice"), ("people.bob", "deployer")])
    with pytest.raises(UserError, match=r"bob may not approve deployments.*only alice"):
        service.deployer.approve(dep_id, "bob")
    # the scripted path (deploy run --approve-as) goes through the same check
    with pytest.raises(UserError, match="bob may not approve"):
        service.deployer.run(dep_id, approve_as="bob")
    assert service.deployment(dep_id).phase is Phase.AWAITING_APPROVAL
    denied = [e for e in service.audit_events(object_type="deployment")
              if e.action == "deploy.approve"]
    assert len(denied) == 2
    assert all(e.outcome is Outcome.DENIED for e in denied)
    assert "bob may not approve" in denied[0].details["refused"]
    approved = service.deployer.approve(dep_id, "Alice", "test ring fine")
    assert approved.approval is not None and approved.phase is Phase.PRODUCTION


def test_anyone_may_approve_while_the_policy_names_no_approver(
        service: SiteService, fleet: dict[str, Asset]) -> None:
    dep_id = awaiting_approval(service, fleet)
    service.set_policy_values([("people.bob", "deployer")])  # no approver named
    assert service.deployer.approve(dep_id, "bob").approval is not None
