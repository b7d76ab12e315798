"""Fixtures for the GUI tests: offscreen Qt, isolated settings, a real temporary site."""

from __future__ import annotations

import os

# Must happen before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.models import Asset, AssetKind, Impact, OsFamily, Ring
from app.services import SiteService
from app.ui import dialogs
from app.ui.mainwindow import MainWindow
from app.ui.qt import QSettings


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep settings, the default site and logs of each test in its own temp folder."""
    monkeypatch.setenv("PATCHDESK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("PATCHDESK_SITE", raising=False)
    # Anything that would use QSettings() directly also lands in the temp folder.
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "qsettings"))


@pytest.fixture(autouse=True)
def shown_errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Error boxes are recorded instead of blocking the test."""
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(dialogs, "show_error",
                        lambda _parent, title, message: shown.append((title, message)))
    return shown


def sample_assets() -> list[Asset]:
    """A few varied assets."""
    return [
        Asset(hostname="web01", ips=("10.0.0.10",), macs=("00:1a:2b:3c:4d:01",),
              os_family=OsFamily.LINUX, os_name="Ubuntu", os_version="22.04",
              kind=AssetKind.SERVER, location="HQ / rack 2", owner="Ops team",
              tags=("dmz", "web"), impact=Impact.HIGH, ring=Ring.PILOT),
        Asset(hostname="acct-pc", ips=("10.0.0.9",), macs=("00:1a:2b:3c:4d:02",),
              os_family=OsFamily.WINDOWS, os_name="Windows 11 Pro", os_version="23H2",
              kind=AssetKind.WORKSTATION, location="HQ / finance", owner="Anna Becker",
              tags=("finance",), ring=Ring.PRODUCTION),
        Asset(hostname="printer-2f", ips=("10.0.0.100",), kind=AssetKind.PRINTER,
              location="HQ / 2nd floor"),
    ]


@pytest.fixture
def site_path(tmp_path: Path) -> Path:
    """A real site file with a few assets."""
    path = tmp_path / "test.pdsite"
    service = SiteService.open(path, create=True, name="Test site", actor="tester")
    for asset in sample_assets():
        service.add_asset(asset)
    service.close()
    return path


def wait_idle(qtbot: object, window: MainWindow, timeout: int = 10_000) -> None:
    """Wait until every background task of the window delivered its outcome."""
    qtbot.waitUntil(lambda: window.runner.active == 0, timeout=timeout)  # type: ignore[attr-defined]


@pytest.fixture
def window(qtbot: object, site_path: Path) -> Iterator[MainWindow]:
    """The real main window on the test site, with its inventory loaded."""
    win = MainWindow(SiteService.open(site_path, actor="tester"))
    qtbot.addWidget(win)  # type: ignore[attr-defined]
    win.show()
    win.activateWindow()
    qtbot.waitActive(win)  # type: ignore[attr-defined]
    wait_idle(qtbot, win)
    yield win
    wait_idle(qtbot, win)
    win.close()
