"""The fast path of the apt deployer (:class:`app.drivers.quick.QuickDeploy`): pre-flight,
keep-and-start, wait and verification each in one remote call.

The scripts are the step-by-step path's own (health.sh, simulate.sh, job_start.sh) composed
with keep_start.sh and job_wait.sh; values are validated as there and passed as separate
arguments.
"""

from __future__ import annotations

import shlex
from typing import Any

from app.drivers.apt import LOCK_FUNCTION, LOCK_TIMEOUT, lock_error
from app.drivers.apt_deploy import (
    DEB_PATH,
    VERSIONS_FORMAT,
    AptDeployer,
    checked_names,
    checked_pins,
    dpkg_states,
    simulation,
)
from app.drivers.base import DriverError, Simulation, Transport
from app.drivers.linux import split_sections
from app.drivers.linux_deploy import checked_job, parse_health, parse_job_status, script
from app.drivers.parsers import ParseError
from app.drivers.parsers.quote import UnsafeValueError, ensure_package_name, ensure_version
from app.drivers.quick import JobOutcome, KeepStart


def _sections(host: str, text: str, kind: str) -> dict[str, str | None]:
    try:
        return split_sections(text)
    except ParseError as exc:
        raise DriverError(host, kind, str(exc)) from None


def _versions(host: str, sections: dict[str, str | None], names: list[str],
              native: str) -> dict[str, str]:
    """The installed versions of the "versions" section; a dpkg-query that ended without
    answering (killed, crashed: status above 1) is an error, never "not installed"."""
    text = sections.get("versions") or ""
    failed = [line for line in text.splitlines() if line.startswith("@@pd-query-failed ")]
    if failed:
        status = failed[0].removeprefix("@@pd-query-failed ").strip()[:10]
        raise DriverError(host, "verify_failed", "dpkg-query ended with status "
                          f"{status} while reading the installed versions (killed?): "
                          "the host gave no versions to trust")
    return dpkg_states(text, names, native)


def _health_text() -> str:
    """health.sh without its end marker (a composed script ends itself)."""
    return script("health.sh").replace("\nsec end\n", "\n")



class AptQuickDeployer(AptDeployer):
    """The apt deployer with the one-call steps of the fast path."""

    def preflight(self, transport: Transport,
                  pins: dict[str, str]) -> tuple[dict[str, Any], Simulation | DriverError]:
        """The health snapshot and apt's simulation in one sudo call."""
        args = checked_pins(transport.host, pins)
        # dpkg's lock too (an install would wait behind another package operation)
        text = (_health_text() + LOCK_FUNCTION + f"\nsec lock\npd_lockprobe {LOCK_TIMEOUT} 2>&1\n"
                + "\nsec simulate\n" + script("simulate.sh")
                + "\nprintf '\\n@@pd:end@@\\n'\n")
        result = transport.run(["sh", "-c", text, "preflight", *args], sudo=True,
                               timeout=180)
        sections = _sections(transport.host, result.stdout, "health_failed")
        sim: Simulation | DriverError
        try:
            sim = simulation(transport.host, args, sections.get("simulate") or "",
                              result.stderr)
        except DriverError as exc:
            sim = exc
        health = parse_health(sections, transport.host)
        locked = lock_error(transport.host, sections.get("lock") or "")
        health["lock_holder"] = str(locked).removeprefix(f"{transport.host}: ") if locked else ""
        return health, sim

    def keep_and_start(self, transport: Transport, job: str, keep: dict[str, str],
                       expect: dict[str, str], pins: dict[str, str]) -> KeepStart:
        """Keep the old .debs, check the installed versions, start the install job: one
        sudo call (keep_start.sh, then job_start.sh)."""
        host = transport.host
        try:
            expected = [f"{ensure_package_name(n, 'deb', allow_arch=True)}="
                        + (ensure_version(v, "deb") if v else "") for n, v in expect.items()]
        except UnsafeValueError as exc:
            raise DriverError(host, "unsafe_value", str(exc)) from None
        result = transport.run(
            ["sh", "-c", script("keep_start.sh") + "\n" + script("job_start.sh"),
             "keep-start", checked_job(host, job), checked_job(host, job), "install",
             "keep", *checked_pins(host, keep), "expect", *expected,
             "args", *checked_pins(host, pins)], sudo=True, timeout=300)
        kept: dict[str, str] = {}
        drift: list[str] = []
        answer = ["", ""]
        for line in result.stdout.splitlines():
            parts = line.split(" ")
            if len(parts) == 3 and parts[0] == "kept" and DEB_PATH.match(parts[2]):
                kept[parts[1].split("=", 1)[0]] = parts[2]
            elif len(parts) == 2 and parts[0] == "drift" and parts[1] in expect:
                drift.append(parts[1])
            elif len(parts) == 2 and parts[0] in ("started", "already-started"):
                answer = parts
        if result.exit_code == 4 and drift:
            return KeepStart("not-started", "", kept, tuple(drift))
        if (result.exit_code != 0 or not checked_job(host, answer[1] or "-")
                or not answer[1].startswith(job)):
            raise DriverError(host, "install_failed", "could not start the package job: "
                              f"{result.stderr.strip()[:300]}")
        return KeepStart(answer[0], answer[1], kept)

    def wait_job(self, transport: Transport, job: str, names: list[str], native: str,
                 wait: int) -> JobOutcome:
        """Wait on the host for the job (job_wait.sh); when done, the versions and the
        health snapshot (health.sh, without sudo: nothing in it needs root) come along."""
        checked = checked_names(transport.host, names)
        text = (script("job_wait.sh") + '\nif [ "$pd_done" = 1 ]; then\n' + script("health.sh")
                + "\nelse printf '\\n@@pd:end@@\\n'; fi\n")
        result = transport.run(["sh", "-c", text, "job-wait", checked_job(transport.host, job),
                                str(max(0, int(wait))), *checked], timeout=wait + 120)
        sections = _sections(transport.host, result.stdout, "install_failed")
        status = parse_job_status(sections.get("job") or "")
        if status.state != "done":
            return JobOutcome(status)
        return JobOutcome(status, _versions(transport.host, sections, checked, native),
                          parse_health(sections, transport.host))

    def check(self, transport: Transport, pins: dict[str, str],
              native: str) -> tuple[dict[str, str], Simulation]:
        """The installed versions and apt's simulation of the pins: one call, no sudo."""
        args = checked_pins(transport.host, pins)
        names = checked_names(transport.host, list(pins))
        text = (f"printf '\\n@@pd:versions@@\\n'\ndpkg-query -W '{VERSIONS_FORMAT}' "
                + " ".join(shlex.quote(n) for n in names) + " 2>/dev/null\n"
                'rc=$?; [ "$rc" -le 1 ] || echo "@@pd-query-failed $rc"\n'
                "printf '\\n@@pd:simulate@@\\n'\n" + script("simulate.sh")
                + "\nprintf '\\n@@pd:end@@\\n'\n")
        result = transport.run(["sh", "-c", text, "verify", *args], timeout=180)
        sections = _sections(transport.host, result.stdout, "verify_failed")
        return (_versions(transport.host, sections, names, native),
                simulation(transport.host, args, sections.get("simulate") or "",
                            result.stderr))
