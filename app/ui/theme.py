"""Light and dark theme: follow the system's colour scheme, or the user's choice
(View ▸ Theme, remembered in the settings).

The theme is a palette (Fusion's, or a dark one) and the style sheet in matching colours
(:func:`app.ui.icons.style_sheet`); pages draw with palette colours, so they follow.
"""

from __future__ import annotations

from app.ui.icons import style_sheet
from app.ui.qt import QApplication, QColor, QGuiApplication, QObject, QPalette, Qt, Signal
from app.ui.settings import app_settings

#: The choices, as stored and as the View ▸ Theme menu shows them.
THEMES = {"system": "Follow the &system", "light": "&Light", "dark": "&Dark"}
SETTING = "view/theme"
_ROLE = QPalette.ColorRole


def saved_choice() -> str:
    """The remembered choice ("system" when none)."""
    value = str(app_settings().value(SETTING, "system") or "system")
    return value if value in THEMES else "system"


def system_is_dark() -> bool:
    """Whether the desktop asks for dark colours (False when it does not say)."""
    hints = QGuiApplication.styleHints()
    return bool(hints.colorScheme() == Qt.ColorScheme.Dark)


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style."""
    p = QPalette()
    colours = {
        _ROLE.Window: "#202428", _ROLE.WindowText: "#e6e9ed", _ROLE.Base: "#181b1f",
        _ROLE.AlternateBase: "#22262b", _ROLE.ToolTipBase: "#2b3036", _ROLE.ToolTipText: "#e6e9ed",
        _ROLE.PlaceholderText: "#8a949e", _ROLE.Text: "#e6e9ed", _ROLE.Button: "#2b3036",
        _ROLE.ButtonText: "#e6e9ed", _ROLE.BrightText: "#ff8a80", _ROLE.Link: "#8ab4f8",
        _ROLE.Highlight: "#2f5ea8", _ROLE.HighlightedText: "#ffffff", _ROLE.Light: "#3a4047",
        _ROLE.Midlight: "#30353b", _ROLE.Mid: "#262a2f", _ROLE.Dark: "#141619",
        _ROLE.Shadow: "#000000",
    }
    for role, colour in colours.items():
        p.setColor(role, QColor(colour))
    for role in (_ROLE.WindowText, _ROLE.Text, _ROLE.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6c757d"))
    return p


def apply_theme(app: QApplication, choice: str) -> bool:
    """Colour the application for ``choice`` (system/light/dark); True if dark."""
    dark = choice == "dark" or (choice == "system" and system_is_dark())
    style = app.style()
    app.setPalette(dark_palette() if dark else style.standardPalette())
    app.setStyleSheet(style_sheet(dark))
    app.setProperty("patchdeskDark", dark)
    return dark


class Theme(QObject):
    """The theme in use: applies the choice, remembers it, follows the system's changes."""

    #: The theme was applied (True: dark).
    changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.choice = saved_choice()
        self.dark = False
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_system_changed)

    def apply(self) -> None:
        """Apply the current choice to the application."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            self.dark = apply_theme(app, self.choice)
            self.changed.emit(self.dark)

    def set_choice(self, choice: str) -> None:
        """Use and remember another choice."""
        if choice not in THEMES:
            return
        self.choice = choice
        settings = app_settings()
        settings.setValue(SETTING, choice)
        settings.sync()
        self.apply()

    def _on_system_changed(self, _scheme: object) -> None:
        if self.choice == "system":
            self.apply()
