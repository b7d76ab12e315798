"""The patch policy: who decides, what is patched, by when, when and how (pure data).

A policy is a frozen value; the store keeps every version (author, date, note) and never
changes one. :meth:`Policy.to_dict` / :meth:`Policy.from_dict` are the JSON form that
``patchdesk policy set --file`` reads, and :func:`set_value` turns one ``KEY VALUE`` pair of
``patchdesk policy set`` (the keys are the dotted paths of that JSON, e.g.
``sla_hours.emergency 24h``) into a new policy. Roles are checked with :meth:`Policy.may`:
a role that nobody holds is open to everyone (a fresh site has no named people, so nothing
is refused until the site names its approvers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

from app.core.deployment import Gates, RebootPolicy
from app.core.errors import FieldError, ValidationError
from app.core.models import Asset, Classification, StrEnum


class Priority(StrEnum):
    """How urgently an update must be installed; each has an SLA in the policy."""

    EMERGENCY = "emergency"
    HIGH = "high"
    STANDARD = "standard"
    LOW = "low"


class Role(StrEnum):
    """What a named person may do under the policy."""

    RESPONSIBLE = "responsible"  # accountable for patching at this site
    APPROVER = "approver"  # may approve a deployment after its test ring
    DEPLOYER = "deployer"  # may plan and run deployments
    REVIEWER = "reviewer"  # may decide urgency reviews and grant exceptions


#: Default SLA per priority, in hours (emergency 48 h, high 7 d, standard 30 d, low 90 d).
DEFAULT_SLA_HOURS: dict[Priority, int] = {
    Priority.EMERGENCY: 48,
    Priority.HIGH: 7 * 24,
    Priority.STANDARD: 30 * 24,
    Priority.LOW: 90 * 24,
}

DEFAULT_EMERGENCY_PROCEDURE = (
    "1. The responsible person confirms the emergency (a known-exploited or critical "
    "vulnerability on an exposed or critical asset) and records an urgency review "
    "('patch now'). 2. Test on one test-ring host; skip the pilot wait. 3. An approver "
    "approves by name. 4. Deploy outside the maintenance window if needed, with the "
    "shortest reboot notice the users were told about. 5. Verify with a rescan and record "
    "the outcome. If no patch exists: apply the vendor's workaround and record an "
    "exception with an expiry date."
)

_GATES = Gates()  # the deployment defaults the policy starts from
#: Days a vulnerability feed may age before it is flagged stale (EPSS and KEV change daily,
#: the trackers within days of a fix: a week's grace covers a missed update run).
DEFAULT_FEEDS_MAX_AGE_DAYS = 7
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(
    r"^\s*(?:(?P<group>[^=]+?)\s*=\s*)?(?P<days>[a-z,\s-]+?)\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$", re.IGNORECASE)
_SELECTOR = re.compile(r"^(all|(ring|tag|kind|asset|host):[^\s,;]+)$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdw]?)\s*$", re.IGNORECASE)


def parse_selector(text: str) -> str:
    """Check an asset selector: ``all``, ``ring:NAME``, ``tag:NAME``, ``kind:NAME``,
    ``asset:ID`` or ``host:NAME``.

    Raises:
        ValueError: naming the accepted forms.
    """
    value = text.strip()
    if not _SELECTOR.fullmatch(value):
        raise ValueError(f"'{value}' is not an asset selector (all, ring:NAME, tag:NAME, "
                         "kind:NAME, asset:ID or host:NAME)")
    return value


def selector_matches(selector: str, asset: Asset) -> bool:
    """Whether an asset is in the group a selector names."""
    if selector == "all":
        return True
    kind, _, value = selector.partition(":")
    low = value.lower()
    if kind == "ring":
        return str(asset.ring) == low
    if kind == "tag":
        return low in (t.lower() for t in asset.tags)
    if kind == "kind":
        return str(asset.kind) == low
    if kind == "asset":
        return str(asset.id) == value.lstrip("#")
    if kind == "host":
        return asset.hostname.lower() == low
    return False


def parse_hours(text: str | int | float) -> int:
    """A duration in hours from ``48``, ``48h``, ``7d`` or ``2w``.

    Raises:
        ValueError: not a positive duration.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        hours = float(text)
    else:
        m = _DURATION.fullmatch(str(text))
        if not m:
            raise ValueError(f"'{text}' is not a duration (e.g. 48h, 7d, 2w)")
        hours = float(m.group(1)) * {"": 1, "h": 1, "d": 24, "w": 168}[m.group(2).lower()]
    if hours <= 0 or hours > 24 * 3660:
        raise ValueError(f"'{text}' is not a duration between 1 hour and 10 years")
    return max(1, round(hours))


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """When a group of assets may be patched: weekdays and a time range (local time).

    An end before the start means the window runs past midnight into the next day
    (``sat 22:00-04:00`` is Saturday 22:00 to Sunday 04:00).
    """

    group: str  # an asset selector
    days: tuple[int, ...]  # 0 = Monday
    start: time
    end: time

    def __str__(self) -> str:
        days = ",".join(_DAYS[d] for d in self.days)
        return f"{self.group}={days} {self.start:%H:%M}-{self.end:%H:%M}"

    @classmethod
    def parse(cls, text: str) -> MaintenanceWindow:
        """Parse ``[GROUP=]DAYS HH:MM-HH:MM``; DAYS is ``sat``, ``sat,sun``, ``mon-fri`` or
        ``daily``; GROUP defaults to ``all``.

        Raises:
            ValueError: saying what is wrong.
        """
        m = _WINDOW.fullmatch(text)
        if not m:
            raise ValueError(f"'{text.strip()}' is not a window like "
                             "'ring:production=sat,sun 22:00-04:00'")
        group = parse_selector(m["group"] or "all")
        days: list[int] = []
        for part in m["days"].lower().replace(" ", "").split(","):
            if part in ("daily", "everyday", "all"):
                days.extend(range(7))
            elif "-" in part:
                first, _, last = part.partition("-")
                if first not in _DAYS or last not in _DAYS:
                    raise ValueError(f"'{part}' is not a range of weekdays (e.g. mon-fri)")
                a, b = _DAYS.index(first), _DAYS.index(last)
                days.extend(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
            elif part[:3] in _DAYS:
                days.append(_DAYS.index(part[:3]))
            else:
                raise ValueError(f"'{part}' is not a weekday (mon … sun, mon-fri, daily)")
        try:
            start = time.fromisoformat(f"{m['start']:0>5}")
            end = time.fromisoformat(f"{m['end']:0>5}")
        except ValueError:
            raise ValueError(f"'{m['start']}-{m['end']}' is not a time range") from None
        if start == end:
            raise ValueError("a maintenance window cannot start and end at the same time")
        return cls(group, tuple(sorted(set(days))), start, end)

    def contains(self, when: datetime) -> bool:
        """Whether a (local) moment falls inside the window."""
        t, day = when.time(), when.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= t < self.end
        # Past midnight: the evening part on a listed day, the morning part the day after.
        return (day in self.days and t >= self.start) or \
               ((day - 1) % 7 in self.days and t < self.end)

    def _spans(self, when: datetime) -> list[tuple[datetime, datetime]]:
        """The window's occurrences from the day before ``when`` to a week after, as
        (start, end) in ``when``'s time zone (naive stays naive)."""
        spans = []
        for offset in range(-1, 9):
            day = (when + timedelta(days=offset)).date()
            if day.weekday() not in self.days:
                continue
            start = datetime.combine(day, self.start, tzinfo=when.tzinfo)
            end_day = day if self.start < self.end else day + timedelta(days=1)
            spans.append((start, datetime.combine(end_day, self.end, tzinfo=when.tzinfo)))
        return spans

    def next_open(self, when: datetime) -> datetime:
        """When the window is next open: ``when`` itself while it is open."""
        if self.contains(when):
            return when
        return min(start for start, _ in self._spans(when) if start > when)

    def closes_at(self, when: datetime) -> datetime | None:
        """When the occurrence of the window that contains ``when`` ends (None: closed)."""
        for start, end in self._spans(when):
            if start <= when < end:
                return end
        return None


@dataclass(frozen=True, slots=True)
class Policy:
    """One version's content. Defaults are the policy of a site nobody has configured."""

    responsible: str = ""
    people: tuple[tuple[str, tuple[Role, ...]], ...] = ()
    scope_include: tuple[str, ...] = ("all",)
    scope_exclude: tuple[str, ...] = ()
    classifications: tuple[Classification, ...] = tuple(Classification)
    sla_hours: tuple[tuple[Priority, int], ...] = tuple(DEFAULT_SLA_HOURS.items())
    windows: tuple[MaintenanceWindow, ...] = ()
    reboot: RebootPolicy = RebootPolicy.IF_NEEDED
    reboot_notice: str = _GATES.reboot_message
    reboot_lead_minutes: int = _GATES.reboot_lead_minutes
    test_group: tuple[str, ...] = ("ring:test",)
    pilot_group: tuple[str, ...] = ("ring:pilot",)
    max_failures: int | None = None
    max_failure_rate: float = _GATES.max_failure_rate
    pilot_success: float = _GATES.pilot_success
    backup_required: bool = True
    backup_days: int = 7
    emergency_procedure: str = DEFAULT_EMERGENCY_PROCEDURE
    notes: str = ""
    #: A vulnerability feed older than this is flagged stale (dashboard, report).
    feeds_max_age_days: int = DEFAULT_FEEDS_MAX_AGE_DAYS

    # -- questions -----------------------------------------------------------------------
    def sla(self, priority: Priority) -> timedelta:
        """How long an update of this priority may stay missing."""
        hours = dict(self.sla_hours).get(priority, DEFAULT_SLA_HOURS[priority])
        return timedelta(hours=hours)

    def due(self, first_seen: datetime, priority: Priority) -> datetime:
        """When an update first seen at ``first_seen`` must be installed."""
        return first_seen + self.sla(priority)

    def holders(self, role: Role) -> tuple[str, ...]:
        """Names of the people who hold a role (the responsible person counts as one)."""
        names = [name for name, roles in self.people if role in roles]
        if role is Role.RESPONSIBLE and self.responsible and self.responsible not in names:
            names.insert(0, self.responsible)
        return tuple(names)

    def roles_of(self, name: str) -> tuple[Role, ...]:
        """The roles a person holds (names compare case-insensitively)."""
        key = name.strip().casefold()
        return next((roles for n, roles in self.people if n.casefold() == key), ())

    def may(self, name: str, role: Role) -> bool:
        """Whether a person may act in a role. A role nobody holds is open to everyone."""
        holders = self.holders(role)
        if not holders:
            return True
        key = name.strip().casefold()
        return any(h.casefold() == key for h in holders)

    def in_scope(self, asset: Asset) -> bool:
        """Whether the policy covers an asset (an include matches, no exclude does)."""
        return any(selector_matches(s, asset) for s in self.scope_include) and \
            not any(selector_matches(s, asset) for s in self.scope_exclude)

    def windows_for(self, asset: Asset) -> tuple[MaintenanceWindow, ...]:
        """The maintenance windows that apply to an asset (none: patch any time)."""
        return tuple(w for w in self.windows if selector_matches(w.group, asset))

    def in_window(self, asset: Asset, when: datetime) -> bool:
        """Whether ``when`` is inside one of the asset's windows (True without windows)."""
        windows = self.windows_for(asset)
        return not windows or any(w.contains(when) for w in windows)

    def next_open(self, asset: Asset, when: datetime) -> datetime:
        """When one of the asset's windows is next open (``when`` while one is, or when
        the asset has none)."""
        windows = self.windows_for(asset)
        return min((w.next_open(when) for w in windows), default=when)

    def gates(self, base: Gates | None = None) -> Gates:
        """Deployment gates carrying this policy's reboot, failure, pilot, backup and window
        rules."""
        base = base or Gates()
        return replace(
            base, reboot=self.reboot, reboot_message=self.reboot_notice,
            reboot_lead_minutes=self.reboot_lead_minutes, max_failures=self.max_failures,
            max_failure_rate=self.max_failure_rate, pilot_success=self.pilot_success,
            backup_days=self.backup_days if self.backup_required else None,
            windows=tuple(str(w) for w in self.windows))

    # -- JSON form -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``policy show --json`` prints and ``--file`` reads)."""
        return {
            "responsible": self.responsible,
            "people": {name: [str(r) for r in roles] for name, roles in self.people},
            "scope": {"include": list(self.scope_include),
                      "exclude": list(self.scope_exclude),
                      "classifications": [str(c) for c in self.classifications]},
            "sla_hours": {str(p): h for p, h in self.sla_hours},
            "windows": [str(w) for w in self.windows],
            "reboot": {"behaviour": str(self.reboot), "notice": self.reboot_notice,
                       "lead_minutes": self.reboot_lead_minutes},
            "rings": {"test": list(self.test_group), "pilot": list(self.pilot_group),
                      "pilot_success": self.pilot_success},
            "failures": {"max": self.max_failures, "max_rate": self.max_failure_rate},
            "backup": {"required": self.backup_required, "days": self.backup_days},
            "emergency_procedure": self.emergency_procedure,
            "notes": self.notes,
            "feeds": {"max_age_days": self.feeds_max_age_days},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """Build a policy from its JSON form; missing keys keep their defaults.

        Raises:
            ValidationError: every unknown key and invalid value, by dotted path.
        """
        return _from_dict(data)


def _from_dict(data: dict[str, Any]) -> Policy:
    errors: list[FieldError] = []
    default = Policy().to_dict()
    if not isinstance(data, dict):
        raise ValidationError([FieldError("policy", "must be a JSON object")])

    def section(key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            errors.append(FieldError(key, "must be an object"))
            return {}
        for sub in value:
            if key != "people" and sub not in default[key]:
                errors.append(FieldError(f"{key}.{sub}", "unknown setting"))
        return value

    for key in data:
        if key not in default:
            errors.append(FieldError(key, "unknown setting"))

    def get(sec: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...]) -> Any:
        value = sec.get(key, _dig(default, path))
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in
                                           (kind if isinstance(kind, tuple) else (kind,))):
            errors.append(FieldError(path, f"has the wrong type ({type(value).__name__})"))
            return _dig(default, path)
        return value

    def text(key: str) -> str:
        value = data.get(key, default[key])
        if not isinstance(value, str):
            errors.append(FieldError(key, "must be text"))
            return str(default[key])
        if len(value) > 20000:
            errors.append(FieldError(key, "is longer than 20,000 characters"))
        return value.strip()

    def selectors(values: Any, path: str) -> tuple[str, ...]:
        if not isinstance(values, list):
            errors.append(FieldError(path, "must be a list of selectors"))
            return ()
        out = []
        for v in values:
            try:
                out.append(parse_selector(str(v)))
            except ValueError as exc:
                errors.append(FieldError(path, str(exc)))
        return tuple(dict.fromkeys(out))

    people: list[tuple[str, tuple[Role, ...]]] = []
    for name, roles in section("people").items():
        name = " ".join(str(name).split())
        if not name or len(name) > 200:
            errors.append(FieldError("people", f"'{name}' is not a person's name"))
            continue
        if isinstance(roles, str):
            roles = [r for r in roles.split(",") if r.strip()]
        parsed: list[Role] = []
        for r in roles if isinstance(roles, list) else [roles]:
            try:
                parsed.append(Role(str(r).strip().lower()))
            except ValueError:
                errors.append(FieldError(f"people.{name}", f"'{r}' is not a role "
                                         f"({', '.join(str(x) for x in Role)})"))
        if parsed:
            people.append((name, tuple(dict.fromkeys(parsed))))

    scope = section("scope")
    classes: list[Classification] = []
    for c in get(scope, "classifications", "scope.classifications", list):
        try:
            classes.append(Classification(str(c).lower()))
        except ValueError:
            errors.append(FieldError("scope.classifications",
                                     f"'{c}' is not one of "
                                     f"{', '.join(str(x) for x in Classification)}"))
    sla_sec = section("sla_hours")
    sla: list[tuple[Priority, int]] = []
    for p in Priority:
        value = sla_sec.get(str(p), DEFAULT_SLA_HOURS[p])
        try:
            sla.append((p, parse_hours(value)))
        except ValueError as exc:
            errors.append(FieldError(f"sla_hours.{p}", str(exc)))
    windows: list[MaintenanceWindow] = []
    raw_windows = data.get("windows", [])
    if isinstance(raw_windows, str):
        raw_windows = [w for w in raw_windows.split(";") if w.strip()]
    if not isinstance(raw_windows, list):
        errors.append(FieldError("windows", "must be a list of windows"))
        raw_windows = []
    for w in raw_windows:
        try:
            windows.append(MaintenanceWindow.parse(str(w)))
        except ValueError as exc:
            errors.append(FieldError("windows", str(exc)))
    reboot = section("reboot")
    try:
        behaviour = RebootPolicy(get(reboot, "behaviour", "reboot.behaviour", str))
    except ValueError:
        errors.append(FieldError("reboot.behaviour", "must be never, if-needed or always"))
        behaviour = RebootPolicy.IF_NEEDED
    lead = get(reboot, "lead_minutes", "reboot.lead_minutes", int)
    if not 0 <= lead <= 24 * 60:
        errors.append(FieldError("reboot.lead_minutes", "must be 0 to 1440 minutes"))
    rings = section("rings")
    failures = section("failures")
    max_failures = get(failures, "max", "failures.max", (int, type(None)))
    if max_failures is not None and max_failures < 1:
        errors.append(FieldError("failures.max", "must be at least 1 (or null)"))
    max_rate = get(failures, "max_rate", "failures.max_rate", (int, float))
    if not 0 <= max_rate <= 1:
        errors.append(FieldError("failures.max_rate", "must be between 0 and 1"))
    pilot_success = get(rings, "pilot_success", "rings.pilot_success", (int, float))
    if not 0 <= pilot_success <= 1:
        errors.append(FieldError("rings.pilot_success", "must be between 0 and 1"))
    backup = section("backup")
    backup_days = get(backup, "days", "backup.days", int)
    if not 1 <= backup_days <= 3660:
        errors.append(FieldError("backup.days", "must be 1 to 3660 days"))
    feeds_sec = section("feeds")
    feeds_age = get(feeds_sec, "max_age_days", "feeds.max_age_days", int)
    if not 1 <= feeds_age <= 366:
        errors.append(FieldError("feeds.max_age_days", "must be 1 to 366 days"))
    policy = Policy(
        responsible=" ".join(text("responsible").split()),
        people=tuple(people),
        scope_include=selectors(scope.get("include", ["all"]), "scope.include"),
        scope_exclude=selectors(scope.get("exclude", []), "scope.exclude"),
        classifications=tuple(dict.fromkeys(classes)),
        sla_hours=tuple(sla),
        windows=tuple(windows),
        reboot=behaviour,
        reboot_notice=get(reboot, "notice", "reboot.notice", str).strip(),
        reboot_lead_minutes=lead,
        test_group=selectors(rings.get("test", ["ring:test"]), "rings.test"),
        pilot_group=selectors(rings.get("pilot", ["ring:pilot"]), "rings.pilot"),
        max_failures=max_failures,
        max_failure_rate=float(max_rate),
        pilot_success=float(pilot_success),
        backup_required=get(backup, "required", "backup.required", bool),
        backup_days=backup_days,
        emergency_procedure=text("emergency_procedure"),
        notes=text("notes"),
        feeds_max_age_days=feeds_age,
    )
    if errors:
        raise ValidationError(errors)
    return policy


def _dig(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        value = value[part]
    return value


_TRUE = {"yes", "true", "on", "1", "y"}
_FALSE = {"no", "false", "off", "0", "n"}
#: Convenience keys of ``policy set``: the names given get the role, everyone else loses it.
ROLE_KEYS = {"approvers": Role.APPROVER, "deployers": Role.DEPLOYER,
             "reviewers": Role.REVIEWER}


def setting_keys() -> list[str]:
    """Every key ``policy set`` accepts (``people.NAME`` stands for any name)."""
    keys: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and prefix != "people":
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            keys.append("people.NAME" if prefix == "people" else prefix)

    walk("", Policy().to_dict())
    return [*keys, *ROLE_KEYS]


def set_value(policy: Policy, key: str, value: str) -> Policy:
    """A copy of ``policy`` with one setting changed from text, as ``policy set`` gives it.

    Lists are comma-separated (windows: semicolon-separated); ``none`` or an empty value
    clears a list or a person; booleans are yes/no; SLAs take 48h / 7d / 2w.

    Raises:
        ValidationError: unknown key or invalid value (field = the key).
    """
    key = key.strip()
    data = policy.to_dict()
    raw = value.strip()
    empty = raw.lower() in ("", "none", "null", "-")

    def items(sep: str = ",") -> list[str]:
        return [] if empty else [v.strip() for v in raw.split(sep) if v.strip()]

    if key in ROLE_KEYS:
        role = str(ROLE_KEYS[key])
        names = items()
        people: dict[str, list[str]] = {n: [r for r in rs if r != role]
                                        for n, rs in data["people"].items()}
        for name in names:
            match = next((n for n in people if n.casefold() == name.casefold()), name)
            people.setdefault(match, []).append(role)
        data["people"] = {n: rs for n, rs in people.items() if rs}
    elif key.startswith("people."):
        name = key[len("people."):].strip()
        match = next((n for n in data["people"] if n.casefold() == name.casefold()), name)
        if empty:
            data["people"].pop(match, None)
        else:
            data["people"][match] = items()
    elif key == "windows":
        data["windows"] = items(";")
    elif key not in setting_keys():
        raise ValidationError([FieldError(key, "unknown policy setting; one of "
                                          + ", ".join(setting_keys()))])
    else:
        parent, _, leaf = key.rpartition(".")
        target = _dig(data, parent) if parent else data
        current = target[leaf]
        new: Any
        if isinstance(current, bool):
            if raw.lower() not in _TRUE | _FALSE:
                raise ValidationError([FieldError(key, f"'{raw}' is not yes or no")])
            new = raw.lower() in _TRUE
        elif isinstance(current, list):
            new = items()
        elif parent == "sla_hours":
            try:
                new = parse_hours(raw)
            except ValueError as exc:
                raise ValidationError([FieldError(key, str(exc))]) from None
        elif key == "failures.max":
            new = None if empty else _number(key, raw, int)
        elif isinstance(current, int | float):
            new = _number(key, raw, type(current))
        else:
            new = value.strip()
        target[leaf] = new
    return Policy.from_dict(data)


def _number(key: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw) if kind is int else float(raw)
    except ValueError:
        raise ValidationError([FieldError(key, f"'{raw}' is not a number")]) from None


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One saved version of the policy: its number, author, date and content."""

    version: int  # 0: the built-in defaults, never saved
    policy: Policy
    author: str = ""
    created_at: datetime | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"version": self.version, "author": self.author,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "note": self.note, "policy": self.policy.to_dict()}


def policy_diff(old: Policy, new: Policy) -> dict[str, list[Any]]:
    """What changed between two policies, as ``{dotted.key: [old, new]}`` (for the audit)."""
    out: dict[str, list[Any]] = {}

    def walk(prefix: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict) and prefix != "people":
            for k in dict.fromkeys([*a, *b]):
                walk(f"{prefix}.{k}" if prefix else k, a.get(k), b.get(k))
        elif a != b:
            out[prefix] = [a, b]

    walk("", old.to_dict(), new.to_dict())
    return out


def format_policy(version: PolicyVersion) -> str:
    """The policy as printable text (``policy show``; the printed page of the GUI)."""
    p = version.policy
    lines = [
        f"Patch policy, version {version.version}"
        + (f" — {version.author}, {version.created_at:%Y-%m-%d %H:%M} UTC"
           if version.created_at else " (built-in defaults; not saved yet)"),
    ]
    if version.note:
        lines.append(f"  change note: {version.note}")
    roles = {r: p.holders(r) for r in Role}
    lines += [
        "",
        "Who",
        f"  responsible: {p.responsible or '(nobody named)'}",
        *(f"  {name}: {', '.join(str(r) for r in rs)}" for name, rs in p.people),
        f"  may approve deployments: {', '.join(roles[Role.APPROVER]) or 'anyone'}",
        f"  may deploy: {', '.join(roles[Role.DEPLOYER]) or 'anyone'}",
        f"  may grant exceptions: {', '.join(roles[Role.REVIEWER]) or 'anyone'}",
        "",
        "What",
        f"  assets: {', '.join(p.scope_include) or 'none'}"
        + (f" except {', '.join(p.scope_exclude)}" if p.scope_exclude else ""),
        f"  update kinds: {', '.join(str(c) for c in p.classifications)}",
        "",
        "By when (SLA from the day an update is first seen missing)",
        *(f"  {pr!s:10} {_hours_text(h)}" for pr, h in p.sla_hours),
        "",
        "When",
        *([f"  {w}" for w in p.windows] or ["  no maintenance windows: any time"]),
        "",
        "How",
        f"  test ring: {', '.join(p.test_group) or 'none'}; "
        f"pilot group: {', '.join(p.pilot_group) or 'none'} "
        f"({p.pilot_success:.0%} must succeed)",
        f"  reboot: {p.reboot}, notice {p.reboot_lead_minutes} min before: "
        f"\"{p.reboot_notice}\"",
        "  halt production after "
        + (f"{p.max_failures} failed host(s)" if p.max_failures is not None
           else f"more than {p.max_failure_rate:.0%} failed hosts"),
        "  servers need a verified backup "
        + (f"within {p.backup_days} day(s) before patching" if p.backup_required
           else "— not required"),
        "",
        "Emergency procedure",
        f"  {p.emergency_procedure}",
        "",
        "Vulnerability feeds",
        f"  flagged stale when older than {p.feeds_max_age_days} day(s)",
    ]
    if p.notes:
        lines += ["", "Notes", f"  {p.notes}"]
    return "\n".join(lines) + "\n"


def _hours_text(hours: int) -> str:
    count, unit = (hours // 24, "day") if hours % 24 == 0 else (hours, "hour")
    return f"{count} {unit}{'' if count == 1 else 's'}"
