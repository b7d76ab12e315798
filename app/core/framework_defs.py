"""Compliance frameworks as data: the framework, its deadline rules and requirements, and
reading and checking the bundled JSON files (:func:`load_frameworks`, the only I/O).

Judging a site against them is :mod:`app.core.frameworks`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.core.errors import UserError
from app.core.models import Severity, StrEnum

FRAMEWORK_DIR = "frameworks"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")


class EvidenceKind(StrEnum):
    """The kinds of evidence PatchDesk holds; each requirement names the ones it rests on."""

    INVENTORY_COVERAGE = "inventory_coverage"  # assets seen or assessed within N days
    ASSESSMENT_COVERAGE = "assessment_coverage"  # assets with a successful deep scan
    SCAN_RECENCY = "scan_recency"  # assets assessed within N days (optionally exposed ones)
    SLA_COMPLIANCE = "sla_compliance"  # missing updates within the framework's deadlines
    RISK_RANKING = "risk_ranking"  # missing security updates carry a severity
    VULNERABILITY_INTEL = "vulnerability_intel"  # the KEV catalogue imported within N days
    EXCEPTIONS = "exceptions"  # exceptions name who decided and expire
    APPROVALS = "approvals"  # deployments approved by a named person
    TEST_BEFORE_DEPLOY = "test_before_deploy"  # deployments that went through a test ring
    VERIFICATION = "verification"  # deployments verified by a rescan
    AUDIT_LOG_INTEGRITY = "audit_log_integrity"  # the hash-chained audit log verifies
    POLICY_DOCUMENTED = "policy_documented"  # a saved patch policy naming who is responsible


class Status(StrEnum):
    """How well a requirement is met by the evidence."""

    MET = "met"
    PARTLY = "partly"
    NOT_MET = "not met"
    NOT_APPLICABLE = "not applicable"


#: Parameters a requirement may give its evidence kinds, and their types.
_PARAMS: dict[str, type] = {"within_days": int, "internet_facing_only": bool}
_SEVERITIES = {str(s) for s in Severity}


# -- the framework data ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Source:
    """Where a framework (or one rule of it) is published, and which part of it we used."""

    publisher: str
    url: str
    section: str
    consulted: tuple[str, ...] = ()  # the pages we checked the wording and rules against


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    """A deadline a framework sets for installing updates that match every given condition.

    ``None`` in a condition means "whatever the value". When several rules match an update
    the shortest deadline applies (a framework's "48 hours if critical or exploited" and
    "two weeks otherwise" are two rules; the first wins where both match).
    """

    id: str
    within: timedelta
    text: str  # the rule in our own words
    severities: frozenset[Severity] | None = None
    known_exploited: bool | None = None
    internet_facing: bool | None = None
    security_only: bool = True
    verified: bool = True
    why_unverified: str = ""

    def matches(self, severity: Severity, known_exploited: bool, internet_facing: bool,
                security: bool = True) -> bool:
        """Whether an update with these properties falls under this rule."""
        if self.security_only and not security:
            return False
        if self.severities is not None and severity not in self.severities:
            return False
        if self.known_exploited is not None and self.known_exploited != known_exploited:
            return False
        return self.internet_facing is None or self.internet_facing == internet_facing


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement of a framework, as PatchDesk can give evidence for it."""

    id: str  # as the framework numbers it
    title: str
    text: str  # our own words, never the standard's
    evidence: tuple[EvidenceKind, ...]
    section: str  # where in the source it is
    params: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[str, ...] = ()  # deadline rules sla_compliance uses (empty: all of them)
    verified: bool = True
    why_unverified: str = ""


@dataclass(frozen=True, slots=True)
class Framework:
    """A compliance framework: its version, source, deadlines and requirements."""

    id: str  # the file name, e.g. "pci-dss"
    title: str
    version: str
    source: Source
    requirements: tuple[Requirement, ...]
    rules: tuple[DeadlineRule, ...] = ()
    not_covered: tuple[tuple[str, str], ...] = ()  # (requirement id, why PatchDesk cannot)
    notes: str = ""

    def requirement(self, requirement_id: str) -> Requirement:
        """A requirement by id.

        Raises:
            KeyError: no such requirement.
        """
        for req in self.requirements:
            if req.id == requirement_id:
                return req
        raise KeyError(requirement_id)

    def rule(self, rule_id: str) -> DeadlineRule:
        """A deadline rule by id.

        Raises:
            KeyError: no such rule.
        """
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


# -- reading the files -----------------------------------------------------------------------
def frameworks_dir() -> Path:
    """The bundled framework files (``resources/frameworks``; ``app/resources`` in a wheel)."""
    here = Path(__file__).resolve()
    source = here.parents[2] / "resources" / FRAMEWORK_DIR
    return source if source.is_dir() else here.parents[1] / "resources" / FRAMEWORK_DIR


def load_frameworks(directory: Path | None = None) -> dict[str, Framework]:
    """Read and check every framework file, by framework id (sorted).

    Args:
        directory: where the ``*.json`` files are (default: the bundled ones).

    Raises:
        UserError: a file cannot be read or is not a valid framework, naming the file and
            every problem.
    """
    folder = directory or frameworks_dir()
    out: dict[str, Framework] = {}
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise UserError(f"No compliance framework files in {folder}.")
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"Cannot read the framework file {path}: {exc}") from exc
        framework = parse_framework(data, path.stem)
        out[framework.id] = framework
    return out


def parse_framework(data: Any, name: str) -> Framework:
    """Build a framework from its JSON form, checking everything.

    Args:
        data: the decoded JSON.
        name: the file name without ``.json``; the framework id must equal it.

    Raises:
        UserError: listing every problem found.
    """
    problems: list[str] = []

    def text(obj: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
        value = obj.get(key, "")
        if not isinstance(value, str) or (required and not value.strip()):
            problems.append(f"{where}: '{key}' must be {'a non-empty' if required else 'a'} "
                            "text")
            return ""
        return value.strip()

    def verified(obj: Mapping[str, Any], where: str) -> tuple[bool, str]:
        flag = obj.get("verified")
        if not isinstance(flag, bool):
            problems.append(f"{where}: 'verified' must be true or false")
            return False, ""
        why = obj.get("why_unverified", "")
        if not flag and (not isinstance(why, str) or not why.strip()):
            problems.append(f"{where}: unverified, so 'why_unverified' must say why")
        return flag, why.strip() if isinstance(why, str) else ""

    if not isinstance(data, dict):
        raise UserError(f"Framework file {name}.json is not a JSON object.")
    fid = text(data, "id", name)
    if fid and fid != name:
        problems.append(f"{name}: id '{fid}' differs from the file name")
    if fid and not _ID.fullmatch(fid):
        problems.append(f"{name}: id '{fid}' is not lower-case letters, digits and '-'")
    title = text(data, "title", name)
    version = text(data, "version", name)
    src = data.get("source")
    source = Source("", "", "")
    if not isinstance(src, dict):
        problems.append(f"{name}: 'source' must be an object (publisher, url, section)")
    else:
        url = text(src, "url", f"{name} source")
        if url and not url.startswith("https://"):
            problems.append(f"{name} source: url must be an https address")
        consulted = src.get("consulted", [])
        if not isinstance(consulted, list) or not consulted or not all(
                isinstance(c, str) and c.startswith(("https://", "http://")) for c in consulted):
            problems.append(f"{name} source: 'consulted' must list the pages checked")
            consulted = []
        source = Source(text(src, "publisher", f"{name} source"), url,
                        text(src, "section", f"{name} source"), tuple(consulted))

    rules: list[DeadlineRule] = []
    for i, raw in enumerate(_list(data, "deadline_rules", name, problems, required=False)):
        where = f"{name} rule #{i + 1}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be an object")
            continue
        rid = text(raw, "id", where)
        hours = raw.get("within_hours")
        if not isinstance(hours, int) or isinstance(hours, bool) or hours <= 0:
            problems.append(f"{where}: 'within_hours' must be a positive whole number")
            hours = 1
        severities: frozenset[Severity] | None = None
        if raw.get("severities") is not None:
            sev = raw["severities"]
            if not isinstance(sev, list) or not sev or any(s not in _SEVERITIES for s in sev):
                problems.append(f"{where}: 'severities' must list some of "
                                f"{', '.join(sorted(_SEVERITIES))}")
            else:
                severities = frozenset(Severity(s) for s in sev)
        flags: dict[str, bool | None] = {}
        for key in ("known_exploited", "internet_facing"):
            value = raw.get(key)
            if value is not None and not isinstance(value, bool):
                problems.append(f"{where}: '{key}' must be true, false or null")
                value = None
            flags[key] = value
        security_only = raw.get("security_only", True)
        if not isinstance(security_only, bool):
            problems.append(f"{where}: 'security_only' must be true or false")
            security_only = True
        ok, why = verified(raw, where)
        rules.append(DeadlineRule(rid, timedelta(hours=hours), text(raw, "text", where),
                                  severities, flags["known_exploited"],
                                  flags["internet_facing"], security_only, ok, why))
    rule_ids = [r.id for r in rules]
    for dup in sorted({r for r in rule_ids if rule_ids.count(r) > 1}):
        problems.append(f"{name}: deadline rule id '{dup}' is used twice")

    requirements: list[Requirement] = []
    for i, raw in enumerate(_list(data, "requirements", name, problems)):
        where = f"{name} requirement #{i + 1}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be an object")
            continue
        rid = text(raw, "id", where)
        where = f"{name} requirement {rid or '#' + str(i + 1)}"
        kinds: list[EvidenceKind] = []
        ev = raw.get("evidence")
        if not isinstance(ev, list) or not ev:
            problems.append(f"{where}: 'evidence' must list evidence kinds")
        else:
            for kind in ev:
                try:
                    kinds.append(EvidenceKind(kind))
                except ValueError:
                    problems.append(f"{where}: unknown evidence kind '{kind}' (known: "
                                    f"{', '.join(k.value for k in EvidenceKind)})")
        params = raw.get("params", {})
        if not isinstance(params, dict):
            problems.append(f"{where}: 'params' must be an object")
            params = {}
        for key, value in params.items():
            want = _PARAMS.get(key)
            if want is None:
                problems.append(f"{where}: unknown parameter '{key}'")
            elif not isinstance(value, want) or (
                    isinstance(value, int) and want is int
                    and (isinstance(value, bool) or value <= 0)):
                problems.append(f"{where}: parameter '{key}' must be a {want.__name__}"
                                + (" above 0" if want is int else ""))
        needs_days = {EvidenceKind.SCAN_RECENCY, EvidenceKind.VULNERABILITY_INTEL}
        if needs_days & set(kinds) and "within_days" not in params:
            problems.append(f"{where}: {', '.join(sorted(needs_days & set(kinds)))} needs "
                            "'within_days'")
        req_rules = raw.get("rules", [])
        if not isinstance(req_rules, list) or any(r not in rule_ids for r in req_rules):
            problems.append(f"{where}: 'rules' must name deadline rules of this framework")
            req_rules = []
        if EvidenceKind.SLA_COMPLIANCE in kinds and not rules:
            problems.append(f"{where}: sla_compliance needs the framework's deadline rules")
        ok, why = verified(raw, where)
        requirements.append(Requirement(
            rid, text(raw, "title", where), text(raw, "text", where), tuple(kinds),
            text(raw, "section", where), dict(params), tuple(req_rules), ok, why))
    req_ids = [r.id for r in requirements]
    for dup in sorted({r for r in req_ids if req_ids.count(r) > 1}):
        problems.append(f"{name}: requirement id '{dup}' is used twice")

    not_covered: list[tuple[str, str]] = []
    for raw in _list(data, "not_covered", name, problems, required=False):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) \
                or not isinstance(raw.get("why"), str) or not raw["why"].strip():
            problems.append(f"{name}: each 'not_covered' entry needs an id and why")
            continue
        if raw["id"] in req_ids:
            problems.append(f"{name}: '{raw['id']}' is both covered and not covered")
        not_covered.append((raw["id"], raw["why"].strip()))
    notes = data.get("notes", "")
    if not isinstance(notes, str):
        problems.append(f"{name}: 'notes' must be text")
        notes = ""
    if problems:
        raise UserError(f"Framework file {name}.json is not valid:\n  " + "\n  ".join(problems))
    return Framework(fid, title, version, source, tuple(requirements), tuple(rules),
                     tuple(not_covered), notes)


def _list(data: Mapping[str, Any], key: str, name: str, problems: list[str],
          required: bool = True) -> list[Any]:
    value = data.get(key, None if required else [])
    if not isinstance(value, list) or (required and not value):
        problems.append(f"{name}: '{key}' must be a{' non-empty' if required else ''} list")
        return []
    return value
