"""The one order of severities and classifications, and the one way missing updates are
grouped into patches (the Patches page, the deploy wizard and the report all use it).

Pure: no Qt, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.core.models import AssetPatch, Classification, Severity

#: Severities from the least to the most severe.
SEVERITY_ORDER = (Severity.UNKNOWN, Severity.LOW, Severity.MODERATE, Severity.IMPORTANT,
                  Severity.CRITICAL)
#: 0 (unknown) … 4 (critical).
SEVERITY_RANK: dict[Severity, int] = {s: i for i, s in enumerate(SEVERITY_ORDER)}
#: Classifications from the most to the least urgent.
CLASSIFICATION_ORDER = (Classification.SECURITY, Classification.BUGFIX,
                        Classification.ENHANCEMENT, Classification.OTHER)
#: 0 (security) … 3 (other); anything else sorts after them.
CLASSIFICATION_RANK: dict[Classification, int] = {
    c: i for i, c in enumerate(CLASSIFICATION_ORDER)}
_UNRANKED_CLASS = 9


def severity_rank(severity: Severity) -> int:
    """0 (unknown) … 4 (critical)."""
    return SEVERITY_RANK.get(severity, 0)


def classification_rank(classification: Classification) -> int:
    """0 (security) … 3 (other), lower is more urgent."""
    return CLASSIFICATION_RANK.get(classification, _UNRANKED_CLASS)


def worst_severity(severities: Iterable[Severity]) -> Severity:
    """The most severe of ``severities`` (unknown when there are none)."""
    return max(severities, key=severity_rank, default=Severity.UNKNOWN)


def most_urgent_class(classes: Iterable[Classification]) -> Classification:
    """The most urgent of ``classes`` (other when there are none)."""
    return min(classes, key=classification_rank, default=Classification.OTHER)


@dataclass(frozen=True, slots=True)
class PatchGroup:
    """One package (at one candidate version, or at all of them) and the hosts missing it."""

    package: str
    candidates: tuple[str, ...]  # candidate versions, sorted
    installed: tuple[str, ...]  # installed versions, sorted
    classification: Classification  # the most urgent of its rows
    severity: Severity  # the worst of its rows
    hosts: tuple[tuple[int, str], ...]  # (asset id, label), by label
    cves: tuple[str, ...]
    advisories: tuple[str, ...]
    sources: tuple[str, ...]
    reboot_required: bool
    patches: tuple[AssetPatch, ...] = field(default=(), compare=False, repr=False)

    @property
    def version(self) -> str:
        """The candidate version (of a group by version; the first one otherwise)."""
        return self.candidates[0] if self.candidates else ""

    @property
    def spec(self) -> str:
        """``name=version`` as the planner takes it."""
        return f"{self.package}={self.version}"

    @property
    def asset_ids(self) -> tuple[int, ...]:
        """The hosts missing it, by id."""
        return tuple(sorted(asset_id for asset_id, _ in self.hosts))

    @property
    def reboot(self) -> bool:
        """Whether installing it needs a reboot somewhere."""
        return self.reboot_required

    @property
    def severity_rank(self) -> int:
        """0 (unknown) … 4 (critical)."""
        return severity_rank(self.severity)

    @property
    def classes(self) -> frozenset[str]:
        """Classifications for filters."""
        return frozenset({str(self.classification)})


def group_patches(patches: Iterable[AssetPatch], labels: Mapping[int, str] | None = None,
                  *, by_version: bool = True) -> list[PatchGroup]:
    """Missing updates grouped by (package, candidate version), or by package alone, most
    urgent first (classification, then severity, then name and version).

    Args:
        labels: asset id → label for :attr:`PatchGroup.hosts` (the id as text otherwise).
        by_version: one group per candidate version; False: one per package.
    """
    groups: dict[tuple[str, str], list[AssetPatch]] = {}
    for patch in patches:
        key = (patch.package, patch.candidate_version if by_version else "")
        groups.setdefault(key, []).append(patch)
    names = labels or {}
    out = []
    for (package, _), items in groups.items():
        out.append(PatchGroup(
            package=package,
            candidates=tuple(sorted({p.candidate_version for p in items})),
            installed=tuple(sorted({p.installed_version for p in items if p.installed_version})),
            classification=most_urgent_class(p.classification for p in items),
            severity=worst_severity(p.severity for p in items),
            hosts=tuple(sorted({(p.asset_id, names.get(p.asset_id, str(p.asset_id)))
                                for p in items}, key=lambda h: (h[1].lower(), h[0]))),
            cves=tuple(sorted({c for p in items for c in p.cves})),
            advisories=tuple(sorted({a for p in items for a in p.advisories})),
            sources=tuple(sorted({p.source for p in items if p.source})),
            reboot_required=any(p.reboot_required for p in items),
            patches=tuple(items)))
    out.sort(key=lambda g: (classification_rank(g.classification), -g.severity_rank,
                            g.package, g.candidates))
    return out
