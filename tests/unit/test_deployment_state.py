"""The deployment state machine: allowed transitions, gates, thresholds, waves, approval."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.core.deployment import (
    Deployment,
    DeploymentError,
    Gates,
    HostState,
    PackagePin,
    Phase,
    Stage,
    Target,
    assign_waves,
    wave_count,
)

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def make(stages: list[Stage], gates: Gates | None = None) -> Deployment:
    targets = [Target(asset_id=i + 1, label=f"h{i + 1}", address=f"10.0.0.{i + 1}", stage=s)
               for i, s in enumerate(stages)]
    gates = gates or Gates(wave_size=2)
    return Deployment(id=1, packages=(PackagePin("openssl", "3.0.15-1"),),
                      targets=assign_waves(targets, gates.wave_size), gates=gates)


def with_states(dep: Deployment, states: dict[int, HostState]) -> Deployment:
    for asset_id, state in states.items():
        dep = dep.with_target(replace(dep.target(asset_id), state=state))
    return dep


def test_happy_path_through_every_phase() -> None:
    dep = make([Stage.TEST, Stage.PILOT, Stage.PRODUCTION, Stage.PRODUCTION])
    dep = dep.moved(Phase.PREFLIGHT)
    assert dep.after_preflight() is Phase.TEST_RING
    dep = dep.moved(Phase.TEST_RING)
    dep = with_states(dep, {1: HostState.SUCCEEDED})
    assert dep.gate_passed(Stage.TEST) == (True, "")
    dep = dep.moved(dep.after_ring(Stage.TEST))
    assert dep.phase is Phase.AWAITING_APPROVAL
    dep = dep.approved("J. Smith", NOW, "tested on h1")
    assert dep.phase is Phase.PILOT
    assert dep.approval is not None
    assert dep.approval.approver == "J. Smith"
    dep = with_states(dep, {2: HostState.SUCCEEDED})
    dep = dep.moved(dep.after_ring(Stage.PILOT))
    assert dep.phase is Phase.PRODUCTION
    dep = with_states(dep, {3: HostState.SUCCEEDED, 4: HostState.SUCCEEDED})
    dep = dep.moved(dep.after_ring(Stage.PRODUCTION)).moved(Phase.DONE)
    assert dep.finished


@pytest.mark.parametrize(("start", "to"), [
    (Phase.PLANNED, Phase.PRODUCTION),
    (Phase.TEST_RING, Phase.PILOT),
    (Phase.AWAITING_APPROVAL, Phase.DONE),
    (Phase.ROLLED_BACK, Phase.PRODUCTION),
])
def test_illegal_transitions_are_refused(start: Phase, to: Phase) -> None:
    dep = replace(make([Stage.TEST]), phase=start)
    with pytest.raises(DeploymentError, match="cannot go to"):
        dep.moved(to)


def test_approval_needs_a_name_and_the_right_phase() -> None:
    dep = replace(make([Stage.TEST, Stage.PRODUCTION]), phase=Phase.AWAITING_APPROVAL)
    with pytest.raises(DeploymentError, match="approver's name"):
        dep.approved("  ", NOW)
    assert dep.approved("Ann", NOW).phase is Phase.PRODUCTION  # no pilot hosts: straight on
    with pytest.raises(DeploymentError, match="not awaiting approval"):
        replace(dep, phase=Phase.TEST_RING).approved("Ann", NOW)


def test_any_test_ring_failure_fails_the_gate() -> None:
    dep = with_states(make([Stage.TEST, Stage.TEST]), {1: HostState.SUCCEEDED,
                                                        2: HostState.FAILED})
    assert dep.failures_exceeded(Stage.TEST) == "1 of 2 test host(s) failed"
    assert dep.gate_passed(Stage.TEST)[0] is False


def test_pilot_gate_uses_its_threshold() -> None:
    stages = [Stage.PILOT] * 10
    dep = with_states(make(stages), dict.fromkeys(range(1, 10), HostState.SUCCEEDED) |
                      {10: HostState.FAILED})
    assert dep.failures_exceeded(Stage.PILOT) == ""
    assert dep.gate_passed(Stage.PILOT) == (True, "")
    dep = with_states(dep, {9: HostState.FAILED})
    assert "needs 90% success" in dep.failures_exceeded(Stage.PILOT)


def test_production_failure_threshold_by_count_and_rate() -> None:
    dep = make([Stage.PRODUCTION] * 6, Gates(wave_size=2, max_failures=2))
    dep = with_states(dep, {1: HostState.FAILED, 2: HostState.SUCCEEDED})
    assert dep.failures_exceeded(Stage.PRODUCTION) == ""
    dep = with_states(dep, {3: HostState.FAILED})
    assert dep.failures_exceeded(Stage.PRODUCTION) == "2 production host(s) failed (limit 2)"
    by_rate = make([Stage.PRODUCTION] * 4, Gates(wave_size=2, max_failure_rate=0.25))
    by_rate = with_states(by_rate, {1: HostState.FAILED, 2: HostState.SUCCEEDED})
    assert "limit 25%" in by_rate.failures_exceeded(Stage.PRODUCTION)


def test_waves_and_resume_order() -> None:
    dep = make([Stage.TEST] + [Stage.PRODUCTION] * 5, Gates(wave_size=2))
    assert wave_count(dep.targets) == 3
    assert [t.asset_id for t in dep.current_wave(Stage.PRODUCTION)] == [2, 3]
    dep = with_states(dep, {2: HostState.SUCCEEDED, 3: HostState.SUCCEEDED,
                            5: HostState.RUNNING})
    # An interrupted host (RUNNING) comes first, in its own wave.
    assert [t.asset_id for t in dep.next_hosts(Stage.PRODUCTION)] == [5, 4, 6]
    assert {t.asset_id for t in dep.current_wave(Stage.PRODUCTION)} == {4, 5}


def test_excluded_hosts_do_not_count() -> None:
    dep = make([Stage.TEST, Stage.TEST])
    dep = dep.with_target(replace(dep.target(2), preflight=("disk full",)))
    assert [t.asset_id for t in dep.stage_targets(Stage.TEST)] == [1]
    dep = dep.with_target(replace(dep.target(2), override="ann: disk checked by hand"))
    assert [t.asset_id for t in dep.stage_targets(Stage.TEST)] == [1, 2]


def test_gates_round_trip() -> None:
    gates = Gates(pilot_success=0.8, max_failures=3, wave_size=7)
    assert Gates.from_dict(gates.to_dict()) == gates


def test_preflight_blockers() -> None:
    dep = make([Stage.TEST, Stage.PRODUCTION])
    assert dep.preflight_blocker() == ""
    lost_test = dep.with_target(replace(dep.target(1), preflight=("unreachable",)))
    assert lost_test.preflight_blocker() == "the whole test ring failed pre-flight"
    everyone = lost_test.with_target(replace(lost_test.target(2), preflight=("disk",)))
    assert everyone.preflight_blocker() == "every host failed pre-flight"
    overridden = lost_test.with_target(replace(lost_test.target(1), override="ann: ok"))
    assert overridden.preflight_blocker() == ""
    assert overridden.untouched
    started = overridden.with_target(replace(overridden.target(1), job="pd1-a1"))
    assert not started.untouched
