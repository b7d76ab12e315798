"""Installing Apple updates and Homebrew upgrades on a Mac: the
:class:`~app.drivers.base.DeployCapability` of macOS hosts.

* Apple: ``softwareupdate -i LABEL...`` as root (sudo). On Apple silicon the volume
  owner's password is required; it is a separate credential (``--macos-owner``) fed to
  ``--user OWNER --stdinpass`` on stdin only (never an argument, a file or a log line).
  Without it the host is *deferred to the user* with the reason, before anything runs, so
  nothing ever waits on a dialog on the Mac's screen. After installing, the list is read
  again: a label still offered is a failure (softwareupdate can exit 0 and install
  nothing).
* Homebrew: ``brew upgrade --formula|--cask NAME`` as the user who owns the Homebrew
  repository (``sudo -u OWNER -H``), never root. A pinned formula is refused with the
  reason (``brew unpin`` first).
* No rollback: Apple updates cannot be uninstalled, and Homebrew keeps no older version
  to go back to. Said before approval (see :func:`app.core.thirdparty.rollback_notes`),
  and a rollback request fails with that reason.
* Reboots: a notice with ``wall`` and ``shutdown -r +N`` as on Linux; cancelling kills the
  pending ``shutdown`` (BSD shutdown has no ``-c``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any

from app.core.deployment import PackageChange
from app.drivers.base import DriverError, JobStatus, Simulation, Transport
from app.drivers.linux import ABSENT, split_sections
from app.drivers.linux_deploy import checked_job, job_status, script
from app.drivers.macos.driver import (
    BREW_PACKAGE,
    DEFERRED,
    NO_OWNER_REASON,
    Homebrew,
    brew_package,
    brew_short,
    list_apple,
    list_brew,
    owner_credential,
    parse_brew_section,
    run_brew,
)
from app.drivers.parsers import ParseError
from app.drivers.parsers import facts as pf

_JOB_ANSWER = re.compile(r"^(started|already-started) ([A-Za-z0-9_.-]{1,80})$")
NO_ROLLBACK = ("no rollback on macOS: Apple updates cannot be uninstalled, and Homebrew "
               "keeps no older version to go back to")


def _checked_text(host: str, value: str, what: str) -> str:
    """A label or version as an argument: printable, one line, bounded."""
    if not value.strip() or len(value) > 200 or any(not c.isprintable() or c == "\t"
                                                     for c in value):
        raise DriverError(host, "unsafe_value", f"bad {what} {value[:60]!r}")
    return value


class MacReboot:
    """Notices and scheduled restarts on a Mac (BSD ``wall`` and ``shutdown``)."""

    def notify(self, transport: Transport, message: str) -> None:
        """Broadcast the notice to every logged-in terminal (text on stdin)."""
        transport.run(["wall"], sudo=True, input=message + "\n", timeout=30)

    def schedule(self, transport: Transport, minutes: int, message: str) -> None:
        """``shutdown -r +N message`` (BSD shutdown broadcasts the message too).

        Raises:
            DriverError: ``reboot_failed`` when the Mac refuses.
        """
        result = transport.run(["shutdown", "-r", f"+{max(0, int(minutes))}", "--", message],
                               sudo=True, timeout=60)
        if result.exit_code != 0:
            raise DriverError(transport.host, "reboot_failed",
                              f"could not schedule the restart: "
                              f"{(result.stderr or result.stdout).strip()[:200]}")

    def cancel(self, transport: Transport) -> None:
        """Cancel a pending restart: BSD shutdown waits as a process; it is stopped."""
        transport.run(["sh", "-c", "pids=$(pgrep -x shutdown) && kill $pids; "
                       "echo 'PatchDesk: the scheduled restart was cancelled.' | wall"],
                      sudo=True, timeout=60)

    def marker(self, transport: Transport) -> str:
        """The boot time (``kern.boottime``): it changes with every boot."""
        result = transport.run(["sysctl", "-n", "kern.boottime"], timeout=30)
        return result.stdout.strip() if result.exit_code == 0 else ""


class MacDeployer:
    """Installs Apple updates and Homebrew upgrades; keeps nothing for rollback."""

    tool = "softwareupdate"
    #: Why nothing can be rolled back (the engine's rollback says it).
    no_rollback = NO_ROLLBACK

    def __init__(self) -> None:
        self._rebooter = MacReboot()

    @property
    def rebooter(self) -> MacReboot:
        """Restart notices and scheduling."""
        return self._rebooter

    # -- what is on the host ------------------------------------------------------------
    def _host(self, transport: Transport) -> tuple[bool, list[Homebrew]]:
        """(Apple silicon, Homebrew installs) of the host, one short command."""
        result = transport.run(["sh", "-c", "uname -m; echo @@brew@@; " + _BREW_PROBE],
                               timeout=60)
        arch, _, brew = result.stdout.partition("@@brew@@")
        return arch.strip() == "arm64", parse_brew_section(brew)

    @staticmethod
    def _split(pins: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        apple = {n: v for n, v in pins.items() if not BREW_PACKAGE.match(n)}
        brew = {n: v for n, v in pins.items() if BREW_PACKAGE.match(n)}
        return apple, brew

    def _installed_apple(self, transport: Transport) -> dict[str, str]:
        result = transport.run(["sh", "-c", "cat /var/lib/patchdesk/apple-installed "
                                "2>/dev/null || true"], timeout=60)
        found: dict[str, str] = {}
        for line in result.stdout.splitlines():
            label, sep, version = line.partition("\t")
            if sep:
                found[label] = version
        return found

    def versions(self, transport: Transport, names: list[str],
                 native: str = "") -> dict[str, str]:
        """Installed version of each package: an Apple label PatchDesk installed (and
        Software Update no longer offers) is at its version; a Homebrew package at
        ``brew list --versions``' newest."""
        del native
        apple, brew = self._split(dict.fromkeys(names, ""))
        found = dict.fromkeys(names, "")
        if apple:
            done = self._installed_apple(transport)
            found.update({n: done.get(n, "") for n in apple})
        if brew:
            _silicon, brews = self._host(transport)
            for name in brew:
                kind, short = brew_short(name)
                for home in brews:
                    result = run_brew(transport, home, ["list", f"--{kind}", "--versions",
                                                        short])
                    words = result.stdout.split()
                    if result.exit_code == 0 and len(words) >= 2:
                        found[name] = words[-1]
                        break
        return found

    def simulate(self, transport: Transport, pins: dict[str, str]) -> Simulation:
        """What installing would change, from what the host offers now.

        Raises:
            DriverError: ``deferred_to_user`` (Apple silicon, no owner credential),
                ``install_impossible`` (not offered, another version, pinned formula).
        """
        apple, brew = self._split(pins)
        silicon, brews = self._host(transport)
        changes: list[PackageChange] = []
        if apple:
            owner, password = owner_credential(transport)
            if silicon and not (owner and password):
                raise DriverError(transport.host, "deferred_to_user",
                                  f"{DEFERRED}: {NO_OWNER_REASON}")
            offered = {u.label: u for u in list_apple(transport)}
            done = self._installed_apple(transport)
            for label, version in apple.items():
                _checked_text(transport.host, label, "label")
                update = offered.get(label)
                if update is None:
                    if done.get(label) == version:
                        continue  # installed already
                    raise DriverError(transport.host, "install_impossible",
                                      f"Software Update does not offer {label!r} now")
                if (update.version or "unversioned") != version:
                    raise DriverError(transport.host, "install_impossible",
                                      f"Software Update offers {label} {update.version}, "
                                      f"not {version}")
                changes.append(PackageChange(label, done.get(label, ""), version, "upgrade",
                                             requested=True))
        if brew:
            if not brews:
                raise DriverError(transport.host, "install_impossible",
                                  "Homebrew is not installed on this Mac")
            outdated = {brew_package(i): i for home in brews for i in list_brew(transport,
                                                                                home)}
            current = self.versions(transport, list(brew))
            for name, version in brew.items():
                item = outdated.get(name)
                if item is None:
                    if current.get(name) == version:
                        continue
                    raise DriverError(transport.host, "install_impossible",
                                      f"Homebrew has no upgrade of {name} to {version}")
                if item.pinned:
                    at = item.pinned_version or item.installed
                    raise DriverError(transport.host, "install_impossible",
                                      f"{name} is pinned at {at} (brew pin): "
                                      f"run 'brew unpin {item.name}' first")
                if item.current != version:
                    raise DriverError(transport.host, "install_impossible",
                                      f"Homebrew offers {name} {item.current}, not {version}")
                changes.append(PackageChange(name, item.installed, version, "upgrade",
                                             requested=True))
        return Simulation(native_arch="arm64" if silicon else "x86_64", pins=dict(pins),
                          changes=tuple(changes))

    def keep_for_rollback(self, transport: Transport, keep_id: str,
                          pins: dict[str, str]) -> dict[str, str]:
        """Nothing can be kept: see :data:`NO_ROLLBACK`."""
        del transport, keep_id, pins
        return {}

    def start(self, transport: Transport, job: str, pins: dict[str, str]) -> tuple[str, str]:
        """Start the install job (scripts/macos_job.sh); the owner's password, when one is
        needed, goes on stdin only.

        Raises:
            DriverError: ``deferred_to_user``, ``install_failed``, ``unsafe_value``.
        """
        apple, brew = self._split(pins)
        silicon, brews = self._host(transport)
        owner, password = owner_credential(transport)
        if apple and silicon and not (owner and password):
            raise DriverError(transport.host, "deferred_to_user",
                              f"{DEFERRED}: {NO_OWNER_REASON}")
        if brew and not brews:
            raise DriverError(transport.host, "install_impossible",
                              "Homebrew is not installed on this Mac")
        home = brews[0] if brews else Homebrew("", "")
        if brew and (home.owner == "root" or not re.match(r"^[a-z_][a-z0-9_.-]*$",
                                                          home.owner)):
            raise DriverError(transport.host, "brew_root",
                              f"Homebrew at {home.path} is owned by {home.owner!r}: "
                              "PatchDesk never runs brew as root")
        args: list[str] = []
        for name, version in brew.items():
            kind, short = brew_short(name)
            args += [kind, short, _checked_text(transport.host, version, "version")]
        for label, version in apple.items():
            args += ["apple", _checked_text(transport.host, label, "label"),
                     _checked_text(transport.host, version, "version")]
        use_owner = owner if (apple and silicon) else ""
        result = transport.run(
            ["sh", "-c", script("macos_job.sh"), "job-start", checked_job(transport.host, job),
             use_owner, home.path if brew else "", home.owner if brew else "", *args],
            sudo=True, timeout=60, input=(password or "") + "\n" if use_owner else None)
        lines = result.stdout.strip().splitlines()
        match = _JOB_ANSWER.match(lines[-1] if lines else "")
        if result.exit_code != 0 or not match or not match.group(2).startswith(job):
            raise DriverError(transport.host, "install_failed",
                              f"could not start the install job: {result.stderr.strip()[:300]}")
        return match.group(1), match.group(2)

    def start_rollback(self, transport: Transport, job: str, files: list[str],
                       remove: Sequence[str] = ()) -> tuple[str, str]:
        """Refused: see :data:`NO_ROLLBACK`."""
        del job, files, remove
        raise DriverError(transport.host, "rollback_unavailable", NO_ROLLBACK)

    def status(self, transport: Transport, job: str) -> JobStatus:
        """Poll the job (the same job directory layout as on Linux)."""
        return job_status(transport, job)

    def job_problems(self, status: JobStatus) -> list[str]:
        """softwareupdate's and brew's errors, and a label still offered afterwards."""
        problems = [n for n in status.notes if n.strip()]
        if status.exit_code not in (0, None) and not problems:
            problems.append(f"the install job exited {status.exit_code}")
        return problems

    def health(self, transport: Transport) -> dict[str, Any]:
        """uid (of sudo), boot marker, free space, the tools found, and whether an install
        asked for a restart that has not happened yet."""
        result = transport.run(["sh", "-c", script("macos_health.sh")], sudo=True,
                               timeout=120)
        try:
            sections = split_sections(result.stdout)
        except ParseError as exc:
            raise DriverError(transport.host, "health_failed", str(exc)) from None
        disks: dict[str, int | None] = {}
        with contextlib.suppress(ParseError):
            disks = {d.mount: d.available for d in pf.parse_df(sections.get("df") or "")}
        found = (sections.get("package-tools") or "").split()
        tools = [t for t in ("softwareupdate", "brew")
                 if any(p.rsplit("/", 1)[-1] == t for p in found)]
        boot = (sections.get("boottime") or "").strip()
        pending = sections.get("restart-required")
        load = (sections.get("loadavg") or "").strip("{} \n").split()
        return {
            "uid": (sections.get("uid") or "").strip(),
            "package_tool": "softwareupdate",
            "package_tools": tools,
            "boot_id": boot,
            "boot_marker": boot,
            "load1": float(load[0]) if load and re.match(r"^\d+(\.\d+)?$", load[0]) else 0.0,
            "mem_available": None,
            "free_bytes": disks,
            "package_audit": "",
            "failed_units": None,
            "reboot_required": pending not in (None, ABSENT) and pending.strip() == boot,
        }


_BREW_PROBE = ("for b in /opt/homebrew/bin/brew /usr/local/bin/brew; do if [ -x \"$b\" ]; "
               "then case \"$b\" in /opt/homebrew/*) r=/opt/homebrew ;; "
               "*) r=/usr/local/Homebrew ;; esac; [ -d \"$r\" ] || "
               "r=$(dirname \"$(dirname \"$b\")\"); "
               "printf '%s %s\\n' \"$b\" \"$(ls -ld \"$r\" | awk '{print $3}')\"; fi; done")
