"""Windows Update Agent jobs: search or install through a one-shot SYSTEM scheduled task.

The WUA refuses its searcher, downloader and installer to a WinRM logon (tech-notes §0.1,
§1.6), so :func:`run_wua_job` starts ``wua_task.ps1`` (which registers a task running
``wua_worker.ps1`` as SYSTEM), polls it — every poll is a separate, retryable WinRM call, so
a dropped connection loses nothing: the worker keeps writing its files — and ALWAYS calls
the clean-up action that removes the task and its folder, whatever happened. The shape
follows ansible.windows' win_updates action plugin (start → poll → clean up in
``finally``).
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from app.drivers.base import DriverError
from app.drivers.parsers import ParseError
from app.drivers.parsers.windows import (
    KB_RE,
    WuaResult,
    parse_task_action,
    parse_wua_poll,
)
from app.drivers.windows import script, with_args

log = logging.getLogger(__name__)


class ScriptResult(Protocol):
    """What running one script returns (the transports' CommandResult)."""

    @property
    def exit_code(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...


class ScriptTransport(Protocol):
    """Runs PowerShell text on one Windows host (:class:`app.remote.winrm.WinRMTransport`)."""

    host: str

    def run_ps(self, script: str, *, timeout: float = ..., max_output: int = ...,
               idempotent: bool = ..., name: str = ...) -> ScriptResult:
        """Run one script."""
        ...


def run_wua_job(
    transport: ScriptTransport,
    operation: str,
    kbs: Sequence[str] = (),
    *,
    timeout: float = 4 * 3600.0,
    poll_interval: float = 5.0,
    call_timeout: float = 120.0,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WuaResult:
    """Run a WUA search (``operation='search'``) or install of ``kbs`` and return its result.

    Raises:
        DriverError: invalid KB ids, the task could not start, its output was unreadable,
            or no result came within ``timeout`` (the task is removed in every case).
    """
    if operation not in ("search", "install"):
        raise ValueError(f"unknown WUA operation {operation!r}")
    bad = [k for k in kbs if not KB_RE.match(k)]
    if bad:
        raise DriverError(transport.host, "invalid_kb", f"not KB ids: {', '.join(bad[:5])}")
    if operation == "install" and not kbs:
        raise DriverError(transport.host, "invalid_kb", "no KBs to install")
    job_id = secrets.token_hex(16)
    task = script("wua_task")

    def call(action: str, idempotent: bool, **extra: Any) -> ScriptResult:
        text = with_args(task, {"action": action, "job_id": job_id, **extra})
        res = transport.run_ps(text, timeout=call_timeout, idempotent=idempotent,
                               name=f"wua_task {action}")
        if res.exit_code != 0:
            raise DriverError(transport.host, "wua_task_failed",
                              f"Windows Update task ({action}) failed: "
                              f"{(res.stderr or res.stdout).strip()[:300]}")
        return res

    worker = base64.b64encode(script("wua_worker").text.encode("utf-8")).decode("ascii")
    deadline = time.monotonic() + timeout
    try:
        started = call("start", False, operation=operation, kbs=list(kbs), worker=worker)
        try:
            if not parse_task_action(started.stdout, "start", job_id).done:
                raise DriverError(transport.host, "wua_task_failed",
                                  "the Windows Update task did not start")
            offset = 0
            while True:
                poll = parse_wua_poll(call("poll", True, offset=offset).stdout, job_id)
                offset += poll.consumed
                for event in poll.progress:
                    if on_progress is not None:
                        on_progress(event)
                if poll.result is not None:
                    return poll.result
                if poll.task_state == "Missing":
                    raise DriverError(transport.host, "wua_task_failed",
                                      "the Windows Update task vanished without a result")
                if time.monotonic() > deadline:
                    raise DriverError(transport.host, "timeout",
                                      f"Windows Update {operation} gave no result in "
                                      f"{timeout:.0f}s")
                sleep(poll_interval)
        except ParseError as exc:
            raise DriverError(transport.host, "parse_error",
                              f"unreadable Windows Update task output: {exc}") from None
    finally:
        try:
            call("cleanup", True)
        except Exception as exc:  # the job's own error matters more; log this one
            log.warning("%s: removing Windows Update task %s failed: %s", transport.host,
                        job_id, exc)
