"""The Credentials page: the vault, SSH credentials, testing them, and pinned host keys.

Every call into the vault runs on the worker pool — unlocking derives the key with scrypt
(a few tenths of a second) and testing a credential logs in to a host. Secrets typed into a
dialog are handed to the service once and the fields are cleared; they are never logged,
shown, or kept by the page. :class:`VaultGate` is the one place that asks for the master
password and that reacts to a changed SSH host key, for this page and for deep scans.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from app.core.credentials import (
    Credential,
    CredentialKind,
    Scope,
    ScopeKind,
    SudoMode,
    WinRMSettings,
)
from app.core.models import Asset
from app.services import SiteService
from app.ui import dialogs
from app.ui.credential_dialogs import ChooseAssetDialog, CredentialDialog
from app.ui.dialogs import HostKeyChangedDialog, MasterPasswordDialog
from app.ui.models import RowTableModel, local_time
from app.ui.page import Page
from app.ui.qt import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QKeySequence,
    QObject,
    QPushButton,
    QShortcut,
    QSplitter,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from app.ui.tasks import TaskError, TaskRunner
from app.ui.widgets import make_table_view, page_header, plain_label

SUDO_LABELS = {
    SudoMode.PASSWORD: "sudo with password",
    SudoMode.NOPASSWD: "sudo NOPASSWD",
    SudoMode.ROOT: "already root",
}
_STATE_COLOURS = {"ok": "#1e7b34", "error": "#b3261e", "busy": "#6b7785"}


def scope_text(scope: Scope, labels: dict[str, str] | None = None) -> str:
    """An assignment as a person reads it: ``whole site``, ``tag dmz``, ``asset web01``."""
    if scope.kind is ScopeKind.ALL:
        return "whole site"
    if scope.kind is ScopeKind.ASSET:
        return f"asset {(labels or {}).get(scope.value, '#' + scope.value)}"
    return f"{scope.kind} {scope.value}"


def auth_text(cred: Credential) -> str:
    """How a credential logs in, without any secret."""
    if cred.kind is CredentialKind.WINRM:
        settings = WinRMSettings.from_options(cred.options)
        text = settings.describe(cred.port).rsplit(" port ", 1)[0]
        if settings.skip_cert_hosts:
            text += " (certificate not checked for some hosts)"
        return text
    if cred.has_key and cred.has_password:
        return "key + password"
    if cred.has_key:
        return "key"
    return "password" if cred.has_password else "none"


def sudo_text(cred: Credential) -> str:
    """How a credential becomes root."""
    if cred.kind is CredentialKind.WINRM:
        return "— (an administrator account)"
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
                 str(c.port or (22 if c.kind is CredentialKind.SSH else
                                5986 if WinRMSettings.from_options(c.options).https
                                else 5985)))
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
        if getattr(exc, "kind", None) not in ("host_key_changed", "host_key_unconfirmed"):
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


class CredentialsPage(Page):
    """Vault status, stored credentials with add/delete/test, and the pinned host keys."""

    runner: TaskRunner
    #: Deep scans pin the keys of new hosts: read again on every visit.
    reload_on_show = True
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
        self.vault_status = plain_label(name="vaultStatus")
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
        self.add_button.setToolTip("Add an SSH or WinRM credential (Insert)")
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
        self.test_result = plain_label(name="testResult", selectable=True, hidden=True)
        self.empty = plain_label(name="credentialsEmpty", role="muted")

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
        keys_heading = plain_label("Pinned host keys", role="section")
        keys_note = plain_label("A host whose key no longer matches is blocked until you "
                                "accept its new key.", role="muted")
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
        self.load()

    def bind(self, service: SiteService | None, runner: TaskRunner) -> None:
        self.runner = runner
        self.set_service(service)

    def load(self) -> None:
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
            if spec.kind is CredentialKind.WINRM:
                return remote.add_winrm_credential(
                    spec.name, spec.username, password=spec.password or "",
                    auth=spec.winrm_auth, https=spec.winrm_https, port=spec.port,
                    ca_file=spec.ca_file, allow_unencrypted=spec.allow_unencrypted,
                    skip_cert_hosts=spec.skip_cert_hosts, scopes=spec.scopes)
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
            self.load()

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
            self.load()

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
            if result.get("kind") == "winrm":
                text = (f"\u2714 {asset.label}: logged in as {who} with \u201c{name}\u201d "
                        f"({result.get('described')}; encryption: {result.get('encryption')};"
                        f" certificate: {result.get('certificate')}).")
                state = "ok"
            elif result.get("sudo"):
                text = (f"\u2714 {asset.label}: logged in as {who} with \u201c{name}\u201d; "
                        "sudo works (root).")
                state = "ok"
            else:
                text = (f"\u2716 {asset.label}: logged in as {who} with \u201c{name}\u201d, "
                        "but could not become root. Check the sudo mode and password.")
                state = "error"
            self._show_test(text, state)
            self.load()
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
            self.load()
        else:
            self._show_vault_state()

    def _on_gate_busy_changed(self, _busy: bool) -> None:
        self._show_vault_state()
