"""The Discover page drives real scans of loopback listeners without freezing the window."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.errors import UserError
from app.ui import discover
from app.ui.mainwindow import MainWindow
from tests.integration.test_scan_service import Listener
from tests.ui.conftest import wait_idle
from tests.ui.stall import StallMeter


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    made = [Listener("127.0.31.2", 2222), Listener("127.0.31.3", 2222)]
    yield made
    for listener in made:
        listener.close()


def start(window: MainWindow, targets: str, ports: str = "2222,2223",
          merge: bool = True) -> None:
    page = window.discover
    window.show_page("discover")
    page.range_edit.setText(targets)
    page.profile_combo.setCurrentText(discover.CUSTOM_PROFILE)
    page.ports_edit.setText(ports)
    page.merge_check.setChecked(merge)
    page.start_button.click()


def test_scan_streams_results_and_never_stalls_the_gui(qtbot, window: MainWindow,
                                                       listeners: list[Listener]) -> None:
    page = window.discover
    seen_rows: list[int] = []
    page.model.rowsInserted.connect(lambda *_: seen_rows.append(page.model.rowCount()))
    with StallMeter() as meter:
        started = time.monotonic()
        # 512 addresses: the scan runs long enough (~seconds) to watch the event loop.
        start(window, "127.0.30.0/24, 127.0.31.0/24")
        assert page.running
        assert not page.start_button.isEnabled()
        assert page.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: not page.running, timeout=60_000)
        elapsed = time.monotonic() - started
    assert meter.ticks > elapsed * 20  # the timer really ran throughout
    assert meter.worst < 100, f"GUI thread stalled for {meter.worst} ms"
    assert len(seen_rows) >= 2, "results should arrive in several batches while scanning"
    rows = {r["ip"]: r for r in page.model.rows}
    assert rows["127.0.31.2"]["ports"] == "2222"
    assert rows["127.0.31.2"]["change"] == "new"
    assert "512 addresses" in page.status_label.text() or "Done" in page.status_label.text()
    assert "New (" in page.diff_view.toPlainText()
    wait_idle(qtbot, window)
    # Merged: the inventory now has the new hosts.
    ips = {a.primary_ip for a in window.inventory.model.assets()}
    assert {"127.0.31.2", "127.0.31.3"} <= ips


@pytest.mark.parametrize(
    ("targets", "needle"),
    [("10.0.0.0/33", "10.0.0.0/33"), ("10.0.0.9-3", "10.0.0.9-3"), ("foo..bar", "foo..bar"),
     ("", "no targets")],
)
def test_bad_ranges_say_why_and_start_nothing(qtbot, window: MainWindow, targets: str,
                                              needle: str) -> None:
    start(window, targets)
    page = window.discover
    assert not page.running
    assert page.error_label.isVisibleTo(window)
    assert needle in page.error_label.text()
    assert window.service is not None
    assert window.service.scans() == []


def test_large_range_needs_confirmation(qtbot, window: MainWindow, monkeypatch) -> None:
    asked: list[int] = []

    def refuse(_parent: object, count: int) -> bool:
        asked.append(count)
        return False

    monkeypatch.setattr(discover, "confirm_large_scan", refuse)
    start(window, "10.0.0.0/13")
    assert asked == [524_286]
    assert not window.discover.running
    assert window.service is not None
    assert window.service.scans() == []


def test_cancel_stops_the_scan_quickly(qtbot, window: MainWindow) -> None:
    page = window.discover
    start(window, "127.0.40.0/22", ports="2222")
    assert page.running
    qtbot.waitUntil(lambda: page.progress.value() > 0, timeout=10_000)
    began = time.monotonic()
    page.cancel_button.click()
    qtbot.waitUntil(lambda: not page.running, timeout=10_000)
    assert time.monotonic() - began < 3
    assert page.status_label.text().startswith("Cancelled")
    assert "cancelled" in page.diff_view.toPlainText()


def test_report_only_scan_then_add_selected(qtbot, window: MainWindow,
                                            listeners: list[Listener]) -> None:
    page = window.discover
    before = window.inventory.model.rowCount()
    start(window, "127.0.31.2-3", merge=False)
    qtbot.waitUntil(lambda: not page.running, timeout=30_000)
    wait_idle(qtbot, window)
    assert window.inventory.model.rowCount() == before
    page.table.selectRow(0)
    assert page.add_button.isEnabled()
    assert "127.0.31.2" in page.details.toPlainText()
    page.add_button.click()
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.inventory.model.rowCount() == before + 1, timeout=10_000)


def test_import_nmap_xml_shows_the_scan_and_fills_the_inventory(
        qtbot, window: MainWindow, monkeypatch) -> None:
    capture = (Path(__file__).resolve().parents[1] / "data" / "nmap"
               / "debian-12-nmap-7.93" / "lab-sT.xml")
    page = window.discover
    window.show_page("discover")
    before = window.inventory.model.rowCount()
    asked: list[bool] = []
    monkeypatch.setattr(discover.DiscoverPage, "ask_nmap_file",
                        staticmethod(lambda _p: asked.append(True) or str(capture)))
    page.import_button.click()
    wait_idle(qtbot, window)
    assert asked and page.scan_id is not None
    assert page.model.rowCount() == 10
    assert page.status_label.text().startswith("Imported 10 host(s) from lab-sT.xml — 10 new")
    # like a scan, nothing is added before a person reviews it ([14]): then "Add all new"
    assert window.inventory.model.rowCount() == before
    assert page.add_new_button.isVisibleTo(page)
    page.add_new_button.click()
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.inventory.model.rowCount() == before + 10, timeout=10_000)
    # a file that is not an Nmap report says why, inline
    monkeypatch.setattr(discover.DiscoverPage, "ask_nmap_file",
                        staticmethod(lambda _p: str(Path(__file__))))
    page.import_button.click()
    wait_idle(qtbot, window)
    assert "not an Nmap XML report" in page.error_label.text()
    assert page.status_label.text() == "Import failed."


def test_public_range_needs_its_own_confirmation(qtbot, window: MainWindow,
                                                 monkeypatch) -> None:
    """[12].14: declined, nothing runs; confirmed, the scan is asked for with the public
    choice (the test's stand-in for the sweep refuses: no packet leaves loopback)."""
    import app.discovery
    import app.discovery.sweep

    def refuse(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("a scan of a public range reached the sweep")

    # should the confirmation ever regress, the sweep fails the test: no packet leaves
    monkeypatch.setattr(app.discovery, "scan", refuse)
    monkeypatch.setattr(app.discovery.sweep, "scan", refuse)
    answers = [False, True]
    asked: list[int] = []

    def ask(_parent: object, count: int) -> bool:
        asked.append(count)
        return answers.pop(0)

    monkeypatch.setattr(discover, "confirm_public_scan", ask)
    start(window, "8.8.8.0/30")
    assert asked == [2] and not window.discover.running
    assert window.service is not None and window.service.scans() == []
    calls: list[bool] = []

    def no_sweep(*_args: object, allow_public: bool = False, **_kw: object) -> object:
        calls.append(allow_public)
        raise UserError("stopped by the test before any packet")

    monkeypatch.setattr(window.service, "scan_network", no_sweep)
    start(window, "8.8.8.0/30")
    qtbot.waitUntil(lambda: not window.discover.running, timeout=10_000)
    assert asked == [2, 2] and calls == [True]
