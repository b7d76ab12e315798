"""View ▸ Theme (light, dark, or the system's, remembered), Help ▸ Keyboard shortcuts built
from the action registry, and Help ▸ User guide showing docs/user-guide.md."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.ui import theme
from app.ui.actions import ACTIONS, MainAction
from app.ui.help import GuideDialog, ShortcutsDialog, guide_path, key_text, shortcut_rows
from app.ui.icons import DARK_COLOURS, LIGHT_COLOURS
from app.ui.mainwindow import PAGES, MainWindow
from app.ui.qt import QApplication, QGuiApplication, QPalette, Qt
from app.ui.theme import Theme, saved_choice


@pytest.fixture
def restore_look() -> Iterator[QApplication]:
    """The application's palette and style sheet are put back after the test."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    palette, sheet = app.palette(), app.styleSheet()
    yield app
    app.setPalette(palette)
    app.setStyleSheet(sheet)


def window_lightness(app: QApplication) -> int:
    return app.palette().color(QPalette.ColorRole.Window).lightness()


def test_theme_menu_dark_light_and_following_the_system(
        qtbot: Any, window: MainWindow, restore_look: QApplication,
        monkeypatch: pytest.MonkeyPatch) -> None:
    app = restore_look
    texts = [a.text() for a in window.theme_menu.actions()]
    assert texts == ["Follow the &system", "&Light", "&Dark"]
    assert window.theme.choice == "system" and window.theme_actions["system"].isChecked()
    window.theme_actions["dark"].trigger()
    assert window.theme.dark and window_lightness(app) < 80
    assert DARK_COLOURS["card_bg"] in app.styleSheet()
    assert window.theme_actions["dark"].isChecked()
    assert saved_choice() == "dark" and Theme().choice == "dark"  # remembered
    window.theme_actions["light"].trigger()
    assert not window.theme.dark and window_lightness(app) > 180
    assert LIGHT_COLOURS["card_bg"] in app.styleSheet()
    # Following the system: the desktop switching to dark switches PatchDesk. (The offscreen
    # platform cannot change its scheme: the hint's signal is sent as the desktop would.)
    scheme = {"now": Qt.ColorScheme.Light}
    monkeypatch.setattr(theme, "system_is_dark",
                        lambda: scheme["now"] == Qt.ColorScheme.Dark)
    window.theme_actions["system"].trigger()
    assert saved_choice() == "system" and not window.theme.dark
    hints = QGuiApplication.styleHints()
    for now, dark in ((Qt.ColorScheme.Dark, True), (Qt.ColorScheme.Light, False)):
        scheme["now"] = now
        with qtbot.waitSignal(window.theme.changed, timeout=5000) as blocker:
            hints.colorSchemeChanged.emit(now)
        assert blocker.args == [dark]
        assert (window_lightness(app) < 80) is dark
    # A chosen theme stays when the system changes.
    window.theme_actions["light"].trigger()
    scheme["now"] = Qt.ColorScheme.Dark
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert not window.theme.dark and window_lightness(app) > 180


def test_shortcut_list_is_the_action_registry() -> None:
    rows = shortcut_rows(PAGES)
    listed = {(command, keys) for _menu, command, keys in rows}
    for spec in ACTIONS:
        keys = ", ".join(t for t in (key_text(k) for k in spec.shortcuts) if t)
        if keys:
            command = spec.text.replace("&", "").rstrip("…")
            assert (command, keys) in listed, spec.id
    assert ("Tools", "Deploy updates", key_text("Ctrl+D")) in rows
    assert ("Help", "Keyboard shortcuts", key_text("Ctrl+/")) in rows
    assert ("View", "Go to Dashboard", key_text("Ctrl+1")) in rows
    assert ("View", "Go to Site settings", key_text("Ctrl+0")) in rows


def test_help_menu_opens_shortcuts_and_the_user_guide(qtbot: Any, window: MainWindow) -> None:
    menu_action = next(a for a in window.menuBar().actions() if a.text() == "&Help")
    texts = [a.text() for a in menu_action.menu().actions() if not a.isSeparator()]
    assert texts == ["&User guide", "&Keyboard shortcuts", "&About PatchDesk"]
    window.action(MainAction.SHORTCUTS).trigger()
    dialog = window.findChild(ShortcutsDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.table.rowCount() == len(shortcut_rows(PAGES))
    dialog.close()
    window.action(MainAction.USER_GUIDE).trigger()
    guide = window.findChild(GuideDialog)
    assert guide is not None and guide.isVisible()
    path = guide_path()
    assert path is not None and path.name == "user-guide.md" and path.parent.name == "docs"
    text = guide.browser.toPlainText()
    assert text.startswith("PatchDesk user guide")
    assert "Keyboard shortcuts" in text and "Dashboard" in text
    guide.close()
