"""Plans take their rules from the policy: sources, tightening, overrides; window times."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.core.deployment import Gates, RebootPolicy
from app.core.planrules import Request, at_least_as_strict, plan_gates
from app.core.policy import MaintenanceWindow, Policy
from app.core.validate import check_gates

STRICT = Policy(max_failures=1, reboot=RebootPolicy.NEVER, backup_required=True,
                backup_days=3, pilot_success=0.95,
                windows=(MaintenanceWindow.parse("ring:production=sat 22:00-04:00"),))


def test_every_rule_comes_from_the_policy_with_its_source() -> None:
    gates, loose = plan_gates(STRICT, 3, Gates(wave_size=2))
    assert not loose and not check_gates(gates)
    assert (gates.max_failures, gates.reboot, gates.backup_days, gates.pilot_success,
            gates.windows, gates.wave_size) == (1, RebootPolicy.NEVER, 3, 0.95,
                                                ("ring:production=sat 22:00-04:00",), 2)
    assert set(dict(gates.sources).values()) == {"policy v3"}
    assert Gates.from_dict(gates.to_dict()) == gates  # stored and read back whole


def test_a_flag_tightens_and_a_looser_one_needs_an_override() -> None:
    asks = {"backup_days": Request(1, "flag --backup-days"),
            "max_failures": Request(5, "flag --max-failures"),
            "reboot": Request(RebootPolicy.ALWAYS, "flag --reboot")}
    gates, loose = plan_gates(STRICT, 3, Gates(), asks)
    assert gates.backup_days == 1 and gates.source("backup_days") == "flag --backup-days"
    # Looser requests are not applied without an override; they are reported.
    assert (gates.max_failures, gates.reboot) == (1, RebootPolicy.NEVER)
    assert {x.rule for x in loose} == {"max_failures", "reboot"}
    assert gates.source("max_failures") == "policy v3"
    gates, _ = plan_gates(STRICT, 3, Gates(), asks, override_by="alice",
                          override_reason="known flaky hosts")
    assert (gates.max_failures, gates.reboot) == (5, RebootPolicy.ALWAYS)
    assert gates.source("max_failures").startswith("override by alice")


@pytest.mark.parametrize(("rule", "policy", "value", "strict"), [
    ("reboot", RebootPolicy.IF_NEEDED, RebootPolicy.NEVER, True),
    ("reboot", RebootPolicy.NEVER, RebootPolicy.IF_NEEDED, False),
    ("reboot_lead_minutes", 5, 10, True), ("reboot_lead_minutes", 5, 1, False),
    ("max_failures", None, 3, True), ("max_failures", 2, 3, False),
    ("max_failures", 2, None, False), ("max_failure_rate", 0.2, 0.1, True),
    ("max_failure_rate", 0.2, 0.3, False), ("pilot_success", 0.9, 1.0, True),
    ("pilot_success", 0.9, 0.5, False), ("backup_days", None, 7, True),
    ("backup_days", 7, None, False), ("backup_days", 7, 14, False),
    ("reboot_message", "a", "b", False),
])
def test_what_counts_as_tighter(rule: str, policy: object, value: object,
                                strict: bool) -> None:
    assert at_least_as_strict(rule, policy, value) is strict


def test_emergency_records_who_opened_it() -> None:
    gates, _ = plan_gates(STRICT, 4, Gates(), emergency_by="bob", emergency_reason="KEV")
    assert gates.emergency == "bob: KEV" and gates.windows
    assert gates.source("windows").startswith("emergency by bob")


def test_window_next_open_and_close() -> None:
    w = MaintenanceWindow.parse("sat 22:00-04:00")
    fri = datetime(2026, 12, 4, 12, 0)  # a Friday
    assert w.next_open(fri) == datetime(2026, 12, 5, 22, 0)
    assert w.closes_at(fri) is None
    sun_early = datetime(2026, 12, 6, 3, 0)  # inside Saturday's occurrence
    assert w.next_open(sun_early) == sun_early
    assert w.closes_at(sun_early) == datetime(2026, 12, 6, 4, 0)
    sun_late = datetime(2026, 12, 6, 4, 0)  # just closed: next Saturday
    assert w.next_open(sun_late) == datetime(2026, 12, 12, 22, 0)
    day = MaintenanceWindow.parse("mon-fri 01:00-03:00")
    aware = datetime.fromisoformat("2026-12-05T10:00:00+01:00")  # Saturday
    assert day.next_open(aware) == datetime.fromisoformat("2026-12-07T01:00:00+01:00")


def test_policy_pilot_success_round_trips() -> None:
    p = Policy.from_dict({"rings": {"pilot_success": 0.8}})
    assert p.pilot_success == 0.8 and p.gates().pilot_success == 0.8
    assert Policy.from_dict(p.to_dict()) == p
