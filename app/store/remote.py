"""Pinned SSH host keys of a site (the host-key store the SSH transport uses)."""

from __future__ import annotations

from app.core.clock import utcnow
from app.core.hostkeys import PinnedKey, fingerprint
from app.store.db import SiteDB
from app.store.repos import AuditRepo


class HostKeyRepo:
    """Host keys pinned in the site file; usable from any thread (one connection each)."""

    def __init__(self, store: SiteDB, actor: str) -> None:
        self.store = store
        self.actor = actor

    def pinned(self, host: str, port: int) -> list[PinnedKey]:
        """Keys pinned for host:port."""
        rows = self.store.db().execute(
            "SELECT key_type, key_b64 FROM host_keys WHERE host = ? AND port = ? "
            "ORDER BY key_type", [host, port]).fetchall()
        return [PinnedKey(r[0], r[1]) for r in rows]

    def confirmed(self, host: str, port: int) -> bool:
        """Whether a person confirmed host:port's pinned key: accepted by name, or
        confirmed at first use; a key only pinned on first use is not ([12].10)."""
        row = self.store.db().execute(
            "SELECT 1 FROM host_keys WHERE host = ? AND port = ? AND accepted_by NOT LIKE "
            "'first use (%' LIMIT 1", [host, port]).fetchone()
        return row is not None

    def pin(self, host: str, port: int, key: PinnedKey, *, accepted_by: str,
            replace: bool) -> None:
        """Pin a key (audited); with ``replace`` every other key of the host is dropped."""
        with self.store.atomic() as db:
            old = [fingerprint(r[0]) for r in db.execute(
                "SELECT key_b64 FROM host_keys WHERE host = ? AND port = ?", [host, port])]
            AuditRepo(db).append(
                self.actor, "hostkey.accept" if replace else "hostkey.pin", "host",
                f"{host}:{port}", {"old": old, "new": key.fingerprint, "type": key.key_type,
                                   "accepted_by": accepted_by})
            if replace:
                db.execute("DELETE FROM host_keys WHERE host = ? AND port = ?", [host, port])
            db.execute(
                "INSERT OR REPLACE INTO host_keys (host, port, key_type, key_b64, fingerprint,"
                " first_seen, accepted_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [host, port, key.key_type, key.key_b64, fingerprint(key.key_b64),
                 utcnow().isoformat(), accepted_by])

    def all(self) -> list[dict[str, object]]:
        """Every pinned key (for the Credentials page)."""
        return [dict(r) for r in self.store.db().query(
            "SELECT host, port, key_type, fingerprint, first_seen, accepted_by FROM host_keys "
            "ORDER BY host, port")]
