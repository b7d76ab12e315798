"""Icons and the small style sheet, loaded from ``resources/`` (self-made SVGs).

A missing file gives an empty icon rather than an error, so a partial install still runs.
"""

from __future__ import annotations

import functools
from pathlib import Path

from app.ui.qt import QIcon


def _resources() -> Path:
    """``resources/`` of a source checkout, or ``app/resources`` of an installed wheel."""
    here = Path(__file__).resolve()
    source = here.parents[2] / "resources"
    return source if source.is_dir() else here.parents[1] / "resources"


RESOURCES = _resources()


@functools.cache
def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg`` (empty if it is missing)."""
    path = RESOURCES / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def app_icon() -> QIcon:
    """PatchDesk's window icon."""
    return icon("patchdesk")


#: The style sheet's colours in the light and the dark theme (see :func:`style_sheet`).
LIGHT_COLOURS = {
    "sidebar_bg": "#eef1f5", "sidebar_border": "#d5dbe3", "sidebar_text": "#26313f",
    "hover": "#e1e7ef", "selected_bg": "#d3e0f7", "selected_text": "#0f3a8a",
    "title": "#1c2430", "subtitle": "#5b6776", "error": "#b3261e", "muted": "#6b7785",
    "stat": "#1d4fa8", "card_bg": "#ffffff", "card_border": "#d9dfe7",
    "card_hover": "#9db7e0", "invalid_bg": "#fdf1f0", "detail_bg": "#fafbfc",
    "banner_bg": "#fff4d6", "banner_border": "#e8cf8a",
}
DARK_COLOURS = {
    "sidebar_bg": "#1e2329", "sidebar_border": "#343b45", "sidebar_text": "#d5dbe3",
    "hover": "#2a313b", "selected_bg": "#2b4a7d", "selected_text": "#eef3fd",
    "title": "#eef1f5", "subtitle": "#a9b3bf", "error": "#ff8a80", "muted": "#9aa5b1",
    "stat": "#8ab4f8", "card_bg": "#262b32", "card_border": "#3a414b",
    "card_hover": "#5b7fb8", "invalid_bg": "#3b2323", "detail_bg": "#22272e",
    "banner_bg": "#3a3320", "banner_border": "#6b5a2a",
}

_TEMPLATE = """
QListWidget#sidebar {
    background: %(sidebar_bg)s;
    border: none;
    border-right: 1px solid %(sidebar_border)s;
    padding: 8px 0;
    font-size: 10.5pt;
    outline: 0;
}
QListWidget#sidebar::item {
    padding: 7px 12px;
    margin: 1px 6px;
    border-radius: 6px;
    color: %(sidebar_text)s;
}
QListWidget#sidebar::item:hover { background: %(hover)s; }
QListWidget#sidebar::item:selected {
    background: %(selected_bg)s;
    color: %(selected_text)s;
}
QLabel[role="page-title"] { font-size: 15pt; font-weight: 600; color: %(title)s; }
QLabel[role="page-subtitle"] { color: %(subtitle)s; }
QLabel[role="section"] { font-weight: 600; color: %(title)s; margin-top: 8px; }
QLabel[role="field-error"] { color: %(error)s; }
QLabel[role="muted"] { color: %(muted)s; }
QLabel[role="stat-value"] { font-size: 20pt; font-weight: 600; color: %(stat)s; }
QFrame[role="card"] {
    background: %(card_bg)s;
    border: 1px solid %(card_border)s;
    border-radius: 8px;
}
QFrame[role="card"]:hover, QFrame[role="card"]:focus { border: 1px solid %(card_hover)s; }
QFrame[role="banner"], QLabel[role="banner"] {
    padding: 4px 8px;
    background: %(banner_bg)s;
    border: 1px solid %(banner_border)s;
    border-radius: 6px;
}
QLineEdit[invalid="true"], QPlainTextEdit[invalid="true"] {
    border: 1px solid %(error)s;
    background: %(invalid_bg)s;
}
QFrame#detailPanel { background: %(detail_bg)s; border-left: 1px solid %(card_border)s; }
QTableView#inventoryView::item, QTableView#auditView::item { padding: 0 4px; }
"""


def style_sheet(dark: bool = False) -> str:
    """The application's style sheet in the light or the dark theme."""
    return _TEMPLATE % (DARK_COLOURS if dark else LIGHT_COLOURS)


STYLE_SHEET = style_sheet(False)
