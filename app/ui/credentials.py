"""The Credentials page: the vault, SSH credentials, testing them, and pinned host keys.

Every call into the vault runs on the worker pool — unlocking derives the key with scrypt
(a few tenths of a second) and testing a credential logs in to a host. Secrets typed into a
dialog are handed to the service once and the fields are cleared; they are never logged,
shown, or kept by the page. :class:`VaultGate` is the one place that asks for the master
password and that reacts to a changed SSH host key, for this page and for deep scans.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.credentials import Credential, Scope, ScopeKind, SudoMode
from app.core.models import Asset, Ring
from app.services import SiteService
from app.ui import dialogs
from app.ui.dialogs import HostKeyChangedDialog, MasterPasswordDialog
from app.ui.inventory import make_table_view, page_header
from app.ui.models import RowTableModel, local_time
from app.ui.qt import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QKeySequence,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QObject,
    QPushButton,
    QRadioButton,
    QShortcut,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import TaskError, TaskRunner

SUDO_LABELS = {
    SudoMode.PASSWORD: "sudo with password",
    SudoMode.NOPASSWD: "sudo NOPASSWD",
    SudoMode.ROOT: "already root",
}
_STATE_COLOURS = {"ok": "#1e7b34", "error": "#b3261e", "busy": "#6b7785"}
KEY_FILTER = "SSH private keys (id_* *.pem *.key);;All files (*)"


def scope_text(scope: Scope, labels: dict[str, str] | None = None) -> str:
    """An assignment as a person reads it: ``whole site``, ``tag dmz``, ``asset web01``."""
    if scope.kind is ScopeKind.ALL:
        return "whole site"
    if scope.kind is ScopeKind.ASSET:
        return f"asset {(labels or {}).get(scope.value, '#' + scope.value)}"
    return f"{scope.kind} {scope.value}"


def auth_text(cred: Credential) -> str:
    """How a credential logs in, without any secret."""
    if cred.has_key and cred.has_password:
        return "key + password"
    if cred.has_key:
        return "key"
    return "password" if cred.has_password else "none"


def sudo_text(cred: Credential) -> str:
    """How a credential becomes root."""
    text = SUDO_LABELS.get(cred.sudo_mode, str(cred.sudo_mode))
    if cred.sudo_mode is SudoMode.PASSWORD and not cred.has_sudo_password:
        text += " (none stored)"
    return text


class CredentialTableModel(RowTableModel):
    """Stored credentials (their public part only)."""

    COLUMNS = ("Name", "User", "Authentication", "Sudo", "Assigned to", "Port")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.asset_labels: dict[str, str] = {}

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        c: Credential = obj
        cells = (c.name, c.username, auth_text(c), sudo_text(c),
                 ", ".join(scope_text(s, self.asset_labels) for s in c.scopes),
                 str(c.port or 22))
        return cells, " ".join(cells).lower()

    def credential_at(self, row: int) -> Credential:
        """The credential of a row."""
        cred: Credential = self.object_at(row)
        return cred


class HostKeyTableModel(RowTableModel):
    """SSH host keys the site trusts (``RemoteAccess.host_keys.all()`` rows)."""

    COLUMNS = ("Host", "Port", "Type", "Fingerprint", "First seen", "Accepted by")

    def render(self, obj: Any) -> tuple[tuple[str, ...], str]:
        row: dict[str, Any] = obj
        first = str(row.get("first_seen") or "")
        with contextlib.suppress(ValueError):
            first = local_time(datetime.fromisoformat(first))
        cells = (str(row.get("host", "")), str(row.get("port", "")),
                 str(row.get("key_type", "")), str(row.get("fingerprint", "")), first,
                 str(row.get("accepted_by", "")))
        return cells, " ".join(cells).lower()


# -- the vault gate -------------------------------------------------------------------------
class VaultGate(QObject):
    """Asks for the master password and unlocks the vault in the background.

    Also the one reaction to a changed SSH host key: warn, and pin the new key only when the
    user accepts it (the service audits that).
    """

    #: The vault was created, unlocked or locked.
    state_changed = Signal()
    #: A changed host key was accepted (the pinned keys changed).
    host_keys_changed = Signal()
    #: An unlock attempt started (True) or ended (False).
    busy_changed = Signal(bool)

    def __init__(self, runner: TaskRunner, window: QWidget) -> None:
        super().__init__(window)
        self.runner = runner
        self.window = window
        self.service: SiteService | None = None
        self.busy = False

    def set_service(self, service: SiteService | None) -> None:
        """Work on another open site."""
        self.service = service
        self.state_changed.emit()

    @property
    def unlocked(self) -> bool:
        """Whether the open site's vault is unlocked in this session."""
        return self.service is not None and self.service.credentials.unlocked

    def ensure_unlocked(self, then: Callable[[], None], *, create: bool = False) -> None:
        """Call ``then`` once the vault is open, asking for the master password if needed.

        Args:
            then: what to do next (on the GUI thread); not called if the user cancels.
            create: offer to create the vault when the site has none yet (otherwise say
                that credentials must be added first).
        """
        service = self.service
        if service is None or self.busy:
            return
        if service.credentials.unlocked:
            then()
            return
        remote = service.credentials

        def known(exists: bool) -> None:
            if service is not self.service:
                return
            if not exists and not create:
                dialogs.show_error(
                    self.window, "No credentials yet",
                    "This site has no stored credentials. Add an SSH credential on the "
                    "Credentials page (Ctrl+4) first; that also creates the vault.")
                return
            self.unlock(then, create=not exists)

        self.runner.submit(lambda: remote.vault_exists, name="vault exists", on_result=known)

    def unlock(self, then: Callable[[], None] | None = None, *, create: bool = False,
               error: str = "") -> None:
        """Ask for the master password and open (or create) the vault on the worker pool."""
        service = self.service
        if service is None or self.busy:
            return
        password = MasterPasswordDialog.ask(self.window, create=create, error=error)
        if password is None:
            return
        remote = service.credentials
        self._set_busy(True)

        def opened(_result: object) -> None:
            self._set_busy(False)
            if service is not self.service:
                return
            self.state_changed.emit()
            if then is not None:
                then()

        def failed(task_error: TaskError) -> None:
            self._set_busy(False)
            if service is not self.service:
                return
            if task_error.is_bug:
                dialogs.show_error(self.window, "Internal error", task_error.message)
                return
            from app.services.credentials import WrongMasterPasswordError

            message = ("Wrong master password; try again."
                       if isinstance(task_error.exception, WrongMasterPasswordError)
                       else task_error.message)
            self.unlock(then, create=create, error=message)

        def work() -> None:
            remote.unlock(password, create=create)

        # Creating writes the vault header: through the write pool, in order with others.
        self.runner.submit(work, name="create vault" if create else "unlock vault",
                           write=create, on_result=opened, on_error=failed)

    def lock(self) -> None:
        """Forget the vault key (and close connections) in the background."""
        service = self.service
        if service is None:
            return

        def done(_result: object) -> None:
            if service is self.service:
                self.state_changed.emit()

        self.runner.submit(service.credentials.lock, name="lock vault", on_result=done)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.busy_changed.emit(busy)

    # -- host keys -------------------------------------------------------------------------
    def handle_error(self, error: TaskError, retry: Callable[[], None] | None = None) -> bool:
        """React to a changed host key behind a failed task; False if it was not one.

        With the user's consent the new key is pinned, then ``retry`` runs.
        """
        exc = error.exception
        if getattr(exc, "kind", None) != "host_key_changed":
            return False
        self.review_host_key(exc, retry)
        return True

    def review_host_key(self, exc: Any, retry: Callable[[], None] | None = None) -> None:
        """Show the changed-key warning for a ``HostKeyChangedError``; pin it if accepted."""
        service = self.service
        if service is None or not HostKeyChangedDialog.ask(self.window, exc):
            return
        remote = service.credentials
        host, port, key_type, key_b64 = exc.host, exc.port, exc.key_type, exc.new_key_b64

        def done(_result: object) -> None:
            if service is not self.service:
                return
            self.host_keys_changed.emit()
            if retry is not None:
                retry()

        self.runner.submit(lambda: remote.accept_host_key(host, port, key_type, key_b64),
                           name="accept host key", write=True, on_result=done)

    def probe_host_key(self, asset: Asset, done: Callable[[str], None] | None = None) -> None:
        """Connect to an asset whose deep scan saw a changed key, to show the key and offer
        to accept it (a deep-scan outcome carries only the message, not the new key)."""
        service = self.service
        if service is None:
            return
        remote = service.credentials

        def probe() -> Any:
            cred = remote.credential_for(asset)
            return remote.test_credential(cred.name, asset)

        def ok(_result: object) -> None:
            if done is not None:
                done(f"{asset.label}: the host key now matches the pinned one.")

        def failed(error: TaskError) -> None:
            if not self.handle_error(error) and done is not None:
                done(error.message)

        self.runner.submit(probe, name="probe host key", on_result=ok, on_error=failed)


# -- dialogs --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewCredential:
    """What the add dialog collected; the secrets never appear in a repr."""

    name: str
    username: str
    password: str | None = field(default=None, repr=False)
    key_file: str | None = None
    key_passphrase: str | None = field(default=None, repr=False)
    sudo_mode: SudoMode = SudoMode.PASSWORD
    sudo_password: str | None = field(default=None, repr=False)
    port: int | None = None
    scopes: tuple[Scope, ...] = ()


def _error_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setProperty("role", "field-error")
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.hide()
    return label


def _secret_edit(name: str, accessible: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setAccessibleName(accessible)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


class CredentialDialog(QDialog):
    """Add an SSH credential: login, sudo, port and what it is assigned to. Use :meth:`ask`."""

    SCOPES = (("Whole site", ScopeKind.ALL), ("Assets with a tag", ScopeKind.TAG),
              ("A deployment ring", ScopeKind.RING), ("One asset", ScopeKind.ASSET))

    def __init__(self, parent: QWidget | None = None, *, taken: Sequence[str] = (),
                 assets: Sequence[Asset] = (), tags: Sequence[str] = ()) -> None:
        super().__init__(parent)
        self.setObjectName("credentialDialog")
        self.setWindowTitle("Add SSH credential")
        self.taken = {n.lower() for n in taken}
        self.result_credential: NewCredential | None = None
        self.errors: dict[str, QLabel] = {}

        self.name = QLineEdit()
        self.name.setObjectName("credName")
        self.name.setAccessibleName("Credential name")
        self.name.setPlaceholderText("e.g. office-linux")
        self.username = QLineEdit()
        self.username.setObjectName("credUser")
        self.username.setAccessibleName("User name")
        self.username.setPlaceholderText("e.g. admin")
        self.use_password = QRadioButton("&Password")
        self.use_password.setObjectName("credUsePassword")
        self.use_key = QRadioButton("SSH &key file")
        self.use_key.setObjectName("credUseKey")
        self.auth_group = QButtonGroup(self)
        self.auth_group.addButton(self.use_password)
        self.auth_group.addButton(self.use_key)
        self.use_password.setChecked(True)
        self.password = _secret_edit("credPassword", "Password")
        self.key_file = QLineEdit()
        self.key_file.setObjectName("credKeyFile")
        self.key_file.setAccessibleName("Private key file")
        self.key_file.setPlaceholderText("e.g. ~/.ssh/id_ed25519")
        self.browse = QPushButton("&Browse…")
        self.browse.clicked.connect(self._on_browse_clicked)
        self.passphrase = _secret_edit("credPassphrase", "Key passphrase")
        self.passphrase.setPlaceholderText("only if the key is encrypted")
        self.sudo_mode = QComboBox()
        self.sudo_mode.setObjectName("credSudoMode")
        self.sudo_mode.setAccessibleName("Sudo mode")
        # Item data are plain strings: Qt keeps a str, while a Python enum would be an
        # opaque object that findData() cannot match.
        self.sudo_mode.addItem("sudo with a password", str(SudoMode.PASSWORD))
        self.sudo_mode.addItem("sudo without a password (NOPASSWD)", str(SudoMode.NOPASSWD))
        self.sudo_mode.addItem("the user is root already", str(SudoMode.ROOT))
        self.sudo_password = _secret_edit("credSudoPassword", "Sudo password")
        self.sudo_password.setPlaceholderText("empty: the login password")
        self.port = QSpinBox()
        self.port.setObjectName("credPort")
        self.port.setAccessibleName("SSH port")
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText("22 (default)")
        self.scope_kind = QComboBox()
        self.scope_kind.setObjectName("credScopeKind")
        self.scope_kind.setAccessibleName("Assigned to")
        for label, kind in self.SCOPES:
            self.scope_kind.addItem(label, str(kind))
        self.scope_tag = QComboBox()
        self.scope_tag.setObjectName("credScopeTag")
        self.scope_tag.setAccessibleName("Tag")
        self.scope_tag.setEditable(True)
        self.scope_tag.addItems(sorted(set(tags), key=str.lower))
        self.scope_tag.setCurrentText("")
        self.scope_ring = QComboBox()
        self.scope_ring.setObjectName("credScopeRing")
        self.scope_ring.setAccessibleName("Ring")
        for ring in Ring:
            if ring is not Ring.NONE:
                self.scope_ring.addItem(str(ring).capitalize(), str(ring))
        self.scope_asset = QComboBox()
        self.scope_asset.setObjectName("credScopeAsset")
        self.scope_asset.setAccessibleName("Asset")
        for asset in sorted(assets, key=lambda a: a.label.lower()):
            if asset.id is not None:
                text = asset.label + (f"  ({asset.primary_ip})" if asset.hostname and
                                      asset.primary_ip else "")
                self.scope_asset.addItem(text, asset.id)
        self.scope_value = QStackedWidget()
        self.scope_value.addWidget(QWidget())
        self.scope_value.addWidget(self.scope_tag)
        self.scope_value.addWidget(self.scope_ring)
        self.scope_value.addWidget(self.scope_asset)
        self.scope_kind.currentIndexChanged.connect(self.scope_value.setCurrentIndex)

        key_row = QHBoxLayout()
        key_row.addWidget(self.key_file, 1)
        key_row.addWidget(self.browse)
        auth_row = QHBoxLayout()
        auth_row.addWidget(self.use_password)
        auth_row.addWidget(self.use_key)
        auth_row.addStretch(1)
        self.password_row = QWidget()
        pw_layout = QVBoxLayout(self.password_row)
        pw_layout.setContentsMargins(0, 0, 0, 0)
        pw_layout.addWidget(self.password)
        self.key_row = QWidget()
        key_layout = QFormLayout(self.key_row)
        key_layout.setContentsMargins(0, 0, 0, 0)
        key_layout.addRow("File", key_row)
        key_layout.addRow("Passphrase", self.passphrase)
        self.secret_stack = QStackedWidget()
        self.secret_stack.addWidget(self.password_row)
        self.secret_stack.addWidget(self.key_row)
        self.use_key.toggled.connect(self._on_auth_toggled)
        self.sudo_mode.currentIndexChanged.connect(self._on_sudo_changed)
        scope_row = QHBoxLayout()
        scope_row.addWidget(self.scope_kind)
        scope_row.addWidget(self.scope_value, 1)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._row(form, "&Name", self.name, "name")
        self._row(form, "&User", self.username, "username")
        form.addRow("Log in with", auth_row)
        self._row(form, "", self.secret_stack, "auth")
        self._row(form, "&Sudo", self.sudo_mode, "sudo_mode")
        self._row(form, "Sudo pass&word", self.sudo_password, "sudo")
        self._row(form, "P&ort", self.port, "port")
        self._row(form, "&Assigned to", scope_row, "scope")

        note = QLabel("Secrets are encrypted into the site file with the vault key; a key "
                      "file's content is stored too, so the site stays portable. The most "
                      "specific assignment wins: asset, then tag, then ring, then site.")
        note.setWordWrap(True)
        note.setProperty("role", "muted")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add credential")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.resize(560, 0)
        self._on_auth_toggled(False)
        self._on_sudo_changed(0)

    def _row(self, form: QFormLayout, label: str, widget: Any, key: str) -> None:
        error = _error_label(f"credError_{key}")
        self.errors[key] = error
        box = QVBoxLayout()
        box.setSpacing(2)
        if isinstance(widget, QWidget):
            box.addWidget(widget)
        else:
            box.addLayout(widget)
        box.addWidget(error)
        form.addRow(label, box)

    def _on_auth_toggled(self, use_key: bool) -> None:
        self.secret_stack.setCurrentIndex(1 if use_key else 0)
        self.secret_stack.setFixedHeight(self.secret_stack.currentWidget().sizeHint().height())
        self.sudo_password.setPlaceholderText(
            "required with a key" if use_key else "empty: the login password")

    def _on_sudo_changed(self, _index: int) -> None:
        self.sudo_password.setEnabled(self._sudo_mode() is SudoMode.PASSWORD)

    def _sudo_mode(self) -> SudoMode:
        return SudoMode(self.sudo_mode.currentData() or SudoMode.PASSWORD)

    def _on_browse_clicked(self) -> None:
        start = str(Path.home() / ".ssh")
        path = dialogs.ask_open_file(self, "Choose SSH private key", KEY_FILTER, start)
        if path:
            self.key_file.setText(path)

    def _scopes(self) -> tuple[tuple[Scope, ...], str]:
        kind = ScopeKind(self.scope_kind.currentData() or ScopeKind.ALL)
        if kind is ScopeKind.ALL:
            return (Scope(ScopeKind.ALL),), ""
        if kind is ScopeKind.TAG:
            tag = self.scope_tag.currentText().strip()
            return ((Scope(ScopeKind.TAG, tag),), "") if tag else ((), "Enter a tag.")
        if kind is ScopeKind.RING:
            return (Scope(ScopeKind.RING, str(self.scope_ring.currentData())),), ""
        asset_id = self.scope_asset.currentData()
        if asset_id is None:
            return (), "The inventory has no asset to choose."
        return (Scope(ScopeKind.ASSET, str(asset_id)),), ""

    def validate(self) -> dict[str, str]:
        """Problems per field (empty when the credential can be stored)."""
        problems: dict[str, str] = {}
        name = self.name.text().strip()
        if not name:
            problems["name"] = "Give the credential a name."
        elif len(name) > 64:
            problems["name"] = "Use at most 64 characters."
        elif name.lower() in self.taken:
            problems["name"] = "A credential with this name exists already."
        user = self.username.text().strip()
        if not user:
            problems["username"] = "Enter the user to log in as."
        elif any(c.isspace() for c in user):
            problems["username"] = "A user name has no spaces."
        mode = self._sudo_mode()
        if self.use_key.isChecked():
            key = self.key_file.text().strip()
            if not key:
                problems["auth"] = "Choose the private key file."
            elif not Path(key).expanduser().is_file():
                problems["auth"] = f"There is no file {key}."
            if mode is SudoMode.PASSWORD and not self.sudo_password.text():
                problems["sudo"] = ("With a key, sudo needs its password here (or "
                                             "choose NOPASSWD / already root).")
        elif not self.password.text():
            problems["auth"] = "Enter the password."
        _scopes, scope_problem = self._scopes()
        if scope_problem:
            problems["scope"] = scope_problem
        return problems

    def accept(self) -> None:
        """Close only with a credential that can be stored; show each problem in place."""
        problems = self.validate()
        for key, label in self.errors.items():
            label.setText(problems.get(key, ""))
            label.setVisible(key in problems)
        if problems:
            first = next(iter(problems))
            focus = {"name": self.name, "username": self.username,
                     "auth": self.key_file if self.use_key.isChecked() else self.password,
                     "sudo": self.sudo_password}.get(first)
            if focus is not None:
                focus.setFocus()
            return
        scopes, _ = self._scopes()
        mode = self._sudo_mode()
        use_key = self.use_key.isChecked()
        sudo_password = self.sudo_password.text() if mode is SudoMode.PASSWORD else ""
        self.result_credential = NewCredential(
            name=self.name.text().strip(),
            username=self.username.text().strip(),
            password=None if use_key else self.password.text(),
            key_file=self.key_file.text().strip() if use_key else None,
            key_passphrase=(self.passphrase.text() or None) if use_key else None,
            sudo_mode=mode,
            sudo_password=sudo_password or None,
            port=self.port.value() or None,
            scopes=scopes,
        )
        super().accept()

    def done(self, result: int) -> None:
        """Clear every secret field however the dialog closes."""
        for edit in (self.password, self.passphrase, self.sudo_password):
            edit.clear()
        super().done(result)

    @classmethod
    def ask(cls, parent: QWidget | None, *, taken: Sequence[str] = (),
            assets: Sequence[Asset] = (), tags: Sequence[str] = ()) -> NewCredential | None:
        """The credential to add, or None if cancelled (tests monkeypatch this)."""
        dialog = cls(parent, taken=taken, assets=assets, tags=tags)
        try:
            dialog.exec()
            return dialog.result_credential
        finally:
            dialog.deleteLater()


class ChooseAssetDialog(QDialog):
    """Pick one asset from a filterable list. Use :meth:`ask`."""

    def __init__(self, parent: QWidget | None, title: str, assets: Sequence[Asset],
                 current: int | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chooseAssetDialog")
        self.setWindowTitle(title)
        self.filter = QLineEdit()
        self.filter.setObjectName("assetFilter")
        self.filter.setAccessibleName("Filter assets")
        self.filter.setPlaceholderText("Filter by host name or IP")
        self.filter.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setObjectName("assetList")
        self.list.setAccessibleName("Assets")
        for asset in sorted(assets, key=lambda a: a.label.lower()):
            if asset.id is None or not (asset.primary_ip or asset.hostname):
                continue
            item = QListWidgetItem(
                asset.label + (f"   {asset.primary_ip}" if asset.hostname else ""))
            item.setData(Qt.ItemDataRole.UserRole, asset)
            self.list.addItem(item)
            if asset.id == current:
                self.list.setCurrentItem(item)
        if self.list.currentRow() < 0 and self.list.count():
            self.list.setCurrentRow(0)
        self.filter.textChanged.connect(self._on_filter_text_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Test")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)
        self.resize(420, 420)
        # Up/Down in the filter box move through the list.
        for key in ("Up", "Down"):
            QShortcut(QKeySequence(key), self.filter,
                      lambda k=key: self._move(-1 if k == "Up" else 1),
                      Qt.ShortcutContext.WidgetShortcut)

    def _move(self, step: int) -> None:
        rows = [r for r in range(self.list.count()) if not self.list.item(r).isHidden()]
        if not rows:
            return
        current = self.list.currentRow()
        later = [r for r in rows if (r > current if step > 0 else r < current)]
        target = (later[0] if step > 0 else later[-1]) if later else current
        self.list.setCurrentRow(target)

    def _on_filter_text_changed(self, text: str) -> None:
        words = text.lower().split()
        first_visible = -1
        for row in range(self.list.count()):
            item = self.list.item(row)
            hidden = not all(w in item.text().lower() for w in words)
            item.setHidden(hidden)
            if not hidden and first_visible < 0:
                first_visible = row
        current = self.list.currentItem()
        if (current is None or current.isHidden()) and first_visible >= 0:
            self.list.setCurrentRow(first_visible)

    def chosen(self) -> Asset | None:
        """The selected asset."""
        item = self.list.currentItem()
        if item is None or item.isHidden():
            return None
        asset: Asset = item.data(Qt.ItemDataRole.UserRole)
        return asset

    @classmethod
    def ask(cls, parent: QWidget | None, title: str, assets: Sequence[Asset],
            current: int | None = None) -> Asset | None:
        """The chosen asset, or None if cancelled (tests monkeypatch this)."""
        dialog = cls(parent, title, assets, current)
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            return dialog.chosen()
        finally:
            dialog.deleteLater()


# -- the page -------------------------------------------------------------------------------
class CredentialsPage(QWidget):
    """Vault status, stored credentials with add/delete/test, and the pinned host keys."""

    #: The credentials and host keys were (re)loaded.
    loaded = Signal()
    #: A credential test finished (with the text shown).
    tested = Signal(str)
    #: A credential was added or deleted.
    changed = Signal(str)

    def __init__(self, runner: TaskRunner, gate: VaultGate,
                 assets: Callable[[], list[Asset]], current_asset: Callable[[], int | None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("credentialsPage")
        self.runner = runner
        self.gate = gate
        self.assets = assets
        self.current_asset = current_asset
        self.service: SiteService | None = None
        self.vault_exists = False
        self.loaded_once = False
        gate.state_changed.connect(self._on_gate_changed)
        gate.host_keys_changed.connect(self._on_gate_changed)
        gate.busy_changed.connect(self._on_gate_busy_changed)

        header, self.subtitle = page_header(
            "Credentials",
            "SSH logins PatchDesk uses for deep scans and patching, kept encrypted in the "
            "site file. Host keys are trusted on first use, then pinned.")

        self.vault_bar = QFrame()
        self.vault_bar.setObjectName("vaultBar")
        self.vault_bar.setProperty("role", "card")
        self.vault_status = QLabel()
        self.vault_status.setObjectName("vaultStatus")
        self.vault_status.setTextFormat(Qt.TextFormat.PlainText)
        self.vault_status.setWordWrap(True)
        self.unlock_button = QPushButton("&Unlock…")
        self.unlock_button.setObjectName("unlockButton")
        self.unlock_button.clicked.connect(self._on_unlock_clicked)
        self.lock_button = QPushButton("&Lock")
        self.lock_button.setObjectName("lockButton")
        self.lock_button.clicked.connect(self.gate.lock)
        bar = QHBoxLayout(self.vault_bar)
        bar.setContentsMargins(12, 8, 12, 8)
        bar.addWidget(self.vault_status, 1)
        bar.addWidget(self.unlock_button)
        bar.addWidget(self.lock_button)

        self.model = CredentialTableModel(self)
        self.view = make_table_view("credentialsView", "Credentials")
        self.view.setModel(self.model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for col, width in enumerate((160, 110, 120, 190, 220, 60)):
            self.view.horizontalHeader().resizeSection(col, width)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.view.doubleClicked.connect(lambda _i: self.test_selected())
        self.add_button = QPushButton("&Add…")
        self.add_button.setObjectName("addCredentialButton")
        self.add_button.setToolTip("Add an SSH credential (Insert)")
        self.add_button.clicked.connect(self.add_credential)
        self.delete_button = QPushButton("&Delete")
        self.delete_button.setObjectName("deleteCredentialButton")
        self.delete_button.setToolTip("Delete the selected credential (Delete)")
        self.delete_button.clicked.connect(self.delete_selected)
        self.test_button = QPushButton("&Test on asset…")
        self.test_button.setObjectName("testCredentialButton")
        self.test_button.setToolTip("Log in to an asset with the selected credential and check "
                                    "sudo (Ctrl+T)")
        self.test_button.clicked.connect(self.test_selected)
        QShortcut(QKeySequence("Insert"), self.view, self.add_credential,
                  Qt.ShortcutContext.WidgetShortcut)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.view,
                  self.delete_selected, Qt.ShortcutContext.WidgetShortcut)
        QShortcut(QKeySequence("Ctrl+T"), self, self.test_selected,
                  Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.test_result = QLabel()
        self.test_result.setObjectName("testResult")
        self.test_result.setTextFormat(Qt.TextFormat.PlainText)
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_result.hide()
        self.empty = QLabel()
        self.empty.setObjectName("credentialsEmpty")
        self.empty.setProperty("role", "muted")
        self.empty.setWordWrap(True)

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)

        self.keys_model = HostKeyTableModel(self)
        self.keys_view = make_table_view("hostKeysView", "Pinned host keys")
        self.keys_view.setModel(self.keys_model)
        for col, width in enumerate((130, 50, 150, 390, 130)):
            self.keys_view.horizontalHeader().resizeSection(col, width)

        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addLayout(buttons)
        upper_layout.addWidget(self.view, 1)
        upper_layout.addWidget(self.empty)
        upper_layout.addWidget(self.test_result)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 6, 0, 0)
        keys_heading = QLabel("Pinned host keys")
        keys_heading.setProperty("role", "section")
        keys_note = QLabel("A host whose key no longer matches is blocked until you accept "
                           "its new key.")
        keys_note.setProperty("role", "muted")
        keys_note.setWordWrap(True)
        lower_layout.addWidget(keys_heading)
        lower_layout.addWidget(keys_note)
        lower_layout.addWidget(self.keys_view, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(upper)
        splitter.addWidget(lower)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([380, 260])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 10)
        layout.addWidget(header)
        layout.addWidget(self.vault_bar)
        layout.addWidget(splitter, 1)
        self._show_vault_state()

    # -- data -------------------------------------------------------------------------------
    def set_service(self, service: SiteService | None) -> None:
        """Show another site's credentials (the gate follows the window's site)."""
        self.service = service
        self.loaded_once = False
        self.vault_exists = False
        self.model.set_objects([])
        self.keys_model.set_objects([])
        self.test_result.hide()
        self.reload()

    def reload(self) -> None:
        """Reload the vault state, credentials and host keys in the background."""
        service = self.service
        if service is None:
            self._show_vault_state()
            return
        remote = service.credentials

        def load() -> tuple[bool, list[Credential], list[dict[str, Any]]]:
            return remote.vault_exists, remote.credentials(), remote.host_keys()

        def done(result: tuple[bool, list[Credential], list[dict[str, Any]]]) -> None:
            if service is not self.service:
                return
            self.vault_exists, creds, keys = result
            selected = self.selected_credential()
            self.model.asset_labels = {str(a.id): a.label for a in self.assets()}
            self.model.set_objects(creds)
            self.keys_model.set_objects(keys)
            if selected is not None:
                self.select_credential(selected.name)
            elif creds:
                self.view.selectRow(0)
            self.loaded_once = True
            self._show_vault_state()
            self.loaded.emit()

        self.runner.submit(load, name="load credentials", on_result=done)

    def credentials(self) -> list[Credential]:
        """The credentials shown."""
        creds: list[Credential] = self.model.objects()
        return creds

    def selected_credential(self) -> Credential | None:
        """The selected credential, if any."""
        rows = self.view.selectionModel().selectedRows()
        return self.model.credential_at(rows[0].row()) if rows else None

    def select_credential(self, name: str) -> None:
        """Select a credential by name."""
        for row, cred in enumerate(self.credentials()):
            if cred.name == name:
                self.view.selectRow(row)
                return

    # -- actions ----------------------------------------------------------------------------
    def _on_unlock_clicked(self) -> None:
        if self.service is not None:
            self.gate.unlock(create=not self.vault_exists)

    def add_credential(self) -> None:
        """Ask for a new credential (unlocking or creating the vault first) and store it."""
        service = self.service
        if service is None:
            return
        if not self.gate.unlocked:
            self.gate.ensure_unlocked(self.add_credential, create=True)
            return
        assets = self.assets()
        tags = sorted({t for a in assets for t in a.tags}, key=str.lower)
        spec = CredentialDialog.ask(self, taken=[c.name for c in self.credentials()],
                                    assets=assets, tags=tags)
        if spec is None:
            return
        remote = service.credentials

        def add() -> Credential:
            return remote.add_ssh_credential(
                spec.name, spec.username, password=spec.password, key_file=spec.key_file,
                key_passphrase=spec.key_passphrase, sudo_mode=spec.sudo_mode,
                sudo_password=spec.sudo_password, port=spec.port, scopes=spec.scopes)

        def done(cred: Credential) -> None:
            if service is not self.service:
                return
            self.model.set_objects([*self.credentials(), cred])
            self.select_credential(cred.name)
            self._show_vault_state()
            self.changed.emit("credential.add")
            self.reload()

        def failed(error: TaskError) -> None:
            dialogs.show_error(self, "Credential not added", error.message)

        self.runner.submit(add, name="add credential", write=True, on_result=done,
                           on_error=failed)

    def delete_selected(self) -> None:
        """Delete the selected credential after confirmation."""
        service = self.service
        cred = self.selected_credential()
        if service is None or cred is None:
            return
        scopes = ", ".join(scope_text(s, self.model.asset_labels) for s in cred.scopes)
        if not dialogs.confirm(
                self, "Delete credential",
                f"Delete the credential \u201c{cred.name}\u201d ({cred.username}, assigned to "
                f"{scopes})?\n\nIts secrets are removed from the vault. Assets it covers get "
                "no deep scans or patches until another credential applies to them."):
            return
        remote = service.credentials
        name = cred.name

        def done(_result: object) -> None:
            if service is not self.service:
                return
            self.model.set_objects([c for c in self.credentials() if c.name != name])
            self._show_vault_state()
            self.changed.emit("credential.delete")
            self.reload()

        def failed(error: TaskError) -> None:
            dialogs.show_error(self, "Credential not deleted", error.message)

        self.runner.submit(lambda: remote.delete_credential(name), name="delete credential",
                           write=True, on_result=done, on_error=failed)

    def test_selected(self) -> None:
        """Choose an asset and log in to it with the selected credential, checking sudo."""
        service = self.service
        cred = self.selected_credential()
        if service is None or cred is None:
            return
        if not self.gate.unlocked:
            self.gate.ensure_unlocked(self.test_selected)
            return
        asset = ChooseAssetDialog.ask(self, f"Test \u201c{cred.name}\u201d on…", self.assets(),
                                      self.current_asset())
        if asset is not None:
            self.run_test(cred.name, asset)

    def run_test(self, name: str, asset: Asset) -> None:
        """Test a credential on an asset in the background and show what worked."""
        service = self.service
        if service is None:
            return
        remote = service.credentials
        self._show_test(f"Testing \u201c{name}\u201d on {asset.label}…", "busy")
        self.test_button.setEnabled(False)

        def done(result: dict[str, Any]) -> None:
            self._update_buttons()
            if service is not self.service:
                return
            who = result.get("user") or "?"
            if result.get("sudo"):
                text = (f"\u2714 {asset.label}: logged in as {who} with \u201c{name}\u201d; "
                        "sudo works (root).")
                state = "ok"
            else:
                text = (f"\u2716 {asset.label}: logged in as {who} with \u201c{name}\u201d, "
                        "but could not become root. Check the sudo mode and password.")
                state = "error"
            self._show_test(text, state)
            self.reload()
            self.tested.emit(text)

        def failed(error: TaskError) -> None:
            self._update_buttons()
            if service is not self.service:
                return
            text = f"\u2716 {error.message}"
            self._show_test(text, "error")
            self.tested.emit(text)
            self.gate.handle_error(error, retry=lambda: self.run_test(name, asset))

        self.runner.submit(lambda: remote.test_credential(name, asset), name="test credential",
                           on_result=done, on_error=failed)

    # -- display ----------------------------------------------------------------------------
    def _show_test(self, text: str, state: str) -> None:
        self.test_result.setText(text)
        self.test_result.setProperty("state", state)
        self.test_result.setStyleSheet(f"color: {_STATE_COLOURS.get(state, '#6b7785')};")
        self.test_result.show()

    def _show_vault_state(self) -> None:
        service = self.service
        unlocked = service is not None and service.credentials.unlocked
        if service is None:
            text = "No site open."
        elif self.gate.busy:
            text = "Unlocking the vault…"
        elif unlocked:
            text = ("Vault unlocked for this session. Lock it when you leave the "
                    "computer; closing the site locks it too.")
        elif self.vault_exists:
            text = ("Vault locked. Unlock it with the site's master password to "
                    "add, test or use credentials.")
        elif self.loaded_once:
            text = ("No vault yet. Create one with a master password to store credentials "
                    "in this site.")
        else:
            text = "Loading…"
        self.vault_status.setText(text)
        self.unlock_button.setText("&Unlock…" if self.vault_exists else "&Create vault…")
        self.unlock_button.setVisible(service is not None and not unlocked)
        self.unlock_button.setEnabled(self.loaded_once and not self.gate.busy)
        self.lock_button.setVisible(unlocked)
        count = self.model.rowCount()
        if count:
            self.empty.hide()
        else:
            self.empty.setText(
                "No credentials yet. Press Add… to store the SSH login PatchDesk should use; "
                "assign it to the whole site, a tag, a ring or one asset.")
            self.empty.show()
        self._update_buttons()

    def _update_buttons(self, *_args: object) -> None:
        has = self.service is not None and self.selected_credential() is not None
        self.add_button.setEnabled(self.service is not None and not self.gate.busy)
        self.delete_button.setEnabled(has)
        self.test_button.setEnabled(has and not self.gate.busy)

    def _on_gate_changed(self) -> None:
        if self.service is not None and self.service is self.gate.service:
            self.reload()
        else:
            self._show_vault_state()

    def _on_gate_busy_changed(self, _busy: bool) -> None:
        self._show_vault_state()
