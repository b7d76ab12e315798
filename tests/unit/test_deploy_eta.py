"""[13] A run's progress per host and the time left, estimated from the durations of the
hosts that finished (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.core.deploy_eta import duration_text, host_seconds, run_progress
from app.core.deployment import Deployment, Gates, HostState, PackagePin, Stage, Target

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def target(n: int, state: HostState, took: float | None = None, began: float | None = None,
           stage: Stage = Stage.PRODUCTION) -> Target:
    t = Target(asset_id=n, label=f"h{n}", address=f"10.0.0.{n}", stage=stage, state=state)
    if took is not None:  # finished `took` seconds after it started, a while ago
        start = NOW - timedelta(seconds=600)
        return replace(t, started_at=start, finished_at=start + timedelta(seconds=took))
    if began is not None:  # running since `began` seconds
        return replace(t, started_at=NOW - timedelta(seconds=began))
    return t


def dep(*targets: Target, concurrency: int = 2, wave_size: int = 5) -> Deployment:
    return Deployment(id=1, packages=(PackagePin("pd-tools", "2.1-1"),), targets=targets,
                      gates=Gates(concurrency=concurrency, wave_size=wave_size))


def test_no_estimate_before_a_host_finished() -> None:
    run = run_progress(dep(target(1, HostState.RUNNING, began=30),
                           target(2, HostState.PENDING)), NOW)
    assert (run.total, run.finished, run.running, run.seconds_left) == (2, 0, 1, None)
    assert run.text() == "0 of 2 host(s) done · 1 running"


def test_time_left_from_the_finished_hosts_average() -> None:
    # Two finished in 60 s and 120 s (average 90 s); one running for 30 s; three pending;
    # two at a time: the pending one that takes the free slot (90 s), then one more round.
    run = run_progress(dep(target(1, HostState.SUCCEEDED, took=60),
                           target(2, HostState.FAILED, took=120),
                           target(3, HostState.RUNNING, began=30),
                           *(target(n, HostState.PENDING) for n in (4, 5, 6))), NOW)
    assert run.average == 90
    assert run.seconds_left == 90 + 90
    assert run.text() == "2 of 6 host(s) done · 1 running · about 3 min left"
    # One at a time (a wave size of 1): the running host's 60 s, then three rounds.
    one = run_progress(dep(*(replace(t) for t in (
        target(1, HostState.SUCCEEDED, took=60), target(2, HostState.FAILED, took=120),
        target(3, HostState.RUNNING, began=30),
        *(target(n, HostState.PENDING) for n in (4, 5, 6)))), wave_size=1), NOW)
    assert one.seconds_left == 60 + 3 * 90


def test_rings_and_exclusions_count_apart() -> None:
    excluded = replace(target(4, HostState.PENDING), preflight=("no route",))
    d = dep(target(1, HostState.SUCCEEDED, took=40, stage=Stage.TEST),
            target(2, HostState.PENDING), target(3, HostState.PENDING), excluded)
    test = run_progress(d, NOW, (Stage.TEST,))
    assert (test.total, test.finished, test.seconds_left) == (1, 1, 0)
    assert test.text() == "1 of 1 host(s) done"
    rollout = run_progress(d, NOW, (Stage.PILOT, Stage.PRODUCTION))
    assert (rollout.total, rollout.finished, rollout.seconds_left) == (2, 0, None)


def test_host_seconds_and_duration_text() -> None:
    assert host_seconds(target(1, HostState.PENDING), NOW) is None
    assert host_seconds(target(1, HostState.RUNNING, began=45), NOW) == 45
    assert host_seconds(target(1, HostState.SUCCEEDED, took=75), NOW) == 75
    assert [duration_text(s) for s in (0, 45, 61, 3599, 3900)] == \
        ["0 s", "45 s", "2 min", "1 h 00 min", "1 h 05 min"]
