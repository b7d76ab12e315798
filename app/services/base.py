"""The base of every per-domain service: the open site's store, actor and audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.store.repos import AuditRepo

if TYPE_CHECKING:
    from app.services.site import SiteService
    from app.store.db import SiteDB


class ServicePart:
    """One domain of a :class:`~app.services.site.SiteService` (Anki's ``DeckManager`` to
    its ``Collection``): it reaches the site file and the other domains through the facade
    that owns it."""

    def __init__(self, site: SiteService) -> None:
        self.site = site

    @property
    def store(self) -> SiteDB:
        """The open site file."""
        return self.site.store

    @property
    def actor(self) -> str:
        """The name recorded in the audit log."""
        return self.site.actor

    def _audit(self, action: str, object_type: str, object_id: str,
               details: dict[str, Any]) -> None:
        with self.store.atomic() as db:
            AuditRepo(db).append(self.actor, action, object_type, object_id, details)
