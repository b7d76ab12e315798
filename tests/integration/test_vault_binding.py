"""A credential's sealed secret is bound to where it may be used ([12].7 and [12].13).

A crafted site file widened a credential's scope to "all" and the password went to every
host; now the sealed secret no longer opens once its scope, user, port or kind is changed
in the file. Secrets sealed by an older PatchDesk are re-sealed on unlock.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.core.credentials import Scope
from app.core.errors import UserError
from app.services import SiteService

MASTER = "correct horse battery"


def _site(tmp_path: Path) -> Path:
    path = tmp_path / "vault.pdsite"
    service = SiteService.open(path, create=True, name="Vault")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="s3cret-pw", port=22,
                                      scopes=(Scope.parse("tag:office"),))
    service.close()
    return path


@pytest.mark.parametrize("sql", [
    "UPDATE credential_scopes SET scope = 'all', value = ''",
    "UPDATE credentials SET username = 'root'",
    "UPDATE credentials SET port = 2222",
])
def test_a_credential_changed_in_the_file_does_not_open(tmp_path: Path, sql: str) -> None:
    path = _site(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()
    service = SiteService.open(path)
    service.remote.unlock(MASTER)
    [cred] = service.remote.credentials()
    with pytest.raises(UserError, match="damaged or was moved"):
        service.remote.ssh_credential(cred)
    service.close()


def test_an_unchanged_credential_opens(tmp_path: Path) -> None:
    service = SiteService.open(_site(tmp_path))
    service.remote.unlock(MASTER)
    [cred] = service.remote.credentials()
    assert service.remote.ssh_credential(cred).password == "s3cret-pw"
    service.close()


def test_secrets_sealed_by_an_older_version_are_resealed_on_unlock(tmp_path: Path) -> None:
    path = _site(tmp_path)
    service = SiteService.open(path)
    service.remote.unlock(MASTER)
    key = service.remote._key
    assert key is not None
    service.close()
    nonce = os.urandom(12)  # the format before the binding: the name as associated data
    legacy = nonce + AESGCM(key.key).encrypt(
        nonce, json.dumps({"password": "old-pw"}).encode(), b"patchdesk:credential:office")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE credentials SET secret = ?", [legacy])
    conn.commit()
    conn.close()

    service = SiteService.open(path)
    service.remote.unlock(MASTER)
    [cred] = service.remote.credentials()
    assert service.remote.ssh_credential(cred).password == "old-pw"
    [row] = sqlite3.connect(path).execute("SELECT secret FROM credentials").fetchall()
    assert bytes(row[0]).startswith(b"PD2")
    assert [e.action for e in service.audit_events() if e.action == "vault.reseal"]
    service.close()
