"""Windows KBs in the GUI: the Patches page lists them with what their rollback can do,
the deploy wizard offers them and plans them (a KB's target is "installed", not its title),
and its approval page shows which of them cannot be rolled back before anyone approves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.assessment import Assessment, HostFacts, Update
from app.core.clock import utcnow
from app.core.deployment import (
    Deployment,
    HostState,
    PackageChange,
    PackagePin,
    Phase,
    Stage,
    Target,
)
from app.core.models import Asset, Classification, Severity
from app.services import SiteService
from app.store.assessments import AssessmentRepo
from app.store.deployments import DeploymentRepo
from app.ui.deploy.helpers import P_REVIEW
from app.ui.deploy.wizard import DeployWizard
from app.ui.mainwindow import MainWindow
from app.ui.patches import NO_ROLLBACK, PatchTableModel
from app.ui.tasks import TaskRunner

CU = "2024-11 Cumulative Update for Windows 11 Version 23H2 for x64-based Systems (KB5046633)"
NET = ("2024-11 Cumulative Update for .NET Framework 3.5 and 4.8.1 for Windows 11, version "
       "23H2 for x64 (KB5045935)")


def windows_assessment(host: str) -> Assessment:
    """What the Windows driver stores for win11 (tests/lab/winrm_hosts.py)."""
    updates = [Update("KB5046633", CU, "", classification=Classification.SECURITY,
                      severity=Severity.CRITICAL, source="windows-update", kb="KB5046633",
                      cves=("CVE-2024-43451",), reboot_required=True),
               Update("KB5045935", NET, "", classification=Classification.SECURITY,
                      severity=Severity.IMPORTANT, source="windows-update", kb="KB5045935",
                      cves=("CVE-2024-43483",))]
    details = {"updates": {"KB5046633": {"uninstallable": False, "title": CU},
                           "KB5045935": {"uninstallable": True, "title": NET}}}
    return Assessment(host=host, driver="windows", updates=updates,
                      facts=HostFacts(hostname=host, os_name="Windows 11 Pro",
                                      details=details))


@pytest.fixture
def windows_site(site_path: Path) -> Iterator[SiteService]:
    service = SiteService.open(site_path, actor="tester")
    asset = service.add_asset(Asset(hostname="WIN11-LAB01", ips=("10.0.0.31",)))
    now = utcnow()
    with service.store.atomic() as db:
        AssessmentRepo(db).record_success(int(asset.id or 0), now, now,
                                          windows_assessment("WIN11-LAB01"))
    yield service
    service.close()


@pytest.fixture
def runner(qtbot: Any) -> Iterator[TaskRunner]:
    tasks = TaskRunner()
    yield tasks
    tasks.cancel_all()
    assert tasks.wait_for_done(60_000)


def test_patches_page_shows_kbs_and_which_cannot_be_rolled_back(
        qtbot: Any, windows_site: SiteService) -> None:
    window = MainWindow(SiteService.open(windows_site.store.path, actor="tester"))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.patches_loaded, timeout=10_000):
        window.show_page("patches")
    model = window.patches.patch_model
    rows = {model.index(r, PatchTableModel.COL_PACKAGE).data():
            (model.index(r, PatchTableModel.COL_SEVERITY).data(),
             model.index(r, PatchTableModel.COL_ROLLBACK).data())
            for r in range(model.rowCount())}
    assert rows == {"KB5046633": ("Critical", NO_ROLLBACK),
                    "KB5045935": ("Important", "uninstall")}
    window.close()


def test_the_wizard_offers_kbs_and_plans_them_as_installed(
        qtbot: Any, windows_site: SiteService, runner: TaskRunner) -> None:
    wizard = DeployWizard(windows_site, runner)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitUntil(lambda: wizard.patches_page.loaded, timeout=20_000)
    offered = {g.package: g.version for g in wizard.patches_page.groups}
    assert offered == {"KB5046633": CU, "KB5045935": NET}
    # The wizard plans "KB=title"; the planner makes a KB's target "installed".
    dep = windows_site.plan_deployment([g.spec for g in wizard.patches_page.groups], ["all"])
    assert {(p.name, p.version) for p in dep.packages} == {("KB5046633", "installed"),
                                                            ("KB5045935", "installed")}


def test_the_approval_page_says_what_cannot_be_rolled_back(
        qtbot: Any, windows_site: SiteService, runner: TaskRunner) -> None:
    asset = windows_site.find_assets("WIN11-LAB01")[0]
    changes = (PackageChange("KB5046633", "", f"installed; {NO_ROLLBACK}", "install",
                             requested=True),
               PackageChange("KB5045935", "", "installed; can be rolled back (uninstall)",
                             "install", requested=True))
    target = Target(int(asset.id or 0), "WIN11-LAB01", "10.0.0.31", Stage.TEST,
                    state=HostState.SUCCEEDED, changes=changes,
                    before={"KB5046633": "", "KB5045935": ""},
                    after={"KB5046633": "installed", "KB5045935": "installed"})
    with windows_site.store.atomic() as db:
        dep = DeploymentRepo(db).create(Deployment(
            id=0, packages=(PackagePin("KB5046633", "installed"),
                            PackagePin("KB5045935", "installed")),
            targets=(target,), phase=Phase.AWAITING_APPROVAL))
    wizard = DeployWizard(windows_site, runner, deployment=dep)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.currentId() == P_REVIEW
    text = wizard.review_page.changes_label.text()
    assert "KB5046633 (new) installed; cannot be rolled back" in text
    assert "KB5045935 (new) installed; can be rolled back (uninstall)" in text
