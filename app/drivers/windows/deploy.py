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


class WindowsRebootControl:
    """Notices (msg *), scheduled restarts (shutdown /r /t N /c), cancel (shutdown /a) and
    the boot marker (last boot time) of a Windows host, through reboot.ps1 and
    deploy_state.ps1."""

    def __init__(self, owner: WindowsDeployer) -> None:
        self.owner = owner

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
        """Back after a restart: WinRM answers and the servicing stack is idle."""
        return not self.owner.state(transport, fresh=True).servicing_busy


class WindowsDeployer:
    """Install approved KBs, restart, verify and roll back on one Windows host."""

    tool = TOOL

    def __init__(self, *, sleep: Callable[[float], None] | None = None) -> None:
        self.rebooter = WindowsRebootControl(self)
        self.sleep = sleep
        self._state: DeployState | None = None
        self._jobs: dict[str, _Job] = {}
        self._reboot_required = False

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

    def versions(self, transport: Transport, names: list[str],
                 native: str = "") -> dict[str, str]:
        """``installed`` for each installed KB, "" for one that is not."""
        del native
        kbs = _checked_kbs(transport.host, names)
        installed = self.installed_kbs(transport)
        return {kb: INSTALLED if kb in installed else "" for kb in kbs}

    def health(self, transport: Transport) -> dict[str, Any]:
        """The engine's health snapshot from deploy_state.ps1 (``uid`` "0" stands for an
        elevated administrator token).

        Raises:
            DriverError: ``access_denied`` with the LocalAccountTokenFilterPolicy
                explanation when the token is not elevated.
        """
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
        kbs = _checked_kbs(transport.host, list(pins))
        problems = self.state(transport).problems()
        if problems:
            raise DriverError(transport.host, "install_impossible", "; ".join(problems))
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
        return Simulation("", applies, tuple(changes))

    def keep_for_rollback(self, transport: Transport, keep_id: str,
                          pins: dict[str, str]) -> dict[str, str]:
        """Nothing to keep: Windows keeps what it can uninstall itself."""
        del transport, keep_id, pins
        return {}

    # -- jobs --------------------------------------------------------------------------------
    def start(self, transport: Transport, job: str, pins: dict[str, str]) -> tuple[str, str]:
        """Start installing the KBs through the SYSTEM task (re-attach if it exists)."""
        kbs = _checked_kbs(transport.host, list(pins))
        return self._start(transport, job, "install", kbs)

    def start_rollback(self, transport: Transport, job: str, files: list[str],
                       remove: Sequence[str] = ()) -> tuple[str, str]:
        """Uninstall the KBs in ``remove`` through the SYSTEM task (``files`` are Linux
        package files; Windows has none)."""
        if files:
            raise DriverError(transport.host, "unsafe_value", "Windows rollback keeps no files")
        return self._start(transport, job, "uninstall", _checked_kbs(transport.host, remove))

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
        return self._finished(job, known, result)

    def _finished(self, job: str, known: _Job, result: WuaResult) -> JobStatus:
        del job
        notes = []
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
