"""The fast path of a deployer: fewer round trips per host, the same safety steps.

A deployer that has these methods (:class:`QuickDeploy`) lets the engine do, per host:
pre-flight (health snapshot and the package manager's simulation) in one call; keeping
the old packages, checking that the host is still as pre-flight saw it and starting the
install job in one call; waiting for the job on the host (no polling from here) and
reading the installed versions and the after-install health snapshot in the same call;
and a light verification (installed versions and the simulation) in one call. Deployers
without them take the step-by-step path of :class:`~app.drivers.base.DeployCapability`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from app.drivers.base import DriverError, JobStatus, Simulation, Transport


@dataclass(frozen=True, slots=True)
class KeepStart:
    """What :meth:`QuickDeploy.keep_and_start` did."""

    answer: str  # "started", "already-started", or "not-started" (the host drifted)
    job: str  # the job's id as started ("" when not started)
    kept: dict[str, str]  # package name → the kept file's path
    drift: tuple[str, ...] = ()  # packages whose installed version is not the expected one


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """A job waited for: its status; when done, the installed versions and health."""

    status: JobStatus
    versions: dict[str, str] | None = None
    health: dict[str, Any] | None = None


@runtime_checkable
class QuickDeploy(Protocol):
    """The one-call steps (see the module's text)."""

    def preflight(self, transport: Transport,
                  pins: dict[str, str]) -> tuple[dict[str, Any], Simulation | DriverError]:
        """The health snapshot (through sudo: its ``uid`` proves root) and the
        simulation of ``pins`` (or the DriverError the package manager's refusal is)."""
        ...

    def keep_and_start(self, transport: Transport, job: str, keep: dict[str, str],
                       expect: dict[str, str], pins: dict[str, str]) -> KeepStart:
        """Keep the package files of ``keep`` (installed versions), check the host has
        ``expect`` installed ("" = not installed; skipped for a job already recorded)
        and, when it has, start installing ``pins`` as job ``job``."""
        ...

    def wait_job(self, transport: Transport, job: str, names: list[str], native: str,
                 wait: int) -> JobOutcome:
        """Wait up to ``wait`` seconds on the host for the job; when it is done, the
        installed versions of ``names`` and a health snapshot come with its status."""
        ...

    def check(self, transport: Transport, pins: dict[str, str],
              native: str) -> tuple[dict[str, str], Simulation]:
        """The installed versions of the pins and the simulation of installing them."""
        ...
