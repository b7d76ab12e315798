"""Credential rows and the vault header of a site (secrets only ever stored sealed)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from app.core.clock import utcnow
from app.core.credentials import (
    Credential,
    CredentialKind,
    Scope,
    ScopeKind,
    SudoMode,
    VaultHeader,
)
from app.core.errors import NotFoundError, UserError


class CredentialRepo:
    """Credentials of one site."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # vault header --------------------------------------------------------------------
    def vault_header(self) -> VaultHeader | None:
        """The vault's salt/params/verifier, or None if no vault was created yet."""
        row = self.db.execute("SELECT kdf, salt, params, verifier FROM vault WHERE id = 1"
                              ).fetchone()
        if row is None:
            return None
        return VaultHeader(salt=bytes(row[1]), params=json.loads(row[2]),
                           verifier=bytes(row[3]), kdf=row[0])

    def save_vault_header(self, header: VaultHeader) -> None:
        """Create the vault (once per site)."""
        self.db.execute(
            "INSERT INTO vault (id, kdf, salt, params, verifier, created_at) "
            "VALUES (1, ?, ?, ?, ?, ?)",
            [header.kdf, header.salt, json.dumps(header.params), header.verifier,
             utcnow().isoformat()])

    # credentials ---------------------------------------------------------------------
    def all(self) -> list[Credential]:
        """Every credential (public part), by name."""
        scopes: dict[int, list[Scope]] = {}
        for row in self.db.query("SELECT * FROM credential_scopes ORDER BY rowid"):
            scopes.setdefault(row["credential_id"], []).append(
                Scope(ScopeKind(row["scope"]), row["value"]))
        return [_credential(r, scopes.get(r["id"], []))
                for r in self.db.query("SELECT * FROM credentials ORDER BY name")]

    def get(self, name: str) -> Credential:
        """One credential by name."""
        for cred in self.all():
            if cred.name == name:
                return cred
        raise NotFoundError(f"No credential named '{name}'.")

    def sealed_secret(self, name: str) -> bytes | None:
        """The sealed secrets blob of a credential."""
        row = self.db.execute("SELECT secret FROM credentials WHERE name = ?", [name]
                              ).fetchone()
        if row is None:
            raise NotFoundError(f"No credential named '{name}'.")
        return bytes(row[0]) if row[0] is not None else None

    def add(self, cred: Credential, sealed: bytes | None) -> Credential:
        """Insert a credential with its sealed secrets and scopes."""
        if self.db.execute("SELECT 1 FROM credentials WHERE name = ?", [cred.name]).fetchone():
            raise UserError(f"A credential named '{cred.name}' already exists.")
        now = utcnow().isoformat()
        options = {**cred.options, "has_password": cred.has_password,
                   "has_key": cred.has_key, "has_sudo_password": cred.has_sudo_password}
        cursor = self.db.execute(
            "INSERT INTO credentials (name, kind, username, port, key_path, sudo_mode, options,"
            " secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [cred.name, str(cred.kind), cred.username, cred.port, cred.key_path,
             str(cred.sudo_mode), json.dumps(options, sort_keys=True), sealed, now, now])
        cred_id = int(cursor.lastrowid or 0)
        for scope in cred.scopes:
            self.db.execute("INSERT OR IGNORE INTO credential_scopes (credential_id, scope, "
                            "value) VALUES (?, ?, ?)", [cred_id, str(scope.kind), scope.value])
        return self.get(cred.name)

    def replace_sealed(self, name: str, sealed: bytes) -> None:
        """Store a re-sealed secrets blob for a credential (same secrets, new binding)."""
        self.db.execute("UPDATE credentials SET secret = ?, updated_at = ? WHERE name = ?",
                        [sealed, utcnow().isoformat(), name])

    def delete(self, name: str) -> None:
        """Remove a credential and its assignments."""
        cursor = self.db.execute("DELETE FROM credentials WHERE name = ?", [name])
        if cursor.rowcount == 0:
            raise NotFoundError(f"No credential named '{name}'.")


def _credential(row: dict[str, Any], scopes: list[Scope]) -> Credential:
    options = json.loads(row["options"])
    return Credential(
        id=row["id"],
        name=row["name"],
        kind=CredentialKind(row["kind"]),
        username=row["username"],
        port=row["port"],
        key_path=row["key_path"],
        sudo_mode=SudoMode(row["sudo_mode"]),
        scopes=tuple(scopes),
        has_password=bool(options.pop("has_password", False)),
        has_key=bool(options.pop("has_key", False)),
        has_sudo_password=bool(options.pop("has_sudo_password", False)),
        options={k: str(v) for k, v in options.items()},
        created_at=datetime.fromisoformat(row["created_at"]),
    )
