"""Resolving identity conflicts ([12].5): a host that reported another asset's MAC address
keeps both records flagged until a person decides, from the CLI (``asset conflicts``,
``asset resolve ID --keep A|B|both [--merge]``) or the GUI; every decision is audited and
a deleted record can be restored from its audit event."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app.cli import main
from app.core.identity import Keep
from app.services import SiteService
from tests.integration.test_hostile_facts import MAC_B
from tests.integration.test_hostile_facts import site as site


def cli(path: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--site", str(path), *args], out=out)
    return code, out.getvalue()


def flagged(site: SiteService) -> tuple[int, int, int]:
    site.assess_assets(refresh=False)
    [conflict] = site.identity.conflicts()
    return int(conflict["id"]), int(conflict["claimed_by"]), int(conflict["owner"])


def test_conflicts_are_listed_and_keeping_both_dismisses_the_claim(site: SiteService) -> None:
    cid, a, b = flagged(site)
    path = site.path
    site.close()
    code, text = cli(path, "asset", "conflicts")
    assert code == 0 and MAC_B in text and f"#{a}" in text and f"#{b} real-b" in text
    code, text = cli(path, "asset", "conflicts", "--json")
    [row] = json.loads(text)["conflicts"]
    assert (row["id"], row["claimed_by"], row["owner"], row["mac"]) == (cid, a, b, MAC_B)

    assert cli(path, "asset", "resolve", str(cid), "--keep", "both", "--merge")[0] == 2
    code, text = cli(path, "asset", "resolve", str(cid), "--keep", "both")
    assert code == 0 and "kept both" in text
    assert cli(path, "asset", "conflicts")[1] == "no open identity conflicts\n"
    assert cli(path, "asset", "resolve", str(cid), "--keep", "A")[0] == 1  # resolved already
    service = SiteService.open(path)
    try:
        assert {x.id for x in service.assets()} == {a, b}  # no record changed
        assert service.find_assets("real-b")[0].macs == (MAC_B,)
        [event] = [e for e in service.audit_events(limit=20)
                   if e.action == "asset.identity_resolved"]
        assert event.details["keep"] == "both" and event.details["mac"] == MAC_B
    finally:
        service.close()


def test_keep_a_deletes_b_and_a_takes_the_address(site: SiteService) -> None:
    cid, a, b = flagged(site)
    done = site.identity.resolve(cid, Keep.A)
    assert done["kept"] == a and done["deleted"] == b
    assert [x.id for x in site.assets()] == [a]
    assert MAC_B in site.assets()[0].macs
    deleted = [e for e in site.audit_events(limit=20) if e.action == "asset.delete"]
    assert deleted[0].details["record"]["hostname"] == "real-b"  # restorable
    assert site.identity.conflicts() == []
    assert site.audit_verify() == []


def test_keep_b_with_merge_folds_a_into_b(site: SiteService) -> None:
    cid, _a, b = flagged(site)
    site.identity.resolve(cid, Keep.B, merge=True)
    [kept] = site.assets()
    assert kept.id == b and kept.hostname == "real-b"
    assert set(kept.ips) == {"10.0.0.2", "10.0.0.1"}  # A's address folded in
    assert MAC_B in kept.macs and "52:54:00:00:00:0a" in kept.macs
    actions = [e.action for e in site.audit_events(limit=20)]
    assert actions[:3] == ["asset.identity_resolved", "asset.edit", "asset.delete"]


def test_unknown_conflict_and_bad_keep_are_clear(site: SiteService, tmp_path: Path) -> None:
    path = site.path
    site.close()
    code, _ = cli(path, "asset", "resolve", "99", "--keep", "A")
    assert code == 1
    assert cli(path, "asset", "resolve", "1", "--keep", "C")[0] == 2


def test_a_claim_dismissed_by_keeping_both_is_not_flagged_again(site: SiteService) -> None:
    cid, _a, _b = flagged(site)
    site.identity.resolve(cid, Keep.BOTH)
    site.assess_assets(refresh=False)  # the same host reports the same address again
    assert site.identity.conflicts() == []
    assert site.find_assets("real-b")[0].macs == (MAC_B,)
    assert MAC_B not in site.find_assets("10.0.0.1")[0].macs


@pytest.mark.parametrize("keep", ["a", "B", "BOTH"])
def test_keep_is_read_in_any_case(keep: str) -> None:
    from app.core.identity import parse_keep

    assert parse_keep(keep).value.lower() == keep.lower()
