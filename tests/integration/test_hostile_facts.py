"""[12].5: facts a host reports are validated before they are stored or merged, and a host
that claims another host's MAC address never takes over that host's record: both are kept
and the conflict is flagged for a person (audited, shown by ``asset show``)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import app.services.assessment as assessment_service
from app.cli import main
from app.core.assessment import Assessment, HostFacts, Interface
from app.core.models import Asset
from app.services import SiteService

MAC_B = "52:54:00:00:00:0b"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "f.pdsite", create=True, actor="tech")
    service.remote.unlock("master password here", create=True)
    service.remote.add_ssh_credential("office", "admin", password="pw")
    service.add_asset(Asset(ips=("10.0.0.1",)))  # no name yet: facts would name it
    service.add_asset(Asset(hostname="real-b", ips=("10.0.0.2",), macs=(MAC_B,)))
    hostile = HostFacts(hostname="=1+1", os_name="Debian\x1b[2J", interfaces=(
        Interface("eth0", MAC_B, ("10.0.0.1/24",)),          # B's MAC, A's address
        Interface("eth1", "zz:zz:zz:zz:zz:zz", ("10.0.0.1/24",)),  # malformed
        Interface("eth2", "52:54:00:00:00:0a", ("10.0.0.1/24",))))  # A's own, fine
    answers = {"10.0.0.1": hostile,
               "10.0.0.2": HostFacts(hostname="real-b", interfaces=(
                   Interface("eth0", MAC_B, ("10.0.0.2/24",)),))}
    monkeypatch.setattr(assessment_service, "assess_host", lambda transport, refresh, **_kw: (
        Assessment(transport.host, "apt", facts=answers[transport.host])))
    yield service
    service.close()


def test_bad_facts_are_dropped_with_a_warning(site: SiteService) -> None:
    outcomes = {o.asset_id: o for o in site.assess_assets(refresh=False)}
    a = site.find_assets("10.0.0.1")[0]
    assert outcomes[a.id].ok
    assert a.hostname == ""  # "=1+1" is no host name
    assert "52:54:00:00:00:0a" in a.macs and not any("zz" in m for m in a.macs)
    stored = site.assessment(int(a.id or 0))
    assert stored is not None
    assert stored.facts.get("hostname", "") == ""
    assert "\x1b" not in json.dumps(stored.facts)
    warnings = " ".join(stored.warnings)
    assert "=1+1" in warnings and "zz:zz:zz:zz:zz:zz" in warnings


def test_a_claimed_mac_keeps_both_records_and_flags_the_conflict(site: SiteService,
                                                                 tmp_path: Path) -> None:
    site.assess_assets(refresh=False)
    a, b = site.find_assets("10.0.0.1")[0], site.find_assets("real-b")[0]
    assert MAC_B not in a.macs and b.macs == (MAC_B,)  # B's record untouched
    assert (b.hostname, b.ips) == ("real-b", ("10.0.0.2",))
    events = [e for e in site.audit_events(limit=50) if e.action == "asset.identity_conflict"]
    assert len(events) == 1
    assert events[0].object_id == str(a.id) and events[0].details["mac"] == MAC_B
    assert events[0].details["other_asset_id"] == b.id
    path = str(site.path)
    site.close()
    for selector, other in (("10.0.0.1", b.id), ("real-b", a.id)):
        out = io.StringIO()
        assert main(["--site", path, "asset", "show", selector, "--json"], out=out) == 0
        [conflict] = json.loads(out.getvalue())["identity_conflicts"]
        assert conflict["mac"] == MAC_B and conflict["other_asset_id"] == other
