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


STYLE_SHEET = """
QListWidget#sidebar {
    background: #eef1f5;
    border: none;
    border-right: 1px solid #d5dbe3;
    padding: 8px 0;
    font-size: 10.5pt;
    outline: 0;
}
QListWidget#sidebar::item {
    padding: 7px 12px;
    margin: 1px 6px;
    border-radius: 6px;
    color: #26313f;
}
QListWidget#sidebar::item:hover { background: #e1e7ef; }
QListWidget#sidebar::item:selected {
    background: #d3e0f7;
    color: #0f3a8a;
}
QLabel[role="page-title"] { font-size: 15pt; font-weight: 600; color: #1c2430; }
QLabel[role="page-subtitle"] { color: #5b6776; }
QLabel[role="section"] { font-weight: 600; color: #1c2430; margin-top: 8px; }
QLabel[role="field-error"] { color: #b3261e; }
QLabel[role="muted"] { color: #6b7785; }
QLabel[role="stat-value"] { font-size: 20pt; font-weight: 600; color: #1d4fa8; }
QFrame[role="card"] {
    background: #ffffff;
    border: 1px solid #d9dfe7;
    border-radius: 8px;
}
QLineEdit[invalid="true"], QPlainTextEdit[invalid="true"] {
    border: 1px solid #b3261e;
    background: #fdf1f0;
}
QFrame#detailPanel { background: #fafbfc; border-left: 1px solid #d9dfe7; }
QTableView#inventoryView::item, QTableView#auditView::item { padding: 0 4px; }
"""
