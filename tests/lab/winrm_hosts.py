"""State models of simulated Windows hosts, answering PatchDesk's PowerShell scripts.

The lab endpoint (tests/lab/winrm_endpoint.py) cannot run PowerShell. It hands each script
here; :meth:`WindowsHost.run_script` recognises it by its marker line and SHA-256 and
prints what the real script would print on a machine in this state. A script whose hash is
not the one pinned in ``winrm_reviewed.json`` FAILS (exit 1) until someone has re-read the
script, checked that these replies still match what it prints on Windows, and updated the
pin — so a changed script cannot pass against a stale simulated reply.

Values follow real Windows machines (sources in tests/data/winrm/NOTES.md): the
CurrentVersion registry values of Windows 11 23H2 / Server 2022 / Windows 10 22H2 at the
October 2024 cumulative updates, Windows Update titles and KB numbers of the November 2024
updates, Windows PowerShell 5.1's ConvertTo-Json habits (``\\u0027``-style escapes of
``'<>&``, ``-Compress`` on one line, CRLF line end).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

REVIEWED_FILE = Path(__file__).with_name("winrm_reviewed.json")
REVIEWED: dict[str, dict[str, str]] = json.loads(REVIEWED_FILE.read_text(encoding="utf-8"))
_ARGS = re.compile(r"^\$PatchDeskArgs = '([A-Za-z0-9+/=]*)'\r?\n")
_MARKER = re.compile(r"^# PatchDesk script: ([a-z_]+)\r?$", re.MULTILINE)
E_ACCESSDENIED = -2147024891  # 0x80070005
#: The message .NET gives a COM call that failed with E_ACCESSDENIED.
_DENIED = "Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))"


@dataclass
class Run:
    """What one command printed: stdout may be a generator (a flood), ``hang`` never ends."""

    stdout: bytes | Iterator[bytes]
    stderr: bytes
    exit_code: int
    hang: bool = False
    script: str = ""


@dataclass
class Update:
    """One update the Windows Update Agent would offer (IUpdate fields we read)."""

    kb: str
    title: str
    severity: str | None  # MsrcSeverity: Critical / Important / Moderate / Low / None
    categories: list[str]
    cves: list[str] = field(default_factory=list)
    size: int = 0  # MaxDownloadSize
    reboot_behavior: int = 1  # 0 never, 1 always, 2 can request
    uninstallable: bool = False
    update_id: str = ""
    revision: int = 1
    combined: bool = False  # a combined SSU+LCU package: DISM removes it, wusa cannot

    def __post_init__(self) -> None:
        if not self.update_id:
            digest = hashlib.sha256(self.kb.encode()).hexdigest()
            self.update_id = (f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-"
                              f"{digest[20:32]}")


@dataclass
class Job:
    """A WUA job started through the scheduled task."""

    operation: str
    kbs: list[str]
    polls: int = 0
    progress: list[str] = field(default_factory=list)
    result: str | None = None


@dataclass
class WindowsHost:
    """One simulated Windows machine."""

    name: str
    product_name: str
    caption: str
    edition_id: str
    installation_type: str
    display_version: str
    build: str
    ubr: int
    release_id: str = "2009"
    architecture: str = "64-bit"
    part_of_domain: bool = False
    domain: str = "WORKGROUP"
    workgroup: str | None = "WORKGROUP"
    manufacturer: str = "Dell Inc."
    model: str = "OptiPlex 7090"
    serial: str = "7XK2QH3"
    memory_total: int = 17_034_035_200
    cpu_count: int = 8
    last_boot: dt.datetime = field(
        default_factory=lambda: dt.datetime(2024, 11, 4, 7, 12, 9, tzinfo=dt.UTC))
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    disks: list[dict[str, Any]] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    hotfixes: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    software: list[dict[str, Any]] = field(default_factory=list)
    missing: list[Update] = field(default_factory=list)
    wua_reboot: bool = False
    cbs_reboot: bool = False
    wu_reboot: bool = False
    file_renames: int = 0
    install_failures: dict[str, int] = field(default_factory=dict)  # KB -> HRESULT
    #: The WUA refuses even its searcher to a WinRM logon (Server 2025, Windows 11 after
    #: KB5065789: PSWindowsUpdate#60, #65): direct WUA calls fail with E_ACCESSDENIED.
    wua_remote_denied: bool = False
    jobs: dict[str, Job] = field(default_factory=dict)
    tasks: set[str] = field(default_factory=set)
    job_dirs: set[str] = field(default_factory=set)
    polls_until_done: int = 2
    # -- deployment state (deploy_state.ps1, reboot.ps1, installs through the task) --------
    user: str = "Administrator"
    #: The logon's token is elevated (False: a workgroup's local account filtered by UAC).
    elevated: bool = True
    token_filter_policy: int | None = None
    wuauserv_start_type: str = "Manual"
    msg_available: bool = True  # msg.exe exists (not on Home editions)
    restart_scheduled: list[str] = field(default_factory=list)  # events 1074 since boot
    #: Polls of deploy_state after a boot that still find the servicing stack busy.
    busy_after_boot: int = 1
    busy_polls: int = 0
    #: monotonic time of a restart scheduled with shutdown /r /t N (the endpoint does it).
    restart_at: float | None = None
    reboot_loop: bool = False  # a restart does not clear the pending-reboot flags
    notices: list[str] = field(default_factory=list)  # msg * and shutdown /c texts
    #: KB -> HRESULT an install fails with once; the next round (after a restart) succeeds.
    fail_until_reboot: dict[str, int] = field(default_factory=dict)
    install_hangs: bool = False  # an install job never writes its result
    installed_by_task: dict[str, Update] = field(default_factory=dict)
    installs: list[str] = field(default_factory=list)  # KBs installed, in order (twice = bug)
    uninstalls: list[str] = field(default_factory=list)

    def reboot(self, *, clears_flags: bool = True) -> None:
        """A restart: new boot time (always later than the last one), shutdown events
        gone; flags cleared unless a reboot loop is simulated. PendingFileRenameOperations
        is processed at boot. Job folders under %ProgramData% survive, as on Windows."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.last_boot = max(now, self.last_boot + dt.timedelta(seconds=1))
        self.restart_scheduled.clear()
        self.restart_at = None
        self.busy_polls = self.busy_after_boot
        self.fail_until_reboot.clear()
        if clears_flags:
            self.wua_reboot = self.cbs_reboot = self.wu_reboot = False
            self.file_renames = 0

    # -- cmd.exe built-ins ----------------------------------------------------------------
    def run_cmd(self, cmdline: str) -> Run:
        """A few fixed commands; anything else is "not recognized" as cmd.exe says."""
        word = cmdline.strip().split(" ", 1)[0].lower()
        if word == "hostname":
            return Run(f"{self.name}\r\n".encode(), b"", 0, script="hostname")
        return Run(b"", (f"'{word}' is not recognized as an internal or external command,"
                         "\r\noperable program or batch file.\r\n").encode(), 9009)

    # -- PowerShell -------------------------------------------------------------------------
    def run_script(self, text: str) -> Run:
        """Answer one of our scripts (recognised by marker and hash), or fail like Windows."""
        text = text.replace("\r\n", "\n")
        args: dict[str, Any] = {}
        m = _ARGS.match(text)
        if m:
            try:
                args = json.loads(base64.b64decode(m.group(1)))
            except (binascii.Error, ValueError):
                return _ps_fail("the PatchDeskArgs line is not base64 JSON")
            text = text[m.end():]
        marker = _MARKER.match(text)
        if marker is None:
            return _ps_fail("the simulated host cannot run PowerShell: this is not a "
                            "PatchDesk script (no marker line)")
        name = marker.group(1)
        problem = _unreviewed(name, text)
        if problem:
            return Run(b"", clixml_error(problem), 1, script=name)
        handler: Callable[[dict[str, Any]], Run] | None = getattr(self, f"_ps_{name}", None)
        if handler is None:
            return _ps_fail(f"no simulated reply for script {name!r}")
        run = handler(args)
        run.script = name
        return run

    def _ps_facts(self, args: dict[str, Any]) -> Run:
        return _json_out({
            "schema": 1, "hostname": self.name, "product_name": self.product_name,
            "caption": self.caption, "edition_id": self.edition_id,
            "installation_type": self.installation_type,
            "display_version": self.display_version, "release_id": self.release_id,
            "current_build": self.build, "ubr": self.ubr,
            "version": f"10.0.{self.build}", "architecture": self.architecture,
            "part_of_domain": self.part_of_domain, "domain": self.domain,
            "workgroup": self.workgroup, "manufacturer": self.manufacturer,
            "model": self.model, "serial": self.serial, "memory_total": self.memory_total,
            "cpu_count": self.cpu_count, "last_boot": _iso(self.last_boot),
            "interfaces": self.interfaces, "disks": self.disks,
            "logged_on_users": self.users,
        })

    def _ps_installed_updates(self, args: dict[str, Any]) -> Run:
        if self.wua_remote_denied:
            return _json_out({"schema": 1, "hotfixes": self.hotfixes, "history": [],
                              "warnings": [f"WUA history unavailable: {_DENIED}"]})
        return _json_out({"schema": 1, "hotfixes": self.hotfixes, "history": self.history,
                          "warnings": []})

    def _ps_installed_software(self, args: dict[str, Any]) -> Run:
        return _json_out({"schema": 1, "software": self.software})

    def _ps_pending_reboot(self, args: dict[str, Any]) -> Run:
        if self.wua_remote_denied:
            return _json_out({
                "schema": 1, "wua_reboot_required": None, "cbs_reboot_pending": self.cbs_reboot,
                "wu_reboot_required": self.wu_reboot, "pending_file_renames": self.file_renames,
                "last_boot": _iso(self.last_boot),
                "warnings": [f"WUA SystemInfo unavailable: {_DENIED}"]})
        return _json_out({
            "schema": 1, "wua_reboot_required": self.wua_reboot,
            "cbs_reboot_pending": self.cbs_reboot, "wu_reboot_required": self.wu_reboot,
            "pending_file_renames": self.file_renames, "last_boot": _iso(self.last_boot),
            "warnings": []})

    def _ps_wua_worker(self, args: dict[str, Any]) -> Run:
        """The worker run directly over WinRM (not as the SYSTEM task): the Windows Update
        Agent refuses its searcher/installer to a remote logon (MS "Using WUA From a Remote
        Computer"), so the COM call fails with E_ACCESSDENIED as on Windows."""
        del args
        return Run(b"", clixml_error(
            f"Exception calling \"Search\" with \"1\" argument(s): \"{_DENIED}\"\r\n"
            "    + CategoryInfo          : NotSpecified: (:) [], MethodInvocationException\r\n"
            "    + FullyQualifiedErrorId : ComException\r\n"), 1)

    def _ps_deploy_state(self, args: dict[str, Any]) -> Run:
        del args
        busy = self.busy_polls > 0
        self.busy_polls = max(0, self.busy_polls - 1)
        system = self.disks[0] if self.disks else {"mount": "C:", "free": 0}
        return _json_out({
            "schema": 1, "user": f"{self.name}\\{self.user}" if not self.part_of_domain
            else f"{self.domain.split('.')[0].upper()}\\{self.user}",
            "elevated": self.elevated, "local_account": not self.part_of_domain,
            "part_of_domain": self.part_of_domain,
            "token_filter_policy": self.token_filter_policy,
            "system_drive": system["mount"], "system_drive_free": system["free"],
            "wuauserv_status": "Stopped" if self.wuauserv_start_type == "Disabled"
            else "Running", "wuauserv_start_type": self.wuauserv_start_type,
            "cbs_reboot_pending": self.cbs_reboot, "wu_reboot_required": self.wu_reboot,
            "restart_scheduled": list(self.restart_scheduled), "servicing_busy": busy,
            "last_boot": _iso(self.last_boot), "msg_available": self.msg_available,
            "warnings": []})

    def _ps_reboot(self, args: dict[str, Any]) -> Run:
        action = args.get("action")
        text = str(args.get("message", ""))[:500].replace('"', "'")
        if action == "notify":
            if self.msg_available:
                self.notices.append(f"msg: {text}")
            return _json_out({"schema": 1, "action": "notify", "sent": self.msg_available,
                              "exit_code": 0 if self.msg_available else None})
        if action == "schedule":
            seconds = max(0, min(315360000, int(args.get("seconds") or 0)))
            if self.restart_at is not None:  # shutdown.exe: ERROR_SHUTDOWN_IS_SCHEDULED
                return _json_out({"schema": 1, "action": "schedule", "exit_code": 1190,
                                  "seconds": seconds})
            self.notices.append(f"shutdown /r /t {seconds} /c {text}")
            self.restart_at = time.monotonic() + seconds
            self.restart_scheduled.append(f"restart initiated {_iso(dt.datetime.now(dt.UTC))}")
            return _json_out({"schema": 1, "action": "schedule", "exit_code": 0,
                              "seconds": seconds})
        if action == "cancel":
            code = 0 if self.restart_at is not None else 1116  # ERROR_NO_SHUTDOWN_IN_PROGRESS
            self.restart_at = None
            self.restart_scheduled.clear()
            return _json_out({"schema": 1, "action": "cancel", "exit_code": code})
        return _ps_fail("unknown action")

    def _ps_wua_task(self, args: dict[str, Any]) -> Run:
        job_id = str(args.get("job_id", ""))
        if not re.fullmatch(r"[0-9a-f]{32}", job_id):
            return _ps_fail("invalid job id")
        action = args.get("action")
        if action == "start":
            try:
                worker = base64.b64decode(str(args.get("worker", ""))).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return _ps_fail("worker is not base64 UTF-8")
            marker = _MARKER.match(worker.replace("\r\n", "\n"))
            if marker is None or marker.group(1) != "wua_worker":
                return _ps_fail("the task's worker is not the PatchDesk WUA worker")
            problem = _unreviewed("wua_worker", worker.replace("\r\n", "\n"))
            if problem:
                return Run(b"", clixml_error(problem), 1)
            operation = args.get("operation")
            if operation not in ("search", "install", "uninstall"):
                return _ps_fail("invalid operation")
            already = job_id in self.job_dirs
            if not already:
                self.jobs[job_id] = Job(str(operation), [str(k) for k in args.get("kbs") or []])
                self.tasks.add(job_id)
                self.job_dirs.add(job_id)
            return _json_out({"schema": 1, "action": "start", "job_id": job_id,
                              "started": True, "already": already})
        if action == "poll":
            job = self.jobs.get(job_id)
            if job is None:
                return _json_out({"schema": 1, "action": "poll", "job_id": job_id,
                                  "task_state": "Missing", "progress": [], "result": None})
            job.polls += 1
            if job.polls == 1:
                job.progress.append(_event("searching"))
            if job.polls >= self.polls_until_done and job.result is None \
                    and not (self.install_hangs and job.operation == "install"):
                self._finish_job(job)
            offset = int(args.get("offset") or 0)
            state = "Ready" if job.result is not None else "Running"
            return _json_out({"schema": 1, "action": "poll", "job_id": job_id,
                              "task_state": state, "progress": job.progress[offset:],
                              "result": job.result})
        if action == "cleanup":
            self.jobs.pop(job_id, None)
            self.tasks.discard(job_id)
            self.job_dirs.discard(job_id)
            return _json_out({"schema": 1, "action": "cleanup", "job_id": job_id,
                              "removed": True})
        return _ps_fail("unknown action")

    def _finish_job(self, job: Job) -> None:
        if job.operation == "uninstall":
            self._finish_uninstall(job)
            return
        job.progress.append(_event("searched", count=len(self.missing)))
        result: dict[str, Any] = {"schema": 1, "operation": job.operation, "ok": True,
                                  "search_result_code": 2}
        if job.operation == "search":
            result["updates"] = [_update_info(u) for u in self.missing]
        else:
            chosen = [u for u in self.missing if u.kb in job.kbs]
            job.progress.append(_event("selected", count=len(chosen)))
            installed = []
            for u in chosen:
                hresult = self.install_failures.get(u.kb, 0) or \
                    self.fail_until_reboot.get(u.kb, 0)
                ok = hresult == 0
                installed.append({"kbs": [u.kb], "title": u.title,
                                  "result_code": 2 if ok else 4, "hresult": hresult,
                                  "reboot_required": ok and u.reboot_behavior != 0})
                if ok:
                    self.installs.append(u.kb)
                    self.installed_by_task[u.kb] = u
                    self.missing.remove(u)
                    self.hotfixes.append({"kb": u.kb, "description": "Security Update",
                                          "installed_on": dt.date.today().isoformat()})
                    self.history.insert(0, {"title": u.title, "update_id": u.update_id,
                                            "operation": 1, "result_code": 2, "hresult": 0,
                                            "date": _iso(dt.datetime.now(dt.UTC))})
                    if u.reboot_behavior != 0:
                        self.wua_reboot = self.cbs_reboot = self.wu_reboot = True
            codes = {i["result_code"] for i in installed}
            result["install_result_code"] = (2 if codes <= {2} else 4 if codes == {4} else 3)
            result["reboot_required"] = any(i["reboot_required"] for i in installed)
            result["installed"] = installed
        result["reboot_pending"] = self.wua_reboot
        job.progress.append(_event("finished", ok=True))
        job.result = json.dumps(result, separators=(",", ":"))

    def _finish_uninstall(self, job: Job) -> None:
        """wua_worker's Remove-Kb: wusa /uninstall for a standalone update, DISM for a
        combined package; a permanent one fails with CBS_E_CANNOT_UNINSTALL."""
        removed = []
        for kb in job.kbs:
            job.progress.append(_event("uninstalling", kb=kb))
            u = self.installed_by_task.get(kb)
            installed = any(h["kb"] == kb for h in self.hotfixes)
            entry: dict[str, Any] = {"kbs": [kb], "title": kb, "result_code": 4, "hresult": 0,
                                     "reboot_required": False, "method": "none"}
            if not installed:
                entry["hresult"] = 0x80240017 - 2 ** 32
            elif u is None or not u.uninstallable:
                entry.update(method="wusa", hresult=0x800F0825 - 2 ** 32)
            else:
                entry.update(method="dism" if u.combined else "wusa", result_code=2,
                             reboot_required=True)
                self.hotfixes = [h for h in self.hotfixes if h["kb"] != kb]
                self.history = [h for h in self.history if h.get("update_id") != u.update_id]
                del self.installed_by_task[kb]
                self.missing.append(u)
                self.uninstalls.append(kb)
                self.cbs_reboot = True
            removed.append(entry)
        result = {"schema": 1, "operation": "uninstall", "ok": True, "installed": removed,
                  "reboot_required": any(e["reboot_required"] for e in removed)}
        job.progress.append(_event("finished", ok=True))
        job.result = json.dumps(result, separators=(",", ":"))


# -- helpers --------------------------------------------------------------------------------
def _unreviewed(name: str, text: str) -> str:
    pinned = REVIEWED.get(name, {}).get("sha256")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest == pinned:
        return ""
    return (f"simulated host: script {name!r} changed (sha256 {digest[:16]}..., reviewed "
            f"{(pinned or 'never')[:16]}...). Its simulated reply has not been reviewed: "
            "check tests/lab/winrm_hosts.py against the script, then update "
            "tests/lab/winrm_reviewed.json.\r\n")


def _ps_fail(message: str) -> Run:
    return Run(b"", clixml_error(f"{message}\r\n    + CategoryInfo          : "
                                 "NotSpecified: (:) [], RuntimeException\r\n"), 1)


def clixml_error(text: str) -> bytes:
    """An error as powershell.exe -EncodedCommand writes it to a redirected stderr: CLIXML
    with one ``<S S="Error">`` per line and CR LF as ``_x000D__x000A_`` (the shape pywinrm's
    ``Session._clean_error_msg`` parses)."""
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    body = "".join(f'<S S="Error">{escape(line)}_x000D__x000A_</S>' for line in lines)
    return ('#< CLIXML\r\n<Objs Version="1.1.0.1" '
            'xmlns="http://schemas.microsoft.com/powershell/2004/04">'
            f"{body}</Objs>").encode()


def _ps_json(value: Any) -> str:
    # Windows PowerShell 5.1 ConvertTo-Json escapes these as \uXXXX.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("'", "\\u0027"), ("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text


def _json_out(value: Any) -> Run:
    return Run((_ps_json(value) + "\r\n").encode("utf-8"), b"", 0)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _event(stage: str, **data: Any) -> str:
    return json.dumps({"ts": _iso(dt.datetime.now(dt.UTC)), "stage": stage, **data},
                      separators=(",", ":"))


def _update_info(u: Update) -> dict[str, Any]:
    return {"update_id": u.update_id, "revision": u.revision, "title": u.title,
            "kbs": [u.kb], "msrc_severity": u.severity, "categories": u.categories,
            "cves": u.cves, "max_download_size": u.size,
            "reboot_behavior": u.reboot_behavior, "is_uninstallable": u.uninstallable,
            "is_downloaded": False, "browse_only": False}


def _nic(name: str, mac: str, *addresses: str) -> dict[str, Any]:
    return {"name": name, "mac": mac, "addresses": list(addresses)}


def _disk(mount: str, size: int, free: int) -> dict[str, Any]:
    return {"mount": mount, "filesystem": "NTFS", "size": size, "free": free}


_DEFENDER = Update(
    "KB2267602",
    "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 "
    "(Version 1.421.1234.0) - Current Channel (Broad)",
    None, ["Definition Updates", "Microsoft Defender Antivirus"], size=75_497_472,
    reboot_behavior=0)


def win11() -> WindowsHost:
    """Windows 11 Pro 23H2 (build 22631.4317 = October 2024 CU KB5044285), domain member."""
    return WindowsHost(
        name="WIN11-LAB01", product_name="Windows 10 Pro",  # sic: Windows 11 says "10"
        caption="Microsoft Windows 11 Pro", edition_id="Professional",
        installation_type="Client", display_version="23H2", build="22631", ubr=4317,
        part_of_domain=True, domain="corp.example.test", workgroup=None,
        manufacturer="LENOVO", model="21HD003MGE", serial="PF4XK2QH",
        interfaces=[_nic("Intel(R) Ethernet Connection (16) I219-LM", "8C:16:45:3A:5B:01",
                         "127.0.0.31", "fe80::1c2d:3e4f:5a6b:7c8d")],
        disks=[_disk("C:", 511_101_108_224, 301_988_585_472)],
        users=["CORP\\alice"],
        hotfixes=[{"kb": "KB5043080", "description": "Security Update",
                   "installed_on": "2024-09-11"},
                  {"kb": "KB5044285", "description": "Security Update",
                   "installed_on": "2024-10-09"}],
        history=[{"title": "2024-10 Cumulative Update for Windows 11 Version 23H2 for "
                           "x64-based Systems (KB5044285)",
                  "update_id": "3c2ae0d3-5b0c-4b7e-9a33-6a2d6a4c1f01", "operation": 1,
                  "result_code": 2, "hresult": 0, "date": "2024-10-09T03:14:55.0000000Z"}],
        software=[{"name": "Mozilla Firefox (x64 en-US)", "version": "131.0.3",
                   "publisher": "Mozilla", "arch": "native", "install_date": None,
                   "key": "Mozilla Firefox 131.0.3 (x64 en-US)"},
                  {"name": "7-Zip 23.01 (x64)", "version": "23.01", "publisher": "Igor Pavlov",
                   "arch": "native", "install_date": None, "key": "7-Zip"},
                  {"name": "Adobe Acrobat Reader", "version": "24.003.20180",
                   "publisher": "Adobe", "arch": "x86", "install_date": "20241002",
                   "key": "{AC76BA86-7AD7-1033-7B44-AC0F074E4100}"}],
        missing=[
            Update("KB5046633", "2024-11 Cumulative Update for Windows 11 Version 23H2 for "
                   "x64-based Systems (KB5046633)", "Critical",
                   ["Security Updates", "Windows 11"],
                   ["CVE-2024-43451", "CVE-2024-49039", "CVE-2024-43639"],
                   size=716_177_408, reboot_behavior=1, uninstallable=False),
            Update("KB5045935", "2024-11 Cumulative Update for .NET Framework 3.5 and 4.8.1 "
                   "for Windows 11, version 23H2 for x64 (KB5045935)", "Important",
                   ["Security Updates", "Windows 11"], ["CVE-2024-43483"], size=70_254_592,
                   reboot_behavior=2, uninstallable=True),
            _DEFENDER,
        ],
    )


def server2022() -> WindowsHost:
    """Windows Server 2022 Standard (build 20348.2762 = October 2024 CU KB5044281)."""
    return WindowsHost(
        name="SRV22-LAB01", product_name="Windows Server 2022 Standard",
        caption="Microsoft Windows Server 2022 Standard", edition_id="ServerStandard",
        installation_type="Server", display_version="21H2", build="20348", ubr=2762,
        release_id="2009", part_of_domain=True, domain="corp.example.test", workgroup=None,
        manufacturer="VMware, Inc.", model="VMware7,1",
        serial="VMware-56 4d 2e 1a 9c 3b 7f 10-8a 55 0e 61 1c 2b 9d 44",
        memory_total=8_589_398_016, cpu_count=4,
        interfaces=[_nic("vmxnet3 Ethernet Adapter", "00:50:56:9A:12:34", "127.0.0.32")],
        disks=[_disk("C:", 106_847_793_152, 61_202_845_696),
               _disk("D:", 536_734_593_024, 402_653_184_000)],
        users=[],
        hotfixes=[{"kb": "KB5044281", "description": "Security Update",
                   "installed_on": "2024-10-10"}],
        software=[{"name": "VMware Tools", "version": "12.4.0.23259341",
                   "publisher": "VMware, Inc.", "arch": "native", "install_date": "20240612",
                   "key": "{D5C7E6F3-0D2A-4C3B-9A7E-1B2C3D4E5F60}"}],
        missing=[
            Update("KB5046616", "2024-11 Cumulative Update for Microsoft server operating "
                   "system version 21H2 for x64-based Systems (KB5046616)", "Critical",
                   ["Security Updates", "Microsoft Server operating system-21H2"],
                   ["CVE-2024-43451", "CVE-2024-49039"], size=581_959_680, reboot_behavior=1),
            Update("KB5046540", "2024-11 Cumulative Update for .NET Framework 3.5, 4.8 and "
                   "4.8.1 for Microsoft server operating system version 21H2 for x64 "
                   "(KB5046540)", "Important",
                   ["Security Updates", "Microsoft Server operating system-21H2"],
                   ["CVE-2024-43483"], size=83_886_080, reboot_behavior=2, uninstallable=True),
        ],
        cbs_reboot=True,
    )


def workgroup() -> WindowsHost:
    """Windows 10 Pro 22H2 (build 19045.5011 = October 2024 CU KB5044273), workgroup."""
    return WindowsHost(
        name="FRONTDESK-PC", product_name="Windows 10 Pro", caption="Microsoft Windows 10 Pro",
        edition_id="Professional", installation_type="Client", display_version="22H2",
        build="19045", ubr=5011, manufacturer="HP", model="HP ProDesk 400 G7 Microtower PC",
        serial="CZC1234XYZ",
        interfaces=[_nic("Realtek PCIe GbE Family Controller", "30:24:A9:11:22:33",
                         "127.0.0.33")],
        disks=[_disk("C:", 255_369_482_240, 12_884_901_888)],
        users=["FRONTDESK-PC\\reception"],
        hotfixes=[{"kb": "KB5044273", "description": "Security Update",
                   "installed_on": "2024-10-12"}],
        missing=[
            Update("KB5046613", "2024-11 Cumulative Update for Windows 10 Version 22H2 for "
                   "x64-based Systems (KB5046613)", "Critical",
                   ["Security Updates", "Windows 10, version 1903 and later"],
                   ["CVE-2024-43451", "CVE-2024-49039"], size=692_060_160, reboot_behavior=1),
            _DEFENDER,
        ],
        file_renames=2,
    )


PRESETS: dict[str, Callable[[], WindowsHost]] = {
    "win11": win11, "server2022": server2022, "workgroup": workgroup}
