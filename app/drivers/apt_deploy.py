"""Installing exact versions with apt, keeping the old packages, rolling back, health.

Every install runs as a *job* on the host: started at most once (an atomic ``mkdir`` on
the host guards it), detached from the SSH session, with its exit status and log kept in
``/var/lib/patchdesk/jobs/<id>``. A deployment that was killed and resumed therefore
re-attaches to the job instead of running apt a second time. Values that go into commands
(package names, versions, job ids) are validated first and passed as separate arguments.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from app.drivers.base import DriverError, Transport
from app.drivers.linux import ABSENT, split_sections
from app.drivers.parsers import ParseError
from app.drivers.parsers import facts as pf
from app.drivers.parsers.apt_changes import Simulation, parse_simulation
from app.drivers.parsers.quote import UnsafeValueError, ensure_package_name, ensure_version

_JOB_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_DEB_PATH = re.compile(r"^/var/cache/patchdesk/rollback/[A-Za-z0-9_.-]+/[A-Za-z0-9_.%+~:-]+\.deb$")


def _script(name: str) -> str:
    return resources.files("app.drivers").joinpath(f"scripts/{name}").read_text(
        encoding="utf-8")


def _checked_pins(host: str, pins: dict[str, str]) -> list[str]:
    try:
        return [f"{ensure_package_name(n, 'deb', allow_arch=True)}={ensure_version(v, 'deb')}"
                for n, v in sorted(pins.items())]
    except UnsafeValueError as exc:
        raise DriverError(host, "unsafe_value", str(exc)) from None


def _checked_names(host: str, names: list[str]) -> list[str]:
    try:
        return [ensure_package_name(n, "deb", allow_arch=True) for n in names]
    except UnsafeValueError as exc:
        raise DriverError(host, "unsafe_value", str(exc)) from None


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


def _checked_job(host: str, job: str) -> str:
    if not _JOB_ID.match(job):
        raise DriverError(host, "unsafe_value", f"bad job id {job!r}")
    return job


@dataclass(frozen=True, slots=True)
class JobStatus:
    """What a package job on a host is doing."""

    state: str  # "absent" | "running" | "done"
    exit_code: int | None
    log_tail: str


class AptDeployer:
    """Install, keep-for-rollback, roll back and health-check on a Debian-family host."""

    def versions(self, transport: Transport, names: list[str],
                 native: str = "") -> dict[str, str]:
        """Installed version of each package, ``name`` or ``name:arch`` ("" when not
        fully installed or absent)."""
        checked = _checked_names(transport.host, names)
        result = transport.run(
            ["dpkg-query", "-W",
             "-f=${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Abbrev}\\n",
             *checked], timeout=60)
        return dpkg_states(result.stdout, checked, native)

    def simulate(self, transport: Transport, pins: dict[str, str]) -> Simulation:
        """What installing ``pins`` would change on the host (``apt-get -s install``), and
        which of them apply to it (:class:`Simulation`; see simulate.sh).

        Raises:
            DriverError: kind ``install_impossible`` when apt refuses (its E: lines).
        """
        args = _checked_pins(transport.host, pins)
        result = transport.run(["sh", "-c", _script("simulate.sh"), "simulate", *args],
                               timeout=120)
        lines = result.stdout.splitlines()
        code = lines[-1].removeprefix("exit: ").strip() if lines else ""
        if code != "0":
            errors = [line for line in lines if line.startswith("E:")]
            raise DriverError(transport.host, "install_impossible",
                              "apt cannot install "
                              + " ".join(args) + ": "
                              + ("; ".join(errors)[:300] or result.stderr.strip()[:300]))
        try:
            return parse_simulation(result.stdout)
        except ParseError as exc:
            raise DriverError(transport.host, "install_impossible", str(exc)) from None

    def keep_for_rollback(self, transport: Transport, keep_id: str,
                          pins: dict[str, str]) -> dict[str, str]:
        """Keep the .deb of each given (installed) version on the host; name → path.

        Packages with no copy (the repository dropped the version and apt's cache was
        cleaned) are missing from the result: rollback cannot restore those.
        """
        if not pins:
            return {}
        args = _checked_pins(transport.host, pins)
        result = transport.run(["sh", "-c", _script("keep_debs.sh"), "keep-debs",
                                _checked_job(transport.host, keep_id), *args],
                               sudo=True, timeout=300)
        kept: dict[str, str] = {}
        for line in result.stdout.splitlines():
            parts = line.split(" ")
            if len(parts) == 3 and parts[0] == "kept" and _DEB_PATH.match(parts[2]):
                kept[parts[1].split("=", 1)[0]] = parts[2]
        return kept

    def start(self, transport: Transport, job: str, pins: dict[str, str]) -> tuple[str, str]:
        """Start installing exact versions as a job.

        Returns:
            ("started" or "already-started", the job's id): a job of that id recorded with
            other arguments is another deployment's, and this one gets ``ID.N``.
        """
        args = _checked_pins(transport.host, pins)
        return self._start(transport, job, "install", args)

    def start_rollback(self, transport: Transport, job: str, debs: list[str],
                       remove: Sequence[str] = ()) -> tuple[str, str]:
        """Start one apt transaction as a job: reinstall the kept .deb files (downgrades
        allowed) and remove the packages in ``remove`` (the install added them)."""
        for path in debs:
            if not _DEB_PATH.match(path):
                raise DriverError(transport.host, "unsafe_value", f"bad package path {path!r}")
        removals = [f"{n}-" for n in _checked_names(transport.host, list(remove))]
        return self._start(transport, job, "rollback", [*debs, *removals])

    def _start(self, transport: Transport, job: str, kind: str,
               args: list[str]) -> tuple[str, str]:
        result = transport.run(["sh", "-c", _script("job_start.sh"), "job-start",
                                _checked_job(transport.host, job), kind, *args],
                               sudo=True, timeout=60)
        answer = (result.stdout.strip().splitlines()[-1:] or [""])[0].split(" ")
        if (result.exit_code != 0 or len(answer) != 2
                or answer[0] not in ("started", "already-started")
                or not _JOB_ID.match(answer[1]) or not answer[1].startswith(job)):
            raise DriverError(transport.host, "install_failed",
                              f"could not start the package job: {result.stderr.strip()[:300]}")
        return answer[0], answer[1]

    def status(self, transport: Transport, job: str) -> JobStatus:
        """Poll a job (no sudo: job state is world-readable, see job_start.sh)."""
        result = transport.run(["sh", "-c", _script("job_status.sh"), "job-status",
                                _checked_job(transport.host, job)], timeout=60)
        state, code, log_lines, in_log = "absent", None, [], False
        for line in result.stdout.splitlines():
            if in_log:
                log_lines.append(line)
            elif line.startswith("state: "):
                state = line.removeprefix("state: ").strip()
            elif line.startswith("exit: "):
                code = int(line.removeprefix("exit: ").strip() or "1")
            elif line == "log:":
                in_log = True
        return JobStatus(state, code, "\n".join(log_lines))

    def health(self, transport: Transport) -> dict[str, Any]:
        """A health snapshot: boot markers, load, memory, disk, package consistency."""
        result = transport.run(["sh", "-c", _script("health.sh")], sudo=True, timeout=60)
        try:
            sections = split_sections(result.stdout)
        except ParseError as exc:
            raise DriverError(transport.host, "health_failed", str(exc)) from None
        mem = None
        with contextlib.suppress(ParseError):
            mem = pf.parse_meminfo(sections.get("meminfo") or "")
        disks = {}
        with contextlib.suppress(ParseError):
            disks = {d.mount: d.available for d in pf.parse_df(sections.get("df") or "")}
        audit = (sections.get("dpkg-audit") or "").strip()
        failed_units = sections.get("failed-units")
        return {
            "uid": (sections.get("uid") or "").strip(),
            "apt_tools": (sections.get("apt-tools") or "").strip() == "yes",
            "boot_id": (sections.get("boot-id") or "").strip(),
            # The kernel's boot id plus PID 1's start time: the second also changes when a
            # container or namespace host restarts without a new kernel (the test lab).
            "boot_marker": f"{(sections.get('boot-id') or '').strip()}/"
                           f"{(sections.get('pid1-start') or '').strip()}",
            "uptime": float((sections.get("uptime") or "0").split()[0] or 0),
            "load1": float((sections.get("loadavg") or "0").split()[0] or 0),
            "mem_available": mem.available if mem else None,
            "free_bytes": disks,
            "dpkg_audit": audit,
            "failed_units": None if failed_units is None else
            [u.split()[0] for u in failed_units.splitlines() if u.strip()],
            "reboot_required": sections.get("reboot-required") not in (None, ABSENT),
        }


class LinuxReboot:
    """Notices to logged-in users and scheduled reboots (``wall``, ``shutdown -r +N``)."""

    def notify(self, transport: Transport, message: str) -> None:
        """Broadcast a message to every logged-in terminal (text passed on stdin)."""
        transport.run(["wall"], sudo=True, input=message + "\n", timeout=30)

    def schedule(self, transport: Transport, minutes: int, message: str) -> None:
        """Schedule a reboot in ``minutes`` with the notice (shutdown also broadcasts it).

        Raises:
            DriverError: kind ``reboot_failed`` when the host refuses.
        """
        # "--": the notice is text, never an option, whatever it starts with ([12].15)
        result = transport.run(["shutdown", "-r", f"+{max(0, int(minutes))}", "--", message],
                               sudo=True, timeout=60)
        if result.exit_code != 0:
            raise DriverError(transport.host, "reboot_failed",
                              f"could not schedule the reboot: "
                              f"{(result.stderr or result.stdout).strip()[:200]}")

    def cancel(self, transport: Transport) -> None:
        """Cancel a scheduled reboot (``shutdown -c``)."""
        transport.run(["shutdown", "-c", "--",
                       "PatchDesk: the scheduled restart was cancelled."],
                      sudo=True, timeout=60)

    def marker(self, transport: Transport) -> str:
        """The boot marker (changes with every boot)."""
        result = transport.run(["sh", "-c", "cat /proc/sys/kernel/random/boot_id; "
                                "cut -d' ' -f22 /proc/1/stat"], timeout=30)
        lines = result.stdout.split()
        return "/".join(lines[:2]) if result.exit_code == 0 else ""


def compare_health(before: dict[str, Any], after: dict[str, Any],
                   closed_ports: list[int]) -> list[str]:
    """Problems that appeared between two snapshots (empty when healthy)."""
    problems = []
    if after.get("dpkg_audit"):
        problems.append(f"dpkg --audit reports: {after['dpkg_audit'].splitlines()[0][:120]}")
    new_failed = set(after.get("failed_units") or []) - set(before.get("failed_units") or [])
    if new_failed:
        problems.append(f"services failed: {', '.join(sorted(new_failed))}")
    if closed_ports:
        problems.append(f"ports open before are closed now: "
                        f"{', '.join(map(str, closed_ports))}")
    return problems
