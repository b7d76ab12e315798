"""Small standard dialogs behind functions the tests can monkeypatch.

Every modal question the main window asks goes through here (file choosers, confirmations,
error messages), so tests replace one function instead of driving a native dialog.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.core.models import Asset
from app.ui.qt import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
)

#: The site file suffix (the store's ``SITE_SUFFIX``; the UI does not import the store).
SITE_SUFFIX = ".pdsite"
SITE_FILTER = f"PatchDesk sites (*{SITE_SUFFIX});;All files (*)"


def ask_open_file(parent: QWidget | None, title: str, filters: str, folder: str = "") -> str | None:
    """Ask for an existing file; None if cancelled."""
    path, _ = QFileDialog.getOpenFileName(parent, title, folder, filters)
    return path or None


def ask_save_file(parent: QWidget | None, title: str, filters: str, folder: str = "") -> str | None:
    """Ask for a file to write; None if cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, title, folder, filters)
    return path or None


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """Tell the user something failed and what they can do (plain text)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                      parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.exec()


def confirm(parent: QWidget | None, title: str, question: str) -> bool:
    """A yes/no question (plain text); True for yes."""
    box = QMessageBox(QMessageBox.Icon.Question, title, question,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


def confirm_delete(parent: QWidget | None, assets: Sequence[Asset]) -> bool:
    """Ask before deleting assets, naming them; True to delete."""
    names = [a.label for a in assets[:5]]
    more = len(assets) - len(names)
    listing = "\n".join(f"  • {n}" for n in names) + (f"\n  … and {more} more" if more else "")
    count = f"{len(assets)} assets" if len(assets) != 1 else "1 asset"
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Delete assets",
        f"Delete {count} from this site?\n\n{listing}\n\n"
        "Their history stays in the audit log, and Edit ▸ Undo brings them back.",
        QMessageBox.StandardButton.Cancel,
        parent,
    )
    box.setTextFormat(Qt.TextFormat.PlainText)
    delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is delete


class NewSiteDialog(QDialog):
    """Ask where to create a new site file and what to call it."""

    def __init__(self, parent: QWidget | None = None, folder: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("New site")
        self._folder = folder
        self.path = QLineEdit()
        self.path.setAccessibleName("Site file")
        self.path.setPlaceholderText(f"where to save the site (*{SITE_SUFFIX})")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        self.name = QLineEdit()
        self.name.setAccessibleName("Site name")
        self.name.setPlaceholderText("e.g. Smith & Co — main office")
        self.client = QLineEdit()
        self.client.setAccessibleName("Client")
        self.client.setPlaceholderText("the customer this site belongs to (optional)")
        self.error = QLabel()
        self.error.setProperty("role", "field-error")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.hide()

        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Site &name", self.name)
        form.addRow("&Client", self.client)
        form.addRow("&File", row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "A site is one file holding one client's inventory, credentials, patches and "
            "audit log. You can copy it, back it up and open it on another machine."
        )
        intro.setWordWrap(True)
        intro.setProperty("role", "muted")
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setTabOrder(self.name, self.client)
        self.setTabOrder(self.client, self.path)
        self.setTabOrder(self.path, browse)
        self.resize(560, 0)

    def _on_browse_clicked(self) -> None:
        path = ask_save_file(self, "Create site file", SITE_FILTER, self._folder)
        if path:
            self.path.setText(path)
            if not self.name.text().strip():
                self.name.setText(Path(path).stem)

    def site_path(self) -> Path | None:
        """The chosen file with the site suffix added, or None if none was given."""
        text = self.path.text().strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if path.suffix != SITE_SUFFIX:
            path = path.with_name(path.name + SITE_SUFFIX)
        return path

    def accept(self) -> None:
        """Close only with a usable, new path and a name."""
        path = self.site_path()
        problem = ""
        if path is None:
            problem = "Choose where to save the site file."
        elif path.exists():
            problem = f"{path} already exists; open it with File ▸ Open site, or pick another name."
        elif not self.name.text().strip():
            problem = "Give the site a name."
        if problem:
            self.error.setText(problem)
            self.error.show()
            return
        super().accept()

    @classmethod
    def ask(cls, parent: QWidget | None, folder: str = "") -> tuple[Path, str, str] | None:
        """Return (path, name, client) for the new site, or None if cancelled."""
        dialog = cls(parent, folder)
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            path = dialog.site_path()
            assert path is not None
            return path, dialog.name.text().strip(), dialog.client.text().strip()
        finally:
            dialog.deleteLater()
