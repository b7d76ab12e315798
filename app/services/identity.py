"""Identity conflicts for a person to resolve: a host that reported a MAC address another
asset has keeps both records flagged ([12].5) until someone decides which record is the
machine (A: the one that reported it, B: the one that had it, or both: two machines),
optionally merging the other's details into the one kept. Every decision is audited."""

from __future__ import annotations

from typing import Any

from app.core.errors import NotFoundError, UserError
from app.core.identity import Keep, resolution
from app.core.records import asset_to_record
from app.services.base import ServicePart
from app.store.people import IdentityConflictRepo
from app.store.repos import AssetRepo, AuditRepo, asset_diff


class IdentityService(ServicePart):
    """List and resolve identity conflicts (``asset conflicts``, ``asset resolve``, the
    Inventory page's conflict dialog)."""

    def conflicts(self) -> list[dict[str, Any]]:
        """The unresolved conflicts with both records' labels (``claimed_by_label``,
        ``owner_label``)."""
        db = self.store.db()
        assets = {a.id: a for a in AssetRepo(db).all()}
        found = []
        for row in IdentityConflictRepo(db).open_all():
            a, b = assets.get(int(str(row["claimed_by"]))), assets.get(int(str(row["owner"])))
            found.append({**row, "claimed_by_label": a.label if a else "?",
                          "owner_label": b.label if b else "?"})
        return found

    def flagged_asset_ids(self) -> set[int]:
        """Every asset in an unresolved conflict (either side)."""
        return {int(str(row[key])) for row in IdentityConflictRepo(self.store.db()).open_all()
                for key in ("claimed_by", "owner")}

    def resolve(self, conflict_id: int, keep: Keep, merge: bool = False) -> dict[str, Any]:
        """Carry out a person's decision on one conflict (one transaction, audited as
        ``asset.identity_resolved``; a deleted record is audited as ``asset.delete`` with
        its full record, so it can be restored).

        Raises:
            NotFoundError: no such conflict. UserError: resolved already, or merge with
            both kept.
        """
        with self.store.atomic() as db:
            conflicts, assets, audit = IdentityConflictRepo(db), AssetRepo(db), AuditRepo(db)
            row = conflicts.get(conflict_id)
            if row is None:
                raise NotFoundError(f"There is no identity conflict {conflict_id}.")
            if row["resolved_at"]:
                raise UserError(f"Identity conflict {conflict_id} was resolved already.")
            claimant = assets.get(int(str(row["claimed_by"])))
            owner = assets.get(int(str(row["owner"])))
            mac = str(row["mac"])
            save, drop = resolution(claimant, owner, mac, keep, merge)
            conflicts.resolve(conflict_id)
            details: dict[str, Any] = {
                "conflict": conflict_id, "mac": mac, "keep": str(keep), "merge": merge,
                "A": {"id": claimant.id, "label": claimant.label},
                "B": {"id": owner.id, "label": owner.label}}
            if drop is not None:
                assets.delete(int(drop.id or 0))  # its other conflicts go with it
                audit.append(self.actor, "asset.delete", "asset", str(drop.id), {
                    "label": drop.label, "record": asset_to_record(drop),
                    "reason": f"identity conflict {conflict_id} resolved"})
                details["deleted"] = drop.id
            if save is not None:
                before = claimant if save.id == claimant.id else owner
                changes = asset_diff(before, save)
                if changes:
                    assets.update(save)
                    audit.append(self.actor, "asset.edit", "asset", str(save.id), {
                        "label": save.label, "changes": changes,
                        "source": f"identity conflict {conflict_id}"})
                details["kept"] = save.id
            elif keep is not Keep.BOTH:
                details["kept"] = (claimant if keep is Keep.A else owner).id
            audit.append(self.actor, "asset.identity_resolved", "asset",
                         str(details.get("kept", claimant.id)), details)
        return details
