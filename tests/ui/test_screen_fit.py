"""Every page fits a 1024×700 laptop screen at 100 % and a 1920×1080 screen at 150 %: the
window's minimum size never grows past the screen after a page with data was shown.

The 150 % check runs the same measurement in a child process started with
``QT_SCALE_FACTOR=1.5`` (the scale is fixed when the QApplication starts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from app.core.models import Asset
from app.services import SiteService
from app.ui.mainwindow import PAGES, MainWindow
from app.ui.qt import QApplication
from tests.ui.conftest import wait_idle
from tests.ui.test_priorities import build_fleet

#: Room the window manager takes for the title bar and a panel (logical pixels).
FRAME = 48
ROOT = Path(__file__).resolve().parents[2]


def build_site(path: Path) -> None:
    """A site with long names and figures on every page (the widths that used to grow)."""
    service = SiteService.open(path, create=True, actor="J. Smith",
                               name="Müller & Söhne Zahnarztpraxis Gemeinschaftspraxis GmbH")
    service.update_site(client="Müller & Söhne Zahnarztpraxis Gemeinschaftspraxis GmbH")
    build_fleet(service)
    for n in range(12):
        service.add_asset(Asset(hostname=f"workstation-with-a-rather-long-name-{n:02}",
                                ips=(f"10.0.1.{n + 1}",), owner="Anna-Katharina Becker-Schmidt",
                                location="Headquarters / second floor / finance department"))
    service.close()


def measure(qtbot: Any, path: Path) -> dict[str, Any]:
    """Visit every page (with its data loaded) and note the window's and pages' minimum."""
    from app.ui.main import create_app

    create_app()
    win = MainWindow(SiteService.open(path, actor="J. Smith"))
    qtbot.addWidget(win)
    win.resize(1024, 700 - FRAME)
    win.show()
    wait_idle(qtbot, win)
    pages: dict[str, list[int]] = {}
    for key, _label, _icon in PAGES:
        win.show_page(key)
        wait_idle(qtbot, win)
        qtbot.wait(50)
        page = win.pages[key]
        pages[key] = [page.minimumSizeHint().width(), page.minimumSizeHint().height()]
    hint = win.minimumSizeHint().expandedTo(win.minimumSize())
    screen = QApplication.primaryScreen()
    result = {"window": [hint.width(), hint.height()], "pages": pages,
              "stack": [win.stack.width(), win.stack.height()],
              "ratio": screen.devicePixelRatio()}
    win.close()
    return result


def check(result: dict[str, Any], screen_w: int, screen_h: int) -> None:
    ratio = result["ratio"]
    width, height = result["window"]
    # The window's minimum in device pixels fits the screen (less the title bar and panel).
    assert width * ratio <= screen_w, result
    assert (height + FRAME) * ratio <= screen_h, result


def test_every_page_fits_1024x700(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "fit.pdsite"
    build_site(path)
    result = measure(qtbot, path)
    assert result["ratio"] == 1.0
    check(result, 1024, 700)
    # No page needs a horizontal scroll bar at 1024 px: its own minimum fits beside the
    # sidebar; and every page but the dashboard (a long summary that scrolls) fits in
    # height, so no button is out of sight.
    sidebar = 196
    stack_w, stack_h = result["stack"]
    assert stack_w >= 1024 - sidebar - 8
    for key, (w, h) in result["pages"].items():
        assert w <= 1024 - sidebar - 8, (key, w)
        assert key == "dashboard" or h <= stack_h, (key, h, stack_h)


def test_every_page_fits_1920x1080_at_150_percent(tmp_path: Path) -> None:
    path = tmp_path / "fit.pdsite"
    build_site(path)
    script = (
        "import json, sys\n"
        "from tests.ui.test_screen_fit import run_child\n"
        f"print('RESULT=' + json.dumps(run_child({str(path)!r})))\n")
    env = dict(os.environ, QT_SCALE_FACTOR="1.5", QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(ROOT), PATCHDESK_CONFIG_DIR=str(tmp_path / "config"),
               XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT=")]
    assert lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT="))
    assert result["ratio"] == 1.5
    check(result, 1920, 1080)


class _Bot:
    """The few qtbot calls :func:`measure` makes, for the child process."""

    def __init__(self) -> None:
        self.widgets: list[Any] = []

    def addWidget(self, widget: Any) -> None:
        self.widgets.append(widget)

    def wait(self, ms: int) -> None:
        from PySide6.QtTest import QTest

        QTest.qWait(ms)

    def waitUntil(self, condition: Any, timeout: int = 5000) -> None:
        from PySide6.QtTest import QTest

        waited = 0
        while not condition():
            assert waited < timeout, "timed out"
            QTest.qWait(20)
            waited += 20


def run_child(path: str) -> dict[str, Any]:
    """The measurement in a process of its own (see the 150 % test)."""
    return measure(_Bot(), Path(path))
