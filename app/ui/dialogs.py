"""Small standard dialogs behind functions the tests can monkeypatch.

Every modal question the main window asks goes through here (file choosers, confirmations,
error messages), so tests replace one function instead of driving a native dialog.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import __version__
from app.core.models import Asset
from app.ui.qt import (
    PYSIDE_VERSION,
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
    qVersion,
)
from app.ui.widgets import fit_to_text, form_row

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
        form_row(form, "&File", row, self.path)
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


#: The vault's minimum master password length (``app.remote.vault.MIN_MASTER_PASSWORD``,
#: repeated here so the start-up path does not import the crypto modules; a test checks).
MIN_MASTER_PASSWORD = 8


class MasterPasswordDialog(QDialog):
    """Ask for the site's master password: once to unlock, twice to create the vault.

    Use :meth:`ask`. The password fields are cleared as soon as the value is read.
    """

    def __init__(self, parent: QWidget | None = None, *, create: bool = False,
                 error: str = "") -> None:
        super().__init__(parent)
        self.creating = create
        self.setObjectName("masterPasswordDialog")
        self.setWindowTitle("Create credential vault" if create else "Unlock credential vault")
        if create:
            text = ("Credentials are stored in the site file, encrypted with a key made from "
                    "a master password. Choose one of at least "
                    f"{MIN_MASTER_PASSWORD} characters; you will need it whenever you open "
                    "this site to assess or patch hosts.")
        else:
            text = ("Enter the site's master password to use its stored credentials. The "
                    "vault stays unlocked until you lock it or close the site.")
        intro = QLabel(text)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        self.password = QLineEdit()
        self.password.setObjectName("masterPassword")
        self.password.setAccessibleName("Master password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm = QLineEdit()
        self.confirm.setObjectName("masterPasswordConfirm")
        self.confirm.setAccessibleName("Repeat master password")
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.error = QLabel(error)
        self.error.setObjectName("masterPasswordError")
        self.error.setProperty("role", "field-error")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setVisible(bool(error))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Master &password", self.password)
        if create:
            form.addRow("&Repeat it", self.confirm)
        else:
            self.confirm.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(
            "Create vault" if create else "Unlock")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        if create:
            warning = QLabel("The master password cannot be recovered. If it is lost, the "
                             "stored credentials are lost with it and must be entered again.")
            warning.setObjectName("masterPasswordWarning")
            warning.setWordWrap(True)
            warning.setTextFormat(Qt.TextFormat.PlainText)
            warning.setProperty("role", "field-error")
            layout.addWidget(warning)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        fit_to_text(self)

    def problem(self) -> str:
        """Why the typed password cannot be used, or an empty string."""
        text = self.password.text()
        if not text:
            return "Enter the master password."
        if self.creating:
            if len(text) < MIN_MASTER_PASSWORD:
                return f"Use at least {MIN_MASTER_PASSWORD} characters."
            if text != self.confirm.text():
                return "The two passwords differ; type them again."
        return ""

    def accept(self) -> None:
        """Close only with a usable password."""
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            self.error.show()
            fit_to_text(self)
            if self.creating and self.password.text() and problem.startswith("The two"):
                self.confirm.clear()
                self.confirm.setFocus()
            return
        super().accept()

    def take_password(self) -> str:
        """The typed password; the fields are cleared."""
        text = self.password.text()
        self.password.clear()
        self.confirm.clear()
        return text

    @classmethod
    def ask(cls, parent: QWidget | None, *, create: bool = False,
            error: str = "") -> str | None:
        """The master password, or None if cancelled (tests monkeypatch this)."""
        dialog = cls(parent, create=create, error=error)
        try:
            accepted = dialog.exec() == QDialog.DialogCode.Accepted
            password = dialog.take_password()
            return password if accepted else None
        finally:
            dialog.deleteLater()


def _host_key_file(key_type: str) -> str:
    name = {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa", "rsa-sha2-256": "rsa",
            "rsa-sha2-512": "rsa"}.get(key_type, "ecdsa" if "ecdsa" in key_type else "*")
    return f"/etc/ssh/ssh_host_{name}_key.pub"


def host_key_changed_text(error: Any) -> str:
    """The warning for a changed SSH host key (a ``HostKeyChangedError``), as plain text;
    for a key never confirmed (``HostKeyUnconfirmedError``) the first-contact question."""
    if getattr(error, "kind", "") == "host_key_unconfirmed":  # [12].10
        return (
            f"PatchDesk has never confirmed the SSH host key of {error.host} (port "
            f"{error.port}), so it did not send the credential's password.\n\n"
            f"Presented ({error.key_type}):\n    {error.new_fingerprint}\n\n"
            "Compare it with the fingerprint the host itself shows (on its console: "
            f"ssh-keygen -lf {_host_key_file(error.key_type)}). Accept it only if they "
            "match: the key is then pinned as confirmed and the password may be sent.")
    old = "\n".join(f"    {fp}" for fp in error.old_fingerprints) or "    (none)"
    return (
        f"The SSH host key of {error.host} (port {error.port}) is not the one PatchDesk "
        "pinned for it, so the connection was refused.\n\n"
        f"Pinned (old):\n{old}\n"
        f"Presented now (new, {error.key_type}):\n    {error.new_fingerprint}\n\n"
        "If the host was reinstalled or its SSH keys were regenerated, this is expected: "
        "compare the new fingerprint with the one the host itself shows (on its console: "
        f"ssh-keygen -lf {_host_key_file(error.key_type)}) and accept it.\n\n"
        "If nothing like that happened, someone may be intercepting the connection to "
        "capture the credentials. Keep the host blocked and investigate; PatchDesk will not "
        "connect to it until the new key is accepted."
    )


class HostKeyChangedDialog(QMessageBox):
    """Warn that a host's SSH key changed; offer to accept the new key or keep it blocked."""

    def __init__(self, parent: QWidget | None, error: Any) -> None:
        title = ("Confirm SSH host key" if getattr(error, "kind", "") ==
                 "host_key_unconfirmed" else "SSH host key changed")
        super().__init__(QMessageBox.Icon.Warning, title,
                         host_key_changed_text(error), QMessageBox.StandardButton.NoButton,
                         parent)
        self.setObjectName("hostKeyChangedDialog")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.accept_button = self.addButton("Accept new key",
                                            QMessageBox.ButtonRole.DestructiveRole)
        self.keep_button = self.addButton("Keep blocked", QMessageBox.ButtonRole.RejectRole)
        self.setDefaultButton(self.keep_button)
        self.setEscapeButton(self.keep_button)

    @classmethod
    def ask(cls, parent: QWidget | None, error: Any) -> bool:
        """True if the user accepts the new key (tests monkeypatch this)."""
        box = cls(parent, error)
        try:
            box.exec()
            return box.clickedButton() is box.accept_button
        finally:
            box.deleteLater()


def show_about(parent: QWidget | None) -> None:
    """Show the version and licence notes."""
    text = (
        f"<h3>PatchDesk {__version__}</h3>"
        "<p>Agentless patch management for small IT shops and MSP technicians.</p>"
        "<p>Licensed under the GNU GPL version 3 or later.</p>"
        f"<p>Built with Qt {qVersion()} and Qt for Python (PySide6) {PYSIDE_VERSION}, "
        "used under the GNU LGPL v3; and paramiko (SSH), used under the GNU LGPL "
        "v2.1. You may replace these libraries with your own builds; their source is "
        "available from qt.io and paramiko.org.</p>"
    )
    QMessageBox.about(parent, "About PatchDesk", text)
