"""The Credentials page against a real site: the vault, adding, deleting and testing
credentials, and the changed-host-key warning."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from app.core.credentials import Scope, ScopeKind, SudoMode
from app.core.hostkeys import fingerprint
from app.core.models import Asset
from app.remote.ssh import HostKeyChangedError
from app.remote.vault import MIN_MASTER_PASSWORD
from app.services import SiteService
from app.ui import credentials as cred_ui
from app.ui import dialogs
from app.ui.actions import MainAction
from app.ui.credential_dialogs import ChooseAssetDialog, CredentialDialog, NewCredential
from app.ui.dialogs import HostKeyChangedDialog, MasterPasswordDialog
from app.ui.mainwindow import MainWindow
from app.ui.qt import QDialogButtonBox, Qt, QWidget
from tests.ui.conftest import wait_idle

MASTER = "correct horse battery"
SECRET = "Zq7-unique-ssh-secret-91"  # searched for in the site file


def click_ok(qtbot: Any, dialog: Any) -> None:
    button = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def type_into(qtbot: Any, widget: Any, text: str) -> None:
    widget.clear()
    qtbot.keyClicks(widget, text)


def fake_master_password(monkeypatch: pytest.MonkeyPatch,
                         answers: list[str | None]) -> list[dict[str, Any]]:
    """MasterPasswordDialog.ask answers from a list and records how it was asked."""
    asked: list[dict[str, Any]] = []

    def ask(_cls: Any, _parent: QWidget | None, *, create: bool = False,
            error: str = "") -> str | None:
        asked.append({"create": create, "error": error})
        return answers.pop(0) if answers else None

    monkeypatch.setattr(MasterPasswordDialog, "ask", classmethod(ask))
    return asked


def open_credentials(qtbot: Any, window: MainWindow) -> cred_ui.CredentialsPage:
    page = window.credentials
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        window.show_page("credentials")
    wait_idle(qtbot, window)
    return page


def make_vault(site_path: Path, *, credential: bool = True) -> None:
    service = SiteService.open(site_path, actor="tester")
    service.remote.unlock(MASTER, create=True)
    if credential:
        service.remote.add_ssh_credential("office", "admin", password=SECRET,
                                          scopes=(Scope.parse("tag:web"),))
    service.close()


def test_min_master_password_matches_the_vault() -> None:
    assert dialogs.MIN_MASTER_PASSWORD == MIN_MASTER_PASSWORD


def test_create_vault_and_add_credential_through_the_dialogs(
        qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    page = open_credentials(qtbot, window)
    assert "No vault yet" in page.vault_status.text()
    assert page.unlock_button.text() == "&Create vault…"
    assert page.model.rowCount() == 0 and page.empty.isVisible()

    pw_dialogs: list[MasterPasswordDialog] = []

    def ask_password(_cls: Any, parent: QWidget | None, *, create: bool = False,
                     error: str = "") -> str | None:
        dialog = MasterPasswordDialog(parent, create=create, error=error)
        qtbot.addWidget(dialog)
        pw_dialogs.append(dialog)
        assert create
        dialog.show()
        assert dialog.findChild(QWidget, "masterPasswordWarning").isVisible()
        type_into(qtbot, dialog.password, "short")
        type_into(qtbot, dialog.confirm, "short")
        click_ok(qtbot, dialog)
        assert dialog.result() != dialog.DialogCode.Accepted
        assert "at least 8" in dialog.error.text()
        type_into(qtbot, dialog.password, MASTER)
        type_into(qtbot, dialog.confirm, MASTER + "x")
        click_ok(qtbot, dialog)
        assert "differ" in dialog.error.text()
        type_into(qtbot, dialog.confirm, MASTER)
        click_ok(qtbot, dialog)
        assert dialog.result() == dialog.DialogCode.Accepted
        return dialog.take_password()

    monkeypatch.setattr(MasterPasswordDialog, "ask", classmethod(ask_password))

    cred_dialogs: list[CredentialDialog] = []

    def ask_credential(_cls: Any, parent: QWidget | None, **kwargs: Any) -> NewCredential | None:
        dialog = CredentialDialog(parent, **kwargs)
        qtbot.addWidget(dialog)
        dialog.show()
        cred_dialogs.append(dialog)
        # Nothing filled in: every problem is shown in place and the dialog stays open.
        click_ok(qtbot, dialog)
        assert dialog.result_credential is None
        assert dialog.errors["name"].isVisible()
        assert dialog.errors["username"].isVisible()
        assert "password" in dialog.errors["auth"].text().lower()
        type_into(qtbot, dialog.name, "office-linux")
        type_into(qtbot, dialog.username, "admin")
        type_into(qtbot, dialog.password, SECRET)
        dialog.sudo_mode.setCurrentIndex(dialog.sudo_mode.findData(str(SudoMode.PASSWORD)))
        dialog.port.setValue(2222)
        dialog.scope_kind.setCurrentIndex(dialog.scope_kind.findData(str(ScopeKind.TAG)))
        dialog.scope_tag.setCurrentText("web")
        assert dialog.password.echoMode() == dialog.password.EchoMode.Password
        click_ok(qtbot, dialog)
        assert not any(label.isVisible() for label in dialog.errors.values())
        return dialog.result_credential

    monkeypatch.setattr(CredentialDialog, "ask", classmethod(ask_credential))

    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)
    wait_idle(qtbot, window)

    assert window.service is not None
    remote = window.service.remote
    assert remote.unlocked
    [cred] = remote.credentials()
    assert (cred.name, cred.username, cred.port) == ("office-linux", "admin", 2222)
    assert cred.scopes == (Scope(ScopeKind.TAG, "web"),)
    assert cred.has_password and cred.has_sudo_password
    # The secret fields were emptied once read.
    assert pw_dialogs[0].password.text() == "" and pw_dialogs[0].confirm.text() == ""
    assert cred_dialogs[0].password.text() == ""
    # The table shows no secret; the vault line says unlocked.
    cells = [page.model.index(0, c).data() for c in range(page.model.columnCount())]
    assert cells == ["office-linux", "admin", "password", "sudo with password", "tag web",
                     "2222"]
    assert SECRET not in " ".join(cells)
    assert "unlocked" in page.vault_status.text()
    assert page.lock_button.isVisible() and not page.unlock_button.isVisible()
    # The site file (and its WAL) never hold the password in clear.
    window.service.store.db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    site = window.service.path
    blobs = [site.read_bytes()] + [p.read_bytes() for p in site.parent.glob(site.name + "-*")]
    assert not any(SECRET.encode() in blob for blob in blobs)
    assert not any(MASTER.encode() in blob for blob in blobs)


def test_wrong_master_password_shows_an_error_and_stays_locked(
        qtbot: Any, site_path: Path, monkeypatch: pytest.MonkeyPatch,
        shown_errors: list[tuple[str, str]]) -> None:
    make_vault(site_path)
    window = MainWindow(SiteService.open(site_path, actor="tester"))
    qtbot.addWidget(window)
    window.show()
    page = open_credentials(qtbot, window)
    assert "locked" in page.vault_status.text().lower()
    assert page.unlock_button.text() == "&Unlock…"

    asked = fake_master_password(monkeypatch, ["not the password", None])
    qtbot.mouseClick(page.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=10_000)
    wait_idle(qtbot, window)
    assert asked[0] == {"create": False, "error": ""}
    assert asked[1]["error"] == "Wrong master password; try again."
    assert window.service is not None and not window.service.remote.unlocked
    assert "locked" in page.vault_status.text().lower()
    assert not shown_errors

    # The right password opens it; Lock closes it again.
    fake_master_password(monkeypatch, [MASTER])
    window.action(MainAction.UNLOCK).trigger()
    qtbot.waitUntil(lambda: window.service is not None and window.service.remote.unlocked,
                    timeout=10_000)
    qtbot.waitUntil(lambda: page.lock_button.isVisible(), timeout=5_000)
    assert window.action(MainAction.LOCK).isEnabled()
    qtbot.mouseClick(page.lock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.service.remote.unlocked, timeout=5_000)
    qtbot.waitUntil(lambda: page.unlock_button.isVisible(), timeout=5_000)
    wait_idle(qtbot, window)
    window.close()


def test_delete_asks_first(qtbot: Any, site_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    make_vault(site_path)
    window = MainWindow(SiteService.open(site_path, actor="tester"))
    qtbot.addWidget(window)
    window.show()
    page = open_credentials(qtbot, window)
    assert page.model.rowCount() == 1
    page.view.selectRow(0)
    asked: list[str] = []

    def confirm(_parent: Any, _title: str, question: str) -> bool:
        asked.append(question)
        return len(asked) > 1

    monkeypatch.setattr(dialogs, "confirm", confirm)
    page.view.setFocus()
    qtbot.keyClick(page.view, Qt.Key.Key_Delete)  # declined
    wait_idle(qtbot, window)
    assert window.service is not None
    assert [c.name for c in window.service.remote.credentials()] == ["office"]
    assert "office" in asked[0] and "tag web" in asked[0]
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)  # confirmed
    qtbot.waitUntil(lambda: page.model.rowCount() == 0, timeout=10_000)
    wait_idle(qtbot, window)
    assert window.service.remote.credentials() == []
    events = window.service.audit_events(object_type="credential")
    assert [e.action for e in events][:1] == ["credential.delete"]
    window.close()


def _key_b64(seed: bytes) -> str:
    return base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + seed * 32)\
        .decode()


@pytest.fixture
def unlocked_window(qtbot: Any, site_path: Path) -> Any:
    make_vault(site_path)
    window = MainWindow(SiteService.open(site_path, actor="tester"))
    qtbot.addWidget(window)
    window.show()
    assert window.service is not None
    window.service.remote.unlock(MASTER)
    open_credentials(qtbot, window)
    yield window
    wait_idle(qtbot, window)
    window.close()


def choose(monkeypatch: pytest.MonkeyPatch, qtbot: Any, text: str) -> list[Asset | None]:
    """ChooseAssetDialog.ask filters the real dialog by ``text`` and takes the first match."""
    chosen: list[Asset | None] = []

    def ask(_cls: Any, parent: QWidget | None, title: str, assets: Any,
            current: int | None = None) -> Asset | None:
        dialog = ChooseAssetDialog(parent, title, assets, current)
        qtbot.addWidget(dialog)
        type_into(qtbot, dialog.filter, text)
        chosen.append(dialog.chosen())
        return chosen[-1]

    monkeypatch.setattr(ChooseAssetDialog, "ask", classmethod(ask))
    return chosen


def test_test_on_asset_shows_login_and_sudo(qtbot: Any, unlocked_window: MainWindow,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    window = unlocked_window
    page = window.credentials
    assert window.service is not None
    calls: list[tuple[str, str]] = []

    def fake_test(name: str, asset: Asset) -> dict[str, Any]:
        calls.append((name, asset.label))
        return {"asset": asset.label, "credential": name, "login": True, "user": "admin",
                "sudo": asset.hostname == "web01"}

    monkeypatch.setattr(window.service.remote, "test_credential", fake_test)
    chosen = choose(monkeypatch, qtbot, "web")
    page.view.selectRow(0)
    with qtbot.waitSignal(page.tested, timeout=10_000) as signal:
        qtbot.keyClick(page.view, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert chosen[0] is not None and chosen[0].hostname == "web01"
    assert calls == [("office", "web01")]
    assert signal.args[0].startswith("\u2714 web01: logged in as admin")
    assert page.test_result.property("state") == "ok"

    choose(monkeypatch, qtbot, "acct")
    with qtbot.waitSignal(page.tested, timeout=10_000) as signal:
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    assert "could not become root" in signal.args[0]
    assert page.test_result.property("state") == "error"


@pytest.mark.parametrize("accept", [True, False])
def test_changed_host_key_warns_and_pins_only_when_accepted(
        qtbot: Any, unlocked_window: MainWindow, monkeypatch: pytest.MonkeyPatch,
        accept: bool) -> None:
    window = unlocked_window
    page = window.credentials
    assert window.service is not None
    remote = window.service.remote
    old_key, new_key = _key_b64(b"\x01"), _key_b64(b"\x02")
    remote.accept_host_key("10.0.0.10", 22, "ssh-ed25519", old_key)
    attempts: list[str] = []

    def fake_test(name: str, asset: Asset) -> dict[str, Any]:
        attempts.append(name)
        pinned = [k["fingerprint"] for k in remote.host_keys.all()]
        if fingerprint(new_key) not in pinned:
            raise HostKeyChangedError("10.0.0.10", 22, "ssh-ed25519", pinned,
                                      fingerprint(new_key), new_key)
        return {"asset": asset.label, "credential": name, "login": True, "user": "admin",
                "sudo": True}

    monkeypatch.setattr(remote, "test_credential", fake_test)
    warnings: list[str] = []

    def ask(_cls: Any, parent: QWidget | None, error: Any) -> bool:
        box = HostKeyChangedDialog(parent, error)
        qtbot.addWidget(box)
        assert box.textFormat() == Qt.TextFormat.PlainText
        assert box.defaultButton() is box.keep_button
        warnings.append(box.text())
        return accept

    monkeypatch.setattr(HostKeyChangedDialog, "ask", classmethod(ask))
    choose(monkeypatch, qtbot, "web01")
    page.view.selectRow(0)
    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(warnings) == 1, timeout=10_000)
    wait_idle(qtbot, window)
    text = warnings[0]
    assert "10.0.0.10 (port 22)" in text
    assert fingerprint(old_key) in text and fingerprint(new_key) in text
    assert "intercepting" in text and "ssh_host_ed25519_key.pub" in text
    keys = remote.host_keys.all()
    if accept:
        qtbot.waitUntil(lambda: page.test_result.property("state") == "ok", timeout=10_000)
        wait_idle(qtbot, window)
        assert [k["fingerprint"] for k in keys] == [fingerprint(new_key)]
        assert attempts == ["office", "office"]
        assert [page.keys_model.index(0, c).data() for c in (0, 1, 3, 5)] == [
            "10.0.0.10", "22", fingerprint(new_key), "tester"]
    else:
        assert [k["fingerprint"] for k in keys] == [fingerprint(old_key)]
        assert attempts == ["office"]
        assert "host key changed" in page.test_result.text().lower()
        assert page.test_result.property("state") == "error"


def test_credential_dialog_validation(qtbot: Any, tmp_path: Path) -> None:
    assets = [Asset(id=1, hostname="web01", ips=("10.0.0.10",))]
    dialog = CredentialDialog(None, taken=["office"], assets=assets, tags=["dmz"])
    qtbot.addWidget(dialog)
    dialog.name.setText("Office")
    dialog.username.setText("ad min")
    dialog.use_key.setChecked(True)
    dialog.key_file.setText(str(tmp_path / "missing_key"))
    problems = dialog.validate()
    assert problems["name"] == "A credential with this name exists already."
    assert problems["username"] == "A user name has no spaces."
    assert problems["auth"].startswith("There is no file")
    assert "sudo needs its password" in problems["sudo"]
    assert problems["scope"] == "Choose which hosts get this credential."  # [12].10
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    dialog.name.setText("root-key")
    dialog.username.setText("root")
    dialog.key_file.setText(str(key))
    dialog.sudo_mode.setCurrentIndex(dialog.sudo_mode.findData(str(SudoMode.ROOT)))
    dialog.scope_kind.setCurrentIndex(dialog.scope_kind.findData(str(ScopeKind.ASSET)))
    assert not dialog.sudo_password.isEnabled()
    assert dialog.validate() == {}
    dialog.accept()
    result = dialog.result_credential
    assert result is not None
    assert (result.key_file, result.password, result.sudo_mode) == (str(key), None,
                                                                     SudoMode.ROOT)
    assert result.scopes == (Scope(ScopeKind.ASSET, "1"),)
    assert "key_passphrase" not in repr(result) and "password=" not in repr(result)


def test_vault_gate_without_vault_points_to_credentials(
        qtbot: Any, window: MainWindow, shown_errors: list[tuple[str, str]]) -> None:
    done: list[bool] = []
    window.gate.ensure_unlocked(lambda: done.append(True))
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    assert shown_errors[0][0] == "No credentials yet"
    assert not done



def test_first_contact_with_a_password_asks_to_confirm_the_key(
        qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[12].10: a hostile SSH server on loopback records passwords; the first test of a
    password credential sends none until the person confirms the key in the dialog."""
    from tests.integration.test_password_hosts import HostileServer

    server = HostileServer()
    path = tmp_path / "tofu.pdsite"
    service = SiteService.open(path, create=True, actor="tester")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("hostile", "admin", password="pw-login",
                                      port=server.port, scopes=(Scope.parse("all"),))
    service.add_asset(Asset(hostname="stranger", ips=("127.0.0.1",)))
    service.close()
    window = MainWindow(SiteService.open(path, actor="tester"))
    qtbot.addWidget(window)
    window.show()
    assert window.service is not None
    window.service.remote.unlock(MASTER)
    open_credentials(qtbot, window)
    texts: list[str] = []
    seen_at_ask: list[list[str]] = []

    def ask(_cls: Any, parent: QWidget | None, error: Any) -> bool:
        box = HostKeyChangedDialog(parent, error)
        qtbot.addWidget(box)
        texts.append(f"{box.windowTitle()}\n{box.text()}")
        seen_at_ask.append(list(server.passwords))
        return True

    monkeypatch.setattr(HostKeyChangedDialog, "ask", classmethod(ask))
    choose(monkeypatch, qtbot, "stranger")
    page = window.credentials
    page.view.selectRow(0)
    try:
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(texts) == 1, timeout=10_000)
        qtbot.waitUntil(lambda: server.passwords == ["pw-login"], timeout=10_000)
        wait_idle(qtbot, window)
        assert seen_at_ask == [[]]  # nothing was sent before the person confirmed
        assert texts[0].startswith("Confirm SSH host key") and "never confirmed" in texts[0]
        [key] = window.service.remote.host_keys.all()
        assert key["accepted_by"] == "tester"
    finally:
        server.close()
        window.close()
