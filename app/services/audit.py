"""Audit: the site's tamper-evident log of who did what."""

from __future__ import annotations

from typing import Any

from app.core.audit import ChainProblem
from app.core.models import AuditEvent, Outcome
from app.services.base import ServicePart
from app.store.repos import AuditRepo, SealInfo


class AuditService(ServicePart):
    """Read, verify and append to the audit log (its hash chain)."""

    def events(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first (filters: object_type, object_id, limit)."""
        return AuditRepo(self.store.db()).events(**filters)

    def verify(self) -> list[ChainProblem]:
        """Check the audit chain; an empty list means intact. With the vault unlocked the
        rows' forward-secure seals are checked too (see :meth:`seal_checked`)."""
        return AuditRepo(self.store.db()).verify(self.site.remote.audit_first_key())

    def seal_checked(self) -> bool:
        """Whether :meth:`verify` can check the seals now (vault unlocked, log sealed);
        without them a chain recomputed by someone holding the file cannot be told."""
        return self.site.remote.unlocked and AuditRepo(self.store.db()).seal_info().sealed

    def seal_info(self) -> SealInfo:
        """The log's head (to anchor outside the file) and whether it is sealed."""
        return AuditRepo(self.store.db()).seal_info()

    def head(self) -> dict[str, Any]:
        """The log's head to anchor outside the file, and what could be checked: the seals
        need the master password ([12].6); without it this says so in words."""
        info = self.seal_info()
        checked = self.seal_checked()
        if checked:
            seals = "seals checked"
        elif not info.sealed:
            seals = "seals not checked: the log is not sealed yet (unlock the vault once)"
        else:
            seals = ("seals not checked: vault locked (the master password is needed to "
                     "check that the log was not rewritten)")
        return {"id": info.head_id, "hash": info.head_hash, "seals_checked": checked,
                "seals": seals}

    def append(self, action: str, object_type: str, object_id: str,
               details: dict[str, Any], outcome: Outcome = Outcome.OK) -> AuditEvent:
        """Record one event by the current actor in a transaction of its own."""
        with self.store.atomic() as db:
            return AuditRepo(db).append(self.actor, action, object_type, object_id, details,
                                 outcome=outcome)


def head_text(head: dict[str, Any]) -> str:
    """One line naming the audit head and whether its seals were checked."""
    return f"audit head #{head['id']} {head['hash']}; {head['seals']}"
