"""The patch policy: defaults, roles, settings from text and JSON, windows, gates."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from app.core.deployment import RebootPolicy
from app.core.errors import ValidationError
from app.core.models import Asset, AssetKind, Ring
from app.core.policy import (
    MaintenanceWindow,
    Policy,
    PolicyVersion,
    Priority,
    Role,
    format_policy,
    parse_hours,
    policy_diff,
    set_value,
    setting_keys,
)


def test_defaults() -> None:
    p = Policy()
    assert {pr: p.sla(pr) for pr in Priority} == {
        Priority.EMERGENCY: timedelta(hours=48), Priority.HIGH: timedelta(days=7),
        Priority.STANDARD: timedelta(days=30), Priority.LOW: timedelta(days=90)}
    assert p.may("anyone at all", Role.APPROVER)  # nobody named: open to everyone
    assert p.in_scope(Asset(hostname="x"))
    text = format_policy(PolicyVersion(0, p))
    assert "may approve deployments: anyone" in text
    assert "built-in defaults" in text


def test_roles_once_named_are_enforced_case_insensitively() -> None:
    p = set_value(Policy(), "approvers", "J. Smith, A. Jones")
    p = set_value(p, "people.bob", "deployer,reviewer")
    assert p.may("j. smith", Role.APPROVER) and p.may("A. Jones", Role.APPROVER)
    assert not p.may("bob", Role.APPROVER)
    assert p.roles_of("BOB") == (Role.DEPLOYER, Role.REVIEWER)
    assert p.may("bob", Role.DEPLOYER) and not p.may("J. Smith", Role.DEPLOYER)
    # "approvers" replaces the set of approvers; other roles stay
    p = set_value(set_value(p, "people.A. Jones", "approver,deployer"), "approvers", "bob")
    assert p.holders(Role.APPROVER) == ("bob",)
    assert p.roles_of("a. jones") == (Role.DEPLOYER,)
    assert p.roles_of("J. Smith") == ()  # no role left: removed from the people list
    p = set_value(p, "people.bob", "none")
    assert p.holders(Role.APPROVER) == ()
    assert p.may("anyone", Role.APPROVER)


def test_the_responsible_person_holds_the_responsible_role() -> None:
    p = set_value(Policy(), "responsible", "J. Smith")
    assert p.holders(Role.RESPONSIBLE) == ("J. Smith",)


def test_text_settings_for_every_kind_of_value() -> None:
    p = Policy()
    for key, value in [("sla_hours.emergency", "24h"), ("sla_hours.high", "5d"),
                       ("sla_hours.low", "2w"), ("reboot.behaviour", "always"),
                       ("reboot.lead_minutes", "15"), ("reboot.notice", "Restart at {minutes}"),
                       ("failures.max", "3"), ("failures.max_rate", "0.1"),
                       ("backup.required", "no"), ("backup.days", "3"),
                       ("rings.pilot", "tag:pilot, ring:pilot"),
                       ("scope.include", "ring:production,tag:web"),
                       ("windows", "ring:production=sat,sun 22:00-04:00; tag:web=mon-fri "
                                   "1:00-3:00"),
                       ("emergency_procedure", "Call J. Smith first.")]:
        p = set_value(p, key, value)
    assert p.sla(Priority.EMERGENCY) == timedelta(hours=24)
    assert p.sla(Priority.HIGH) == timedelta(days=5)
    assert p.sla(Priority.LOW) == timedelta(days=14)
    assert p.reboot is RebootPolicy.ALWAYS
    assert (p.max_failures, p.max_failure_rate, p.backup_required) == (3, 0.1, False)
    assert p.pilot_group == ("tag:pilot", "ring:pilot")
    assert [str(w) for w in p.windows] == ["ring:production=sat,sun 22:00-04:00",
                                           "tag:web=mon,tue,wed,thu,fri 01:00-03:00"]
    gates = p.gates()
    assert (gates.reboot, gates.reboot_lead_minutes, gates.max_failures,
            gates.backup_days) == (RebootPolicy.ALWAYS, 15, 3, None)
    assert Policy.from_dict(p.to_dict()) == p
    assert set(policy_diff(Policy(), p)) >= {"sla_hours.emergency", "windows", "backup.required"}
    assert set_value(p, "failures.max", "none").max_failures is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("sla_hours.emergency", "soon", "not a duration"),
        ("sla_hours.emergency", "0h", "between 1 hour"),
        ("people.bob", "admin", "'admin' is not a role"),
        ("windows", "saturday night", "not a window"),
        ("windows", "sat 25:00-26:00", "not a time range"),
        ("windows", "funday 01:00-02:00", "not a weekday"),
        ("scope.include", "everything", "not an asset selector"),
        ("backup.required", "maybe", "not yes or no"),
        ("failures.max_rate", "2", "between 0 and 1"),
        ("reboot.behaviour", "sometimes", "never, if-needed or always"),
        ("reboot.lead_minutes", "ten", "not a number"),
        ("colour", "blue", "unknown policy setting"),
    ],
)
def test_invalid_settings_are_refused(key: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        set_value(Policy(), key, value)


def test_from_dict_reports_every_problem_and_unknown_keys() -> None:
    with pytest.raises(ValidationError) as info:
        Policy.from_dict({"colour": "blue", "sla_hours": {"urgent": 1, "high": "x"},
                          "backup": {"required": "yes"}})
    fields = {e.field for e in info.value.errors}
    assert fields == {"colour", "sla_hours.urgent", "sla_hours.high", "backup.required"}
    # missing keys keep their defaults
    assert Policy.from_dict({"responsible": "  J.   Smith "}).responsible == "J. Smith"


def test_every_documented_key_is_accepted() -> None:
    keys = setting_keys()
    assert "people.NAME" in keys and "approvers" in keys and "sla_hours.emergency" in keys


def test_maintenance_windows() -> None:
    w = MaintenanceWindow.parse("ring:production=sat 22:00-04:00")
    sat = datetime(2026, 3, 7)  # a Saturday
    assert w.contains(sat.replace(hour=23))
    assert w.contains((sat + timedelta(days=1)).replace(hour=3, minute=59))
    assert not w.contains((sat + timedelta(days=1)).replace(hour=4))
    assert not w.contains(sat.replace(hour=21))
    daily = MaintenanceWindow.parse("daily 01:00-02:00")
    assert daily.days == tuple(range(7)) and daily.group == "all"
    assert daily.start == time(1)
    weekend = MaintenanceWindow.parse("fri-mon 00:00-01:00")
    assert weekend.days == (0, 4, 5, 6)
    with pytest.raises(ValueError, match="same time"):
        MaintenanceWindow.parse("sat 01:00-01:00")
    prod = Asset(hostname="db1", ring=Ring.PRODUCTION, kind=AssetKind.SERVER)
    lab = Asset(hostname="lab1", ring=Ring.TEST)
    p = set_value(Policy(), "windows", "ring:production=sat 22:00-04:00")
    assert p.windows_for(prod) == (w,) and p.windows_for(lab) == ()
    assert p.in_window(lab, sat.replace(hour=9))  # no window: any time
    assert not p.in_window(prod, sat.replace(hour=9))
    assert p.in_window(prod, sat.replace(hour=22, minute=30))


def test_parse_hours() -> None:
    assert (parse_hours("48"), parse_hours("2d"), parse_hours("1w"), parse_hours(36)) == \
        (48, 48, 168, 36)
