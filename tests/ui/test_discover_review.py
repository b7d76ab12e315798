"""Discover: hosts are reviewed before they are added (adding without review is off by
default and remembered), earlier scans can be shown again, and the progress bar says how
many addresses are done and the time left. Real scans of loopback listeners."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.core.progress import Progress
from app.ui.discover import DiscoverPage, time_left
from app.ui.mainwindow import MainWindow
from app.ui.settings import app_settings
from tests.integration.test_scan_service import Listener
from tests.ui.conftest import wait_idle
from tests.ui.test_discover import start


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    made = [Listener("127.0.32.2", 2222), Listener("127.0.32.3", 2222)]
    yield made
    for listener in made:
        listener.close()


def test_adding_without_review_is_off_by_default_and_remembered(qtbot: Any) -> None:
    page = DiscoverPage({"default": (22,)})
    qtbot.addWidget(page)
    page.restore_state(app_settings())
    assert not page.merge_check.isChecked()
    page.merge_check.setChecked(True)
    page.save_state(app_settings())
    again = DiscoverPage({"default": (22,)})
    qtbot.addWidget(again)
    again.restore_state(app_settings())
    assert again.merge_check.isChecked()


def test_review_then_add_and_history(qtbot: Any, window: MainWindow,
                                     listeners: list[Listener]) -> None:
    page = window.discover
    before = window.inventory.model.rowCount()
    start(window, "127.0.32.2-3", merge=page.merge_check.isChecked())
    qtbot.waitUntil(lambda: not page.running, timeout=30_000)
    wait_idle(qtbot, window)
    assert window.inventory.model.rowCount() == before  # nothing added yet
    assert page.review_label.isVisible()
    assert "2 new devices were found and not added" in page.review_label.text()
    assert {r["ip"] for r in page.selected_rows()} == {"127.0.32.2", "127.0.32.3"}
    assert page.add_button.isEnabled() and page.add_new_button.isVisible()
    assert "2 of 2 addresses" in page.progress.text()
    first = page.scan_id
    # The history lists the scan.
    qtbot.waitUntil(lambda: page.history_combo.findData(first) >= 0, timeout=5000)
    assert "for review" in page.history_combo.itemText(page.history_combo.findData(first))
    page.add_new_button.click()
    qtbot.waitUntil(lambda: window.inventory.model.rowCount() == before + 2, timeout=10_000)
    wait_idle(qtbot, window)
    # A second scan of one address; then the first one is shown again from the history.
    start(window, "127.0.32.2", merge=False)
    qtbot.waitUntil(lambda: not page.running, timeout=30_000)
    wait_idle(qtbot, window)
    assert {r["ip"] for r in page.model.rows} == {"127.0.32.2"}
    qtbot.waitUntil(lambda: page.history_combo.count() >= 2, timeout=5000)
    index = page.history_combo.findData(first)
    page.history_combo.setCurrentIndex(index)
    page.history_combo.activated.emit(index)
    qtbot.waitUntil(lambda: page.scan_id == first, timeout=5000)
    assert {r["ip"] for r in page.model.rows} == {"127.0.32.2", "127.0.32.3"}


def test_progress_bar_shows_count_and_time_left(qtbot: Any) -> None:
    page = DiscoverPage({"default": (22,)})
    qtbot.addWidget(page)
    page.scan_started(200)
    assert page.progress.text() == "0 of 200 addresses"
    page._started = time.monotonic() - 10  # 50 addresses in 10 s: 30 s for the other 150
    page.show_progress(Progress(50, 200))
    assert page.progress.text().startswith("50 of 200 addresses · about 3")
    assert page.progress.text().endswith("s left")
    assert time_left(400) == "about 7 min left" and time_left(0.2) == "almost done"
    page._drain.stop()
