"""Help ▸ Keyboard shortcuts (generated from the action registry, so it is never out of
date) and Help ▸ User guide (``docs/user-guide.md`` shown in the application)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.ui.actions import ACTIONS, MENUS, MainAction
from app.ui.icons import RESOURCES
from app.ui.qt import (
    QDialog,
    QDialogButtonBox,
    QKeySequence,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from app.ui.widgets import make_table_widget, plain_label

GUIDE_NAME = "user-guide.md"


def _plain(text: str) -> str:
    """Menu text without its access-key ampersands."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…")


def key_text(key: str | QKeySequence.StandardKey) -> str:
    """A shortcut as this platform writes it ("" for a standard key it does not bind)."""
    sequence = QKeySequence(key)
    return sequence.toString(QKeySequence.SequenceFormat.NativeText)


def shortcut_rows(pages: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(menu, command, shortcuts) for every action with a shortcut, in menu order, then one
    row per page (Ctrl+1 … Ctrl+0), then the keys every table and list understands."""
    menu_of: dict[MainAction, str] = {}
    order: list[MainAction] = []
    for title, entries in MENUS:
        for entry in entries:
            if isinstance(entry, MainAction):
                menu_of[entry] = _plain(title)
                order.append(entry)
    specs = {spec.id: spec for spec in ACTIONS}
    rows = []
    for action_id in [*order, *(s.id for s in ACTIONS if s.id not in menu_of)]:
        spec = specs[action_id]
        keys = [text for text in (key_text(k) for k in spec.shortcuts) if text]
        if keys:
            rows.append((menu_of.get(action_id, ""), _plain(spec.text), ", ".join(keys)))
    for number, (_key, label, _icon) in enumerate(pages, start=1):
        rows.append(("View", f"Go to {label}", key_text(f"Ctrl+{number % 10}")))
    rows += [("Tables", "Open or edit the selected row", "Enter"),
             ("Tables", "Select more rows", "Shift+click, Ctrl+click"),
             ("Dashboard", "Open what a card shows", "Enter or Space on the card")]
    return rows


class ShortcutsDialog(QDialog):
    """Every keyboard shortcut, as declared in :mod:`app.ui.actions`."""

    def __init__(self, parent: QWidget | None, pages: Sequence[tuple[str, str, str]]) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(pages)
        self.table = make_table_widget("shortcutsTable", "Keyboard shortcuts",
                                       ("Menu", "Command", "Keys"), (90, 260))
        self.table.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(plain_label("The same keys work from every page; a page's filter "
                                     "box takes the cursor with Ctrl+F.", role="muted"))
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(560, 520)


def guide_path() -> Path | None:
    """The user guide: ``docs/`` of a source checkout, or the copy bundled in resources."""
    for path in (Path(__file__).resolve().parents[2] / "docs" / GUIDE_NAME,
                 RESOURCES / "help" / GUIDE_NAME):
        if path.is_file():
            return path
    return None


class GuideDialog(QDialog):
    """The user guide, rendered from its Markdown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userGuideDialog")
        self.setWindowTitle("PatchDesk user guide")
        self.browser = QTextBrowser()
        self.browser.setObjectName("userGuide")
        self.browser.setOpenExternalLinks(True)
        path = guide_path()
        if path is None:
            self.browser.setPlainText(f"The user guide ({GUIDE_NAME}) is not installed with "
                                      "this copy of PatchDesk.")
        else:
            self.browser.setSearchPaths([str(path.parent)])
            self.browser.setMarkdown(path.read_text(encoding="utf-8"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
        self.resize(720, 640)
