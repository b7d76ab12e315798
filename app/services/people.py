"""Named people and the proof of who they are ([12].8): approving a deployment, deploying
with an approval and granting an exception need the named person's PIN (or passphrase),
kept only as a scrypt hash in the site. Every proof and every failed try is audited."""

from __future__ import annotations

import functools
from datetime import timedelta

from app.core.errors import FieldError, UserError, ValidationError
from app.core.models import Outcome
from app.core.pins import check_pin, hash_pin, verify_pin
from app.services.base import ServicePart
from app.store.db import utcnow
from app.store.people import PersonRepo
from app.store.repos import AuditRepo

#: Failed tries for one name within LOCK_WINDOW before its proofs are refused for a while.
MAX_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=15)


@functools.cache
def _dummy() -> str:
    """A hash to verify against for an unknown name (the same work); made on first use,
    not when the module is imported (every CLI start)."""
    return hash_pin("not a pin", b"\0" * 16)


class PeopleService(ServicePart):
    """The named people of a site and their PINs."""

    def names(self) -> list[str]:
        """Everyone who has a PIN."""
        return PersonRepo(self.store.db()).names()

    def add(self, name: str, pin: str) -> str:
        """Register a named person with a PIN (audited; the PIN itself never is).

        Raises:
            ValidationError: empty or odd name, PIN too short.
            UserError: the name already has a PIN (change it with the old one).
        """
        name = " ".join(name.split())
        errors = [] if 0 < len(name) <= 100 and name.isprintable() else [
            FieldError("name", "must be 1–100 printable characters")]
        errors += check_pin(pin)
        if errors:
            raise ValidationError(errors)
        with self.store.atomic() as db:
            repo = PersonRepo(db)
            if repo.pin_hash(name) is not None:
                raise UserError(f"{name} already has a PIN; change it with the current one.")
            repo.add(name, hash_pin(pin), self.actor)
            AuditRepo(db).append(self.actor, "person.add", "person", name, {"name": name})
        return name

    def change_pin(self, name: str, old: str, new: str) -> None:
        """Replace a person's PIN, proving the current one first (audited)."""
        self.prove(name, old, "change the PIN")
        if errors := check_pin(new):
            raise ValidationError(errors)
        with self.store.atomic() as db:
            PersonRepo(db).set_pin(name, hash_pin(new))
            AuditRepo(db).append(self.actor, "person.pin_changed", "person", name,
                                 {"name": name})

    def prove(self, name: str, pin: str | None, purpose: str, object_type: str = "",
              object_id: str = "") -> None:
        """Check that ``pin`` is ``name``'s PIN before acting in that name; the audit log
        records the proof ("proved by PIN") or the failed try.

        Raises:
            UserError: no PIN given, the person has none, the PIN is wrong, or too many
                wrong tries for this name lately.
        """
        if pin is None:
            raise UserError(f"To {purpose} in {name}'s name, {name} must enter their PIN.")
        db = self.store.db()
        stored = PersonRepo(db).pin_hash(name)
        since = utcnow() - LOCK_WINDOW
        recent = [e for e in AuditRepo(db).events(object_type="person", object_id=name,
                                                   limit=50)
                  if e.action == "person.proof_failed" and e.ts >= since]
        if len(recent) >= MAX_FAILURES:
            raise UserError(f"Too many wrong PINs for {name}; try again in "
                            f"{int(LOCK_WINDOW.total_seconds() // 60)} minutes.")
        ok = verify_pin(pin, stored or _dummy()) and stored is not None
        details = {"person": name, "for": purpose, "object": f"{object_type}:{object_id}"}
        with self.store.atomic() as write:
            if ok:
                AuditRepo(write).append(self.actor, "person.proved", object_type or "person",
                                        object_id or name, {**details, "proof": "PIN",
                                                            "proved_by": "PIN"})
            else:
                AuditRepo(write).append(self.actor, "person.proof_failed", "person", name,
                                        details, outcome=Outcome.DENIED)
        if stored is None:
            raise UserError(f"{name} has no PIN in this site: add one with 'patchdesk person "
                            f"add \"{name}\" --pin-stdin' (or in the GUI) first.")
        if not ok:
            raise UserError(f"Wrong PIN for {name}.")
