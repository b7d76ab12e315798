"""The main window's asset operations: add, edit, criticality, bulk edit, delete and undo
(dialogs on the GUI thread, writes on the task runner's write pool)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core.models import Asset
from app.ui import dialogs
from app.ui.actions import MainAction
from app.ui.asset_dialog import AssetDialog, CriticalityDialog
from app.ui.bulk_edit import BulkEditDialog

if TYPE_CHECKING:
    from app.ui.mainwindow import MainWindow


def add_asset(window: MainWindow) -> None:
    """Ask for a new asset and add it."""
    service = window.service
    if service is None:
        return
    asset = AssetDialog.ask(window, None)
    if asset is None:
        return

    def done(stored: Asset) -> None:
        window.inventory.model.upsert(stored)
        assert stored.id is not None
        if window.inventory.proxy.filter_text:
            visible = window.inventory.proxy.mapFromSource(
                window.inventory.model.index(window.inventory.model.row_of(stored.id) or 0, 0)
            )
            if not visible.isValid():
                window.inventory.search.clear()
                window.inventory.apply_filter()
        window.inventory.select_ids({stored.id})
        window._update_count()
        window.statusBar().showMessage(f"Added {stored.label}.", 5000)

    window._write("add", lambda: service.add_asset(asset), done)

def edit_selected(window: MainWindow) -> None:
    """Edit the selected asset in the asset dialog."""
    service = window.service
    selected = window.inventory.selected_assets()
    if service is None or len(selected) != 1:
        return
    edited = AssetDialog.ask(window, selected[0])
    if edited is None:
        return

    def done(stored: Asset) -> None:
        window.inventory.model.upsert(stored)
        window.inventory._on_selection_changed()
        window.statusBar().showMessage(f"Saved {stored.label}.", 5000)

    loaded = selected[0]  # only the fields edited are written ([12].16)
    window._write("edit", lambda: service.update_asset(edited, base=loaded), done)

def set_criticality_selected(window: MainWindow) -> None:
    """Answer the criticality questionnaire for the selected assets at once."""
    service = window.service
    selected = window.inventory.selected_assets()
    if service is None or not selected or window.current_page() != "inventory":
        return
    changed = CriticalityDialog.ask(window, selected)
    if not changed:
        return

    def save() -> list[Asset]:
        loaded = {a.id: a for a in selected}  # write only what was answered ([12].16)
        return [service.update_asset(asset, base=loaded.get(asset.id)) for asset in changed]

    def done(stored: list[Asset]) -> None:
        for asset in stored:
            window.inventory.model.upsert(asset)
        window.inventory._on_selection_changed()
        window.patches.mark_stale()
        window.priorities.reload()
        window.statusBar().showMessage(
            f"Criticality set on {len(stored)} asset{'s' if len(stored) != 1 else ''}.",
            5000)

    window._write("criticality", save, done)

def bulk_edit_selected(window: MainWindow) -> None:
    """Set the ring, owner, location, kind or tags of the selected assets at once."""
    service = window.service
    selected = window.inventory.selected_assets()
    if service is None or not selected or window.current_page() != "inventory":
        return
    changed = BulkEditDialog.ask(window, selected)
    if not changed:
        return

    def save() -> list[Asset]:
        return [service.update_asset(asset) for asset in changed]

    def done(stored: list[Asset]) -> None:
        for asset in stored:
            window.inventory.model.upsert(asset)
        window.inventory._on_selection_changed()
        window.patches.mark_stale()
        window.priorities.reload()
        window.statusBar().showMessage(
            f"Changed {len(stored)} asset{'s' if len(stored) != 1 else ''}.", 5000)

    window._write("bulk edit", save, done)

def delete_selected(window: MainWindow) -> None:
    """Delete the selected assets after confirmation; Undo brings them back."""
    service = window.service
    selected = window.inventory.selected_assets()
    if service is None or not selected or window.current_page() != "inventory":
        return
    if not dialogs.confirm_delete(window, selected):
        return
    ids = [a.id for a in selected if a.id is not None]

    def done(deleted: list[Asset]) -> None:
        window.inventory.model.remove_ids(ids)
        window._update_count()
        window.undo_assets = deleted
        n = len(deleted)
        noun = deleted[0].label if n == 1 else f"{n} assets"
        window.action(MainAction.UNDO).setText(f"&Undo delete of {noun}")
        window.undo_button.show()
        window.statusBar().showMessage(f"Deleted {noun}.", 15000)
        window._update_actions()

    window._write("delete", lambda: service.delete_assets(ids), done)

def undo_delete(window: MainWindow) -> None:
    """Restore the assets deleted last."""
    service = window.service
    assets = list(window.undo_assets)
    if service is None or not assets:
        return
    window.undo_assets = []
    window.undo_button.hide()
    window._update_actions()

    def done(restored: list[Asset]) -> None:
        for asset in restored:
            window.inventory.model.upsert(asset)
        window.inventory.select_ids({a.id for a in restored if a.id is not None})
        window._update_count()
        window.statusBar().showMessage(f"Restored {len(restored)} asset(s).", 5000)

    window._write("undo", lambda: service.restore_assets(assets), done)
