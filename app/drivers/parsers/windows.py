"""Pure parsers for the JSON documents printed by app/drivers/windows/*.ps1.

Remote output is untrusted: each document must be exactly one JSON object with the schema
number we wrote; every field is type-checked, strings are cut to sane lengths and stripped
of control characters, KB ids / CVE ids / MACs / IPs are validated, and a field that is
missing or of the wrong type becomes "unknown" rather than a guess. Windows PowerShell 5.1
habits are tolerated: a UTF-8 BOM, ``\\/Date(ms)\\/`` dates, a one-element array collapsed
into a bare value, ``null`` for an empty list.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from app.core.assessment import Disk, HostFacts, InstalledPackage, Interface, RebootState, Update
from app.core.models import Classification, Severity
from app.core.validate import normalize_mac
from app.drivers.parsers._common import ParseError, truncate

SCHEMA = 1
#: ``source`` of every missing Windows update (like a Linux update's repository).
UPDATE_SOURCE = "windows-update"
MAX_TEXT = 500
#: The largest document accepted (a big server's software list is well under 1 MiB).
MAX_DOCUMENT = 16 * 1024 * 1024
KB_RE = re.compile(r"^KB\d{6,8}$")
CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,7}$")
_KB_IN_TITLE = re.compile(r"\(KB(\d{6,8})\)")
_MS_DATE = re.compile(r"^/Date\((-?\d+)\)/$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Windows 11 keeps "Windows 10" in ProductName; its first build is 22000 (os_info#322).
WINDOWS_11_FIRST_BUILD = 22000

_SEVERITY = {"critical": Severity.CRITICAL, "important": Severity.IMPORTANT,
             "moderate": Severity.MODERATE, "low": Severity.LOW}

#: HRESULTs an install commonly ends with, as a person should read them. Names and meanings
#: from MS "Windows Update error codes by component" and winerror.h.
HRESULT_REASONS = {
    0x80070005: "access denied (E_ACCESSDENIED): the Windows Update Agent refuses remote "
                "logons; the install must run as a scheduled task",
    0x80240020: "no interactive user (WU_E_NO_INTERACTIVE_USER): the update needs a "
                "logged-on user",
    0x80240022: "all updates failed (WU_E_ALL_UPDATES_FAILED)",
    0x80240017: "not applicable to this machine (WU_E_NOT_APPLICABLE)",
    0x8024001E: "the Windows Update service stopped (WU_E_SERVICE_STOP)",
    0x8024402C: "the update server name could not be resolved "
                "(WU_E_PT_WINHTTP_NAME_NOT_RESOLVED)",
    0x80246007: "the update was not downloaded (WU_E_DM_NOTDOWNLOADED)",
    0x80070070: "not enough disk space (ERROR_DISK_FULL)",
    0x80070BC2: "a reboot is required to finish (ERROR_SUCCESS_REBOOT_REQUIRED)",
    0x800F0922: "the servicing stack failed to install (CBS_E_INSTALLERS_FAILED)",
    0x80073712: "the component store is damaged (ERROR_SXS_COMPONENT_STORE_CORRUPT): run "
                "DISM /RestoreHealth",
    0x8024200D: "the update needs another download (WU_E_UH_NEEDANOTHERDOWNLOAD)",
    0x800F0825: "Windows marks the package permanent (CBS_E_CANNOT_UNINSTALL)",
    0x00240007: "the update is not installed (wusa: WU_S_NOT_INSTALLED)",
}
#: Install HRESULTs after which a restart and another round may succeed.
RETRY_AFTER_REBOOT = frozenset({0x80070BC2, 0x8024200D, 0x800F0922})
RESULT_CODES = {0: "not started", 1: "in progress", 2: "succeeded",
                3: "succeeded with errors", 4: "failed", 5: "aborted"}


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WindowsFacts:
    """Facts plus the Windows-only details the driver and pre-flight need."""

    facts: HostFacts
    edition: str = ""
    installation_type: str = ""  # Client / Server / Server Core
    build: int | None = None
    ubr: int | None = None
    display_version: str = ""
    part_of_domain: bool | None = None
    domain: str = ""
    workgroup: str = ""

    @property
    def is_windows_11(self) -> bool:
        """Build ≥ 22000 on a client edition."""
        return (self.build or 0) >= WINDOWS_11_FIRST_BUILD and \
            self.installation_type.lower() == "client"

    @property
    def revision(self) -> str:
        """``22631.4317``: the build and its update revision (what Microsoft's release
        tables list)."""
        if self.build is None:
            return ""
        return f"{self.build}.{self.ubr}" if self.ubr is not None else str(self.build)


@dataclass(frozen=True, slots=True)
class InstalledUpdate:
    """One installed update, from Get-HotFix or the WUA history."""

    kb: str
    title: str = ""
    installed_on: str = ""  # ISO date or timestamp, as reported
    source: str = ""  # "hotfix" | "wua-history"


@dataclass(frozen=True, slots=True)
class InstalledUpdates:
    """What the installed_updates script found."""

    updates: tuple[InstalledUpdate, ...]
    failed_history: tuple[str, ...] = ()  # titles of history entries that failed
    warnings: tuple[str, ...] = ()

    @property
    def kbs(self) -> frozenset[str]:
        """Every KB known to be installed."""
        return frozenset(u.kb for u in self.updates)

    def as_packages(self) -> list[InstalledPackage]:
        """The KBs as installed "packages" (one per KB, first source wins)."""
        seen: dict[str, InstalledUpdate] = {}
        for u in self.updates:
            seen.setdefault(u.kb, u)
        return [InstalledPackage(kb, "installed", "", f"windows-{u.source}")
                for kb, u in sorted(seen.items())]


@dataclass(frozen=True, slots=True)
class WindowsUpdate:
    """One missing update as the Windows Update Agent describes it."""

    update_id: str
    revision: int
    title: str
    kbs: tuple[str, ...]
    severity: Severity
    categories: tuple[str, ...]
    cves: tuple[str, ...]
    max_download_size: int | None
    reboot_behavior: int | None  # 0 never, 1 always, 2 can request
    uninstallable: bool | None
    downloaded: bool = False
    optional: bool = False

    @property
    def classification(self) -> Classification:
        """Security if WUA files it under Security Updates; fixes; everything else other."""
        names = {c.lower() for c in self.categories}
        if "security updates" in names:
            return Classification.SECURITY
        if names & {"critical updates", "update rollups", "updates"}:
            return Classification.BUGFIX
        if names & {"feature packs", "upgrades"}:
            return Classification.ENHANCEMENT
        return Classification.OTHER

    @property
    def reboot_required(self) -> bool:
        """Whether installing it (may) need a reboot; unknown counts as yes."""
        return self.reboot_behavior != 0

    def to_update(self) -> Update:
        """The core :class:`Update` (package = the KB, or the update id without one)."""
        kb = self.kbs[0] if self.kbs else ""
        return Update(package=kb or f"update-{self.update_id}", candidate_version=self.title,
                      classification=self.classification, severity=self.severity,
                      source=UPDATE_SOURCE, kb=kb, cves=self.cves,
                      reboot_required=self.reboot_required)


@dataclass(frozen=True, slots=True)
class InstallOutcome:
    """The result of installing one update."""

    kbs: tuple[str, ...]
    title: str
    result_code: int | None
    hresult: int
    reboot_required: bool
    method: str = ""  # uninstall: "wusa", "dism" or "none"

    @property
    def ok(self) -> bool:
        """Succeeded (2) or succeeded with errors (3)."""
        return self.result_code in (2, 3)

    @property
    def reason(self) -> str:
        """A readable result."""
        text = RESULT_CODES.get(self.result_code or -1, "unknown result")
        if self.hresult:
            text += f": {describe_hresult(self.hresult)}"
        return text


@dataclass(frozen=True, slots=True)
class WuaResult:
    """The worker's result document."""

    operation: str
    ok: bool
    updates: tuple[WindowsUpdate, ...] = ()
    installed: tuple[InstallOutcome, ...] = ()
    reboot_required: bool = False
    reboot_pending: bool | None = None
    error: str = ""
    hresult: int = 0


@dataclass(frozen=True, slots=True)
class WuaPoll:
    """One poll of the scheduled task."""

    task_state: str
    progress: tuple[dict[str, Any], ...] = ()
    result: WuaResult | None = None
    #: Lines consumed: all but a last one that is not (yet) complete JSON, which the
    #: worker may still be writing; the next poll asks from here.
    consumed: int = 0


@dataclass(frozen=True, slots=True)
class TaskAction:
    """The answer to wua_task start / cleanup."""

    action: str
    job_id: str
    done: bool  # started / removed
    already: bool = False  # start: the job existed and was only re-attached


# -- document level -------------------------------------------------------------------------
def load_document(text: str, what: str) -> dict[str, Any]:
    """The one JSON object a script printed.

    Raises:
        ParseError: empty, more than one document, not an object, too large, or another
            schema than ours.
    """
    if len(text) > MAX_DOCUMENT:
        raise ParseError(f"{what}: output larger than {MAX_DOCUMENT // (1024 * 1024)} MiB")
    body = text.lstrip("\ufeff").strip()
    if not body:
        raise ParseError(f"{what}: the script printed nothing")
    try:
        value, end = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{what}: not JSON ({exc.msg} at character {exc.pos})",
                         body[:120]) from None
    if body[end:].strip():
        raise ParseError(f"{what}: more than one JSON document", body[end:].strip()[:120])
    if not isinstance(value, dict):
        raise ParseError(f"{what}: expected a JSON object, got {type(value).__name__}")
    if value.get("schema") != SCHEMA:
        raise ParseError(f"{what}: unknown schema {value.get('schema')!r}")
    return value


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return ""
    return truncate(_CONTROL.sub("", value).strip(), limit)


def _int(value: Any, *, minimum: int = 0) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value.strip()):
        value = int(value)
    if isinstance(value, int) and value >= minimum:
        return value
    return None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _list(value: Any) -> list[Any]:
    # ConvertTo-Json in PowerShell 5.1 turns a one-element array into the element and an
    # empty one into null when the pipeline unrolled it.
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in _list(value) if isinstance(v, dict)]


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp or PowerShell 5.1's ``/Date(ms)/``; None if neither."""
    text = _text(value, 64)
    if not text:
        return None
    m = _MS_DATE.match(text)
    try:
        if m:
            return dt.datetime.fromtimestamp(int(m.group(1)) / 1000, dt.UTC)
        # .NET's "o" format has 7 fractional digits; Python takes at most 6.
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _kb(value: Any) -> str:
    text = _text(value, 16).upper()
    if text.isdigit():
        text = "KB" + text
    return text if KB_RE.match(text) else ""


def describe_hresult(code: int) -> str:
    """A readable reason for an HRESULT (signed or unsigned), with its hex code."""
    unsigned = code & 0xFFFFFFFF
    reason = HRESULT_REASONS.get(unsigned, "error")
    return f"{reason} (0x{unsigned:08X})"


# -- facts ----------------------------------------------------------------------------------
def parse_facts(text: str) -> WindowsFacts:
    """Parse facts.ps1's document.

    Raises:
        ParseError: see :func:`load_document`.
    """
    doc = load_document(text, "facts")
    build_text = _text(doc.get("current_build"), 10)
    build = int(build_text) if build_text.isdigit() else None
    ubr = _int(doc.get("ubr"))
    installation = _text(doc.get("installation_type"), 40)
    caption = _text(doc.get("caption"))
    product = _text(doc.get("product_name"))
    name = caption.removeprefix("Microsoft ").strip() if caption else product
    if build is not None and build >= WINDOWS_11_FIRST_BUILD and \
            installation.lower() == "client":
        name = re.sub(r"^Windows 10\b", "Windows 11", name)
    display = _text(doc.get("display_version"), 20) or _text(doc.get("release_id"), 20)
    revision = f"{build}.{ubr}" if build is not None and ubr is not None else build_text
    pretty = " ".join(p for p in (name, display) if p)
    if revision:
        pretty += f" (build {revision})"
    interfaces = []
    for nic in _dicts(doc.get("interfaces"))[:64]:
        try:
            mac: str | None = normalize_mac(_text(nic.get("mac"), 32))
        except ValueError:
            mac = None
        addresses = []
        for addr in _list(nic.get("addresses"))[:32]:
            try:
                addresses.append(str(ipaddress.ip_address(_text(addr, 64).split("%")[0])))
            except ValueError:
                continue
        interfaces.append(Interface(_text(nic.get("name"), 200), mac, tuple(addresses)))
    disks = []
    for disk in _dicts(doc.get("disks"))[:64]:
        size, free = _int(disk.get("size")), _int(disk.get("free"))
        mount = _text(disk.get("mount"), 260)
        if mount and size is not None and free is not None and free <= size:
            disks.append(Disk(mount, size, free, _text(disk.get("filesystem"), 20)))
    users = tuple(dict.fromkeys(u for u in (_text(x, 256) for x in
                                            _list(doc.get("logged_on_users"))[:256]) if u))
    version = _text(doc.get("version"), 40)
    kernel = f"{version}.{ubr}" if version and ubr is not None else version
    part_of_domain = _bool(doc.get("part_of_domain"))
    facts = HostFacts(
        os_id="windows", os_name=name, os_version=display, os_pretty=pretty, kernel=kernel,
        arch=_text(doc.get("architecture"), 20), hostname=_text(doc.get("hostname"), 63),
        last_boot=parse_time(doc.get("last_boot")), cpu_count=_int(doc.get("cpu_count")),
        memory_total=_int(doc.get("memory_total")), disks=tuple(disks),
        interfaces=tuple(interfaces), manufacturer=_text(doc.get("manufacturer")),
        model=_text(doc.get("model")), serial=_text(doc.get("serial"), 100),
        logged_in_users=users,
    )
    return WindowsFacts(
        facts=facts, edition=_text(doc.get("edition_id"), 60), installation_type=installation,
        build=build, ubr=ubr, display_version=display, part_of_domain=part_of_domain,
        domain=_text(doc.get("domain"), 255) if part_of_domain else "",
        workgroup=_text(doc.get("workgroup"), 255) if part_of_domain is False else "",
    )


# -- installed updates and software ----------------------------------------------------------
def parse_installed_updates(text: str) -> InstalledUpdates:
    """Parse installed_updates.ps1's document (Get-HotFix + WUA history).

    Raises:
        ParseError: see :func:`load_document`.
    """
    doc = load_document(text, "installed updates")
    found: list[InstalledUpdate] = []
    for fix in _dicts(doc.get("hotfixes")):
        kb = _kb(fix.get("kb"))
        if kb:
            found.append(InstalledUpdate(kb, _text(fix.get("description")),
                                         _text(fix.get("installed_on"), 40), "hotfix"))
    failed = []
    for entry in _dicts(doc.get("history")):
        title = _text(entry.get("title"))
        if _int(entry.get("operation")) not in (1, None):
            continue  # an uninstallation
        if _int(entry.get("result_code")) not in (2, 3):
            failed.append(title)
            continue
        m = _KB_IN_TITLE.search(title)
        if m:
            found.append(InstalledUpdate(f"KB{m.group(1)}", title,
                                         _text(entry.get("date"), 40), "wua-history"))
    warnings = tuple(w for w in (_text(x) for x in _list(doc.get("warnings"))) if w)
    return InstalledUpdates(tuple(found), tuple(failed), warnings)


def parse_installed_software(text: str) -> list[InstalledPackage]:
    """Parse installed_software.ps1's document (Uninstall keys, 64- and 32-bit views).

    Raises:
        ParseError: see :func:`load_document`.
    """
    doc = load_document(text, "installed software")
    out: dict[tuple[str, str, str], InstalledPackage] = {}
    for item in _dicts(doc.get("software")):
        name = _text(item.get("name"), 300)
        if not name:
            continue
        arch = "x86" if _text(item.get("arch"), 10) == "x86" else ""
        version = _text(item.get("version"), 100)
        out.setdefault((name, version, arch),
                       InstalledPackage(name, version, arch, "uninstall-registry"))
    return list(out.values())


# -- pending reboot ------------------------------------------------------------------------
def parse_pending_reboot(text: str) -> RebootState:
    """Weigh the four signals: WUA, CBS and WindowsUpdate mean "required";
    PendingFileRenameOperations alone only "recommended" (installers set it too).

    Raises:
        ParseError: see :func:`load_document`.
    """
    doc = load_document(text, "pending reboot")
    wua = _bool(doc.get("wua_reboot_required"))
    cbs = _bool(doc.get("cbs_reboot_pending"))
    wu = _bool(doc.get("wu_reboot_required"))
    renames = _int(doc.get("pending_file_renames")) or 0
    reasons = []
    if wua:
        reasons.append("Windows Update Agent: reboot required")
    if cbs:
        reasons.append("Component Based Servicing: RebootPending")
    if wu:
        reasons.append("Windows Update: RebootRequired")
    if renames:
        reasons.append(f"{renames} pending file rename operation(s) (reboot recommended)")
    if wua is None and cbs is None and wu is None:
        return RebootState(None, tuple(reasons))
    return RebootState(bool(wua or cbs or wu), tuple(reasons))


# -- the WUA task ---------------------------------------------------------------------------
def parse_task_action(text: str, action: str, job_id: str) -> TaskAction:
    """Parse wua_task's answer to ``start`` or ``cleanup`` for our job.

    Raises:
        ParseError: another action or job than asked, or see :func:`load_document`.
    """
    doc = load_document(text, f"task {action}")
    if doc.get("action") != action or doc.get("job_id") != job_id:
        raise ParseError(f"task {action}: the answer is for another action or job")
    flag = "started" if action == "start" else "removed"
    return TaskAction(action, job_id, doc.get(flag) is True, doc.get("already") is True)


def parse_wua_poll(text: str, job_id: str) -> WuaPoll:
    """Parse wua_task's answer to ``poll``: progress lines and, once written, the result.

    Raises:
        ParseError: another job, or see :func:`load_document`.
    """
    doc = load_document(text, "task poll")
    if doc.get("action") != "poll" or doc.get("job_id") != job_id:
        raise ParseError("task poll: the answer is for another action or job")
    progress = []
    lines = _list(doc.get("progress"))[:10_000]
    consumed = len(lines)
    for index, line in enumerate(lines):
        if not isinstance(line, str):
            continue
        try:
            event = json.loads(line.lstrip("\ufeff"))
        except json.JSONDecodeError:
            if index == len(lines) - 1:
                consumed -= 1  # the worker may still be writing it: read it again
            continue
        if isinstance(event, dict):
            progress.append({"stage": _text(event.get("stage"), 40),
                             "ts": _text(event.get("ts"), 40),
                             **{k: v for k, v in event.items()
                                if k not in ("stage", "ts") and isinstance(v, int | bool)}})
    raw = doc.get("result")
    result = parse_wua_result(raw) if isinstance(raw, str) and raw.strip() else None
    return WuaPoll(_text(doc.get("task_state"), 20) or "Unknown", tuple(progress), result,
                   consumed)


def parse_wua_result(text: str) -> WuaResult:
    """Parse the worker's result document (search or install).

    Raises:
        ParseError: see :func:`load_document`.
    """
    doc = load_document(text, "WUA result")
    operation = _text(doc.get("operation"), 20)
    if operation not in ("search", "install", "uninstall"):
        raise ParseError(f"WUA result: unknown operation {operation!r}")
    updates = []
    for item in _dicts(doc.get("updates")):
        update_id = _text(item.get("update_id"), 40).lower()
        if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                            update_id):
            continue  # without an identity we could never install it by id
        severity = _SEVERITY.get(_text(item.get("msrc_severity"), 20).lower(),
                                 Severity.UNKNOWN)
        kbs = tuple(dict.fromkeys(k for k in (_kb(x) for x in _list(item.get("kbs"))) if k))
        cves = tuple(dict.fromkeys(c for c in (_text(x, 24).upper()
                                               for x in _list(item.get("cves"))) if
                                   CVE_RE.match(c)))
        reboot = _int(item.get("reboot_behavior"))
        updates.append(WindowsUpdate(
            update_id=update_id, revision=_int(item.get("revision")) or 0,
            title=_text(item.get("title")), kbs=kbs, severity=severity,
            categories=tuple(c for c in (_text(x, 100) for x in
                                         _list(item.get("categories"))) if c),
            cves=cves, max_download_size=_int(item.get("max_download_size")),
            reboot_behavior=reboot if reboot in (0, 1, 2) else None,
            uninstallable=_bool(item.get("is_uninstallable")),
            downloaded=_bool(item.get("is_downloaded")) or False,
            optional=_bool(item.get("browse_only")) or False,
        ))
    installed = []
    for item in _dicts(doc.get("installed")):
        kbs = tuple(k for k in (_kb(x) for x in _list(item.get("kbs"))) if k)
        hresult = _int(item.get("hresult"), minimum=-(2 ** 31)) or 0
        method = _text(item.get("method"), 10)
        installed.append(InstallOutcome(kbs, _text(item.get("title")),
                                        _int(item.get("result_code")), hresult,
                                        _bool(item.get("reboot_required")) or False,
                                        method if method in ("wusa", "dism", "none") else ""))
    return WuaResult(
        operation=operation, ok=doc.get("ok") is True, updates=tuple(updates),
        installed=tuple(installed),
        reboot_required=_bool(doc.get("reboot_required")) or False,
        reboot_pending=_bool(doc.get("reboot_pending")),
        error=_text(doc.get("error"), 1000),
        hresult=_int(doc.get("hresult"), minimum=-(2 ** 31)) or 0,
    )

