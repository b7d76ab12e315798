"""Audit: the site's tamper-evident log of who did what."""

from __future__ import annotations

from typing import Any

from app.core.audit import ChainProblem
from app.core.models import AuditEvent, Outcome
from app.services.base import ServicePart
from app.store.repos import AuditRepo


class AuditService(ServicePart):
    """Read, verify and append to the audit log (its hash chain)."""

    def events(self, **filters: Any) -> list[AuditEvent]:
        """Audit events, newest first (filters: object_type, object_id, limit)."""
        return AuditRepo(self.store.db()).events(**filters)

    def verify(self) -> list[ChainProblem]:
        """Check the audit chain; an empty list means intact."""
        return AuditRepo(self.store.db()).verify()

    def append(self, action: str, object_type: str, object_id: str,
               details: dict[str, Any], outcome: Outcome = Outcome.OK) -> AuditEvent:
        """Record one event by the current actor in a transaction of its own."""
        with self.store.atomic() as db:
            return AuditRepo(db).append(self.actor, action, object_type, object_id, details,
                                 outcome=outcome)
