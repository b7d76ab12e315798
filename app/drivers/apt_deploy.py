"""Installing exact versions with apt, keeping the old packages, rolling back, health:
the :class:`~app.drivers.base.DeployCapability` of Debian-family hosts.

Installs and rollbacks run as package jobs on the host (app.drivers.linux_deploy).
Values that go into commands (package names, versions, job ids) are validated first and
passed as separate arguments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from app.drivers.apt import AptUpdates
from app.drivers.base import DriverError, JobStatus, Simulation, Transport
from app.drivers.linux_deploy import (
    LinuxReboot,
    checked_job,
    compare_health,
    health,
    job_status,
    script,
    start_job,
)
from app.drivers.parsers import ParseError
from app.drivers.parsers.apt_changes import parse_simulation
from app.drivers.parsers.quote import UnsafeValueError, ensure_package_name, ensure_version

__all__ = ["AptDeployer", "LinuxReboot", "compare_health", "dpkg_states"]

VERSIONS_FORMAT = "-f=${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Abbrev}\\n"
DEB_PATH = re.compile(r"^/var/cache/patchdesk/rollback/[A-Za-z0-9_.-]+/[A-Za-z0-9_.%+~:-]+\.deb$")


def checked_pins(host: str, pins: dict[str, str]) -> list[str]:
    try:
        return [f"{ensure_package_name(n, 'deb', allow_arch=True)}={ensure_version(v, 'deb')}"
                for n, v in sorted(pins.items())]
    except UnsafeValueError as exc:
        raise DriverError(host, "unsafe_value", str(exc)) from None


def checked_names(host: str, names: list[str]) -> list[str]:
    try:
        return [ensure_package_name(n, "deb", allow_arch=True) for n in names]
    except UnsafeValueError as exc:
        raise DriverError(host, "unsafe_value", str(exc)) from None


def simulation(host: str, args: list[str], text: str, stderr: str = "") -> Simulation:
    """simulate.sh's output as a :class:`Simulation`, or DriverError
    ``install_impossible`` with apt's E: lines."""
    lines = text.splitlines()
    code = lines[-1].removeprefix("exit: ").strip() if lines else ""
    if code != "0":
        errors = [line for line in lines if line.startswith("E:")]
        raise DriverError(host, "install_impossible", "apt cannot install " + " ".join(args)
                          + ": " + ("; ".join(errors)[:300] or stderr.strip()[:300]))
    try:
        return parse_simulation(text)
    except ParseError as exc:
        raise DriverError(host, "install_impossible", str(exc)) from None


def dpkg_states(text: str, names: list[str], native: str = "") -> dict[str, str]:
    """Installed version of each ``name`` or ``name:arch`` in ``dpkg-query`` output of
    ``Package<TAB>Architecture<TAB>Version<TAB>Status-Abbrev`` lines ("" when not fully
    installed). A bare name prefers the native architecture's (or "all") package."""
    rows: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[3].strip() in ("ii", "hi"):
            rows[(parts[0], parts[1])] = parts[2]
    found: dict[str, str] = {}
    for name in names:
        bare, _, arch = name.partition(":")
        if arch:
            found[name] = rows.get((bare, arch), "")
            continue
        mine = [v for (n, a), v in rows.items() if n == bare and a in (native, "all")]
        other = [v for (n, _a), v in rows.items() if n == bare]
        found[name] = (mine or other or [""])[0]
    return found


class AptDeployer:
    """Install, keep-for-rollback, roll back and health-check on a Debian-family host."""

    tool = "apt"

    def __init__(self) -> None:
        self.rebooter = LinuxReboot()

    def versions(self, transport: Transport, names: list[str],
                 native: str = "") -> dict[str, str]:
        """Installed version of each package, ``name`` or ``name:arch`` ("" when not
        fully installed or absent)."""
        checked = checked_names(transport.host, names)
        result = transport.run(["dpkg-query", "-W", VERSIONS_FORMAT, *checked], timeout=60)
        return dpkg_states(result.stdout, checked, native)

    def simulate(self, transport: Transport, pins: dict[str, str]) -> Simulation:
        """What installing ``pins`` would change on the host (``apt-get -s install``), and
        which of them apply to it (:class:`Simulation`; see simulate.sh).

        Raises:
            DriverError: kind ``install_impossible`` when apt refuses (its E: lines).
        """
        args = checked_pins(transport.host, pins)
        result = transport.run(["sh", "-c", script("simulate.sh"), "simulate", *args],
                               timeout=120)
        return simulation(transport.host, args, result.stdout, result.stderr)

    def keep_for_rollback(self, transport: Transport, keep_id: str,
                          pins: dict[str, str]) -> dict[str, str]:
        """Keep the .deb of each given (installed) version on the host; name → path.

        Packages with no copy (the repository dropped the version and apt's cache was
        cleaned) are missing from the result: rollback cannot restore those.
        """
        if not pins:
            return {}
        args = checked_pins(transport.host, pins)
        result = transport.run(["sh", "-c", script("keep_debs.sh"), "keep-debs",
                                checked_job(transport.host, keep_id), *args],
                               sudo=True, timeout=300)
        kept: dict[str, str] = {}
        for line in result.stdout.splitlines():
            parts = line.split(" ")
            if len(parts) == 3 and parts[0] == "kept" and DEB_PATH.match(parts[2]):
                kept[parts[1].split("=", 1)[0]] = parts[2]
        return kept

    def start(self, transport: Transport, job: str, pins: dict[str, str]) -> tuple[str, str]:
        """Start installing exact versions as a job.

        Returns:
            ("started" or "already-started", the job's id): a job of that id recorded with
            other arguments is another deployment's, and this one gets ``ID.N``.
        """
        args = checked_pins(transport.host, pins)
        return self._start(transport, job, "install", args)

    def start_rollback(self, transport: Transport, job: str, files: list[str],
                       remove: Sequence[str] = ()) -> tuple[str, str]:
        """Start one apt transaction as a job: reinstall the kept .deb files (downgrades
        allowed) and remove the packages in ``remove`` (the install added them)."""
        for path in files:
            if not DEB_PATH.match(path):
                raise DriverError(transport.host, "unsafe_value", f"bad package path {path!r}")
        removals = [f"{n}-" for n in checked_names(transport.host, list(remove))]
        return self._start(transport, job, "rollback", [*files, *removals])

    def _start(self, transport: Transport, job: str, kind: str,
               args: list[str]) -> tuple[str, str]:
        return start_job(transport, job, kind, args)

    def status(self, transport: Transport, job: str) -> JobStatus:
        """Poll a job (no sudo: job state is world-readable, see job_start.sh)."""
        return job_status(transport, job)

    def job_problems(self, status: JobStatus) -> list[str]:
        """apt's exit code and its E:/dpkg error lines (a failed postinst makes apt exit
        100 and leaves the package half-configured; dpkg then reports it)."""
        if status.exit_code == 0:
            return []
        tail = [line for line in [*status.notes, *(status.log_tail or "").splitlines()]
                if line.startswith(("E:", "dpkg:", "Errors", "the host reported"))]
        return [f"apt exited {status.exit_code}", *list(dict.fromkeys(tail))[-2:]]

    def lock_holder(self, transport: Transport) -> str:
        """Who holds dpkg's lock now ("" when nobody does): checked at pre-flight, so no
        install starts behind another package operation (it would wait for the lock, and
        could run after the deployment has given the host up)."""
        try:
            AptUpdates().check_lock(transport)
        except DriverError as exc:
            return str(exc).removeprefix(f"{transport.host}: ")
        return ""

    def health(self, transport: Transport) -> dict[str, Any]:
        """A health snapshot: boot markers, load, memory, disk, package consistency."""
        return health(transport)
