"""Merging scan observations into the inventory: matching, diffs, hand-typed fields kept."""

from datetime import UTC, datetime

from app.core.inventory_merge import Observation, apply_observation, match, plan_merge
from app.core.models import Asset, AssetKind, OsFamily

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def scanned(asset: Asset, obs: Observation, asset_id: int) -> Asset:
    return apply_observation(asset, obs, NOW).with_changes(id=asset_id)


def test_new_device_gets_the_scans_guesses() -> None:
    obs = Observation("10.0.0.7", "02:99:00:00:00:07", "Acme", ("printer1",), (80, 9100),
                      "printer", "printer firmware")
    asset = apply_observation(None, obs, NOW)
    assert (asset.hostname, asset.ips, asset.macs, asset.kind, asset.os_family) == (
        "printer1", ("10.0.0.7",), ("02:99:00:00:00:07",), AssetKind.PRINTER,
        OsFamily.PRINTER_FIRMWARE)
    assert asset.open_ports == (80, 9100)
    assert asset.first_seen == asset.last_seen == NOW
    assert asset.field_sources["hostname"] == "scan"


def test_match_by_mac_even_when_the_ip_moved() -> None:
    known = Asset(id=1, hostname="pc1", ips=("10.0.0.5",), macs=("aa:aa:aa:aa:aa:01",))
    obs = Observation("10.0.0.9", "aa:aa:aa:aa:aa:01", hostnames=("pc1",))
    assert match([known], obs) is known


def test_an_ip_taken_by_another_mac_is_a_new_device() -> None:
    known = Asset(id=1, hostname="pc1", ips=("10.0.0.5",), macs=("aa:aa:aa:aa:aa:01",))
    assert match([known], Observation("10.0.0.5", "bb:bb:bb:bb:bb:02")) is None


def test_match_by_ip_needs_names_to_agree() -> None:
    known = Asset(id=1, hostname="pc1.corp.example", ips=("10.0.0.5",))
    assert match([known], Observation("10.0.0.5", hostnames=("PC1",))) is known
    assert match([known], Observation("10.0.0.5")) is known
    assert match([known], Observation("10.0.0.5", hostnames=("pc2",))) is None


def test_plan_reports_new_changed_unchanged_and_gone() -> None:
    ports = Observation("10.0.0.1", "aa:aa:aa:aa:aa:01", open_ports=(22,))
    a = scanned(Asset(), ports, 1)
    b = scanned(Asset(), Observation("10.0.0.2", "aa:aa:aa:aa:aa:02", open_ports=(22,)), 2)
    c = scanned(Asset(), Observation("10.0.0.3", "aa:aa:aa:aa:aa:03"), 3)
    outside = Asset(id=4, hostname="remote", ips=("10.9.9.9",))
    plan = plan_merge(
        [a, b, c, outside],
        [
            ports,
            Observation("10.0.0.2", "aa:aa:aa:aa:aa:02", open_ports=(22, 3389)),
            Observation("10.0.0.4", "aa:aa:aa:aa:aa:04"),
        ],
        lambda ip: ip.startswith("10.0.0."),
    )
    assert [h.change for h in plan.hosts] == ["unchanged", "changed", "new"]
    assert plan.hosts[1].changes == {"open_ports": [[22], [22, 3389]]}
    assert [g.id for g in plan.gone] == [3]
    assert plan.summary() == {"live": 3, "new": 1, "changed": 1, "unchanged": 1, "gone": 1}


def test_ip_move_and_rename_are_reported() -> None:
    known = scanned(Asset(), Observation("10.0.0.5", "aa:aa:aa:aa:aa:01", hostnames=("old",)), 1)
    plan = plan_merge([known], [Observation("10.0.0.6", "aa:aa:aa:aa:aa:01",
                                            hostnames=("new",))], lambda ip: True)
    assert plan.hosts[0].changes == {"ip": ["10.0.0.5", "10.0.0.6"],
                                     "hostname": ["old", "new"]}


def test_hand_typed_fields_are_never_overwritten() -> None:
    typed = Asset(id=1, hostname="finance-pc", ips=("10.0.0.5",), macs=("aa:aa:aa:aa:aa:01",),
                  kind=AssetKind.LAPTOP, os_family=OsFamily.WINDOWS, os_name="Windows 11",
                  field_sources={"hostname": "manual", "ips": "manual", "macs": "manual",
                                 "kind": "manual", "os_family": "manual", "os_name": "manual"})
    obs = Observation("10.0.0.8", "aa:aa:aa:aa:aa:01", "Intel", ("DESKTOP-XYZ",), (22,),
                      "linux host", "Debian")
    after = apply_observation(typed, obs, NOW)
    for name in ("hostname", "ips", "macs", "kind", "os_family", "os_name"):
        assert getattr(after, name) == getattr(typed, name), name
    assert after.nic_vendor == "Intel"
    assert after.open_ports == (22,)
    assert after.last_seen == NOW


def test_scan_guesses_are_refreshed_by_later_scans() -> None:
    first = scanned(Asset(), Observation("10.0.0.5", "aa:aa:aa:aa:aa:01", hostnames=("a",),
                                         device_type="linux host", os_guess="Debian"), 1)
    later = apply_observation(first, Observation("10.0.0.6", "aa:aa:aa:aa:aa:01",
                                                  hostnames=("b",), device_type="printer"), NOW)
    assert (later.hostname, later.ips, later.kind) == ("b", ("10.0.0.6",), AssetKind.PRINTER)
