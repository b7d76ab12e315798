"""[13] "Deploy…" from a selection: on the Patches page by patch, by host and by risk, and on
the Inventory page, the wizard opens with the selection's patches ticked and its hosts
chosen. Deep-scan results are stored in a real site (web01 misses openssl and curl,
acct-pc misses curl); nothing is deployed."""

from __future__ import annotations

from typing import Any

from app.core.patchgroups import PatchGroup
from app.ui.actions import MainAction
from app.ui.deploy.preset import DeployPreset, preset_rows
from app.ui.deploy.wizard import DeployWizard
from app.ui.mainwindow import MainWindow
from app.ui.qt import QItemSelectionModel, QWizard
from tests.ui.conftest import wait_idle
from tests.ui.test_patches import assessed_window  # noqa: F401 - fixture


def opened_wizard(qtbot: Any, window: MainWindow) -> DeployWizard:
    qtbot.waitUntil(lambda: bool(window.findChildren(DeployWizard)), timeout=5_000)
    wizard = window.findChildren(DeployWizard)[-1]
    qtbot.waitUntil(lambda: wizard.patches_page.loaded, timeout=20_000)
    return wizard


def chosen(qtbot: Any, wizard: DeployWizard) -> tuple[list[str], list[str]]:
    """Ticked packages, then (after Next) the hosts ticked on the Targets page."""
    packages = sorted(g.package for g in wizard.patches_page.chosen())
    wizard.button(QWizard.WizardButton.NextButton).click()
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.targets_page, timeout=5_000)
    hosts = sorted(wizard.assets[a].label for a, _stage in wizard.targets_page.chosen())
    wizard.reject()
    with qtbot.waitSignal(wizard.destroyed, timeout=5_000):  # gone before the next one
        wizard.deleteLater()
    return packages, hosts


def select_rows(view: Any, proxy: Any, wanted: set[str], column: int = 0) -> None:
    view.clearSelection()
    for row in range(proxy.rowCount()):
        if proxy.index(row, column).data() in wanted:
            view.selectionModel().select(
                proxy.index(row, 0), QItemSelectionModel.SelectionFlag.Select
                | QItemSelectionModel.SelectionFlag.Rows)


def test_deploy_from_the_patches_page_by_patch_host_and_risk(
        qtbot: Any, assessed_window: MainWindow) -> None:  # noqa: F811
    window = assessed_window
    page = window.patches
    # Nothing selected: nothing opens, the status bar says why.
    page.tabs.setCurrentIndex(0)
    page.patch_view.clearSelection()
    page.deploy_button.click()
    assert not window.findChildren(DeployWizard)
    # By patch: openssl, to the host missing it.
    select_rows(page.patch_view, page.patch_proxy, {"openssl"})
    page.deploy_button.click()
    wizard = opened_wizard(qtbot, window)
    assert "1 patch(es) selected on the Patches page" in wizard.patches_page.status.text()
    assert chosen(qtbot, wizard) == (["openssl"], ["web01"])
    # By host: acct-pc, with every update it misses.
    page.tabs.setCurrentIndex(1)
    select_rows(page.host_view, page.host_proxy, {"acct-pc"})
    page.deploy_button.click()
    wizard = opened_wizard(qtbot, window)
    assert chosen(qtbot, wizard) == (["curl"], ["acct-pc"])
    # By risk: web01's curl item.
    page.show_by_risk()
    risk = page.risk
    qtbot.waitUntil(lambda: risk.proxy.rowCount() == 3, timeout=10_000)
    risk.view.clearSelection()
    risk.select(window.service.find_assets("web01")[0].id, "curl")  # type: ignore[union-attr]
    page.deploy_button.click()
    wizard = opened_wizard(qtbot, window)
    assert chosen(qtbot, wizard) == (["curl"], ["web01"])
    wait_idle(qtbot, window)


def test_deploy_to_the_hosts_selected_in_the_inventory(
        qtbot: Any, assessed_window: MainWindow) -> None:  # noqa: F811
    window = assessed_window
    window.show_page("inventory")
    wait_idle(qtbot, window)
    action = window.action(MainAction.DEPLOY_SELECTED)
    window.inventory.select_ids(set())
    window._update_actions()
    assert not action.isEnabled()
    web01 = window.service.find_assets("web01")[0]  # type: ignore[union-attr]
    window.inventory.select_ids({int(web01.id or 0)})
    qtbot.waitUntil(action.isEnabled, timeout=5_000)
    assert action in window.inventory._context_actions  # the table's context menu
    action.trigger()
    wizard = opened_wizard(qtbot, window)
    assert "1 host(s) selected on the Inventory page" in wizard.patches_page.status.text()
    assert chosen(qtbot, wizard) == (["curl", "openssl"], ["web01"])
    wait_idle(qtbot, window)


def _group(package: str, version: str, hosts: tuple[int, ...]) -> PatchGroup:
    from app.core.models import Classification, Severity

    return PatchGroup(package, (version,), ("1",), Classification.SECURITY,
                      Severity.IMPORTANT, tuple((h, f"h{h}") for h in hosts), (), (), (),
                      False)


def test_one_version_per_package_the_one_most_hosts_miss() -> None:
    groups = [_group("a", "1", (1,)), _group("a", "2", (2, 3)), _group("b", "1", (4,))]
    assert preset_rows(groups, DeployPreset.of(asset_ids=[1, 2, 3])) == [1]
    assert preset_rows(groups, DeployPreset.of(asset_ids=[1])) == [0]
    assert preset_rows(groups, DeployPreset.of(packages=["b"])) == [2]
    assert preset_rows(groups, DeployPreset.of(packages=["b"], asset_ids=[1])) == []
