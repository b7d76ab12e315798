"""Choosing frameworks, their deadlines as policy SLAs, and each update's due date under a
framework ([16])."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.core.errors import UserError
from app.core.frameworks import (
    AssetFacts,
    ComplianceEvidence,
    Framework,
    MissingUpdate,
    choose_frameworks,
    due_under,
    evaluate,
    judge_frameworks,
    load_frameworks,
    policy_with_deadlines,
    presets_text,
    sla_presets,
)
from app.core.models import Severity
from app.core.policy import Policy, Priority

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fws() -> dict[str, Framework]:
    return load_frameworks()


def test_choose_in_the_order_given_once(fws: dict[str, Framework]) -> None:
    chosen = choose_frameworks("cyber-essentials, PCI-DSS,cyber-essentials", fws)
    assert [f.id for f in chosen] == ["cyber-essentials", "pci-dss"]
    assert [f.id for f in choose_frameworks("all", fws)] == sorted(fws)
    assert choose_frameworks(None, fws) == [] and choose_frameworks("", fws) == []
    with pytest.raises(UserError, match=r"nope.*choose from cis-controls"):
        choose_frameworks("pci-dss,nope", fws)


def test_presets_tighten_never_loosen(fws: dict[str, Framework]) -> None:
    loose = {"emergency": 24 * 30, "high": 24 * 60, "standard": 24 * 90, "low": 24 * 180}
    assert sla_presets(fws["cyber-essentials"], loose) == {
        "emergency": 336, "high": 336, "standard": 2160, "low": 4320}
    # Essential Eight: 48 h for critical fixes on exposed assets; a month for the rest
    assert sla_presets(fws["essential-eight"], loose) == {
        "emergency": 48, "high": 720, "standard": 720, "low": 720}
    strict = {"emergency": 24, "high": 72, "standard": 24 * 14, "low": 24 * 30}
    assert sla_presets(fws["pci-dss"], strict) == strict
    # a priority is never allowed longer than a lower one
    odd = {"emergency": 24 * 60, "high": 24 * 60, "standard": 24 * 10, "low": 24 * 90}
    assert sla_presets(fws["pci-dss"], odd)["emergency"] <= 240


def test_policy_with_deadlines_changes_only_the_slas(fws: dict[str, Framework]) -> None:
    policy = Policy(responsible="Dana", sla_hours=((Priority.EMERGENCY, 72),
                                                   (Priority.HIGH, 24 * 30),
                                                   (Priority.STANDARD, 24 * 30),
                                                   (Priority.LOW, 24 * 90)))
    new = policy_with_deadlines(policy, fws["cyber-essentials"])
    assert new.responsible == "Dana" and new.sla(Priority.HIGH) == timedelta(days=14)
    assert new.sla(Priority.EMERGENCY) == timedelta(hours=72)
    text = presets_text(fws["cyber-essentials"], policy)
    assert "14-days: 14 days" in text and "high: 30 days -> 14 days" in text


def update(age_days: int, *, released: bool, severity: Severity = Severity.CRITICAL,
           excepted_until: datetime | None = None, package: str = "openssl",
           security: bool = True) -> MissingUpdate:
    start = NOW - timedelta(days=age_days)
    return MissingUpdate(1, "pos-01", package, first_seen=start, severity=severity,
                         security=security, released=start.date() if released else None,
                         excepted_until=excepted_until)


def test_due_under_agrees_with_the_sla_judgement(fws: dict[str, Framework]) -> None:
    ev = ComplianceEvidence(
        as_of=NOW, assets=(AssetFacts(1, "pos-01", False, None, NOW),),
        missing=(update(20, released=True),  # 14 days: overdue
                 update(10, released=False, package="libc6"),  # within
                 update(30, released=True, package="bash",
                        excepted_until=NOW + timedelta(days=3)),  # late but excepted
                 update(90, released=True, package="curl", security=False)))  # no rule
    due = due_under(fws["cyber-essentials"], ev)
    assert set(due) == {(1, "openssl"), (1, "libc6"), (1, "bash")}
    assert due[(1, "openssl")].overdue and due[(1, "openssl")].clock == "release"
    # a release date counts whole days: due at the end of the 14th day after release
    assert due[(1, "openssl")].due == datetime.combine(
        (NOW - timedelta(days=6)).date(), datetime.max.time().replace(microsecond=0), UTC)
    assert not due[(1, "libc6")].overdue and due[(1, "libc6")].clock == "first seen"
    assert due[(1, "libc6")].due == NOW + timedelta(days=4)
    assert not due[(1, "bash")].overdue
    judged = {j.requirement_id: j for j in evaluate(fws["cyber-essentials"], ev)}
    overdue = sum(d.overdue for d in due.values())
    assert f"{len(due)} missing update(s) fall under a deadline; {overdue} overdue" in \
        judged["A6.4/A6.5"].figures


def test_results_count_and_serialise(fws: dict[str, Framework]) -> None:
    ev = ComplianceEvidence(as_of=NOW)
    [result] = judge_frameworks([fws["pci-dss"]], ev)
    assert sum(result.counts().values()) == len(fws["pci-dss"].requirements)
    data = result.to_dict()
    assert data["framework"] == "pci-dss" and data["deadlines"][0]["within_hours"] == 720
    assert [j["requirement"] for j in data["judgements"]] == [
        r.id for r in fws["pci-dss"].requirements]
    assert all(j["title"] for j in data["judgements"])
    assert result.counts_text().startswith(f"{result.counts()['met']} met, ")
    assert date.fromisoformat(data["as_of"][:10]) == NOW.date()
