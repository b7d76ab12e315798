"""Compliance frameworks: every bundled file loads and checks out, deadlines follow each
framework's rule, and each judgement turns at the boundary of its figures."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from app.core.deployment import Approval, Deployment, PackagePin, Phase, Stage, Target
from app.core.errors import UserError
from app.core.frameworks import (
    AssetFacts,
    ComplianceEvidence,
    DeploymentFacts,
    EvidenceKind,
    ExceptionFacts,
    Framework,
    Judgement,
    MissingUpdate,
    Status,
    build_evidence,
    deadline_for,
    deadline_presets,
    duration_text,
    effective_severity,
    evaluate,
    frameworks_dir,
    load_frameworks,
)
from app.core.kev import KevEntry
from app.core.models import Asset, AssetPatch, Classification, Severity
from app.core.policy import Policy
from app.core.risk import Decision, Review, prioritise

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
SHIPPED = {"pci-dss", "hipaa", "nist-800-40", "cis-controls", "iso-27001", "cyber-essentials",
           "essential-eight"}


@pytest.fixture(scope="module")
def fws() -> dict[str, Framework]:
    return load_frameworks()


def asset(asset_id: int = 1, label: str = "pos-01", *, assessed_days: float | None = 1,
          seen_days: float | None = None, exposed: bool = False) -> AssetFacts:
    """An asset last assessed / seen so many days before NOW (None: never)."""
    def ago(days: float | None) -> datetime | None:
        return None if days is None else NOW - timedelta(days=days)
    return AssetFacts(asset_id, label, exposed, ago(seen_days), ago(assessed_days))


def missing(age: timedelta, *, severity: Severity = Severity.CRITICAL, kev: bool = False,
            exposed: bool = False, released: bool = True, security: bool = True,
            excepted_until: datetime | None = None, package: str = "openssl") -> MissingUpdate:
    """An update missing on asset 1; released (or first seen) ``age`` before NOW."""
    start = NOW - age
    return MissingUpdate(
        asset_id=1, host="pos-01", package=package,
        first_seen=start if not released else start + timedelta(days=3),
        severity=severity, security=security, known_exploited=kev, internet_facing=exposed,
        released=start.date() if released else None, excepted_until=excepted_until)


def judge(fw: Framework, requirement: str, ev: ComplianceEvidence) -> Judgement:
    [found] = [j for j in evaluate(fw, ev) if j.requirement_id == requirement]
    return found


# -- the bundled files -----------------------------------------------------------------------
def test_every_framework_file_loads_and_validates(fws: dict[str, Framework]) -> None:
    assert set(fws) == SHIPPED
    assert {p.stem for p in frameworks_dir().glob("*.json")} == SHIPPED
    for fid, fw in fws.items():
        assert fw.id == fid and fw.title and fw.version
        assert fw.source.publisher and fw.source.section
        assert fw.source.url.startswith("https://")
        assert fw.source.consulted, f"{fid} names no page it was checked against"
        ids = [r.id for r in fw.requirements]
        assert len(ids) == len(set(ids)) and ids
        assert len({r.id for r in fw.rules}) == len(fw.rules)
        for req in fw.requirements:
            assert req.text and req.title and req.section
            assert req.evidence and all(isinstance(k, EvidenceKind) for k in req.evidence)
            assert req.verified or req.why_unverified, f"{fid} {req.id}: unverified, no why"
            assert set(req.rules) <= {r.id for r in fw.rules}
        for rule in fw.rules:
            assert rule.verified or rule.why_unverified


def test_the_versions_are_the_ones_the_issue_names(fws: dict[str, Framework]) -> None:
    assert "v4.0.1" in fws["pci-dss"].version
    assert "164.308" in fws["hipaa"].version
    assert "Rev. 4" in fws["nist-800-40"].version
    assert "v8.1" in fws["cis-controls"].version
    assert [r.id for r in fws["cis-controls"].requirements] == [f"7.{i}" for i in range(1, 8)]
    assert "27001:2022" in fws["iso-27001"].version
    assert "A.8.8" in [r.id for r in fws["iso-27001"].requirements]
    assert "v3.3" in fws["cyber-essentials"].version
    assert "Maturity Level One" in fws["essential-eight"].version
    hipaa = {r.id for r in fws["hipaa"].requirements}
    assert {"164.308(a)(1)(ii)(A)", "164.308(a)(1)(ii)(B)", "164.308(a)(5)(ii)(B)"} <= hipaa


def test_wording_is_our_own_not_the_standards(fws: dict[str, Framework]) -> None:
    # The few phrases below are the standards' own sentences; our files restate them.
    verbatim = ("are installed within one month of release",
                "Information about technical vulnerabilities of information systems in use",
                "are applied within 48 hours of release when vulnerabilities are assessed")
    for fw in fws.values():
        for req in fw.requirements:
            assert not any(v.lower() in req.text.lower() for v in verbatim), (fw.id, req.id)


def write(folder: Path, name: str, data: object) -> None:
    (folder / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")


GOOD = {
    "id": "demo", "title": "Demo", "version": "1",
    "source": {"publisher": "Us", "url": "https://example.org/", "section": "all",
               "consulted": ["https://example.org/page"]},
    "deadline_rules": [{"id": "r1", "text": "in a week", "within_hours": 168,
                        "verified": True}],
    "requirements": [{"id": "1", "title": "t", "text": "x", "section": "s",
                      "evidence": ["sla_compliance"], "verified": True}],
}


def test_a_valid_file_loads_from_any_folder(tmp_path: Path) -> None:
    write(tmp_path, "demo", GOOD)
    fw = load_frameworks(tmp_path)["demo"]
    assert fw.rule("r1").within == timedelta(days=7)
    assert fw.requirement("1").evidence == (EvidenceKind.SLA_COMPLIANCE,)


def test_bad_files_are_refused_naming_every_problem(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(GOOD))
    bad["source"] = {"publisher": "Us", "url": "http://insecure.example/", "section": ""}
    bad["requirements"] = [
        {"id": "1", "title": "t", "text": "x", "section": "s", "evidence": ["telepathy"],
         "verified": True},
        {"id": "1", "title": "t", "text": "x", "section": "s", "evidence": ["scan_recency"],
         "rules": ["nope"], "verified": False},
        {"id": "2", "title": "t", "text": "x", "section": "s", "evidence": ["scan_recency"],
         "params": {"within_days": True, "colour": 1}, "verified": True},
        {"id": "3", "title": "t", "text": "x", "section": "s", "evidence": ["scan_recency"],
         "params": {"within_days": 0}, "verified": True},
    ]
    write(tmp_path, "demo", bad)
    with pytest.raises(UserError) as info:
        load_frameworks(tmp_path)
    text = str(info.value)
    for expected in ("url must be an https address", "'section' must be a non-empty",
                     "'consulted' must list", "unknown evidence kind 'telepathy'",
                     "scan_recency needs 'within_days'", "'rules' must name deadline rules",
                     "'why_unverified' must say why", "requirement id '1' is used twice",
                     "unknown parameter 'colour'", "requirement 2: parameter 'within_days' must",
                     "requirement 3: parameter 'within_days' must be a int above 0"):
        assert expected in text


def test_the_id_must_be_the_file_name(tmp_path: Path) -> None:
    write(tmp_path, "other", GOOD)
    with pytest.raises(UserError, match="differs from the file name"):
        load_frameworks(tmp_path)


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="No compliance framework files"):
        load_frameworks(tmp_path)


# -- deadlines -------------------------------------------------------------------------------
def test_deadlines_follow_each_framework(fws: dict[str, Framework]) -> None:
    pci, ce, e8 = fws["pci-dss"], fws["cyber-essentials"], fws["essential-eight"]
    month, fortnight, two_days = timedelta(days=30), timedelta(days=14), timedelta(hours=48)
    # PCI DSS 4.0.1 6.3.3: critical only (v4.0.1 reverted v4.0's "high" too).
    assert deadline_for(pci, Severity.CRITICAL, False, False) == month
    assert deadline_for(pci, Severity.IMPORTANT, False, False) is None
    assert deadline_for(pci, Severity.CRITICAL, False, False, security=False) is None
    # Cyber Essentials: high, critical or unrated within 14 days.
    assert deadline_for(ce, Severity.IMPORTANT, False, False) == fortnight
    assert deadline_for(ce, Severity.UNKNOWN, False, False) == fortnight
    assert deadline_for(ce, Severity.MODERATE, True, True) is None
    # Essential Eight ML1: 48 hours exposed + critical or exploited, else two weeks exposed,
    # one month inside.
    assert deadline_for(e8, Severity.CRITICAL, False, True) == two_days
    assert deadline_for(e8, Severity.LOW, True, True) == two_days
    assert deadline_for(e8, Severity.MODERATE, False, True) == fortnight
    assert deadline_for(e8, Severity.CRITICAL, True, False) == month
    # Frameworks that name no deadline.
    for fid in ("hipaa", "nist-800-40", "iso-27001"):
        assert deadline_for(fws[fid], Severity.CRITICAL, True, True) is None
    assert [p[0] for p in deadline_presets(e8)][-1] == "internal-1m"
    assert duration_text(two_days) == "48 hours" and duration_text(month) == "30 days"


# -- judgements at their boundaries ----------------------------------------------------------
@pytest.mark.parametrize(("days", "status"), [(29, Status.MET), (30, Status.MET),
                                              (31, Status.NOT_MET)])
def test_pci_633_turns_after_one_month(fws: dict[str, Framework], days: int,
                                       status: Status) -> None:
    ev = ComplianceEvidence(NOW, (asset(),), (missing(timedelta(days=days)),))
    got = judge(fws["pci-dss"], "6.3.3", ev)
    assert got.status is status
    assert ("1 overdue" in got.figures) is (status is Status.NOT_MET)
    if status is Status.NOT_MET:
        assert "pos-01: openssl 31 days old (limit 30 days)" in got.figures


def test_an_important_update_is_outside_pci_633(fws: dict[str, Framework]) -> None:
    ev = ComplianceEvidence(NOW, (asset(),),
                            (missing(timedelta(days=90), severity=Severity.IMPORTANT),))
    assert judge(fws["pci-dss"], "6.3.3", ev).status is Status.MET


def test_the_clock_falls_back_to_first_seen(fws: dict[str, Framework]) -> None:
    ev = ComplianceEvidence(NOW, (asset(),), (missing(timedelta(days=31), released=False),))
    got = judge(fws["pci-dss"], "6.3.3", ev)
    assert got.status is Status.NOT_MET
    assert "1 counted from first seen (release date unknown)" in got.figures
    # With a release date the clock starts there, three days before PatchDesk saw it.
    ev = ComplianceEvidence(NOW, (asset(),), (missing(timedelta(days=29)),))
    assert ev.missing[0].clock_start() == datetime.combine(ev.missing[0].released or date.min,
                                                           datetime.min.time(), UTC)


@pytest.mark.parametrize(("days", "status"), [(13, Status.MET), (14, Status.MET),
                                              (15, Status.NOT_MET)])
def test_cyber_essentials_turns_after_14_days(fws: dict[str, Framework], days: int,
                                              status: Status) -> None:
    upd = missing(timedelta(days=days), severity=Severity.IMPORTANT)
    ev = ComplianceEvidence(NOW, (asset(),), (upd,))
    assert judge(fws["cyber-essentials"], "A6.4/A6.5", ev).status is status


@pytest.mark.parametrize(("hours", "status"), [(47, Status.MET), (49, Status.NOT_MET)])
def test_essential_eight_48_hours_for_an_exploited_exposed_host(
        fws: dict[str, Framework], hours: int, status: Status) -> None:
    upd = replace(missing(timedelta(hours=hours), severity=Severity.MODERATE, kev=True,
                          exposed=True, released=False))
    ev = ComplianceEvidence(NOW, (asset(exposed=True),), (upd,))
    e8 = fws["essential-eight"]
    assert judge(e8, "ISM-1876/ISM-1877", ev).status is status
    # The two-week rule of the same hosts is a separate requirement, met either way.
    assert judge(e8, "ISM-1690/ISM-1694", ev).status is Status.MET


def test_an_exception_turns_late_into_partly_until_it_expires(
        fws: dict[str, Framework]) -> None:
    pci = fws["pci-dss"]
    late = timedelta(days=40)
    covered = missing(late, excepted_until=NOW + timedelta(days=10))
    ev = ComplianceEvidence(NOW, (asset(),), (covered,),
                            exceptions=(ExceptionFacts(7, "Dana", NOW + timedelta(days=10), 1),))
    got = judge(pci, "6.3.3", ev)
    assert got.status is Status.PARTLY
    assert "1 late but under an unexpired exception" in got.figures
    expired = replace(covered, excepted_until=NOW - timedelta(seconds=1))
    ev = replace(ev, missing=(expired,),
                 exceptions=(ExceptionFacts(7, "Dana", NOW - timedelta(seconds=1), 1),))
    got = judge(pci, "6.3.3", ev)
    assert got.status is Status.NOT_MET
    assert "1 expired while its update is still missing (#7)" in got.figures


def test_a_requirement_is_as_good_as_its_weakest_evidence(fws: dict[str, Framework]) -> None:
    # SLA met, but an exception nobody signed: 6.3.3 is not met.
    ev = ComplianceEvidence(NOW, (asset(),), (),
                            exceptions=(ExceptionFacts(1, "  ", NOW + timedelta(days=5)),))
    got = judge(fws["pci-dss"], "6.3.3", ev)
    assert got.status is Status.NOT_MET
    assert "1 without a named decider" in got.figures


def test_sla_needs_assessments(fws: dict[str, Framework]) -> None:
    pci = fws["pci-dss"]
    assert judge(pci, "6.3.3", ComplianceEvidence(NOW)).status is Status.NOT_MET
    never = ComplianceEvidence(NOW, (asset(assessed_days=None),))
    assert judge(pci, "6.3.3", never).status is Status.NOT_MET
    some = ComplianceEvidence(NOW, (asset(), asset(2, "till-02", assessed_days=None)))
    got = judge(pci, "6.3.3", some)
    assert got.status is Status.PARTLY and "1 asset(s) never assessed" in got.figures


@pytest.mark.parametrize(("days", "status"), [(89, Status.MET), (91, Status.NOT_MET)])
def test_pci_1131_scans_every_three_months(fws: dict[str, Framework], days: int,
                                           status: Status) -> None:
    ev = ComplianceEvidence(NOW, (asset(assessed_days=days),))
    assert judge(fws["pci-dss"], "11.3.1", ev).status is status


def test_scan_recency_is_partly_when_some_are_late(fws: dict[str, Framework]) -> None:
    ev = ComplianceEvidence(NOW, (asset(assessed_days=10), asset(2, "till-02",
                                                                   assessed_days=100)))
    got = judge(fws["pci-dss"], "11.3.1", ev)
    assert got.status is Status.PARTLY
    assert "1 of 2 asset(s) assessed in the last 90 days (not: till-02)" in got.figures


def test_exposed_only_scans_ignore_internal_hosts(fws: dict[str, Framework]) -> None:
    e8 = fws["essential-eight"]
    inside = ComplianceEvidence(NOW, (asset(assessed_days=20),))
    assert judge(e8, "ISM-1698/ISM-1701", inside).status is Status.NOT_APPLICABLE
    exposed = ComplianceEvidence(NOW, (asset(assessed_days=0.5, exposed=True),
                                       asset(2, "web-01", assessed_days=2, exposed=True)))
    assert judge(e8, "ISM-1698/ISM-1701", exposed).status is Status.PARTLY


@pytest.mark.parametrize(("days", "status"), [(13, Status.MET), (15, Status.NOT_MET)])
def test_essential_eight_discovery_every_fortnight(fws: dict[str, Framework], days: int,
                                                   status: Status) -> None:
    ev = ComplianceEvidence(NOW, (asset(assessed_days=None, seen_days=days),))
    assert judge(fws["essential-eight"], "ISM-1807", ev).status is status


@pytest.mark.parametrize(("days", "status"), [(7, Status.MET), (8, Status.PARTLY),
                                              (None, Status.NOT_MET)])
def test_vulnerability_feed_freshness(fws: dict[str, Framework], days: int | None,
                                      status: Status) -> None:
    imported = None if days is None else NOW - timedelta(days=days)
    ev = ComplianceEvidence(NOW, (asset(),), kev_imported_at=imported)
    assert judge(fws["pci-dss"], "6.3.1", ev).status is status


def test_risk_ranking_is_partly_with_unrated_updates(fws: dict[str, Framework]) -> None:
    ev = ComplianceEvidence(NOW, (asset(),), (missing(timedelta(days=1)),
                                              missing(timedelta(days=1),
                                                      severity=Severity.UNKNOWN)),
                            kev_imported_at=NOW)
    got = judge(fws["pci-dss"], "6.3.1", ev)
    assert got.status is Status.PARTLY and "1 of 2 missing security" in got.figures


def test_deployments_approvals_and_tests(fws: dict[str, Framework]) -> None:
    pci = fws["pci-dss"]
    assert judge(pci, "6.5.1", ComplianceEvidence(NOW)).status is Status.NOT_APPLICABLE
    both = DeploymentFacts(1, tested=True, approved_by="Dana", verified=True)
    untested = DeploymentFacts(2, tested=False, approved_by="Dana", verified=False)
    assert judge(pci, "6.5.1", ComplianceEvidence(NOW, deployments=(both,))).status \
        is Status.MET
    got = judge(pci, "6.5.1", ComplianceEvidence(NOW, deployments=(both, untested)))
    assert got.status is Status.PARTLY
    assert "1 of 2 deployment(s) went through a test ring first (not: #2)" in got.figures
    unapproved = replace(both, id=3, approved_by="")
    got = judge(pci, "6.5.1", ComplianceEvidence(NOW, deployments=(unapproved,)))
    assert got.status is Status.NOT_MET


@pytest.mark.parametrize(("intact", "status"), [(True, Status.MET), (False, Status.NOT_MET),
                                                (None, Status.PARTLY)])
def test_audit_log_integrity(fws: dict[str, Framework], intact: bool | None,
                             status: Status) -> None:
    ev = ComplianceEvidence(NOW, audit_intact=intact, audit_events=12)
    assert judge(fws["pci-dss"], "10.3.2", ev).status is status


def test_policy_documented_with_a_responsible_person(fws: dict[str, Framework]) -> None:
    hipaa = fws["hipaa"]
    assert judge(hipaa, "164.308(a)(2)", ComplianceEvidence(NOW)).status is Status.PARTLY
    unnamed = ComplianceEvidence(NOW, policy_version=2)
    assert judge(hipaa, "164.308(a)(2)", unnamed).status is Status.PARTLY
    named = replace(unnamed, policy_responsible=("Dana Lee",))
    got = judge(hipaa, "164.308(a)(2)", named)
    assert got.status is Status.MET and "Dana Lee" in got.figures


def full_evidence() -> ComplianceEvidence:
    return ComplianceEvidence(
        NOW, (asset(), asset(2, "web-01", exposed=True, seen_days=0.1, assessed_days=0.2)),
        (missing(timedelta(days=3)), missing(timedelta(days=3), package="nginx", kev=True,
                                             exposed=True, severity=Severity.IMPORTANT)),
        (ExceptionFacts(1, "Dana", NOW + timedelta(days=30), 0),),
        (DeploymentFacts(1, True, "Dana", True),), True, 40, 3, ("Dana",), NOW)


@pytest.mark.parametrize("fid", sorted(SHIPPED))
def test_every_requirement_is_judged_deterministically(fws: dict[str, Framework],
                                                      fid: str) -> None:
    fw = fws[fid]
    for ev in (ComplianceEvidence(NOW), full_evidence()):
        first = evaluate(fw, ev)
        assert first == evaluate(fw, ev)
        assert [j.requirement_id for j in first] == [r.id for r in fw.requirements]
        for j in first:
            assert j.figures.strip() and isinstance(j.status, Status)
            assert j.to_dict()["status"] in {"met", "partly", "not met", "not applicable"}
    # With the site in good order nothing is "not met" (the exposed KEV update is 3 days old,
    # past Essential Eight's 48 hours: that one alone fails).
    bad = [(j.requirement_id, j.status) for j in evaluate(fw, full_evidence())
           if j.status is Status.NOT_MET]
    assert bad == ([("ISM-1876/ISM-1877", Status.NOT_MET)] if fid == "essential-eight"
                   else [])


# -- evidence gathered from the site's own records -------------------------------------------
def test_evidence_is_built_from_the_same_items_as_the_compliance_figure(
        fws: dict[str, Framework]) -> None:
    pos = Asset(hostname="pos-01", id=1, public_facing=True, last_seen=NOW)
    back = Asset(hostname="back-office", id=2)
    kev = {"CVE-2026-0001": KevEntry("CVE-2026-0001")}
    old = NOW - timedelta(days=20)
    patches = [
        AssetPatch(1, "openssl", "3.0.9", classification=Classification.SECURITY,
                   severity=Severity.MODERATE, cves=("CVE-2026-0001",), first_seen=old),
        AssetPatch(2, "libxml2", "2.9", classification=Classification.SECURITY,
                   severity=Severity.UNKNOWN, cves=("CVE-2026-0002",), first_seen=old),
        AssetPatch(2, "tzdata", "2026a", classification=Classification.BUGFIX,
                   first_seen=old),
    ]
    exception = Review(Decision.EXCEPTION, "vendor fix pending", "Dana", NOW - timedelta(days=1),
                       package="libxml2", asset_id=2, until=(NOW + timedelta(days=9)).date(),
                       id=5)
    items = prioritise([pos, back], patches, kev, Policy(), [exception], NOW)
    deployment = Deployment(
        9, (PackagePin("openssl", "3.0.9"),),
        (Target(1, "pos-01", "10.0.0.7", Stage.TEST, verified="installed"),),
        phase=Phase.DONE, approval=Approval("Dana", NOW))
    ev = build_evidence(NOW, [pos, back], {1: NOW - timedelta(days=2)}, items, [exception],
                        [deployment, replace(deployment, id=10, phase=Phase.PLANNED)],
                        audit_intact=True, audit_events=7, policy_version=2,
                        policy_responsible=["Dana"], kev_imported_at=NOW,
                        cvss={"CVE-2026-0002": 9.8},
                        released={(1, "openssl"): (NOW - timedelta(days=25)).date()})
    assert [(a.label, a.internet_facing, a.last_assessed is not None) for a in ev.assets] == [
        ("pos-01", True, True), ("back-office", False, False)]
    by_pkg = {m.package: m for m in ev.missing}
    assert set(by_pkg) == {"openssl", "libxml2", "tzdata"}
    assert by_pkg["openssl"].known_exploited and by_pkg["openssl"].internet_facing
    assert by_pkg["openssl"].released == (NOW - timedelta(days=25)).date()
    assert by_pkg["libxml2"].severity is Severity.CRITICAL  # CVSS 9.8 over "unknown"
    assert by_pkg["libxml2"].excepted_until == exception.expires_at
    assert not by_pkg["tzdata"].security
    assert ev.exceptions == (ExceptionFacts(5, "Dana", exception.expires_at, 1),)
    assert ev.deployments == (DeploymentFacts(9, True, "Dana", True),)
    e8 = fws["essential-eight"]
    # The exploited update on the public-facing till is 25 days past its release: late for
    # the 48-hour rule; the critical one on the internal host is within a month.
    assert judge(e8, "ISM-1876/ISM-1877", ev).status is Status.NOT_MET
    assert judge(e8, "ISM-1695", ev).status is Status.PARTLY  # back-office never assessed
    assert judge(fws["pci-dss"], "6.5.1", ev).status is Status.MET


def test_effective_severity_takes_the_higher_band() -> None:
    assert effective_severity(Severity.LOW, 7.5) is Severity.IMPORTANT
    assert effective_severity(Severity.CRITICAL, 5.0) is Severity.CRITICAL
    assert effective_severity(Severity.MODERATE, None) is Severity.MODERATE
