"""Installing exact versions with dnf or zypper, keeping the old packages, rolling back:
the :class:`~app.drivers.base.DeployCapability` of RPM hosts.

* Install: ``dnf -y install name-version[.arch]`` / ``zypper --non-interactive install
  --oldpackage name[.arch]=version`` as a package job (app.drivers.linux_deploy).
* Change set: dnf's transaction table under ``--assumeno`` / zypper's
  ``--xmlout install --dry-run`` summary; the installed versions from ``rpm -q``.
* Keep for rollback: the .rpm of each installed version, downloaded from the host's own
  repositories (``dnf download`` / ``zypper download``) or found in the package cache,
  into ``/var/cache/patchdesk/rollback/<job>/`` (scripts/keep_rpms.sh).
* Roll back: ONE transaction of the kept files (downgrades: ``dnf install`` of older local
  files is a downgrade; zypper needs ``--oldpackage``) plus removal of what the install
  added (``dnf shell`` with install + remove + run; zypper's ``!name``).
* What "failed" means: rpm runs a failing ``%post`` *after* the new files are in place,
  and the package stays installed at the new version. zypper says so with exit code 107
  (ZYPPER_EXIT_INF_RPM_SCRIPT_FAILED); dnf 4 exits 0 and only prints ``warning:
  %post(NEVRA) scriptlet failed, exit status 1`` and ``Error in POSTIN scriptlet in rpm
  package NAME`` (real dnf 4.14, lab capture). Both count as a failed install here: the
  job's notes (job_status.sh greps the whole log) carry those lines, so the host is
  FAILED, the failure threshold of its ring applies, and rollback restores the old
  version. Exit codes 102/103 of zypper (reboot/restart needed) are successes.

Tested against real dnf 4.14, zypper 1.14 and rpm 4.18 on the test lab's RPM hosts (not
on real RHEL/SUSE hosts; dnf5 and yum are untested for installs).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from app.drivers.base import DriverError, JobStatus, Simulation, Transport
from app.drivers.linux_deploy import (
    LinuxReboot,
    checked_job,
    health,
    job_status,
    script,
    start_job,
)
from app.drivers.parsers import ParseError
from app.drivers.parsers.quote import UnsafeValueError, ensure_package_name, ensure_version
from app.drivers.parsers.rpm_changes import (
    PLAIN_ARCHS,
    RPM_ROW_FORMAT,
    RpmRow,
    changes_from,
    key,
    parse_dnf_transaction,
    parse_rpm_rows,
    parse_zypper_summary,
    rpm_states,
)
from app.drivers.rpm import tail

_RPM_PATH = re.compile(r"^/var/cache/patchdesk/rollback/[A-Za-z0-9_.-]+/"
                       r"[A-Za-z0-9_.+~^-]+\.rpm$")
_ARCH = re.compile(r"^[a-z0-9_]+$")
_SCRIPTLET = re.compile(r"scriptlet failed|^Error in [A-Z]+ scriptlet")
# rpm on a Debian-built host prints this on every install (not a failure).
_ALIEN = ("should not be used directly", "assuming you know what you are doing")


def _split(host: str, name: str) -> tuple[str, str]:
    """(rpm name, arch or "") of a deployment name, validated."""
    bare, _, arch = name.partition(":")
    try:
        ensure_package_name(bare, "rpm")
    except UnsafeValueError as exc:
        raise DriverError(host, "unsafe_value", str(exc)) from None
    if arch and not _ARCH.match(arch):
        raise DriverError(host, "unsafe_value", f"bad architecture {arch!r}")
    return bare, arch


def _version(host: str, version: str) -> str:
    try:
        return ensure_version(version, "rpm")
    except UnsafeValueError as exc:
        raise DriverError(host, "unsafe_value", str(exc)) from None


class RpmDeployer:
    """What the dnf and zypper deployers share (rpm queries, keeping, jobs, health)."""

    tool = "rpm"

    def __init__(self) -> None:
        self.rebooter = LinuxReboot()

    # -- to be given by the tool ------------------------------------------------------
    def _spec(self, name: str, arch: str, version: str) -> str:
        raise NotImplementedError

    def _dry_run(self, transport: Transport, specs: list[str]) -> list[tuple[str, str, str,
                                                                               str]]:
        raise NotImplementedError

    def _exit_problems(self, code: int | None) -> list[str]:
        raise NotImplementedError

    # -- queries ----------------------------------------------------------------------
    def _rows(self, transport: Transport, names: list[str]) -> tuple[str, list[RpmRow]]:
        """The native architecture (``uname -m``) and the installed instances of ``names``."""
        bare = list(dict.fromkeys(_split(transport.host, n)[0] for n in names))
        result = transport.run(["sh", "-c", 'uname -m; [ "$#" -eq 0 ] || rpm -q '
                                '--queryformat "$0" "$@"; true', RPM_ROW_FORMAT, *bare],
                               timeout=60)
        lines = result.stdout.splitlines()
        native = lines[0].strip() if lines else ""
        if not _ARCH.match(native):
            raise DriverError(transport.host, "rpm_failed",
                              f"uname -m/rpm -q failed: {tail(result.stderr)}")
        try:
            return native, parse_rpm_rows("\n".join(lines[1:]))
        except ParseError as exc:
            raise DriverError(transport.host, "parse_failed", str(exc)) from None

    def versions(self, transport: Transport, names: list[str],
                 native: str = "") -> dict[str, str]:
        """Installed version of each package, ``name`` or ``name:arch`` ("" when absent)."""
        if not names:
            return {}
        host_native, rows = self._rows(transport, names)
        return rpm_states(rows, names, native or host_native)

    def simulate(self, transport: Transport, pins: dict[str, str]) -> Simulation:
        """What installing ``pins`` would change (the tool's dry run; nothing installed).
        A pin of another architecture than the host's applies only when that package is
        installed for it (as with apt); a ``noarch`` pin is a plain name.

        Raises:
            DriverError: kind ``install_impossible`` when the tool refuses.
        """
        native, rows = self._rows(transport, list(pins))
        installed = {(r.name, r.arch) for r in rows}
        applies: dict[str, str] = {}
        specs: list[str] = []
        for name, version in sorted(pins.items()):
            bare, arch = _split(transport.host, name)
            _version(transport.host, version)
            if arch and arch not in PLAIN_ARCHS and arch != native \
                    and (bare, arch) not in installed:
                continue  # e.g. the i686 half of a multilib pair on a host without it
            k = key(bare, arch, native)
            applies[k] = version
            # the spec start() will give for this name (it sees only the name)
            specs.append(self._spec(*_split(transport.host, k), version))
        if not specs:
            return Simulation(native, {}, ())
        planned = self._dry_run(transport, specs)
        names = list(dict.fromkeys([*applies, *(key(n, a, native) for _x, n, a, _v
                                                in planned)]))
        before = self.versions(transport, names, native)
        return Simulation(native, applies, changes_from(planned, before, applies, native))

    # -- keeping, jobs -------------------------------------------------------------------
    def keep_for_rollback(self, transport: Transport, keep_id: str,
                          pins: dict[str, str]) -> dict[str, str]:
        """Keep the .rpm of each given installed version on the host; name → path.

        Packages with no copy (the repository dropped the version and the cache has
        none) are missing from the result: rollback cannot restore those."""
        if not pins:
            return {}
        native, rows = self._rows(transport, list(pins))
        items: dict[str, str] = {}
        for name, version in pins.items():
            bare, arch = _split(transport.host, name)
            _version(transport.host, version)
            row = next((r for r in rows if r.name == bare and r.evr == version
                        and (r.arch == arch if arch else
                             r.arch in PLAIN_ARCHS or r.arch == native)), None)
            if row is not None:
                items[f"{bare}/{row.arch}/{version}"] = name
        if not items:
            return {}
        result = transport.run(["sh", "-c", script("keep_rpms.sh"), "keep-rpms", self.tool,
                                checked_job(transport.host, keep_id), *items],
                               sudo=True, timeout=300)
        kept: dict[str, str] = {}
        for line in result.stdout.splitlines():
            parts = line.split(" ")
            if len(parts) == 3 and parts[0] == "kept" and parts[1] in items \
                    and _RPM_PATH.match(parts[2]):
                kept[items[parts[1]]] = parts[2]
        return kept

    def start(self, transport: Transport, job: str, pins: dict[str, str]) -> tuple[str, str]:
        """Start installing exact versions as a job (see job_start.sh)."""
        specs = []
        for name, version in sorted(pins.items()):
            bare, arch = _split(transport.host, name)
            specs.append(self._spec(bare, arch, _version(transport.host, version)))
        return start_job(transport, job, f"{self.tool}-install", specs)

    def start_rollback(self, transport: Transport, job: str, files: list[str],
                       remove: Sequence[str] = ()) -> tuple[str, str]:
        """Start ONE transaction as a job: the kept .rpm files (downgrades allowed) and
        removal of the packages in ``remove`` (the install added them)."""
        for path in files:
            if not _RPM_PATH.match(path):
                raise DriverError(transport.host, "unsafe_value", f"bad package path {path!r}")
        removals = []
        for name in remove:
            bare, arch = _split(transport.host, name)
            removals.append(f"-{bare}.{arch}" if arch else f"-{bare}")
        return start_job(transport, job, f"{self.tool}-rollback", [*files, *removals])

    def status(self, transport: Transport, job: str) -> JobStatus:
        """Poll a job (no sudo: job state is world-readable)."""
        return job_status(transport, job)

    def job_problems(self, status: JobStatus) -> list[str]:
        """The tool's exit code (see :meth:`_exit_problems`) and every failed scriptlet
        (module docstring: a failed %post is a failed install)."""
        problems = self._exit_problems(status.exit_code)
        lines = [n for n in status.notes if not any(a in n for a in _ALIEN)]
        scriptlets = [n.strip() for n in lines if _SCRIPTLET.search(n)]
        if scriptlets:
            problems.append("a package scriptlet failed: " + scriptlets[0][:200])
        elif problems:
            problems += [n.strip()[:200] for n in lines][-2:]
        return problems

    def health(self, transport: Transport) -> dict[str, Any]:
        """A health snapshot (rpm's dependency check as the package audit)."""
        return health(transport)


class DnfDeployer(RpmDeployer):
    """Exact-version installs and rollbacks with dnf (RHEL, Rocky, Alma, Fedora)."""

    tool = "dnf"

    def _spec(self, name: str, arch: str, version: str) -> str:
        return f"{name}-{version}.{arch}" if arch else f"{name}-{version}"

    def _dry_run(self, transport: Transport, specs: list[str]) -> list[tuple[str, str, str,
                                                                               str]]:
        result = transport.run(["dnf", "--assumeno", "install", *specs], sudo=True,
                               timeout=300)
        text = result.stdout
        # --assumeno ends with "Operation aborted." and exit 1 when there is a transaction;
        # exit 0 means nothing to do. Anything else ("Error: Unable to find a match"):
        if result.exit_code not in (0, 1) or (result.exit_code == 1
                                              and "Operation aborted" not in result.stderr):
            raise DriverError(transport.host, "install_impossible",
                              f"dnf cannot install {' '.join(specs)}: "
                              f"{tail(result.stderr or text)}")
        try:
            return parse_dnf_transaction(text)
        except ParseError as exc:
            raise DriverError(transport.host, "install_impossible", str(exc)) from None

    def _exit_problems(self, code: int | None) -> list[str]:
        return [] if code == 0 else [f"dnf exited {code}"]


class ZypperDeployer(RpmDeployer):
    """Exact-version installs and rollbacks with zypper (SLES, openSUSE)."""

    tool = "zypper"
    #: 0, and the "information" exits that still mean installed: 102 reboot needed,
    #: 103 zypper itself must be restarted (zypper's Zypper.h).
    OK_EXITS = frozenset({0, 102, 103})

    def _spec(self, name: str, arch: str, version: str) -> str:
        return f"{name}.{arch}={version}" if arch and arch != "noarch" else \
            f"{name}={version}"

    def _dry_run(self, transport: Transport, specs: list[str]) -> list[tuple[str, str, str,
                                                                               str]]:
        result = transport.run(["zypper", "--non-interactive", "--xmlout", "install",
                                "--dry-run", "--oldpackage", *specs], sudo=True, timeout=300)
        if result.exit_code not in self.OK_EXITS:
            messages = [html.unescape(m) for m in re.findall(
                r'<message type="error">([^<]*)</message>', result.stdout)]
            raise DriverError(transport.host, "install_impossible",
                              f"zypper cannot install {' '.join(specs)} (exit "
                              f"{result.exit_code}): "
                              f"{'; '.join(messages)[:300] or tail(result.stderr)}")
        try:
            return parse_zypper_summary(result.stdout)
        except ParseError as exc:
            raise DriverError(transport.host, "install_impossible", str(exc)) from None

    def _exit_problems(self, code: int | None) -> list[str]:
        if code in self.OK_EXITS:
            return []
        if code == 107:
            return ["zypper exited 107 (a package script failed)"]
        return [f"zypper exited {code}"]
