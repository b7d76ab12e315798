"""The GUI with simulated Windows hosts: a WinRM credential added through the dialog and
tested on a real WinRM endpoint, and the Patches page showing the KBs a real assessment
over WinRM found (tests/lab/winrm_fixtures.py; loopback only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.core.credentials import CredentialKind, Scope
from app.core.models import Asset
from app.services import SiteService
from app.ui.credential_dialogs import (
    BASIC_WARNING,
    SKIP_WARNING,
    CredentialDialog,
    NewCredential,
)
from app.ui.mainwindow import MainWindow
from app.ui.patches import patch_detail
from app.ui.qt import QDialogButtonBox, Qt, QWidget
from tests.lab.winrm_fixtures import WindowsTrio
from tests.ui.conftest import wait_idle
from tests.ui.test_credentials import MASTER, choose, open_credentials, type_into

ROLES = ("win11", "server2022", "workgroup")


def windows_site(path: Path, trio: WindowsTrio, *, credential: bool) -> None:
    service = SiteService.open(path, create=True, name="Windows site", actor="tester")
    for name in ROLES:
        service.add_asset(Asset(hostname=trio.hostname(name), ips=(trio.ip(name),),
                                tags=("windows",)))
    service.remote.unlock(MASTER, create=True)
    if credential:
        service.remote.add_winrm_credential(
            "windows-admin", trio.user, password=trio.password, port=trio.port,
            ca_file=str(trio.ca_file), scopes=(Scope.parse("tag:windows"),))
    service.close()


@pytest.fixture
def windows_window(qtbot: Any, tmp_path: Path, windows_trio: WindowsTrio) -> Any:
    path = tmp_path / "windows.pdsite"
    windows_site(path, windows_trio, credential=False)
    window = MainWindow(SiteService.open(path, actor="tester"))
    qtbot.addWidget(window)
    window.show()
    assert window.service is not None
    window.service.remote.unlock(MASTER)
    yield window
    wait_idle(qtbot, window)
    window.close()


def test_winrm_credential_through_the_dialog_and_tested_on_a_host(
        qtbot: Any, windows_window: MainWindow, windows_trio: WindowsTrio,
        monkeypatch: pytest.MonkeyPatch) -> None:
    window = windows_window
    page = open_credentials(qtbot, window)

    def ask(_cls: Any, parent: QWidget | None, **kwargs: Any) -> NewCredential | None:
        dialog = CredentialDialog(parent, **kwargs)
        qtbot.addWidget(dialog)
        dialog.show()
        dialog.kind.setCurrentIndex(dialog.kind.findData(str(CredentialKind.WINRM)))
        assert dialog.winrm_box.isVisible() and not dialog.ssh_box.isVisible()
        assert dialog.port.specialValueText() == "5986 (default)"
        type_into(qtbot, dialog.name, "windows-admin")
        type_into(qtbot, dialog.username, windows_trio.user)
        type_into(qtbot, dialog.winrm_password, windows_trio.password)
        # Basic over HTTP: the danger is spelled out and the dialog refuses it unticked.
        dialog.winrm_auth.setCurrentIndex(dialog.winrm_auth.findData("basic"))
        dialog.winrm_transport.setCurrentIndex(dialog.winrm_transport.findData("http"))
        assert dialog.winrm_warning.isVisible()
        assert dialog.winrm_warning.text() == BASIC_WARNING
        assert dialog.port.specialValueText() == "5985 (default)"
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
        assert dialog.result_credential is None
        assert "clear text" in dialog.errors["unencrypted"].text()
        # Skipping the certificate check warns as well.
        dialog.winrm_transport.setCurrentIndex(dialog.winrm_transport.findData("https"))
        type_into(qtbot, dialog.skip_hosts, windows_trio.ip("win11"))
        assert dialog.winrm_warning.text() == SKIP_WARNING
        dialog.skip_hosts.clear()
        assert not dialog.winrm_warning.isVisible()
        # NTLM over HTTPS with the lab CA, on the trio's port, for the windows tag.
        dialog.winrm_auth.setCurrentIndex(dialog.winrm_auth.findData("ntlm"))
        type_into(qtbot, dialog.ca_file, str(windows_trio.ca_file))
        dialog.port.setValue(windows_trio.port)
        dialog.scope_kind.setCurrentIndex(dialog.scope_kind.findData("tag"))
        dialog.scope_tag.setCurrentText("windows")
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
        assert dialog.result_credential is not None
        return dialog.result_credential

    monkeypatch.setattr(CredentialDialog, "ask", classmethod(ask))
    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)
    wait_idle(qtbot, window)
    row = [page.model.index(0, c).data() for c in range(6)]
    assert row == ["windows-admin", windows_trio.user, "NTLM over HTTPS",
                   "— (an administrator account)", "tag windows", str(windows_trio.port)]
    assert window.service is not None
    [cred] = window.service.credentials.credentials()
    assert cred.kind is CredentialKind.WINRM and cred.options["ca"] == "sealed"

    choose(monkeypatch, qtbot, "SRV22")
    page.view.selectRow(0)
    with qtbot.waitSignal(page.tested, timeout=20_000) as signal:
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    text = signal.args[0]
    assert text.startswith("\u2714 SRV22-LAB01: logged in as Administrator")
    assert f"NTLM over HTTPS port {windows_trio.port}" in text
    assert "certificate: validated against" in text
    assert page.test_result.property("state") == "ok"


def test_patches_page_shows_the_windows_kbs(qtbot: Any, tmp_path: Path,
                                           windows_trio: WindowsTrio) -> None:
    path = tmp_path / "assessed.pdsite"
    windows_site(path, windows_trio, credential=True)
    service = SiteService.open(path, actor="tester")
    service.remote.unlock(MASTER)
    outcomes = service.assess.assess_assets()
    assert all(o.ok for o in outcomes), [o.summary for o in outcomes]
    window = MainWindow(service)
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(window.patches_loaded, timeout=10_000):
            window.show_page("patches")
        page = window.patches
        rows = {page.patch_proxy.index(r, 0).data():
                [page.patch_proxy.index(r, c).data() for c in range(7)]
                for r in range(page.patch_proxy.rowCount())}
        assert {r for r in rows if r.startswith("KB")} == {
            "KB5046633", "KB5045935", "KB2267602", "KB5046616", "KB5046540", "KB5046613"}
        # Beside them the Chocolatey and winget packages (tests/lab/winrm_apps.py).
        assert {"googlechrome", "Mozilla.Firefox", "vlc"} <= set(rows)
        assert rows["KB5046633"][2:] == ["Security", "Critical", "1",
                                         "CVE-2024-43451, CVE-2024-43639, CVE-2024-49039",
                                         "required"]
        assert rows["KB5046633"][1].startswith("2024-11 Cumulative Update for Windows 11")
        assert rows["KB2267602"][2:5] == ["Other", "", "2"]  # Defender, on two hosts
        group = next(page.patch_model.object_at(r) for r in range(page.patch_model.rowCount())
                     if page.patch_model.object_at(r).package == "KB5046540")
        detail = patch_detail(group)
        assert detail.startswith("KB5046540: 2024-11 Cumulative Update for .NET Framework")
        assert "from windows-update" in detail and "CVE-2024-43483" in detail
        page.tabs.setCurrentIndex(1)
        hosts = {page.host_proxy.index(r, 0).data():
                 [page.host_proxy.index(r, c).data() for c in range(5)]
                 for r in range(page.host_proxy.rowCount())}
        # Missing = KBs + Chocolatey/winget packages; security = the KBs rated so.
        assert hosts["SRV22-LAB01"][2:5] == ["5", "2", "required"]  # 2 KBs + 3 choco
        assert hosts["WIN11-LAB01"][2:5] == ["5", "2", "no"]  # 3 KBs + 2 winget
        assert hosts["FRONTDESK-PC"][2:5] == ["4", "1", "no"]  # 2 KBs + choco + winget
    finally:
        wait_idle(qtbot, window)
        window.close()


def test_dashboard_does_not_call_unassessed_windows_hosts_compliant(
        qtbot: Any, tmp_path: Path, windows_trio: WindowsTrio) -> None:
    path = tmp_path / "dash.pdsite"
    windows_site(path, windows_trio, credential=False)  # nobody can log in to them
    service = SiteService.open(path, actor="tester")
    service.remote.unlock(MASTER)
    assert {o.kind for o in service.assess.assess_assets()} == {"no_credential"}
    window = MainWindow(service)
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(window.dashboard_loaded, timeout=10_000):
            window.show_page("dashboard")
        value, detail = window.dashboard.risk_cards["compliance"]
        assert value.text() == "—"
        assert detail.text() == "none of 3 covered hosts assessed"
        coverage, coverage_detail = window.dashboard.risk_cards["coverage"]
        assert coverage.text() == "3"  # the failed scans assessed nothing
        assert coverage_detail.text().startswith("3 never (3 failed scans)")
        errors, _ = window.dashboard.patch_cards["errors"]
        assert errors.text() == "3"
    finally:
        wait_idle(qtbot, window)
        window.close()
