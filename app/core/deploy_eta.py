"""Progress of a deployment run per host, and the time left estimated from the durations of
the hosts that finished ([13]). Pure: the caller passes the time it judges at.

The estimate: the hosts still to do (pending, and the running ones' remainder) at the
average duration of the finished hosts, as many at a time as the plan allows (its
concurrency, within a wave). Before any host finished there is no estimate.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from app.core.deployment import Deployment, HostState, Stage, Target

#: States of a host whose install is over (for the run's progress).
FINISHED_STATES = frozenset({HostState.SUCCEEDED, HostState.FAILED, HostState.SKIPPED,
                             HostState.ROLLED_BACK})


def host_seconds(target: Target, now: datetime) -> float | None:
    """How long a host took (finished) or has been going (running); None before it
    started."""
    if target.started_at is None:
        return None
    end = target.finished_at if target.state in FINISHED_STATES and target.finished_at \
        else now
    return max(0.0, (end - target.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class RunProgress:
    """Where the hosts of a run stand."""

    total: int  # hosts taking part (pre-flight exclusions left out)
    finished: int
    running: int
    seconds_left: float | None  # None: no host finished yet (no estimate)
    average: float | None  # seconds per finished host

    def text(self) -> str:
        """"3 of 10 host(s) done · 2 running · about 4 min left"."""
        parts = [f"{self.finished} of {self.total} host(s) done"]
        if self.running:
            parts.append(f"{self.running} running")
        if self.seconds_left is not None and self.finished < self.total:
            parts.append(f"about {duration_text(self.seconds_left)} left")
        return " · ".join(parts)


def run_progress(dep: Deployment, now: datetime,
                 stages: Collection[Stage] = tuple(Stage)) -> RunProgress:
    """The progress of the hosts of some rings (all by default)."""
    hosts = [t for t in dep.targets if t.stage in stages and not t.excluded]
    finished = [t for t in hosts if t.state in FINISHED_STATES]
    running = [t for t in hosts if t.state is HostState.RUNNING]
    pending = [t for t in hosts if t.state is HostState.PENDING]
    took = [s for t in finished if t.finished_at is not None
            and (s := host_seconds(t, now)) is not None]
    if not took:
        return RunProgress(len(hosts), len(finished), len(running), None, None)
    average = sum(took) / len(took)
    at_once = max(1, min(dep.gates.concurrency, dep.gates.wave_size))
    in_flight = max((max(0.0, average - (host_seconds(t, now) or 0.0)) for t in running),
                    default=0.0)
    # The running hosts finish; pending ones take the free slots now, the rest follow in
    # whole rounds of ``at_once`` hosts.
    free_now = max(0, at_once - len(running))
    first = max(in_flight, average if pending and free_now else 0.0)
    later = max(0, len(pending) - free_now)
    left = first + math.ceil(later / at_once) * average
    return RunProgress(len(hosts), len(finished), len(running), left, average)


def duration_text(seconds: float) -> str:
    """A duration for people: "45 s", "4 min", "1 h 05 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
