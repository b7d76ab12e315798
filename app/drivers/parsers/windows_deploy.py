"""Pure parsers for the Windows deployment scripts: deploy_state.ps1 (pre-flight and the
wait after a restart) and reboot.ps1's answers. Untrusted input, as in
:mod:`app.drivers.parsers.windows`: one JSON object of our schema, every field checked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.drivers.parsers._common import ParseError
from app.drivers.parsers.windows import _bool, _int, _list, _text, load_document, parse_time

__all__ = ["DeployState", "RebootAnswer", "parse_deploy_state", "parse_reboot_answer"]


@dataclass(frozen=True, slots=True)
class DeployState:
    """What a Windows host says before an install and while a restart is awaited."""

    user: str
    elevated: bool | None
    local_account: bool | None
    part_of_domain: bool | None
    token_filter_policy: int | None
    system_drive: str
    system_drive_free: int | None
    wuauserv_status: str
    wuauserv_start_type: str
    cbs_reboot_pending: bool
    wu_reboot_required: bool
    restart_scheduled: tuple[str, ...]
    servicing_busy: bool
    last_boot: dt.datetime | None
    msg_available: bool
    warnings: tuple[str, ...] = ()

    @property
    def reboot_pending(self) -> bool:
        """CBS RebootPending or Windows Update RebootRequired."""
        return self.cbs_reboot_pending or self.wu_reboot_required

    @property
    def boot_marker(self) -> str:
        """The last boot time, ISO, to the second ("" unknown): changes with every boot."""
        return self.last_boot.strftime("%Y-%m-%dT%H:%M:%SZ") if self.last_boot else ""

    def problems(self) -> list[str]:
        """Why installing now would fail or surprise someone (empty: go)."""
        found = []
        if self.wuauserv_start_type.lower() in ("disabled", "missing"):
            found.append(f"the Windows Update service (wuauserv) is "
                         f"{self.wuauserv_start_type.lower()}: the installer cannot run; "
                         "set its start type to Manual")
        if self.restart_scheduled:
            found.append("a restart is already scheduled on the host ("
                         + "; ".join(self.restart_scheduled[:2]) + "): cancel it "
                         "(shutdown /a) or let it happen before deploying")
        return found


@dataclass(frozen=True, slots=True)
class RebootAnswer:
    """reboot.ps1's answer to one action."""

    action: str
    exit_code: int | None
    sent: bool | None = None


def parse_deploy_state(text: str) -> DeployState:
    """Parse deploy_state.ps1's document.

    Raises:
        ParseError: see :func:`app.drivers.parsers.windows.load_document`.
    """
    doc = load_document(text, "deploy state")
    policy = _int(doc.get("token_filter_policy"))
    return DeployState(
        user=_text(doc.get("user"), 120),
        elevated=_bool(doc.get("elevated")),
        local_account=_bool(doc.get("local_account")),
        part_of_domain=_bool(doc.get("part_of_domain")),
        token_filter_policy=policy,
        system_drive=_text(doc.get("system_drive"), 3) or "C:",
        system_drive_free=_int(doc.get("system_drive_free")),
        wuauserv_status=_text(doc.get("wuauserv_status"), 30) or "unknown",
        wuauserv_start_type=_text(doc.get("wuauserv_start_type"), 30) or "unknown",
        cbs_reboot_pending=_bool(doc.get("cbs_reboot_pending")) or False,
        wu_reboot_required=_bool(doc.get("wu_reboot_required")) or False,
        restart_scheduled=tuple(s for s in (_text(x, 120) for x in
                                            _list(doc.get("restart_scheduled"))[:10]) if s),
        servicing_busy=_bool(doc.get("servicing_busy")) or False,
        last_boot=parse_time(doc.get("last_boot")),
        msg_available=_bool(doc.get("msg_available")) or False,
        warnings=tuple(w for w in (_text(x) for x in _list(doc.get("warnings"))[:10]) if w),
    )


def parse_reboot_answer(text: str, action: str) -> RebootAnswer:
    """Parse reboot.ps1's answer to ``action``.

    Raises:
        ParseError: an answer to another action, or see ``load_document``.
    """
    doc = load_document(text, f"reboot {action}")
    if doc.get("action") != action:
        raise ParseError(f"reboot {action}: the answer is for another action")
    return RebootAnswer(action, _int(doc.get("exit_code"), minimum=-(2 ** 31)),
                        _bool(doc.get("sent")))
