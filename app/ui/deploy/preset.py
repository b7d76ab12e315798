"""What "Deploy…" from a selection fills in ([13]): the Patches page (by patch, by host, by
risk) and the Inventory page open the wizard with patches ticked and hosts chosen; the
person checks and goes on as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.patchgroups import PatchGroup
from app.ui.qt import Qt

if TYPE_CHECKING:
    from app.ui.deploy.pages import PatchesPage, TargetsPage
    from app.ui.patches import PatchesPage as PatchesPage_  # the main window's page


@dataclass(frozen=True, slots=True)
class DeployPreset:
    """A selection to deploy.

    ``packages`` empty means every update the chosen hosts miss; ``asset_ids`` empty means
    every host missing the chosen packages. ``source`` says where it came from ("3 hosts
    selected on the Inventory page").
    """

    packages: frozenset[str] = frozenset()
    asset_ids: frozenset[int] = frozenset()
    source: str = ""

    @classmethod
    def of(cls, packages: Iterable[str] = (), asset_ids: Iterable[int] = (),
           source: str = "") -> DeployPreset:
        """A preset from any iterables."""
        return cls(frozenset(packages), frozenset(int(a) for a in asset_ids), source)

    @property
    def empty(self) -> bool:
        """Nothing selected."""
        return not self.packages and not self.asset_ids


def preset_rows(groups: Sequence[PatchGroup], preset: DeployPreset) -> list[int]:
    """Rows of the wizard's patch table (groups by package and version) to tick: the
    preset's packages that its hosts miss; one version per package (the one most of the
    preset's hosts miss, then the newest-listed)."""
    hosts = preset.asset_ids
    best: dict[str, tuple[int, int]] = {}  # package → (hosts covered, row)
    for row, group in enumerate(groups):
        if preset.packages and group.package not in preset.packages:
            continue
        covered = len(hosts & set(group.asset_ids)) if hosts else len(group.asset_ids)
        if covered == 0:
            continue
        if group.package not in best or covered > best[group.package][0]:
            best[group.package] = (covered, row)
    return sorted(row for _covered, row in best.values())


def apply_to_patches(page: PatchesPage, preset: DeployPreset) -> int:
    """Tick the preset's rows on the wizard's first page; returns how many."""
    rows = set(preset_rows(page.groups, preset))
    for row in range(page.table.rowCount()):
        cell = page.table.item(row, 0)
        if cell is not None:
            cell.setCheckState(Qt.CheckState.Checked if row in rows else
                               Qt.CheckState.Unchecked)
    what = preset.source or "the selection"
    page.status.setText(f"Pre-filled from {what}: {len(rows)} update(s) ticked. Check them "
                        "and go on." if rows else
                        f"Nothing to deploy for {what}: no assessed host of it misses these "
                        "updates.")
    return len(rows)


def apply_to_targets(page: TargetsPage, preset: DeployPreset) -> None:
    """Tick only the preset's hosts on the Targets page (all of them without hosts)."""
    if not preset.asset_ids:
        return
    for row, asset_id in enumerate(page.host_ids):
        cell = page.table.item(row, 0)
        if cell is not None:
            cell.setCheckState(Qt.CheckState.Checked if asset_id in preset.asset_ids else
                               Qt.CheckState.Unchecked)


def _selected(view: Any, object_at: Callable[[int], Any]) -> list[Any]:
    rows = sorted({i.row() for i in view.selectionModel().selectedRows()})
    return [obj for r in rows if (obj := object_at(r)) is not None]


def selection_preset(page: PatchesPage_) -> DeployPreset | None:
    """The Patches page's selection as a preset: by patch (the packages and the hosts
    missing them), by host (the hosts and every update they miss), by risk (the items'
    packages on the items' hosts)."""
    current = page.tabs.currentWidget()
    if current is page.patch_view:
        groups = _selected(page.patch_view, page.patch_proxy.object_at)
        if groups:
            return DeployPreset.of((g.package for g in groups), (),
                                   f"{len(groups)} patch(es) selected on the Patches page")
    elif current is page.host_view:
        hosts = _selected(page.host_view, page.host_proxy.object_at)
        if hosts:
            return DeployPreset.of((), (h.asset_id for h in hosts),
                                   f"{len(hosts)} host(s) selected on the Patches page")
    elif page.risk is not None and current is page.risk:
        risk: Any = page.risk  # app.ui.priorities.PrioritiesPanel
        items = _selected(risk.view, risk.proxy.item_at)
        if items:
            return DeployPreset.of({i.package for i in items}, {i.asset_id for i in items},
                                   f"{len(items)} risk item(s) selected on the Patches page")
    return None
