"""What every Linux deployer shares: package jobs on the host, the health snapshot,
scheduled reboots and the before/after health comparison.

Every install or rollback runs as a *job* on the host (scripts/job_start.sh): started at
most once (an atomic ``mkdir`` on the host guards it), detached from the SSH session, with
its exit status and log kept in ``/var/lib/patchdesk/jobs/<id>``. A deployment that was
killed and resumed therefore re-attaches to the job instead of running the package
manager a second time. Values that go into commands (package names, versions, paths, job
ids) are validated by the deployers first and passed as separate arguments.
"""

from __future__ import annotations

import contextlib
import re
from importlib import resources
from typing import Any

from app.drivers.base import DriverError, JobStatus, Transport
from app.drivers.linux import ABSENT, split_sections
from app.drivers.parsers import ParseError
from app.drivers.parsers import facts as pf

_JOB_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Package tools in the health snapshot, most specific first (dnf hosts have rpm too);
#: named as the deployers name themselves (``DeployCapability.tool``).
_TOOLS = {"apt-get": "apt", "dnf": "dnf", "zypper": "zypper", "yum": "yum"}


def script(name: str) -> str:
    """A host-side script of app/drivers/scripts."""
    return resources.files("app.drivers").joinpath(f"scripts/{name}").read_text(
        encoding="utf-8")


def checked_job(host: str, job: str) -> str:
    """``job`` if it is a safe job id, else DriverError ``unsafe_value``."""
    if not _JOB_ID.match(job):
        raise DriverError(host, "unsafe_value", f"bad job id {job!r}")
    return job


def start_job(transport: Transport, job: str, kind: str, args: list[str]) -> tuple[str, str]:
    """Start a package job of ``kind`` (see job_start.sh) with validated ``args``.

    Returns:
        ("started" or "already-started", the job's id): a job of that id recorded with
        other arguments is another deployment's, and this one gets ``ID.N``.
    """
    result = transport.run(["sh", "-c", script("job_start.sh"), "job-start",
                            checked_job(transport.host, job), kind, *args],
                           sudo=True, timeout=60)
    answer = (result.stdout.strip().splitlines()[-1:] or [""])[0].split(" ")
    if (result.exit_code != 0 or len(answer) != 2
            or answer[0] not in ("started", "already-started")
            or not _JOB_ID.match(answer[1]) or not answer[1].startswith(job)):
        raise DriverError(transport.host, "install_failed",
                          f"could not start the package job: {result.stderr.strip()[:300]}")
    return answer[0], answer[1]


def parse_job_status(text: str) -> JobStatus:
    """Parse job_status.sh output (``state:``, ``exit:``, ``notes:`` lines, ``log:``)."""
    state, code, notes, log_lines, section = "absent", None, [], [], ""
    for line in text.splitlines():
        if section == "log":
            log_lines.append(line)
        elif line == "notes:":
            section = "notes"
        elif line == "log:":
            section = "log"
        elif section == "notes":
            notes.append(line)
        elif line.startswith("state: "):
            state = line.removeprefix("state: ").strip()
        elif line.startswith("exit: "):
            raw = line.removeprefix("exit: ").strip()
            try:
                code = int(raw or "1")
            except ValueError:  # a host's garbage: a failure that says what it was ([12].1)
                code = 1
                notes.append(f"the host reported an unreadable exit status {raw[:40]!r}")
    return JobStatus(state, code, "\n".join(log_lines), tuple(n for n in notes if n.strip()))


def job_status(transport: Transport, job: str) -> JobStatus:
    """Poll a job (no sudo: job state is world-readable, see job_start.sh)."""
    result = transport.run(["sh", "-c", script("job_status.sh"), "job-status",
                            checked_job(transport.host, job)], timeout=60)
    return parse_job_status(result.stdout)


def _reboot_check(text: str | None) -> bool:
    """The RPM tools' verdict in the ``reboot-check`` section: dnf needs-restarting -r
    exits 1 when a reboot is needed, zypper needs-rebooting 102."""
    first = (text or "").strip().splitlines()[:1]
    tool, _, code = (first[0] if first else "").partition(" ")
    return (tool, code) in (("dnf", "1"), ("zypper", "102"))


def health(transport: Transport) -> dict[str, Any]:
    """A health snapshot: boot markers, load, memory, disk, package consistency (dpkg's
    audit or rpm's dependency check), failed units and the pending-reboot signals."""
    result = transport.run(["sh", "-c", script("health.sh")], sudo=True, timeout=120)
    try:
        sections = split_sections(result.stdout)
    except ParseError as exc:
        raise DriverError(transport.host, "health_failed", str(exc)) from None
    return parse_health(sections, transport.host)


def _number(sections: dict[str, str | None], name: str, host: str) -> float:
    """The first field of a section as a number (0 when the section is empty); a host's
    garbage is that host's clear error, never an internal one ([12].1)."""
    first = ((sections.get(name) or "0").split() or ["0"])[0]
    try:
        value = float(first)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):  # NaN, inf
        raise DriverError(host, "health_failed",
                          f"the host's {name} is not a number: {first[:40]!r}")
    return value


def parse_health(sections: dict[str, str | None], host: str) -> dict[str, Any]:
    """The health snapshot from health.sh's sections (see :func:`health`).

    Raises:
        DriverError: ``health_failed`` when a figure the host gave is not a number."""
    mem = None
    with contextlib.suppress(ParseError):
        mem = pf.parse_meminfo(sections.get("meminfo") or "")
    disks = {}
    with contextlib.suppress(ParseError):
        disks = {d.mount: d.available for d in pf.parse_df(sections.get("df") or "")}
    found = (sections.get("package-tools") or "").split()
    tools = [name for binary, name in _TOOLS.items() if binary in found]
    audits = [(sections.get(name) or "").strip() for name in ("dpkg-audit", "rpm-verify")
              if sections.get(name) not in (None, ABSENT)]
    failed_units = sections.get("failed-units")
    return {
        "uid": (sections.get("uid") or "").strip(),
        "package_tool": tools[0] if tools else "",  # the main one: "apt", "dnf"...
        "package_tools": tools,
        "boot_id": (sections.get("boot-id") or "").strip(),
        # The kernel's boot id plus PID 1's start time: the second also changes when a
        # container or namespace host restarts without a new kernel (the test lab).
        "boot_marker": f"{(sections.get('boot-id') or '').strip()}/"
                       f"{(sections.get('pid1-start') or '').strip()}",
        "uptime": _number(sections, "uptime", host),
        "load1": _number(sections, "loadavg", host),
        "mem_available": mem.available if mem else None,
        "free_bytes": disks,
        "package_audit": "\n".join(a for a in audits if a),
        "failed_units": None if failed_units is None else
        [u.split()[0] for u in failed_units.splitlines() if u.strip()],
        "reboot_required": sections.get("reboot-required") not in (None, ABSENT)
        or _reboot_check(sections.get("reboot-check")),
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
        transport.run(["shutdown", "-c", "--", "PatchDesk: the scheduled restart was cancelled."],
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
    audit = after.get("package_audit", after.get("dpkg_audit"))  # older snapshots: dpkg_audit
    if audit:
        tool = "dpkg --audit" if after.get("package_tool", "apt") == "apt" else "rpm -Va"
        problems.append(f"{tool} reports: {str(audit).splitlines()[0][:120]}")
    new_failed = set(after.get("failed_units") or []) - set(before.get("failed_units") or [])
    if new_failed:
        problems.append(f"services failed: {', '.join(sorted(new_failed))}")
    if closed_ports:
        problems.append(f"ports open before are closed now: "
                        f"{', '.join(map(str, closed_ports))}")
    return problems
