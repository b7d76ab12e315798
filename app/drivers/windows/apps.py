"""Third-party applications on Windows: Chocolatey and winget, listed and upgraded.

* Chocolatey where it is installed: choco.ps1 runs ``choco outdated -r`` / ``choco list
  -r`` over WinRM (read-only; choco works in a WinRM session) and the pure parsers read
  the lines.
* winget through the SYSTEM task path only (it fails inside WinRM sessions,
  winget-cli#256, and is not on SYSTEM's PATH: apps_worker.ps1 resolves winget.exe under
  WindowsApps), best effort: the Microsoft.WinGet.Client module's objects where they load,
  else the ``winget export`` JSON and the ``winget upgrade`` table searched for the
  exported ids only — never its localized words.
* Installs of either run through the SYSTEM task too (a dropped WinRM connection loses
  nothing; the result file is collected by polling), one job per deployment step.

Third-party updates are patches like any other: package = the manager's id, source
``choco`` or ``winget``. Rollback: Chocolatey can install the previous version again
(``choco install ID --version OLD --allow-downgrade``, when its source still serves it);
winget is NOT rolled back by PatchDesk — it keeps no previous installer and many installers
refuse to downgrade — and the change set says so before approval.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.assessment import Update
from app.core.models import Classification, Severity
from app.drivers.base import DriverError, Transport
from app.drivers.parsers import ParseError
from app.drivers.parsers.winapps import (
    AppUpgrade,
    parse_choco_list,
    parse_choco_outdated,
    parse_winget_export,
    parse_winget_module,
    parse_winget_upgrade,
    valid_app_id,
    valid_version,
)
from app.drivers.parsers.windows import _dicts, _int, _list, _text, load_document
from app.drivers.windows import script, with_args
from app.drivers.windows.wua import ScriptTransport

MANAGERS = ("choco", "winget")
#: What the change set says of rolling a package back, per manager.
ROLLBACK_NOTES = {
    "choco": "can be rolled back (choco install --version {before} --allow-downgrade)",
    "winget": "cannot be rolled back: winget keeps no previous installer and many "
              "installers refuse to downgrade",
}


@dataclass
class AppsState:
    """What one look at a host found: per manager the installed versions and upgrades."""

    installed: dict[str, dict[str, str]] = field(default_factory=dict)  # manager → id → ver
    upgrades: list[AppUpgrade] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def manager_of(self, name: str) -> str | None:
        """Which manager has the package installed (case-insensitive ids); None: none.

        Raises:
            DriverError is not raised here; two managers holding the same id is
            reported by the caller.
        """
        found = [m for m in MANAGERS
                 if name.lower() in {k.lower() for k in self.installed.get(m, {})}]
        return found[0] if len(found) == 1 else None

    def version(self, manager: str, name: str) -> str:
        """The installed version ("" not installed)."""
        for key, version in self.installed.get(manager, {}).items():
            if key.lower() == name.lower():
                return version
        return ""


def _task(ps: ScriptTransport, action: str, job_id: str, **extra: Any) -> dict[str, Any]:
    res = ps.run_ps(with_args(script("wua_task"), {"action": action, "job_id": job_id,
                                                   **extra}),
                    timeout=120, idempotent=True, name=f"wua_task {action} (apps)")
    if res.exit_code != 0:
        raise DriverError(ps.host, "apps_task_failed",
                          f"the third-party apps task ({action}) failed: "
                          f"{(res.stderr or res.stdout).strip()[:300]}")
    try:
        doc = load_document(res.stdout, f"apps task {action}")
    except ParseError as exc:
        raise DriverError(ps.host, "parse_error", str(exc)) from None
    if doc.get("action") != action or doc.get("job_id") != job_id:
        raise DriverError(ps.host, "parse_error", f"apps task {action}: another job's answer")
    return doc


def start_apps_job(ps: ScriptTransport, job_id: str, operation: str,
                   packages: Sequence[dict[str, Any]] = ()) -> bool:
    """Start apps_worker.ps1 as the SYSTEM task (re-attach when it exists); True when it
    had been started before."""
    worker = base64.b64encode(script("apps_worker").text.encode("utf-8")).decode("ascii")
    doc = _task(ps, "start", job_id, operation=operation, kbs=[], packages=list(packages),
                worker=worker)
    if doc.get("started") is not True:
        raise DriverError(ps.host, "apps_task_failed", "the third-party apps task did not "
                          "start")
    return doc.get("already") is True


def poll_apps_job(ps: ScriptTransport, job_id: str) -> tuple[str, dict[str, Any] | None]:
    """(task state, the result document once written)."""
    doc = _task(ps, "poll", job_id, offset=0)
    raw = doc.get("result")
    state = _text(doc.get("task_state"), 20) or "Unknown"
    if not (isinstance(raw, str) and raw.strip()):
        return state, None
    try:
        return state, load_document(raw, "apps result")
    except ParseError as exc:
        raise DriverError(ps.host, "parse_error", str(exc)) from None


def cleanup_apps_job(ps: ScriptTransport, job_id: str) -> None:
    """Remove the task and its folder."""
    _task(ps, "cleanup", job_id)


def run_apps_job(ps: ScriptTransport, operation: str,
                 packages: Sequence[dict[str, Any]] = (), *, timeout: float = 1800.0,
                 sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Start, poll until the result, and ALWAYS clean up a one-shot apps job."""
    job_id = secrets.token_hex(16)
    deadline = time.monotonic() + timeout
    delay = 0.25
    try:
        start_apps_job(ps, job_id, operation, packages)
        while True:
            state, result = poll_apps_job(ps, job_id)
            if result is not None:
                return result
            if state == "Missing":
                raise DriverError(ps.host, "apps_task_failed",
                                  "the third-party apps task vanished without a result")
            if time.monotonic() > deadline:
                raise DriverError(ps.host, "timeout",
                                  f"the third-party apps task gave no result in {timeout:.0f}s")
            sleep(delay)
            delay = min(5.0, delay * 2)
    finally:
        # The job's own outcome matters more; the next job uses a new id.
        with contextlib.suppress(DriverError):
            cleanup_apps_job(ps, job_id)


def _choco(transport: Transport, ps: ScriptTransport, action: str) -> dict[str, Any] | None:
    from app.drivers.windows.driver import run_script  # the driver imports this module

    try:
        doc = load_document(run_script(transport, "choco", {"action": action}, timeout=600),
                            f"choco {action}")
    except ParseError as exc:
        raise DriverError(ps.host, "parse_error", str(exc)) from None
    return doc if doc.get("installed") is True else None


def read_apps(transport: Transport, ps: ScriptTransport, *,
              sleep: Callable[[float], None] = time.sleep) -> AppsState:
    """Chocolatey (over WinRM) and winget (the SYSTEM task) on one host, best effort: a
    manager that is absent or cannot be read is a warning, never a failed assessment."""
    state = AppsState()
    try:
        listed = _choco(transport, ps, "list")
        if listed is not None:
            state.installed["choco"] = parse_choco_list(
                "\n".join(_text(x, 400) for x in _list(listed.get("lines"))))
            outdated = _choco(transport, ps, "outdated")
            if outdated is not None:
                code = _int(outdated.get("exit_code"), minimum=-(2 ** 31))
                if code not in (0, 2):  # 2: outdated packages (enhanced exit codes)
                    state.warnings.append(f"choco outdated exited {code}")
                parsed = parse_choco_outdated("\n".join(
                    _text(x, 400) for x in _list(outdated.get("lines"))))
                state.upgrades += parsed.upgrades
                state.warnings += parsed.warnings
    except DriverError as exc:
        state.warnings.append(f"Chocolatey could not be read: {exc}")
    try:
        result = run_apps_job(ps, "apps_search", sleep=sleep)
        if not result.get("winget_path"):
            if not result.get("ok"):
                state.warnings.append("winget: " + (_text(result.get("error")) or "failed"))
            return state  # no winget for SYSTEM on this host: nothing to list
        export = result.get("export")
        known = parse_winget_export(export) if isinstance(export, str) else {}
        state.installed["winget"] = known
        module = parse_winget_module(result.get("module"))
        if module:
            state.upgrades += module
        else:
            table = result.get("upgrade")
            found, warnings = parse_winget_upgrade(table if isinstance(table, str) else "",
                                                   known)
            state.upgrades += found
            state.warnings += warnings
    except (DriverError, ParseError) as exc:
        state.warnings.append(f"winget could not be read (best effort): {exc}")
    return state


def to_update(upgrade: AppUpgrade) -> Update:
    """A third-party upgrade as a missing update like any other (source choco/winget)."""
    evidence = [f"{'Chocolatey' if upgrade.manager == 'choco' else 'winget'}: "
                f"{upgrade.installed or 'unknown'} → {upgrade.available}"]
    if upgrade.pinned:
        evidence.append("pinned in Chocolatey (choco pin): not upgraded until unpinned")
    return Update(package=upgrade.id, candidate_version=upgrade.available,
                  installed_version=upgrade.installed, classification=Classification.OTHER,
                  severity=Severity.UNKNOWN, source=upgrade.manager,
                  evidence=tuple(evidence))


def install_entries(result: dict[str, Any]) -> dict[str, tuple[int | None, str]]:
    """apps_install's per-package outcome: id → (exit code, last output line)."""
    out: dict[str, tuple[int | None, str]] = {}
    for item in _dicts(result.get("installed")):
        ident = _text(item.get("id"), 128)
        if valid_app_id(ident):
            tail = [_text(x, 300) for x in _list(item.get("tail"))]
            out[ident] = (_int(item.get("exit_code"), minimum=-(2 ** 31)),
                          next((t for t in reversed(tail) if t), ""))
    return out


def checked_apps(host: str, pins: dict[str, str]) -> dict[str, str]:
    """Third-party pins whose id and version are safe to pass on."""
    bad = [n for n, v in pins.items() if not valid_app_id(n) or not valid_version(v)]
    if bad:
        raise DriverError(host, "unsafe_value", "not a package id and version: "
                          + ", ".join(repr(b[:40]) for b in bad[:3]))
    return pins
