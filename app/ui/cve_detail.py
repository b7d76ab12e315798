"""Patch details' CVE lines: each CVE of an update with its CVSS (NVD), EPSS (FIRST) and
whether CISA lists it as known exploited, and the evidence for the update's
classification (archive, security tracker, changelog, vendor advisory)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.feeds import CveIntel
from app.core.models import AssetPatch


@dataclass(frozen=True, slots=True)
class CveContext:
    """What the site's feeds know about the CVEs shown."""

    intel: Mapping[str, CveIntel] = field(default_factory=dict)
    kev: frozenset[str] = frozenset()


def load_cve_context(service: Any, patches: Iterable[AssetPatch]) -> CveContext:
    """Read the feeds' CVSS/EPSS and the KEV catalogue for these patches (worker thread)."""
    cves = {c for p in patches for c in p.cves}
    if not cves:
        return CveContext()
    return CveContext(service.feeds.intel(cves), frozenset(service.kev_catalogue()) & cves)


def cve_line(cve: str, context: CveContext) -> str:
    """One CVE with its CVSS, EPSS and KEV flag."""
    info = context.intel.get(cve)
    parts = [cve]
    if info is not None and info.cvss is not None:
        parts.append(f"CVSS {info.cvss.score:.1f} (v{info.cvss.version}"
                     + (f", {info.cvss.vector}" if info.cvss.vector else "") + ")")
    else:
        parts.append("CVSS unknown")
    if info is not None and info.epss is not None:
        parts.append(f"EPSS {info.epss.epss:.1%} (percentile {info.epss.percentile:.2f})")
    else:
        parts.append("EPSS unknown")
    parts.append("KEV: known exploited" if cve in context.kev else "KEV: not listed")
    return "  \u00b7  ".join(parts)


def detail_lines(cves: Iterable[str], patches: Iterable[AssetPatch],
                 context: CveContext) -> list[str]:
    """The CVE lines and the classification evidence of an update (its hosts' rows)."""
    lines = [cve_line(c, context) for c in cves]
    evidence: dict[str, None] = {}
    for p in patches:
        for item in p.evidence:
            evidence.setdefault(item, None)
    if evidence:
        lines += ["Classified from:", *(f"  \u2022 {e}" for e in evidence)]
    return lines
