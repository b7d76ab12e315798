"""Which rules a deployment plan runs by, and where each one came from (pure).

Every rule comes from the patch policy in force (reboot behaviour, notice text and lead
time, failure threshold, pilot success, backup rule, maintenance windows). A request (a
command-line flag, the wizard's choice) may TIGHTEN a rule; loosening one is an override
that a person the policy allows must make, with a reason (the services layer checks the
role and audits it). The plan records each rule's source: ``policy v3``, ``flag
--max-failures``, ``override by alice``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.core.deployment import Gates, RebootPolicy
from app.core.policy import Policy

#: The rules a plan takes from the policy (names of :class:`Gates` fields).
RULES = ("reboot", "reboot_message", "reboot_lead_minutes", "max_failures",
         "max_failure_rate", "pilot_success", "backup_days", "windows")

_REBOOT_ORDER = {RebootPolicy.NEVER: 0, RebootPolicy.IF_NEEDED: 1, RebootPolicy.ALWAYS: 2}


@dataclass(frozen=True, slots=True)
class Request:
    """A rule someone asked for: its value and who asked (``flag --reboot``, ``wizard``)."""

    value: Any
    source: str


@dataclass(frozen=True, slots=True)
class Loosening:
    """A request that would loosen a policy rule."""

    rule: str
    policy_value: Any
    requested: Any
    source: str

    def __str__(self) -> str:
        return (f"{self.source} asks {self.rule}={_show(self.requested)}, looser than the "
                f"policy's {_show(self.policy_value)}")


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "; ".join(str(v) for v in value) or "none"
    return "none" if value is None else str(value)


def at_least_as_strict(rule: str, policy_value: Any, value: Any) -> bool:
    """Whether ``value`` keeps or tightens the policy's ``rule``.

    Reboot: never < if-needed < always (fewer reboots are stricter: a reboot the policy
    does not allow is a loosening). Notice: a longer lead time is stricter. Failures: a
    lower count or share; a count where the policy gives only a share counts as a tighter
    explicit limit. Pilot: a higher success share. Backup: a shorter age, and any backup
    rule where the policy has none. Notice text and windows: only the policy's own.
    """
    if value == policy_value:
        return True
    if rule == "reboot":
        return bool(_REBOOT_ORDER[RebootPolicy(value)] <= _REBOOT_ORDER[RebootPolicy(policy_value)])
    if rule == "reboot_lead_minutes":
        return bool(value >= policy_value)
    if rule == "max_failures":
        return value is not None and (policy_value is None or value <= policy_value)
    if rule == "max_failure_rate":
        return bool(value <= policy_value)
    if rule == "pilot_success":
        return bool(value >= policy_value)
    if rule == "backup_days":
        return value is not None and (policy_value is None or value <= policy_value)
    return False  # notice text, windows: a change is an override


def plan_gates(policy: Policy, version: int, base: Gates,
               requested: Mapping[str, Request] | None = None, *,
               override_by: str = "", override_reason: str = "",
               emergency_by: str = "", emergency_reason: str = "",
               ) -> tuple[Gates, list[Loosening]]:
    """The gates a plan runs by, with each rule's source.

    Args:
        base: the plan's other numbers (wave size, concurrency, timeouts); its rule fields
            are replaced by the policy's.
        requested: rules asked for (tightenings are taken as asked).
        override_by: the person overriding looser requests (role already checked); without
            one, looser requests are NOT applied and are returned.
        emergency_by: the person opening an out-of-window emergency run (role checked by
            the caller); the windows stay recorded, the engine does not wait for them.

    Returns:
        the gates, and the looser requests (applied when ``override_by`` was given).
    """
    label = f"policy v{version}"
    gates = policy.gates(base)
    sources = dict.fromkeys(RULES, label)
    loosened: list[Loosening] = []
    changes: dict[str, Any] = {}
    for rule, req in (requested or {}).items():
        if rule not in RULES:
            raise ValueError(f"'{rule}' is not a policy rule ({', '.join(RULES)})")
        current = getattr(gates, rule)
        value: Any = req.value
        if rule == "windows":
            value = tuple(value)
        elif rule == "reboot":
            value = RebootPolicy(value)
        if value == current:
            continue
        if at_least_as_strict(rule, current, value):
            changes[rule] = value
            sources[rule] = req.source
            continue
        loosened.append(Loosening(rule, current, value, req.source))
        if override_by:
            changes[rule] = value
            sources[rule] = f"override by {override_by}" + (
                f" ({req.source}: {override_reason})" if override_reason else
                f" ({req.source})")
    emergency = ""
    if emergency_by:
        emergency = f"{emergency_by}: {emergency_reason}".strip().rstrip(":")
        sources["windows"] = f"emergency by {emergency_by} (outside the windows of {label})"
    return replace(gates, **changes, emergency=emergency,
                   sources=tuple(sources.items())), loosened
