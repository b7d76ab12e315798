"""Deploying Windows updates: the :class:`~app.drivers.base.DeployCapability` of Windows.

The deployment engine installs on Windows as on Linux (pre-flight, test ring, approval,
pilot, production, reboot, verification, rollback); this deployer maps its steps onto the
Windows Update Agent:

* a "package" is a KB id; its target "version" is :data:`INSTALLED` ("" = not installed),
  so verification compares installed KBs like versions;
* pre-flight (:meth:`WindowsDeployer.health` and :meth:`~WindowsDeployer.simulate`):
  WinRM reachable and the credentials accepted (the first script), an elevated
  administrator token (a workgroup's local account is filtered unless
  LocalAccountTokenFilterPolicy=1, explained in the error), free space on the system
  drive, the Windows Update service not disabled, the pending-reboot signals, a restart
  already scheduled; then a WUA search says which of the approved KBs the host misses and
  whether each one can be uninstalled — the change set says "cannot be rolled back" for
  every one that cannot, before anyone approves;
* install and rollback run through the one-shot SYSTEM scheduled task
  (:mod:`app.drivers.windows.wua`): the WUA refuses its installer to a WinRM logon
  (E_ACCESSDENIED). The task's id derives from the engine's job id, so a resumed run
  re-attaches (the task script starts a job at most once), every poll is a separate
  retryable call, and the result file under %ProgramData% is collected even when a
  connection dropped mid-install;
* an install whose updates ask for a restart before they can finish (HRESULTs in
  :data:`~app.drivers.parsers.windows.RETRY_AFTER_REBOOT`) gets at most
  :data:`MAX_ROUNDS` rounds of restart-and-retry, each with a notice to logged-on users;
* rollback uninstalls through the task too (wusa /uninstall, DISM /Remove-Package for a
  combined SSU+LCU package); what Windows does not let go is named as such.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.deployment import PackageChange
from app.core.errors import UserError
from app.drivers.base import DriverError, JobStatus, Simulation, Transport
from app.drivers.parsers import ParseError
from app.drivers.parsers.windows import (
    KB_RE,
    RETRY_AFTER_REBOOT,
    InstallOutcome,
    WuaResult,
    describe_hresult,
    parse_installed_updates,
    parse_task_action,
    parse_wua_poll,
)
from app.drivers.parsers.windows_deploy import (
    DeployState,
    parse_deploy_state,
    parse_reboot_answer,
)
from app.drivers.windows import script, with_args
from app.drivers.windows.apps import (
    ROLLBACK_NOTES,
    AppsState,
    checked_apps,
    cleanup_apps_job,
    install_entries,
    poll_apps_job,
    read_apps,
    start_apps_job,
)
from app.drivers.windows.driver import _backoff, _ps, run_script
from app.drivers.windows.wua import ScriptTransport, run_wua_job

__all__ = ["INSTALLED", "MAX_ROUNDS", "TOOL", "WindowsDeployer", "WindowsRebootControl",
           "rollback_note", "task_id"]

TOOL = "windows-update"
#: The "version" of an installed KB.
INSTALLED = "installed"
#: Restart-and-retry rounds of one install at most (the first install is round 1).
MAX_ROUNDS = 3
#: Seconds a restart between rounds may take before the host counts as not back.
ROUND_REBOOT_TIMEOUT = 1800.0
#: Restarts one install may take in all before a host that still asks for one is a reboot
#: loop (the engine's restart after the install is the first).
MAX_REBOOTS = 3
#: Seconds the pending-reboot flags may stay set after a restart before they count: CBS
#: RebootPending can linger for minutes after a boot (GoogleCloudPlatform/osconfig
#: updates_windows.go; tech-notes §3.2).
REBOOT_SETTLE = 180.0
#: The shortest delay given to shutdown /r /t: its answer must come back over WinRM before
#: Windows stops the service ("restart now" is 5 seconds from now).
MIN_RESTART_SECONDS = 5
CANNOT_ROLL_BACK = "cannot be rolled back"


def task_id(job: str) -> str:
    """The scheduled task's job id (32 hex) for an engine job id: the same job, the same
    task, so a resumed deployment re-attaches instead of installing twice."""
    return hashlib.sha256(job.encode("utf-8")).hexdigest()[:32]


def rollback_note(uninstallable: bool | None) -> str:
    """What the change set says of rolling one KB back."""
    return ("installed; can be rolled back (uninstall)" if uninstallable
            else f"installed; {CANNOT_ROLL_BACK}")


def _split(host: str, pins: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """KB pins and third-party (Chocolatey/winget) pins, each checked."""
    kbs = {n: v for n, v in pins.items() if KB_RE.match(n)}
    return kbs, checked_apps(host, {n: v for n, v in pins.items() if n not in kbs})


def _checked_kbs(host: str, names: Sequence[str]) -> list[str]:
    bad = [n for n in names if not KB_RE.match(n)]
    if bad:
        raise DriverError(host, "unsafe_value", "not a Windows update (KB id): "
                          + ", ".join(repr(b[:40]) for b in bad[:3]))
    return list(names)


def _task(ps: ScriptTransport, action: str, job: str, **extra: Any) -> str:
    """One call of wua_task.ps1 (every action is safe to repeat: start re-attaches)."""
    res = ps.run_ps(with_args(script("wua_task"), {"action": action, "job_id": job, **extra}),
                    timeout=120, idempotent=True, name=f"wua_task {action}")
    if res.exit_code != 0:
        raise DriverError(ps.host, "wua_task_failed",
                          f"Windows Update task ({action}) failed: "
                          f"{(res.stderr or res.stdout).strip()[:300]}")
    return res.stdout


def _token_explanation(state: DeployState) -> str:
    if state.local_account and not state.part_of_domain:
        policy = ("not set" if state.token_filter_policy is None
                  else f"{state.token_filter_policy}")
        return (f"{state.user or 'the account'} is a local account of a workgroup machine: "
                "over the network Windows filters it to a standard user token (UAC remote "
                f"restrictions; LocalAccountTokenFilterPolicy is {policy}). Either use the "
                "built-in Administrator account, or set HKLM\\SOFTWARE\\Microsoft\\Windows\\"
                "CurrentVersion\\Policies\\System LocalAccountTokenFilterPolicy=1 — which "
                "gives EVERY local administrator full rights over the network (pass-the-hash "
                "with a local password then reaches the whole machine)")
    return (f"{state.user or 'the account'} has no elevated administrator token over WinRM: "
            "add it to the local Administrators group (a domain account through a group "
            "that is)")


@dataclass
class _Job:
    """An install or uninstall followed by :meth:`WindowsDeployer.status`."""

    operation: str
    kbs: list[str]
    round: int = 1
    outcomes: dict[str, InstallOutcome] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    #: Chocolatey/winget packages ({manager, id, version, downgrade}), run after the KBs.
    apps: list[dict[str, Any]] = field(default_factory=list)
    apps_started: bool = False
    apps_outcomes: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was refused before starting
    wua_result: WuaResult | None = None


class WindowsRebootControl:
    """Notices (msg *), scheduled restarts (shutdown /r /t N /c), cancel (shutdown /a) and
    the boot marker (last boot time) of a Windows host, through reboot.ps1 and
    deploy_state.ps1."""

    def __init__(self, owner: WindowsDeployer) -> None:
        self.owner = owner
        #: Restarts made for the current install (the scheduled one included).
        self.restarts = 0
        #: Set once a host kept asking for a restart after :data:`MAX_REBOOTS` of them.
        self.loop_error = ""
        self._waiting_past = ""  # boot marker of the restart we wait to see happen
        self._pending_since: float | None = None

    def _run(self, transport: Transport, action: str, **args: Any) -> Any:
        text = run_script(transport, "reboot", {"action": action, **args}, timeout=60)
        try:
            return parse_reboot_answer(text, action)
        except ParseError as exc:
            raise DriverError(transport.host, "reboot_failed", str(exc)) from None

    def notify(self, transport: Transport, message: str) -> None:
        """``msg * /TIME:N`` to every session (nothing where msg.exe is absent: Home)."""
        self._run(transport, "notify", message=message, seconds=600)

    def schedule(self, transport: Transport, minutes: int, message: str) -> None:
        """``shutdown /r /t <minutes*60> /c <message>`` (at least :data:`MIN_RESTART_SECONDS`):
        Windows shows the comment to logged-on users too.

        Raises:
            DriverError: kind ``reboot_failed`` when shutdown.exe refuses (1190: one is
                scheduled already).
        """
        self.restarts, self.loop_error, self._pending_since = 1, "", None
        self._waiting_past = ""
        self._schedule(transport, minutes, message)

    def _schedule(self, transport: Transport, minutes: int, message: str) -> None:
        answer = self._run(transport, "schedule", message=message,
                           seconds=max(MIN_RESTART_SECONDS, int(minutes) * 60))
        if answer.exit_code not in (0, None):
            raise DriverError(transport.host, "reboot_failed",
                              f"shutdown /r refused (exit {answer.exit_code}"
                              + ("; a shutdown is already scheduled" if answer.exit_code == 1190
                                 else "") + ")")

    def cancel(self, transport: Transport) -> None:
        """``shutdown /a`` (exit 1116: nothing was scheduled, which is fine)."""
        self._run(transport, "cancel")

    def marker(self, transport: Transport) -> str:
        """The last boot time (changes with every boot)."""
        return self.owner.state(transport, fresh=True).boot_marker

    def ready(self, transport: Transport) -> bool:
        """Back after a restart: WinRM answers, the servicing stack is idle and the
        pending-reboot flags cleared.

        Flags still set :data:`REBOOT_SETTLE` seconds after a boot get another restart
        (with its notice), up to :data:`MAX_REBOOTS` restarts in all; a host still asking
        after those is a reboot loop: ``loop_error`` says so and :meth:`WindowsDeployer.
        health` fails the host with it (True is returned so the wait ends)."""
        state = self.owner.state(transport, fresh=True)
        if self._waiting_past and state.boot_marker == self._waiting_past:
            return False  # our extra restart has not happened yet
        self._waiting_past = ""
        if state.servicing_busy:
            return False
        if not state.reboot_pending or self.loop_error:
            self._pending_since = None
            return True
        now = time.monotonic()
        if self._pending_since is None:
            self._pending_since = now
        if now - self._pending_since < REBOOT_SETTLE:
            return False
        self._pending_since = None
        signals = ", ".join(name for name, on in (
            ("CBS RebootPending", state.cbs_reboot_pending),
            ("Windows Update RebootRequired", state.wu_reboot_required)) if on)
        if self.restarts >= MAX_REBOOTS:
            self.loop_error = (f"reboot loop: the host still asks for a restart after "
                               f"{self.restarts} restarts ({signals}); an update keeps "
                               "failing to finish at boot — read C:\\Windows\\Logs\\CBS\\"
                               "CBS.log and the Windows Update history before retrying")
            return True
        self.restarts += 1
        message = (f"PatchDesk: this computer restarts again to finish installing updates "
                   f"(restart {self.restarts} of at most {MAX_REBOOTS}).")
        self.notify(transport, message)
        self._waiting_past = state.boot_marker
        self._schedule(transport, 0, message)
        return False


class WindowsDeployer:
    """Install approved KBs, restart, verify and roll back on one Windows host."""

    tool = TOOL

    def __init__(self, *, sleep: Callable[[float], None] | None = None) -> None:
        self.rebooter = WindowsRebootControl(self)
        self.sleep = sleep
        self._state: DeployState | None = None
        self._jobs: dict[str, _Job] = {}
        self._reboot_required = False
        self._apps: AppsState | None = None
        self._managers: dict[str, str] = {}  # third-party package id → choco | winget

    # -- reading the host ------------------------------------------------------------------
    def state(self, transport: Transport, *, fresh: bool = False) -> DeployState:
        """deploy_state.ps1 (kept for this operation unless ``fresh``)."""
        if self._state is None or fresh:
            try:
                self._state = parse_deploy_state(run_script(transport, "deploy_state",
                                                            timeout=120))
            except ParseError as exc:
                raise DriverError(transport.host, "parse_error",
                                  f"unreadable deploy state: {exc}") from None
        return self._state

    def installed_kbs(self, transport: Transport) -> frozenset[str]:
        """Every KB the host reports installed (Get-HotFix and the WUA history)."""
        try:
            return parse_installed_updates(run_script(transport, "installed_updates",
                                                      timeout=180)).kbs
        except ParseError as exc:
            raise DriverError(transport.host, "parse_error",
                              f"unreadable installed updates: {exc}") from None

    def apps(self, transport: Transport, *, fresh: bool = False) -> AppsState:
        """Chocolatey and winget on the host (kept for this operation unless ``fresh``)."""
        if self._apps is None or fresh:
            self._apps = read_apps(transport, _ps(transport),
                                   sleep=self.sleep or _backoff(transport.host))
        return self._apps

    def _manager(self, state: AppsState, host: str, name: str) -> str | None:
        known = self._managers.get(name) or state.manager_of(name)
        if known is None and all(name.lower() in {k.lower() for k in state.installed.get(m, {})}
                                 for m in ("choco", "winget")):
            raise DriverError(host, "install_impossible",
                              f"{name} is installed by both Chocolatey and winget: "
                              "PatchDesk will not guess which one to upgrade")
        return known

    def versions(self, transport: Transport, names: list[str],
                 native: str = "") -> dict[str, str]:
        """``installed`` for each installed KB, "" for one that is not; the installed
        version of each Chocolatey/winget package ("" not installed)."""
        del native
        kbs = [n for n in names if KB_RE.match(n)]
        apps = checked_apps(transport.host, dict.fromkeys(
            [n for n in names if n not in kbs], "0"))
        out: dict[str, str] = {}
        if kbs:
            installed = self.installed_kbs(transport)
            out.update({kb: INSTALLED if kb in installed else "" for kb in kbs})
        if apps:
            state = self.apps(transport, fresh=True)
            for name in apps:
                manager = self._manager(state, transport.host, name)
                out[name] = state.version(manager, name) if manager else ""
        return {n: out.get(n, "") for n in names}

    def health(self, transport: Transport) -> dict[str, Any]:
        """The engine's health snapshot from deploy_state.ps1 (``uid`` "0" stands for an
        elevated administrator token).

        Raises:
            DriverError: ``access_denied`` with the LocalAccountTokenFilterPolicy
                explanation when the token is not elevated.
        """
        if self.rebooter.loop_error:
            raise DriverError(transport.host, "reboot_loop", self.rebooter.loop_error)
        state = self.state(transport, fresh=True)
        if state.elevated is not True:
            raise DriverError(transport.host, "access_denied", _token_explanation(state))
        return {
            "uid": "0",
            "package_tool": TOOL,
            "package_tools": [TOOL],
            "boot_id": state.boot_marker,
            "boot_marker": state.boot_marker,
            "free_bytes": {state.system_drive: state.system_drive_free},
            "package_audit": "",
            "failed_units": None,
            "reboot_required": state.reboot_pending or self._reboot_required,
            "windows": {"wuauserv": f"{state.wuauserv_status} ({state.wuauserv_start_type})",
                        "restart_scheduled": list(state.restart_scheduled),
                        "servicing_busy": state.servicing_busy,
                        "msg_available": state.msg_available},
        }

    # -- planning --------------------------------------------------------------------------
    def simulate(self, transport: Transport, pins: dict[str, str]) -> Simulation:
        """Which approved KBs this host misses (a WUA search through the task), each with
        whether it can be rolled back; KBs it neither misses nor has do not apply to it.

        Raises:
            DriverError: ``install_impossible`` (Windows Update service disabled, a restart
                already scheduled) or the search's failure.
        """
        kb_pins, app_pins = _split(transport.host, pins)
        kbs = list(kb_pins)
        problems = self.state(transport).problems()
        if problems:
            raise DriverError(transport.host, "install_impossible", "; ".join(problems))
        app_applies, app_changes = self._simulate_apps(transport, app_pins)
        if not kbs:
            return Simulation("", app_applies, tuple(app_changes))
        result = run_wua_job(_ps(transport), "search", timeout=3600,
                             sleep=self.sleep or _backoff(transport.host))
        if not result.ok:
            raise DriverError(transport.host, "wua_search_failed",
                              f"Windows Update search failed: {result.error or 'no result'}")
        missing = {kb: u for u in result.updates for kb in u.kbs}
        installed = self.installed_kbs(transport) if any(k not in missing for k in kbs) \
            else frozenset()
        changes = []
        for kb in kbs:
            if kb in missing:
                changes.append(PackageChange(kb, "", rollback_note(missing[kb].uninstallable),
                                             "install", requested=True))
        applies = {kb: INSTALLED for kb in kbs if kb in missing or kb in installed}
        return Simulation("", {**applies, **app_applies}, tuple(changes + app_changes))

    def _simulate_apps(self, transport: Transport, pins: dict[str, str]
                       ) -> tuple[dict[str, str], list[PackageChange]]:
        """Which third-party pins apply (their package is installed by Chocolatey or
        winget) and what each changes, with what rolling it back can do."""
        if not pins:
            return {}, []
        state = self.apps(transport, fresh=True)
        pinned = {u.id.lower() for u in state.upgrades if u.pinned}
        applies: dict[str, str] = {}
        changes: list[PackageChange] = []
        for name, version in pins.items():
            manager = self._manager(state, transport.host, name)
            if manager is None:
                continue  # not on this host
            if name.lower() in pinned:
                raise DriverError(transport.host, "install_impossible",
                                  f"{name} is pinned in Chocolatey (choco pin): unpin it "
                                  "first, or leave it out")
            self._managers[name] = manager
            applies[name] = version
            before = state.version(manager, name)
            if before != version:
                note = ROLLBACK_NOTES[manager].format(before=before or "?")
                changes.append(PackageChange(name, before, f"{version} ({manager}; {note})",
                                             "upgrade", requested=True))
        return applies, changes

    def keep_for_rollback(self, transport: Transport, keep_id: str,
                          pins: dict[str, str]) -> dict[str, str]:
        """Nothing to keep for KBs (Windows keeps what it can uninstall itself); for a
        Chocolatey/winget package the version to go back to, as ``manager:id=version``
        (Chocolatey installs it again from its source; winget is refused at rollback)."""
        del transport, keep_id
        return {n: f"{self._managers[n]}:{n}={v}" for n, v in pins.items()
                if n in self._managers and v}

    # -- jobs --------------------------------------------------------------------------------
    def start(self, transport: Transport, job: str, pins: dict[str, str]) -> tuple[str, str]:
        """Start installing the KBs through the SYSTEM task (re-attach if it exists); the
        Chocolatey/winget packages follow in their own task once the KBs are done."""
        kb_pins, app_pins = _split(transport.host, pins)
        apps = [{"manager": self._managers.get(n) or self._manager(
                    self.apps(transport), transport.host, n) or "", "id": n, "version": v,
                 "downgrade": False} for n, v in app_pins.items()]
        if kb_pins:
            answer = self._start(transport, job, "install", list(kb_pins))
            self._jobs[job].apps = apps
            return answer
        known = self._jobs[job] = _Job("install", [], apps=apps)
        return self._start_apps(transport, job, known), job

    def start_rollback(self, transport: Transport, job: str, files: list[str],
                       remove: Sequence[str] = ()) -> tuple[str, str]:
        """Uninstall the KBs in ``remove`` through the SYSTEM task (``files`` are Linux
        package files; Windows has none)."""
        apps, notes = [], []
        for token in files:  # keep_for_rollback's manager:id=version
            manager, _, rest = token.partition(":")
            name, _, version = rest.partition("=")
            checked_apps(transport.host, {name: version})
            if manager == "choco":
                apps.append({"manager": "choco", "id": name, "version": version,
                             "downgrade": True})
            else:
                notes.append(f"{name} {CANNOT_ROLL_BACK}: "
                             + ROLLBACK_NOTES["winget"].removeprefix("cannot be rolled back: "))
        kbs = _checked_kbs(transport.host, remove)
        if kbs:
            answer = self._start(transport, job, "uninstall", kbs)
            self._jobs[job].apps, self._jobs[job].notes = apps, notes
            return answer
        known = self._jobs[job] = _Job("uninstall", [], apps=apps, notes=notes)
        if not apps:
            known.apps_started = True  # nothing to run: status reports the notes
            return "started", job
        return self._start_apps(transport, job, known), job

    def _start_apps(self, transport: Transport, job: str, known: _Job) -> str:
        known.apps_started = True
        bad = [a["id"] for a in known.apps if a["manager"] not in ("choco", "winget")]
        if bad:
            raise DriverError(transport.host, "install_impossible",
                              f"neither Chocolatey nor winget has {', '.join(bad)}")
        already = start_apps_job(_ps(transport), task_id(f"{job}#apps"),
                                 "apps_install", known.apps)
        return "already-started" if already else "started"

    def _start(self, transport: Transport, job: str, operation: str,
               kbs: list[str], round_: int = 1) -> tuple[str, str]:
        if not kbs:
            raise DriverError(transport.host, "invalid_kb", "no KBs to " + operation)
        ps = _ps(transport)
        tid = task_id(job if round_ == 1 else f"{job}#round{round_}")
        worker = base64.b64encode(script("wua_worker").text.encode("utf-8")).decode("ascii")
        try:
            answer = parse_task_action(_task(ps, "start", tid, operation=operation, kbs=kbs,
                                             worker=worker), "start", tid)
        except ParseError as exc:
            raise DriverError(transport.host, "parse_error", str(exc)) from None
        if not answer.done:
            raise DriverError(transport.host, "install_failed",
                              "the Windows Update task did not start")
        known = self._jobs.get(job)
        if known is None:
            self._jobs[job] = _Job(operation, kbs, round_)
        else:
            known.round = round_
        return ("already-started" if answer.already else "started"), job

    def status(self, transport: Transport, job: str) -> JobStatus:
        """Poll the task; once its result file is there: collect it, remove the task, and
        either start another round after a restart or report the outcome per KB."""
        ps = _ps(transport)
        known = self._jobs.setdefault(job, _Job("install", []))
        if known.apps_started:
            return self._apps_status(ps, job, known)
        tid = task_id(job if known.round == 1 else f"{job}#round{known.round}")
        try:
            poll = parse_wua_poll(_task(ps, "poll", tid, offset=0), tid)
        except ParseError as exc:
            raise DriverError(transport.host, "parse_error",
                              f"unreadable Windows Update task output: {exc}") from None
        stages = [str(e.get("stage", "")) for e in poll.progress]
        if poll.result is None:
            state = "absent" if poll.task_state == "Missing" else "running"
            return JobStatus(state, None, " → ".join(stages[-5:]))
        _task(ps, "cleanup", tid)
        result = poll.result
        for outcome in result.installed:
            for kb in outcome.kbs:
                known.outcomes[kb] = outcome
        self._reboot_required = self._reboot_required or result.reboot_required
        retry = [kb for kb, o in known.outcomes.items() if not o.ok
                 and (o.hresult & 0xFFFFFFFF) in RETRY_AFTER_REBOOT]
        if result.operation == "install" and retry and known.round < MAX_ROUNDS:
            self._restart_between_rounds(transport, known.round)
            for kb in retry:
                known.outcomes.pop(kb, None)
            known.events.append(f"round {known.round}: {', '.join(retry)} need a restart; "
                                "restarted and retrying")
            self._start(transport, job, "install", retry, known.round + 1)
            return JobStatus("running", None, known.events[-1])
        if known.apps:  # the third-party packages come next, in their own task
            known.wua_result = result
            self._start_apps(transport, job, known)
            return JobStatus("running", None, "Chocolatey/winget packages")
        return self._finished(job, known, result)

    def _apps_status(self, ps: ScriptTransport, job: str, known: _Job) -> JobStatus:
        if known.apps:
            tid = task_id(f"{job}#apps")
            state, result = poll_apps_job(ps, tid)
            if result is None:
                return JobStatus("absent" if state == "Missing" else "running", None,
                                 "Chocolatey/winget packages")
            cleanup_apps_job(ps, tid)
            if result.get("ok") is not True:
                known.notes.append("third-party packages: "
                                   + (str(result.get("error") or "")[:200] or "failed"))
            known.apps_outcomes = install_entries(result)
            self._apps = None  # versions() reads them again
        return self._finished(job, known, known.wua_result)

    def _finished(self, job: str, known: _Job, result: WuaResult | None) -> JobStatus:
        del job
        notes = list(known.notes)
        for app in known.apps:
            code, last = known.apps_outcomes.get(app["id"], (None, "no result"))
            if code != 0:
                what = "rollback" if app.get("downgrade") else app["manager"]
                notes.append(f"{app['id']}: {what} exited {code}: {last}")
        if result is None:
            log = [f"{a['manager']} {a['id']} {a['version']}: exit "
                   f"{known.apps_outcomes.get(a['id'], (None, ''))[0]}" for a in known.apps]
            return JobStatus("done", 0 if not notes else 1, "\n".join(log), tuple(notes))
        if not result.ok:
            notes.append("Windows Update failed: " + (result.error or "no reason given")
                         + (f" ({describe_hresult(result.hresult)})" if result.hresult else ""))
        for kb, outcome in sorted(known.outcomes.items()):
            if outcome.ok:
                continue
            if result.operation == "uninstall":
                notes.append(f"{kb} {CANNOT_ROLL_BACK}: {outcome.reason}")
            else:
                notes.append(f"{kb}: {outcome.reason}")
        if result.operation == "uninstall":
            asked = set(known.kbs)
            notes += [f"{kb} {CANNOT_ROLL_BACK}: no result" for kb in sorted(asked)
                      if kb not in known.outcomes]
        log = [*known.events, *(f"{kb}: {o.reason}" + (f" ({o.method})" if o.method else "")
                                for kb, o in sorted(known.outcomes.items()))]
        return JobStatus("done", 0 if not notes else 1, "\n".join(log), tuple(notes))

    def _restart_between_rounds(self, transport: Transport, round_: int) -> None:
        """Restart now (users get the notice) and wait for a new boot, WinRM answering and
        the servicing stack idle."""
        before = self.rebooter.marker(transport)
        message = (f"PatchDesk: this computer restarts now to continue installing updates "
                   f"(round {round_ + 1} of at most {MAX_ROUNDS}).")
        self.rebooter.notify(transport, message)
        self.rebooter.schedule(transport, 0, message)
        deadline = time.monotonic() + ROUND_REBOOT_TIMEOUT
        while time.monotonic() < deadline:
            (self.sleep or time.sleep)(1.0)
            try:
                marker = self.rebooter.marker(transport)
                if marker and marker != before and self.rebooter.ready(transport):
                    return
            except UserError:  # down while restarting: ask again
                continue
        raise DriverError(transport.host, "reboot_failed",
                          "the host did not come back from its restart between install rounds")

    def job_problems(self, status: JobStatus) -> list[str]:
        """Per KB, why it failed (its HRESULT in words)."""
        if status.exit_code == 0:
            return []
        return list(status.notes) or [f"Windows Update exited {status.exit_code}"]
