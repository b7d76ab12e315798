"""Deep scans from the Inventory page: unlocking first, streamed results, cancel, changed
host keys, and the asset detail panel — against fakes of ``assess_assets`` and, with the
test lab, against real Debian hosts."""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.core.assessment import (
    Assessment,
    Disk,
    HostFacts,
    InstalledPackage,
    Interface,
    RebootState,
    Update,
)
from app.core.credentials import Scope
from app.core.hostkeys import fingerprint
from app.core.models import Asset, AssetKind, Classification, Severity
from app.core.progress import CancelToken, Progress
from app.remote.ssh import HostKeyChangedError
from app.services import HostOutcome, SiteService
from app.store.assessments import AssessmentRepo
from app.ui.actions import MainAction
from app.ui.dialogs import HostKeyChangedDialog, MasterPasswordDialog
from app.ui.mainwindow import MainWindow
from app.ui.qt import Qt, QWidget
from tests.ui.conftest import wait_idle
from tests.ui.stall import StallMeter

MASTER = "correct horse battery"


# -- helpers shared with test_patches -------------------------------------------------------
def sample_assessment(host: str, *, security: bool = True, reboot: bool = True) -> Assessment:
    """A realistic Debian deep scan: facts, a few packages and missing updates."""
    updates = [
        Update("curl", "7.88.1-10+deb12u6", "7.88.1-10+deb12u5", "amd64",
               Classification.BUGFIX, Severity.UNKNOWN, "Debian:12.8/stable"),
    ]
    if security:
        updates.append(Update("openssl", "3.0.15-1~deb12u1", "3.0.14-1~deb12u2", "amd64",
                              Classification.SECURITY, Severity.IMPORTANT,
                              "Debian-Security:12/stable-security",
                              cves=("CVE-2024-5535", "CVE-2024-9143"),
                              advisories=("DSA-5801-1",)))
    facts = HostFacts(
        os_id="debian", os_name="Debian GNU/Linux", os_version="12",
        os_pretty="Debian GNU/Linux 12 (bookworm)", kernel="6.1.0-26-amd64", arch="x86_64",
        hostname=host, uptime_seconds=3 * 86400 + 4 * 3600, cpu_model="Intel Xeon E-2224",
        cpu_count=4, memory_total=8 * 2**30, memory_available=5 * 2**30,
        disks=(Disk("/", 50 * 2**30, 20 * 2**30, "ext4"),),
        interfaces=(Interface("eth0", "52:54:00:12:34:56", ("10.0.0.10/24",)),),
        manufacturer="Dell Inc.", model="PowerEdge R250", serial="ABC1234",
        logged_in_users=("anna",))
    packages = [InstalledPackage(n, v, "amd64", "debian") for n, v in (
        ("bash", "5.2.15-2+b7"), ("curl", "7.88.1-10+deb12u5"),
        ("openssh-server", "1:9.2p1-2+deb12u3"), ("openssl", "3.0.14-1~deb12u2"))]
    reasons = ("/var/run/reboot-required: linux-image-6.1.0-27-amd64",) if reboot else ()
    return Assessment(host=host, driver="apt", facts=facts, packages=packages,
                      updates=updates, reboot=RebootState(reboot, reasons))


def store_assessment(service: SiteService, asset: Asset, result: Assessment | None = None,
                     *, error: tuple[str, str] | None = None) -> None:
    """Record a deep scan (or a failed one) in the site, as ``assess_assets`` would."""
    finished = datetime.now(UTC)
    started = finished - timedelta(seconds=2.5)
    with service.store.atomic() as db:
        repo = AssessmentRepo(db)
        if error is not None:
            repo.record_failure(int(asset.id or 0), started, finished, *error)
        else:
            repo.record_success(int(asset.id or 0), started, finished,
                                result or sample_assessment(asset.label))


def asset_by_name(service: SiteService, name: str) -> Asset:
    return next(a for a in service.assets() if a.hostname == name)


def make_vault(site_path: Path) -> None:
    service = SiteService.open(site_path, actor="tester")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="pw-for-tests",
                                      scopes=(Scope.parse("all"),))
    service.close()


def answer_master_password(monkeypatch: pytest.MonkeyPatch,
                           answers: list[str | None]) -> list[str]:
    asked: list[str] = []

    def ask(_cls: Any, _parent: QWidget | None, *, create: bool = False,
            error: str = "") -> str | None:
        asked.append(error)
        return answers.pop(0) if answers else None

    monkeypatch.setattr(MasterPasswordDialog, "ask", classmethod(ask))
    return asked


FakeResult = Callable[[Asset], HostOutcome]


def fake_assess(service: SiteService, result: FakeResult, *, delay: float = 0.25,
                calls: list[dict[str, Any]] | None = None) -> Callable[..., list[HostOutcome]]:
    """An ``assess_assets`` stand-in: reports each host from a worker thread, stores nothing."""

    def assess(asset_ids: Sequence[int] | None = None, *, refresh: bool = True,
               concurrency: int = 8, progress: Callable[[Progress], None] | None = None,
               cancel: CancelToken | None = None,
               on_result: Callable[[HostOutcome], None] | None = None) -> list[HostOutcome]:
        assert threading.current_thread() is not threading.main_thread()
        assert service.remote.unlocked
        wanted = set(asset_ids or ())
        assets = [a for a in service.assets() if not wanted or a.id in wanted]
        if calls is not None:
            calls.append({"ids": sorted(wanted), "refresh": refresh})
        done: list[HostOutcome] = []
        if progress:
            progress(Progress(0, len(assets), f"assessing {len(assets)} host(s)"))
        for asset in assets:
            end = time.monotonic() + delay
            while time.monotonic() < end and not (cancel and cancel.cancelled):
                time.sleep(0.01)
            if cancel is not None and cancel.cancelled:
                outcome = HostOutcome.failure(asset, "cancelled", "not started: cancelled", 0)
            else:
                outcome = result(asset)
            done.append(outcome)
            if progress:
                progress(Progress(len(done), len(assets), f"{asset.label}: {outcome.summary}"))
            if on_result:
                on_result(outcome)
        return done

    return assess


def ok_or_auth_failed(asset: Asset) -> HostOutcome:
    if asset.hostname == "acct-pc":
        return HostOutcome(int(asset.id or 0), asset.label, asset.primary_ip, False,
                           "auth_failed", "10.0.0.9: authentication failed for user 'admin'",
                           duration=0.4)
    return HostOutcome(int(asset.id or 0), asset.label, asset.primary_ip, True, updates=5,
                       security_updates=2, reboot_required=True, duration=1.2)


@pytest.fixture
def locked_window(qtbot: Any, site_path: Path) -> Iterator[MainWindow]:
    """The main window on a site with a vault and a site-wide credential (locked)."""
    make_vault(site_path)
    window = MainWindow(SiteService.open(site_path, actor="tester"))
    qtbot.addWidget(window)
    window.show()
    window.show_page("inventory")
    wait_idle(qtbot, window)
    yield window
    wait_idle(qtbot, window)
    if window.assess_dialog is not None:
        window.assess_dialog.close()
    window.close()


def select(window: MainWindow, *names: str) -> list[Asset]:
    assets = [a for a in window.inventory.model.assets() if a.hostname in names]
    window.inventory.select_ids({a.id for a in assets if a.id is not None})
    return assets


def rows(window: MainWindow) -> list[tuple[str, ...]]:
    assert window.assess_dialog is not None
    model = window.assess_dialog.model
    return [tuple(model.index(r, c).data() for c in range(model.columnCount()))
            for r in range(model.rowCount())]


# -- fakes ----------------------------------------------------------------------------------
def unlock_through_the_gui(qtbot: Any, window: MainWindow,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    answer_master_password(monkeypatch, [MASTER])
    window.action(MainAction.UNLOCK).trigger()
    qtbot.waitUntil(lambda: window.gate.unlocked and not window.gate.busy, timeout=10_000)
    wait_idle(qtbot, window)


def test_assess_selected_unlocks_first(qtbot: Any, locked_window: MainWindow,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    window = locked_window
    assert window.service is not None
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(window.service, "assess_assets",
                        fake_assess(window.service, ok_or_auth_failed, calls=calls, delay=0))
    asked = answer_master_password(monkeypatch, ["wrong password", MASTER])
    targets = select(window, "web01", "acct-pc")
    with qtbot.waitSignal(window.assessment_finished, timeout=20_000):
        window.inventory.view.setFocus()
        qtbot.keyClick(window.inventory.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert asked == ["", "Wrong master password; try again."]
    assert calls == [{"ids": sorted(a.id for a in targets if a.id is not None),
                      "refresh": True}]


def test_assessment_streams_results_without_stalling_the_gui(
        qtbot: Any, locked_window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    window = locked_window
    assert window.service is not None
    unlock_through_the_gui(qtbot, window, monkeypatch)
    monkeypatch.setattr(window.service, "assess_assets",
                        fake_assess(window.service, ok_or_auth_failed))
    select(window, "web01", "acct-pc")
    assert window.action(MainAction.ASSESS).isEnabled()
    batches: list[int] = []

    with StallMeter() as meter:
        started = time.monotonic()
        window.inventory.view.setFocus()
        qtbot.keyClick(window.inventory.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
        dialog = window.assess_dialog
        assert dialog is not None and dialog.running
        dialog.model.dataChanged.connect(lambda *_: batches.append(1))
        assert [r[2] for r in rows(window)] == ["waiting…", "waiting…"]
        assert not window.action(MainAction.ASSESS).isEnabled()
        with qtbot.waitSignal(window.assessment_finished, timeout=20_000) as finished:
            pass
        elapsed = time.monotonic() - started
    wait_idle(qtbot, window)
    assert meter.ticks > elapsed * 20
    assert meter.worst < 100, f"GUI thread stalled for {meter.worst} ms"
    assert len(batches) >= 2, "results should arrive host by host"
    table = {r[0]: r for r in rows(window)}
    assert table["web01"][2:6] == ("\u2714 assessed", "5", "2", "required")
    assert table["acct-pc"][2] == "\u2716 login refused"
    assert "authentication failed" in dialog.error_note.text()
    assert dialog.status.text().startswith("Done in")
    assert "1 assessed, 1 failed" in dialog.status.text()
    assert dialog.close_button.isEnabled() and not dialog.cancel_button.isVisible()
    assert {o.label for o in finished.args[0]} == {"web01", "acct-pc"}
    assert window.action(MainAction.ASSESS).isEnabled()
    # Show patches closes the window and opens the page.
    qtbot.mouseClick(dialog.patches_button, Qt.MouseButton.LeftButton)
    assert window.current_page() == "patches"
    assert not dialog.isVisible()


def test_unlocking_does_not_stall_the_gui(qtbot: Any, locked_window: MainWindow,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with StallMeter() as meter:
        unlock_through_the_gui(qtbot, locked_window, monkeypatch)
    assert meter.worst < 100, f"GUI thread stalled for {meter.worst} ms"


def test_cancel_stops_the_run(qtbot: Any, locked_window: MainWindow,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    window = locked_window
    assert window.service is not None
    window.service.remote.unlock(MASTER)
    window.gate.state_changed.emit()
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(window.service, "assess_assets",
                        fake_assess(window.service, ok_or_auth_failed, delay=5.0, calls=calls))
    window.action(MainAction.ASSESS_ALL).trigger()
    qtbot.waitUntil(lambda: window.assess_dialog is not None and bool(calls), timeout=10_000)
    dialog = window.assess_dialog
    assert dialog is not None
    assert dialog.model.rowCount() == 3
    started = time.monotonic()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.running, timeout=10_000)
    assert time.monotonic() - started < 2
    assert dialog.status.text().startswith("Cancelled"), dialog.error_note.text()
    assert {r[2] for r in rows(window)} == {"\u2716 cancelled"}
    assert not dialog.error_note.isVisible()  # cancelled hosts are not errors


def test_locked_vault_and_cancelled_password_runs_nothing(
        qtbot: Any, locked_window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    window = locked_window
    assert window.service is not None
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(window.service, "assess_assets",
                        fake_assess(window.service, ok_or_auth_failed, calls=calls))
    asked = answer_master_password(monkeypatch, [None])
    select(window, "web01")
    window.action(MainAction.ASSESS).trigger()
    qtbot.waitUntil(lambda: asked == [""], timeout=10_000)
    wait_idle(qtbot, window)
    assert calls == []
    assert window.assess_dialog is None
    assert not window.service.remote.unlocked


def test_nothing_to_assess_says_why(qtbot: Any, locked_window: MainWindow,
                                    shown_errors: list[tuple[str, str]]) -> None:
    window = locked_window
    assert window.service is not None
    window.service.add_asset(Asset(macs=("00:11:22:33:44:55",), serial="X1",
                                   kind=AssetKind.PRINTER))
    window.inventory.load()
    wait_idle(qtbot, window)
    target = next(a for a in window.inventory.model.assets() if a.serial == "X1")
    assert target.id is not None
    window.inventory.select_ids({target.id})
    window.action(MainAction.ASSESS).trigger()
    assert shown_errors and shown_errors[0][0] == "Nothing to assess"


def test_changed_host_key_in_a_deep_scan_can_be_reviewed(
        qtbot: Any, locked_window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    window = locked_window
    service = window.service
    assert service is not None
    service.remote.unlock(MASTER)
    window.gate.state_changed.emit()
    new_key = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519" + b"\x07" * 36).decode()

    def changed(asset: Asset) -> HostOutcome:
        return HostOutcome(int(asset.id or 0), asset.label, asset.primary_ip, False,
                           "host_key_changed", f"{asset.primary_ip}: SSH host key changed")

    monkeypatch.setattr(service, "assess_assets", fake_assess(service, changed, delay=0.05))

    def fake_test(name: str, asset: Asset) -> dict[str, Any]:
        raise HostKeyChangedError(asset.primary_ip, 22, "ssh-ed25519", ["SHA256:old"],
                                  fingerprint(new_key), new_key)

    monkeypatch.setattr(service.remote, "test_credential", fake_test)
    shown: list[Any] = []

    def ask(_cls: Any, _parent: QWidget | None, error: Any) -> bool:
        shown.append(error)
        return True

    monkeypatch.setattr(HostKeyChangedDialog, "ask", classmethod(ask))
    select(window, "web01")
    with qtbot.waitSignal(window.assessment_finished, timeout=10_000):
        window.action(MainAction.ASSESS).trigger()
    dialog = window.assess_dialog
    assert dialog is not None
    assert rows(window)[0][2] == "\u2716 host key changed"
    assert dialog.keys_button.isVisible()
    qtbot.mouseClick(dialog.keys_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(service.remote.host_keys.all()), timeout=10_000)
    wait_idle(qtbot, window)
    assert shown[0].new_fingerprint == fingerprint(new_key)
    [key] = service.remote.host_keys.all()
    assert (key["host"], key["fingerprint"], key["accepted_by"]) == (
        "10.0.0.10", fingerprint(new_key), "tester")


# -- the asset detail panel -----------------------------------------------------------------
def test_detail_panel_shows_the_last_deep_scan(qtbot: Any, window: MainWindow) -> None:
    service = window.service
    assert service is not None
    web, acct = asset_by_name(service, "web01"), asset_by_name(service, "acct-pc")
    store_assessment(service, web)
    store_assessment(service, acct, error=("sudo_refused", "10.0.0.9: sudo refused"))
    details = window.inventory.details

    with qtbot.waitSignal(window.assessment_loaded, timeout=10_000):
        window.inventory.select_ids({int(web.id or 0)})
    scan = details.scan_values
    assert "(2.5 s, apt)" in scan["when"].text()
    assert scan["result"].text() == "2 missing updates (1 security), 4 packages installed"
    assert scan["os"].text() == "Debian GNU/Linux 12 (bookworm)"
    assert scan["kernel"].text() == "6.1.0-26-amd64 (x86_64)"
    assert scan["uptime"].text() == "3 d 4 h"
    assert scan["cpu"].text() == "Intel Xeon E-2224 \u00d7 4"
    assert scan["memory"].text() == "8.0 GiB (5.0 GiB available)"
    assert scan["disks"].text() == "/  20.0 GiB free of 50.0 GiB, 40%  (ext4)"
    assert scan["interfaces"].text() == "eth0  52:54:00:12:34:56  10.0.0.10/24"
    assert scan["users"].text() == "anna"
    assert scan["reboot"].text().startswith("required\n  \u2022 /var/run/reboot-required")
    assert scan["reboot"].property("role") == "field-error"
    assert details.tabs.tabText(1) == "Software (4)"
    assert details.tabs.tabText(2) == "Updates (2)"
    updates = details.updates_model
    cells = {updates.index(r, 0).data(): [updates.index(r, c).data() for c in range(6)]
             for r in range(updates.rowCount())}
    assert cells["openssl"] == ["openssl", "3.0.14-1~deb12u2 \u2192 3.0.15-1~deb12u1",
                                "Security", "Important", "Debian-Security:12/stable-security",
                                "CVE-2024-5535, CVE-2024-9143"]
    # The software list filters as you type.
    details.tabs.setCurrentIndex(1)
    search = details.software_view.parentWidget().findChild(type(window.inventory.search))
    qtbot.keyClicks(search, "open")
    proxy = details.software_view.model()
    assert sorted(proxy.index(r, 0).data() for r in range(proxy.rowCount())) == [
        "openssh-server", "openssl"]

    with qtbot.waitSignal(window.assessment_loaded, timeout=10_000):
        window.inventory.select_ids({int(acct.id or 0)})
    assert scan["result"].text() == "failed \u2014 sudo refused: 10.0.0.9: sudo refused"
    assert scan["result"].property("role") == "field-error"
    assert not scan["os"].isVisibleTo(details)
    assert details.tabs.tabText(2) == "Updates (0)"

    printer = asset_by_name(service, "printer-2f")
    with qtbot.waitSignal(window.assessment_loaded, timeout=10_000):
        window.inventory.select_ids({int(printer.id or 0)})
    assert scan["when"].text().startswith("Never.")


def test_selection_changes_are_debounced(qtbot: Any, window: MainWindow) -> None:
    loaded: list[int] = []
    window.assessment_loaded.connect(loaded.append)
    ids = [a.id for a in window.inventory.model.assets() if a.id is not None]
    for asset_id in ids * 3:  # quick arrow-key browsing
        window.inventory.select_ids({asset_id})
    qtbot.waitUntil(lambda: bool(loaded), timeout=5_000)
    qtbot.wait(300)
    assert loaded == [ids[-1]]


# -- the lab --------------------------------------------------------------------------------
@pytest.mark.lab
def test_lab_assess_two_hosts_from_the_inventory(qtbot: Any, lab: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Assess two real Debian hosts from the Inventory page, then read their missing
    updates in the asset detail and on the Patches page."""
    names = ["deb1", "deb2"]
    path = tmp_path / "lab.pdsite"
    service = SiteService.open(path, create=True, name="Lab office", actor="tech")
    for name in names:
        service.add_asset(Asset(hostname=name, ips=(lab.host(name).ip,)))
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("lab-admin", "admin", password="labpass")
    service.close()

    window = MainWindow(SiteService.open(path, actor="tech"))
    qtbot.addWidget(window)
    window.resize(1400, 860)
    window.show()
    window.show_page("inventory")
    wait_idle(qtbot, window)
    unlock_through_the_gui(qtbot, window, monkeypatch)
    select(window, *names)

    with StallMeter() as meter:
        started = time.monotonic()
        window.inventory.view.setFocus()
        qtbot.keyClick(window.inventory.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
        with qtbot.waitSignal(window.assessment_finished, timeout=240_000) as finished:
            pass
        elapsed = time.monotonic() - started
    wait_idle(qtbot, window)
    outcomes = finished.args[0]
    assert [(o.label, o.ok) for o in outcomes] == [(n, True) for n in names], \
        [o.message for o in outcomes]
    assert meter.ticks > elapsed * 20
    assert meter.worst < 100, f"GUI thread stalled for {meter.worst} ms"
    table = {r[0]: r for r in rows(window)}
    assert all(table[n][2] == "\u2714 assessed" for n in names)
    assert all(int(table[n][4]) >= 1 for n in names)  # pd-openssl is a security fix
    assessed_dialog = window.assess_dialog
    assert assessed_dialog is not None

    # The asset detail shows facts, software and the missing updates.
    deb1 = next(a for a in window.inventory.model.assets() if a.hostname == "deb1")
    assert deb1.os_name == "Debian GNU/Linux"  # the inventory was reloaded with the facts
    with qtbot.waitSignal(window.assessment_loaded, timeout=10_000):
        window.inventory.select_ids({int(deb1.id or 0)})
    details = window.inventory.details
    assert details.scan_values["os"].text().startswith("Debian GNU/Linux 12")
    assert lab.host("deb1").mac in details.scan_values["interfaces"].text()
    updates = {details.updates_model.index(r, 0).data(): details.updates_model.index(r, 2).data()
               for r in range(details.updates_model.rowCount())}
    assert updates.get("pd-openssl") == "Security"
    assert window.service is not None
    assert set(updates) == {p.package for p in window.service.patches(deb1.id)}
    assert int(details.tabs.tabText(1).split("(")[1].rstrip(")").replace(",", "")) > 50

    # The Patches page: pd-openssl missing on both hosts, by patch and by host.
    with qtbot.waitSignal(window.patches_loaded, timeout=10_000):
        window.patches.refresh_requested.emit()
    page = window.patches
    window.show_page("patches")
    page.class_combo.setCurrentIndex(page.class_combo.findData("security"))
    by_patch = {page.patch_proxy.index(r, 0).data(): page.patch_proxy.index(r, 4).data()
                for r in range(page.patch_proxy.rowCount())}
    assert by_patch == {"pd-openssl": "2"}
    page.tabs.setCurrentIndex(1)
    hosts = {page.host_proxy.index(r, 0).data() for r in range(page.host_proxy.rowCount())}
    assert hosts == set(names)

    if os.environ.get("PATCHDESK_SCREENSHOTS"):
        save_screenshots(qtbot, window, Path(os.environ["PATCHDESK_SCREENSHOTS"]))
    wait_idle(qtbot, window)
    window.close()


def save_screenshots(qtbot: Any, window: MainWindow, folder: Path) -> None:
    """Pictures of the Patches page and the asset detail for docs/ (set
    PATCHDESK_SCREENSHOTS=docs to write them)."""
    from app.ui.main import create_app

    create_app()  # the application's style and style sheet, as users see it
    folder.mkdir(parents=True, exist_ok=True)
    window.show_page("dashboard")
    qtbot.wait(300)
    window.grab().save(str(folder / "screenshot-dashboard.png"))
    page = window.patches
    page.class_combo.setCurrentIndex(0)
    page.tabs.setCurrentIndex(0)
    page.patch_view.selectRow(0)
    window.show_page("patches")
    qtbot.wait(200)
    window.grab().save(str(folder / "screenshot-patches.png"))
    window.show_page("inventory")
    deb1 = next(a for a in window.inventory.model.assets() if a.hostname == "deb1")
    window.inventory.splitter.setSizes([700, 700])
    with qtbot.waitSignal(window.assessment_loaded, timeout=10_000):
        window.inventory.select_ids({int(deb1.id or 0)})
        window.inventory.refresh_assessment()
    qtbot.wait(200)
    window.grab().save(str(folder / "screenshot-asset-detail.png"))
    window.inventory.details.tabs.setCurrentIndex(2)
    qtbot.wait(200)
    window.grab().save(str(folder / "screenshot-asset-updates.png"))
