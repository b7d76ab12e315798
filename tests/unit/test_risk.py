"""Risk scoring, priorities, due dates, urgency reviews and the compliance figure (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.core.errors import ValidationError
from app.core.kev import KevEntry
from app.core.models import (
    Asset,
    AssetKind,
    AssetPatch,
    Classification,
    DataSensitivity,
    Impact,
    Severity,
)
from app.core.policy import Policy, Priority, set_value
from app.core.risk import (
    COMPLIANCE_DEFINITION,
    Decision,
    ItemState,
    Review,
    RiskInput,
    check_review,
    compliance,
    prioritise,
    score,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
KEV = {"CVE-2024-53104": KevEntry("CVE-2024-53104", "Linux", "Kernel",
                                  due_date=date(2025, 2, 26)),
       "CVE-2025-0411": KevEntry("CVE-2025-0411", "7-Zip", "7-Zip", ransomware=True)}

PAYMENT_SERVER = Asset(id=1, hostname="pay01", ips=("203.0.113.10",), kind=AssetKind.SERVER,
                       impact=Impact.CRITICAL, data_sensitivity=(DataSensitivity.PAYMENT,),
                       public_facing=True)
LAB_WORKSTATION = Asset(id=2, hostname="lab-ws3", ips=("10.9.0.33",),
                        kind=AssetKind.WORKSTATION, impact=Impact.LOW)


def patch(asset_id: int, package: str, *, severity: Severity = Severity.MODERATE,
          security: bool = True, cves: tuple[str, ...] = (), days: int = 0,
          kb: str = "") -> AssetPatch:
    return AssetPatch(
        asset_id=asset_id, package=package, candidate_version="2.0", installed_version="1.0",
        kb=kb, classification=Classification.SECURITY if security else Classification.BUGFIX,
        severity=severity, cves=cves, first_seen=NOW - timedelta(days=days))


def test_kev_critical_on_public_payment_server_outranks_moderate_on_lab_workstation() -> None:
    kev = patch(1, "linux-image-amd64", severity=Severity.CRITICAL,
                cves=("CVE-2024-53104", "CVE-2024-9999"))
    moderate = patch(2, "tzdata", severity=Severity.MODERATE)
    items = prioritise([PAYMENT_SERVER, LAB_WORKSTATION], [moderate, kev], KEV, Policy(),
                       now=NOW)
    assert [(i.host, i.package) for i in items] == [("pay01", "linux-image-amd64"),
                                                   ("lab-ws3", "tzdata")]
    top, low = items
    assert top.risk.score > low.risk.score
    assert top.priority is Priority.EMERGENCY
    assert low.priority in (Priority.STANDARD, Priority.LOW)
    assert [e.cve_id for e in top.kev] == ["CVE-2024-53104"]
    assert not low.kev
    # "why this score": each factor named with its contribution
    why = top.risk.why
    for text in ("severity: critical (+40)", "security update: yes (+10)",
                 "known exploited (CISA KEV): CVE-2024-53104 (+35)",
                 "asset impact: critical (+15)", "payment data: held (+8)",
                 "public-facing: yes (+8)", "capped at 100", "→ emergency"):
        assert text in why, (text, why)
    assert "severity: moderate (+20)" in low.risk.why
    assert "security update: yes (+10)" in low.risk.why
    assert "KEV" not in low.risk.why  # zero-point factors stay out of the one-liner ...
    names = [f.name for f in low.risk.factors]  # ... but every factor is in the list
    assert names == ["severity", "security update", "known exploited (CISA KEV)",
                     "asset impact", "sensitive data", "critical operations",
                     "public-facing", "internet-facing", "age"]


def test_every_factor_contributes_its_points() -> None:
    base = score(RiskInput(severity=Severity.MODERATE, security=True)).raw
    cases = {
        "critical operations": (RiskInput(severity=Severity.MODERATE, security=True,
                                          critical_operations=True), 5),
        "internet-facing": (RiskInput(severity=Severity.MODERATE, security=True,
                                      internet_facing=True), 8),
        "health data": (RiskInput(severity=Severity.MODERATE, security=True,
                                  data=(DataSensitivity.HEALTH,)), 8),
        "personal data": (RiskInput(severity=Severity.MODERATE, security=True,
                                    data=(DataSensitivity.PERSONAL,)), 5),
        "asset impact": (RiskInput(severity=Severity.MODERATE, security=True,
                                   impact=Impact.HIGH), 10),
        "age": (RiskInput(severity=Severity.MODERATE, security=True, age_days=21), 3),
    }
    for name, (inp, points) in cases.items():
        result = score(inp)
        assert result.raw - base == points, name
        assert any(f.name == name and f.points == points for f in result.factors), name
        assert f"{name}:" in result.why


def test_age_points_are_capped() -> None:
    assert score(RiskInput(age_days=400)).factors[-1].points == 10


def test_ransomware_adds_points_only_with_kev() -> None:
    with_kev = score(RiskInput(severity=Severity.LOW, security=True, kev=("CVE-2025-0411",),
                               kev_ransomware=True))
    assert "used in ransomware campaigns: yes (+5)" in with_kev.why
    assert score(RiskInput(kev_ransomware=True)).raw == score(RiskInput()).raw


def test_kev_makes_an_update_at_least_high() -> None:
    # KEV points alone make a security update high (15 + 10 + 35); the floor is the rule
    # for whatever the points say, e.g. an update the platform did not call security
    assert score(RiskInput(security=True, kev=("CVE-2024-53104",))).priority is Priority.HIGH
    result = score(RiskInput(severity=Severity.LOW, kev=("CVE-2024-53104",)))
    assert result.score < 50
    assert result.priority is Priority.HIGH
    assert result.kev_floor and "at least high" in result.why


def test_cvss_counts_only_when_its_band_is_higher() -> None:
    raised = score(RiskInput(severity=Severity.MODERATE, security=True, cvss=9.8))
    assert raised.factors[0].points == 40
    assert "CVSS 9.8 (critical), above the vendor's 'moderate'" in raised.why
    context = score(RiskInput(severity=Severity.CRITICAL, security=True, cvss=5.0))
    assert context.factors[0].points == 40
    assert "critical, CVSS 5.0" in context.why


@pytest.mark.parametrize(
    ("inp", "priority"),
    [
        (RiskInput(severity=Severity.CRITICAL, security=True), Priority.HIGH),
        (RiskInput(severity=Severity.IMPORTANT, security=True), Priority.STANDARD),
        (RiskInput(severity=Severity.IMPORTANT, security=True, impact=Impact.HIGH),
         Priority.HIGH),
        (RiskInput(severity=Severity.UNKNOWN, security=True), Priority.STANDARD),
        (RiskInput(severity=Severity.LOW), Priority.LOW),
        (RiskInput(), Priority.LOW),
    ],
)
def test_priority_classes(inp: RiskInput, priority: Priority) -> None:
    assert score(inp).priority is priority


def test_due_date_is_first_seen_plus_the_sla_of_the_priority() -> None:
    p = patch(2, "tzdata", days=40)
    [item] = prioritise([LAB_WORKSTATION], [p], {}, Policy(), now=NOW)
    assert item.priority is Priority.STANDARD
    assert item.sla_due == p.first_seen + timedelta(days=30)
    assert item.overdue and item.state is ItemState.OPEN
    shorter = set_value(Policy(), "sla_hours.standard", "60d")
    [item] = prioritise([LAB_WORKSTATION], [p], {}, shorter, now=NOW)
    assert not item.overdue


def test_policy_scope_and_update_kinds_filter_items() -> None:
    patches = [patch(1, "a"), patch(2, "b"), patch(2, "c", security=False)]
    policy = set_value(Policy(), "scope.exclude", "kind:workstation")
    assert [i.package for i in prioritise([PAYMENT_SERVER, LAB_WORKSTATION], patches, {},
                                          policy, now=NOW)] == ["a"]
    security_only = set_value(Policy(), "scope.classifications", "security")
    assert sorted(i.package for i in prioritise([PAYMENT_SERVER, LAB_WORKSTATION], patches,
                                                {}, security_only, now=NOW)) == ["a", "b"]


def review(decision: Decision, **kw: object) -> Review:
    fields: dict[str, object] = {"reason": "WAF rule blocks the vector", "decided_by": "J. Smith",
                                 "created_at": NOW - timedelta(days=20), "package": "openssl"}
    fields.update(kw)
    return Review(decision, **fields)  # type: ignore[arg-type]


def test_an_exception_past_its_expiry_is_overdue_again() -> None:
    old = patch(1, "openssl", days=60)  # long past its SLA
    active = review(Decision.EXCEPTION, until=date(2026, 3, 31), id=1)
    [item] = prioritise([PAYMENT_SERVER], [old], {}, Policy(), [active], now=NOW)
    assert (item.state, item.overdue) == (ItemState.EXCEPTED, False)
    assert item.due == datetime(2026, 4, 1, tzinfo=UTC)  # valid through the 31st
    # the same exception, judged after its last day
    later = datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC)
    [item] = prioritise([PAYMENT_SERVER], [old], {}, Policy(), [active], now=later)
    assert (item.state, item.overdue) == (ItemState.EXCEPTION_EXPIRED, True)
    assert item.to_dict()["review"]["until"] == "2026-03-31"
    # an exception given before the SLA ran out is also overdue once it expires
    fresh = patch(1, "openssl", days=1)
    short = review(Decision.EXCEPTION, until=date(2026, 3, 9), id=2)
    [item] = prioritise([PAYMENT_SERVER], [fresh], {}, Policy(), [short], now=NOW)
    assert (item.state, item.overdue) == (ItemState.EXCEPTION_EXPIRED, True)
    # ended early
    ended = review(Decision.EXCEPTION, until=date(2026, 12, 31), id=3,
                   ended_at=NOW - timedelta(hours=1), ended_by="A. Jones")
    [item] = prioritise([PAYMENT_SERVER], [old], {}, Policy(), [ended], now=NOW)
    assert item.overdue and item.state is ItemState.EXCEPTION_EXPIRED


def test_reviews_cover_a_host_a_package_or_a_cve() -> None:
    on_other_host = review(Decision.EXCEPTION, until=date(2026, 12, 1), asset_id=2)
    by_cve = review(Decision.PATCH_NOW, package="", cve="CVE-2024-53104",
                    created_at=NOW - timedelta(days=3))
    kernel = patch(1, "linux-image-amd64", cves=("CVE-2024-53104",), days=1)
    ssl = patch(1, "openssl", days=1)
    items = {i.package: i for i in prioritise([PAYMENT_SERVER], [kernel, ssl], KEV, Policy(),
                                              [on_other_host, by_cve], now=NOW)}
    assert items["openssl"].review is None
    assert items["linux-image-amd64"].state is ItemState.PATCH_NOW
    # "patch now" brings the due date forward to the emergency SLA from the decision
    assert items["linux-image-amd64"].due == by_cve.created_at + timedelta(hours=48)
    assert items["linux-image-amd64"].overdue


def test_the_newest_review_applies() -> None:
    first = review(Decision.EXCEPTION, until=date(2026, 12, 1), id=1)
    second = review(Decision.SCHEDULE, planned=date(2026, 3, 14), id=2,
                    created_at=NOW - timedelta(days=1))
    [item] = prioritise([PAYMENT_SERVER], [patch(1, "openssl")], {}, Policy(),
                        [second, first], now=NOW)
    assert item.state is ItemState.SCHEDULED and item.review == second


def test_check_review_requires_reason_person_update_and_a_future_expiry() -> None:
    today = NOW.date()
    with pytest.raises(ValidationError) as info:
        check_review(Review(Decision.EXCEPTION, " ", "", NOW), today)
    fields = {e.field for e in info.value.errors}
    assert fields == {"reason", "by", "patch", "until"}
    with pytest.raises(ValidationError, match="today or later"):
        check_review(review(Decision.EXCEPTION, until=today - timedelta(days=1)), today)
    with pytest.raises(ValidationError, match="at most 366 days"):
        check_review(review(Decision.EXCEPTION, until=today + timedelta(days=400)), today)
    with pytest.raises(ValidationError, match="not a CVE id"):
        check_review(review(Decision.PATCH_NOW, cve="CVE-24-1"), today)
    with pytest.raises(ValidationError, match="only an exception"):
        check_review(review(Decision.PATCH_NOW, until=today), today)
    ok = check_review(review(Decision.PATCH_NOW, package="", cve="cve-2024-53104",
                             reason="  exploited \n in the wild "), today)
    assert (ok.cve, ok.reason) == ("CVE-2024-53104", "exploited in the wild")


def test_compliance_counts_security_pairs_within_their_due_date() -> None:
    patches = [
        patch(1, "openssl", days=60),  # overdue
        patch(1, "linux-image-amd64", severity=Severity.CRITICAL,
              cves=("CVE-2024-53104",), days=1),  # emergency, 48 h: on time
        patch(2, "tzdata", days=5),  # on time
        patch(2, "bash", days=200),  # overdue but under an active exception
        patch(2, "vim", security=False, days=400),  # not a security update: not counted
    ]
    exc = review(Decision.EXCEPTION, package="bash", until=date(2026, 6, 1), id=9)
    items = prioritise([PAYMENT_SERVER, LAB_WORKSTATION], patches, KEV, Policy(), [exc],
                       now=NOW)
    figure = compliance(items, assets=2, now=NOW)
    assert (figure.pairs, figure.on_time, figure.overdue, figure.excepted) == (4, 3, 1, 1)
    assert figure.percent == 75.0
    assert (figure.assets_with_overdue, figure.assets_compliant) == (1, 1)
    assert figure.to_dict()["definition"] == COMPLIANCE_DEFINITION
    # KEV-listed updates count even when the platform did not classify them as security
    kev_bugfix = patch(2, "p7zip", security=False, cves=("CVE-2025-0411",), days=100)
    items = prioritise([LAB_WORKSTATION], [kev_bugfix], KEV, Policy(), now=NOW)
    assert compliance(items, assets=1, now=NOW).percent == 0.0


def test_compliance_is_100_with_nothing_missing_and_rounds_to_one_decimal() -> None:
    assert compliance([], assets=3, now=NOW).percent == 100.0
    patches = [patch(2, "a", days=100), patch(2, "b"), patch(2, "c")]
    items = prioritise([LAB_WORKSTATION], patches, {}, Policy(), now=NOW)
    assert compliance(items, assets=1, now=NOW).percent == 66.7


def test_item_json_has_what_the_cli_promises() -> None:
    [item] = prioritise([PAYMENT_SERVER], [patch(1, "KB5034441", kb="KB5034441",
                                                  cves=("CVE-2024-53104",))],
                        KEV, Policy(), now=NOW)
    data = item.to_dict()
    assert {"host", "ip", "package", "kb", "score", "priority", "due", "overdue", "kev",
            "kev_cves", "cves", "why", "factors"} <= set(data)
    assert data["ip"] == "203.0.113.10" and data["kb"] == "KB5034441"
    assert data["kev"] is True and data["kev_due"] == "2025-02-26"
    assert sum(f["points"] for f in data["factors"]) == item.risk.raw
