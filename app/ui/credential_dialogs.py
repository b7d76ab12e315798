"""The Credentials page's dialogs: adding an SSH credential (login, sudo, port, scope) or a
WinRM one (authentication, HTTPS or encrypted HTTP, CA file, the dangerous choices spelled
out), and choosing the asset to test one on. Secrets stay in the dialog until it is
accepted; the fields are cleared when it closes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.credentials import CredentialKind, Scope, ScopeKind, SudoMode
from app.core.models import Asset, Ring
from app.ui import dialogs
from app.ui.qt import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QKeySequence,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QShortcut,
    QSpinBox,
    QStackedWidget,
    Qt,
    QVBoxLayout,
    QWidget,
)
from app.ui.widgets import form_row, plain_label

KEY_FILTER = "SSH private keys (id_* *.pem *.key);;All files (*)"
CA_FILTER = "CA certificates (*.pem *.crt *.cer);;All files (*)"
#: Why each dangerous WinRM choice is dangerous (shown in the dialog as it is made).
BASIC_WARNING = ("Basic sends the password itself with every request. Over HTTP without "
                 "encryption anyone on the network path can read it and every command and "
                 "answer; the host must also be set to AllowUnencrypted=true.")
SKIP_WARNING = ("Without certificate validation anyone on the network path can pose as "
                "these hosts and receive the password (NTLM) or the session. Recorded in "
                "the audit log.")


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
    kind: CredentialKind = CredentialKind.SSH
    winrm_auth: str = "ntlm"
    winrm_https: bool = True
    ca_file: str | None = None
    allow_unencrypted: bool = False
    skip_cert_hosts: tuple[str, ...] = ()


def _error_label(name: str) -> QLabel:
    return plain_label(name=name, role="field-error", hidden=True)


def _secret_edit(name: str, accessible: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setAccessibleName(accessible)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


class CredentialDialog(QDialog):
    """Add an SSH credential (login, sudo, port) or a WinRM one (authentication, transport,
    CA), and what it is assigned to. Use :meth:`ask`."""

    SCOPES = (("Whole site", ScopeKind.ALL), ("Assets with a tag", ScopeKind.TAG),
              ("A deployment ring", ScopeKind.RING), ("One asset", ScopeKind.ASSET))

    def __init__(self, parent: QWidget | None = None, *, taken: Sequence[str] = (),
                 assets: Sequence[Asset] = (), tags: Sequence[str] = ()) -> None:
        super().__init__(parent)
        self.setObjectName("credentialDialog")
        self.setWindowTitle("Add credential")
        self.taken = {n.lower() for n in taken}
        self.result_credential: NewCredential | None = None
        self.errors: dict[str, QLabel] = {}

        self.kind = QComboBox()
        self.kind.setObjectName("credKind")
        self.kind.setAccessibleName("Credential type")
        self.kind.addItem("SSH (Linux, macOS)", str(CredentialKind.SSH))
        self.kind.addItem("WinRM (Windows)", str(CredentialKind.WINRM))
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
        self.scope_kind.addItem("— choose which hosts —", None)  # no default ([12].10)
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
        self.scope_value.addWidget(QWidget())  # not chosen yet
        self.scope_value.addWidget(QWidget())  # whole site
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
        self._build_winrm()

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("&Type", self.kind)
        self._row(form, "&Name", self.name, "name")
        self._row(form, "&User", self.username, "username")
        self.ssh_box = QWidget()
        self.ssh_box.setObjectName("credSshBox")
        ssh_form = QFormLayout(self.ssh_box)
        ssh_form.setContentsMargins(0, 0, 0, 0)
        ssh_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        ssh_form.addRow("Log in with", auth_row)
        self._row(ssh_form, "", self.secret_stack, "auth")
        self._row(ssh_form, "&Sudo", self.sudo_mode, "sudo_mode")
        self._row(ssh_form, "Sudo pass&word", self.sudo_password, "sudo")
        form.addRow(self.ssh_box)
        form.addRow(self.winrm_box)
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
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        self._on_kind_changed(0)

    def _build_winrm(self) -> None:
        self.winrm_password = _secret_edit("credWinrmPassword", "WinRM password")
        self.winrm_auth = QComboBox()
        self.winrm_auth.setObjectName("credWinrmAuth")
        self.winrm_auth.setAccessibleName("WinRM authentication")
        self.winrm_auth.addItem("NTLM (local or domain account)", "ntlm")
        self.winrm_auth.addItem("Kerberos (domain members; needs a ticket)", "kerberos")
        self.winrm_auth.addItem("Basic (local accounts; password sent as is)", "basic")
        self.winrm_transport = QComboBox()
        self.winrm_transport.setObjectName("credWinrmTransport")
        self.winrm_transport.setAccessibleName("WinRM transport")
        self.winrm_transport.addItem("HTTPS 5986, certificate validated", "https")
        self.winrm_transport.addItem("HTTP 5985, messages encrypted by NTLM/Kerberos", "http")
        self.ca_file = QLineEdit()
        self.ca_file.setObjectName("credCaFile")
        self.ca_file.setAccessibleName("CA certificate file")
        self.ca_file.setPlaceholderText("empty: the system's trusted CAs")
        self.ca_browse = QPushButton("B&rowse…")
        self.ca_browse.clicked.connect(self._on_ca_browse_clicked)
        self.allow_unencrypted = QCheckBox("Allow &unencrypted transport (Basic over HTTP)")
        self.allow_unencrypted.setObjectName("credAllowUnencrypted")
        self.skip_hosts = QLineEdit()
        self.skip_hosts.setObjectName("credSkipCertHosts")
        self.skip_hosts.setAccessibleName("Hosts whose certificate is not validated")
        self.skip_hosts.setPlaceholderText("none (recommended); or addresses, comma-separated")
        self.winrm_warning = plain_label(name="credWinrmWarning", role="field-error",
                                         hidden=True)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_file, 1)
        ca_row.addWidget(self.ca_browse)
        self.winrm_box = QWidget()
        self.winrm_box.setObjectName("credWinrmBox")
        form = QFormLayout(self.winrm_box)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._row(form, "Pass&word", self.winrm_password, "winrm_login")
        form.addRow("Au&thentication", self.winrm_auth)
        form.addRow("Trans&port", self.winrm_transport)
        self._row(form, "&CA file", ca_row, "ca")
        self._row(form, "", self.allow_unencrypted, "unencrypted")
        self._row(form, "Skip certificate c&heck", self.skip_hosts, "skip")
        form.addRow(self.winrm_warning)
        for signal in (self.winrm_auth.currentIndexChanged,
                       self.winrm_transport.currentIndexChanged,
                       self.allow_unencrypted.toggled, self.skip_hosts.textChanged):
            signal.connect(self._on_winrm_changed)

    def _winrm(self) -> bool:
        return bool(self.kind.currentData() == str(CredentialKind.WINRM))

    def _on_kind_changed(self, _index: int) -> None:
        winrm = self._winrm()
        self.ssh_box.setVisible(not winrm)
        self.winrm_box.setVisible(winrm)
        self.port.setSpecialValueText(
            ("5985 (default)" if self.winrm_transport.currentData() == "http"
             else "5986 (default)") if winrm else "22 (default)")
        self.port.setAccessibleName("WinRM port" if winrm else "SSH port")
        self.name.setPlaceholderText("e.g. office-windows" if winrm else "e.g. office-linux")
        self.username.setPlaceholderText("e.g. Administrator or CORP\\patcher" if winrm
                                         else "e.g. admin")
        self._on_winrm_changed()
        self.adjustSize()

    def _on_winrm_changed(self, *_args: Any) -> None:
        https = self.winrm_transport.currentData() == "https"
        basic = self.winrm_auth.currentData() == "basic"
        self.ca_file.setEnabled(https)
        self.ca_browse.setEnabled(https)
        self.skip_hosts.setEnabled(https)
        self.allow_unencrypted.setEnabled(basic and not https)
        if self._winrm():
            self.port.setSpecialValueText("5986 (default)" if https else "5985 (default)")
        warnings = []
        if basic and not https:
            warnings.append(BASIC_WARNING)
        if https and self.skip_hosts.text().strip():
            warnings.append(SKIP_WARNING)
        self.winrm_warning.setText("\n".join(warnings))
        self.winrm_warning.setVisible(bool(warnings))

    def _on_ca_browse_clicked(self) -> None:
        path = dialogs.ask_open_file(self, "Choose the CA certificate", CA_FILTER,
                                     str(Path.home()))
        if path:
            self.ca_file.setText(path)

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
        # the label's "&" mnemonic needs a buddy: the row's first input (else it shows "&")
        buddy = widget if isinstance(widget, QWidget) else _first_input(widget)
        if buddy is None:
            form.addRow(label.replace("&", ""), box)
        else:
            form_row(form, label, box, buddy)

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
        if self.scope_kind.currentData() is None:  # a password goes only where chosen
            return (), "Choose which hosts get this credential."
        kind = ScopeKind(self.scope_kind.currentData())
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
        _scopes, scope_problem = self._scopes()
        if scope_problem:
            problems["scope"] = scope_problem
        if self._winrm():
            problems.update(self._validate_winrm())
            return problems
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
        return problems

    def _validate_winrm(self) -> dict[str, str]:
        problems: dict[str, str] = {}
        if not self.winrm_password.text():
            problems["winrm_login"] = "Enter the password."
        https = self.winrm_transport.currentData() == "https"
        ca = self.ca_file.text().strip()
        if https and ca and not Path(ca).expanduser().is_file():
            problems["ca"] = f"There is no file {ca}."
        if self.winrm_auth.currentData() == "basic" and not https and \
                not self.allow_unencrypted.isChecked():
            problems["unencrypted"] = ("Basic over HTTP sends the password in clear text: "
                                       "use NTLM or HTTPS, or tick the box to allow it.")
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
                     "sudo": self.sudo_password, "winrm_login": self.winrm_password,
                     "ca": self.ca_file, "unencrypted": self.allow_unencrypted}.get(first)
            if focus is not None:
                focus.setFocus()
            return
        scopes, _ = self._scopes()
        if self._winrm():
            https = self.winrm_transport.currentData() == "https"
            basic_http = self.winrm_auth.currentData() == "basic" and not https
            self.result_credential = NewCredential(
                name=self.name.text().strip(), username=self.username.text().strip(),
                password=self.winrm_password.text(), port=self.port.value() or None,
                scopes=scopes, kind=CredentialKind.WINRM,
                winrm_auth=str(self.winrm_auth.currentData()), winrm_https=https,
                ca_file=(self.ca_file.text().strip() or None) if https else None,
                allow_unencrypted=basic_http and self.allow_unencrypted.isChecked(),
                skip_cert_hosts=tuple(h.strip() for h in self.skip_hosts.text().split(",")
                                      if h.strip()) if https else ())
            super().accept()
            return
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
        for edit in (self.password, self.passphrase, self.sudo_password,
                     self.winrm_password):
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


def _first_input(layout: Any) -> QWidget | None:
    """The first widget in a (nested) layout: the field a row's label points at."""
    for i in range(layout.count()):
        item = layout.itemAt(i)
        widget: QWidget | None = item.widget()
        if widget is not None:
            return widget
        if item.layout() is not None:
            found = _first_input(item.layout())
            if found is not None:
                return found
    return None
