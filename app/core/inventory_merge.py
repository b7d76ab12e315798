"""Merging what a network scan saw (and what a deep scan learned) into the inventory: new,
changed and not-seen devices.

Pure functions. A device is matched by MAC first, then by IP when the names and MACs do not
contradict. A field that a person set by hand (``field_sources[field] == "manual"``) is
never overwritten by a scan's guess; the difference is still reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.assessment import HostFacts
from app.core.models import Asset, AssetKind, OsFamily, parse_os

SCAN = "scan"
MANUAL = "manual"

#: Device types from discovery → the inventory's asset kind.
DEVICE_KINDS: dict[str, AssetKind] = {
    "server": AssetKind.SERVER,
    "workstation": AssetKind.WORKSTATION,
    "windows host": AssetKind.WORKSTATION,
    "linux host": AssetKind.SERVER,
    "mac": AssetKind.WORKSTATION,
    "printer": AssetKind.PRINTER,
    "network device": AssetKind.NETWORK_DEVICE,
    "nas": AssetKind.STORAGE,
    "phone or tablet": AssetKind.PHONE_TABLET,
}


@dataclass(frozen=True, slots=True)
class Observation:
    """What one scan saw of one live host (the parts the inventory keeps)."""

    ip: str
    mac: str | None = None
    vendor: str | None = None
    hostnames: tuple[str, ...] = ()
    open_ports: tuple[int, ...] = ()
    device_type: str = "unknown"
    os_guess: str | None = None

    @property
    def name(self) -> str:
        """The best name for the device: the first name the scan found, or empty."""
        return self.hostnames[0] if self.hostnames else ""


@dataclass(slots=True)
class HostChange:
    """How one observed host relates to the inventory."""

    observation: Observation
    change: str  # "new" | "changed" | "unchanged"
    asset: Asset | None = None  # the matched asset before the merge
    changes: dict[str, Any] = field(default_factory=dict)  # {what: [before, after]}


@dataclass(slots=True)
class MergePlan:
    """The diff of a scan against the inventory."""

    hosts: list[HostChange]
    gone: list[Asset]

    @property
    def new(self) -> list[HostChange]:
        """Hosts the inventory does not have."""
        return [h for h in self.hosts if h.change == "new"]

    @property
    def changed(self) -> list[HostChange]:
        """Known hosts whose IP, name, MAC or open ports changed."""
        return [h for h in self.hosts if h.change == "changed"]

    def summary(self) -> dict[str, int]:
        """Counts for the scan history."""
        return {
            "live": len(self.hosts),
            "new": len(self.new),
            "changed": len(self.changed),
            "unchanged": sum(1 for h in self.hosts if h.change == "unchanged"),
            "gone": len(self.gone),
        }


def _short(name: str) -> str:
    return name.split(".")[0].lower()


def _names_agree(asset: Asset, obs: Observation) -> bool:
    if not asset.hostname or not obs.hostnames:
        return True
    return _short(asset.hostname) in {_short(n) for n in obs.hostnames}


def match(assets: Iterable[Asset], obs: Observation) -> Asset | None:
    """The inventory asset an observation belongs to, if any (MAC, then IP + name)."""
    candidates = list(assets)
    if obs.mac:
        for asset in candidates:
            if obs.mac in asset.macs:
                return asset
    for asset in candidates:
        if obs.ip not in asset.ips:
            continue
        if obs.mac and asset.macs:
            continue  # both MACs known and different: another device took this IP
        if _names_agree(asset, obs):
            return asset
    return None


def plan_merge(
    assets: list[Asset],
    observations: Iterable[Observation],
    in_scope: Callable[[str], bool],
) -> MergePlan:
    """Compare a scan with the inventory.

    Args:
        assets: the inventory before the scan.
        observations: the live hosts the scan found.
        in_scope: whether an IP was among the scanned addresses; an asset with such an IP
            that the scan did not see is reported as not seen this time.
    """
    hosts: list[HostChange] = []
    seen_ids: set[int] = set()
    for obs in observations:
        asset = match(assets, obs)
        if asset is None:
            hosts.append(HostChange(obs, "new"))
            continue
        if asset.id is not None:
            seen_ids.add(asset.id)
        changes = observed_changes(asset, obs)
        hosts.append(HostChange(obs, "changed" if changes else "unchanged", asset, changes))
    gone = [
        a for a in assets
        if a.id not in seen_ids and any(in_scope(ip) for ip in a.ips)
    ]
    return MergePlan(hosts, gone)


def observed_changes(asset: Asset, obs: Observation) -> dict[str, Any]:
    """What differs between the inventory's view of a device and what the scan saw."""
    changes: dict[str, Any] = {}
    if asset.ips and obs.ip not in asset.ips:
        changes["ip"] = [asset.primary_ip, obs.ip]
    if obs.mac and asset.macs and obs.mac not in asset.macs:
        changes["mac"] = [asset.primary_mac, obs.mac]
    if obs.name and asset.hostname and not _names_agree(asset, obs):
        changes["hostname"] = [asset.hostname, obs.name]
    # Ports are compared only once discovery has recorded them for this asset.
    if asset.field_sources.get("open_ports") == SCAN and set(asset.open_ports) != set(
        obs.open_ports
    ):
        changes["open_ports"] = [sorted(asset.open_ports), sorted(obs.open_ports)]
    return changes


def _may_set(asset: Asset, name: str) -> bool:
    """A scan may fill a field that is empty or that a scan filled before."""
    source = asset.field_sources.get(name)
    return source not in (MANUAL, "assess") or _is_blank(asset, name)


def _is_blank(asset: Asset, name: str) -> bool:
    return getattr(asset, name) in ("", (), None, OsFamily.UNKNOWN, AssetKind.UNKNOWN)


def apply_facts(asset: Asset, facts: HostFacts) -> Asset:
    """The asset updated with what a deep scan learned (a person's values are kept)."""
    sources = dict(asset.field_sources)
    changes: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if value in ("", None) or getattr(asset, name) == value:
            return
        if sources.get(name) == "manual" and getattr(asset, name) not in ("", None):
            return
        changes[name] = value
        sources[name] = "assess"

    put("os_family", {"windows": OsFamily.WINDOWS, "macos": OsFamily.MACOS}.get(
        facts.os_id, OsFamily.LINUX))
    put("os_name", facts.os_name)
    put("os_version", facts.os_version)
    put("os_build", facts.kernel)
    put("manufacturer", facts.manufacturer)
    put("model", facts.model)
    put("serial", facts.serial)
    if not asset.hostname and facts.hostname:
        put("hostname", facts.hostname)
    for iface in facts.interfaces:
        if iface.mac and any(a.split("/")[0] in asset.ips for a in iface.addresses) \
                and iface.mac not in asset.macs:
            put("macs", (*asset.macs, iface.mac))
    if not changes:
        return asset
    return asset.with_changes(**changes, field_sources=sources)


def apply_observation(asset: Asset | None, obs: Observation, now: datetime) -> Asset:
    """The asset as it should be after this observation (a new one if ``asset`` is None).

    Only fields that are blank or were filled by an earlier scan are written; a person's
    values and a deep assessment's facts are kept.
    """
    base = asset or Asset()
    sources = dict(base.field_sources)
    updates: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if value in ("", (), None) or getattr(base, name) == value:
            return
        if _may_set(base, name):
            updates[name] = value
            sources[name] = SCAN

    if obs.name:
        put("hostname", obs.name)
    if obs.ip not in base.ips and _may_set(base, "ips"):
        # The device moved: a scan saw it at another address, so the scan's old address
        # is replaced (addresses a person typed are never dropped).
        put("ips", (obs.ip,))
    if obs.mac and obs.mac not in base.macs:
        put("macs", (*base.macs, obs.mac) if base.macs else (obs.mac,))
    put("nic_vendor", obs.vendor or "")
    updates["open_ports"] = tuple(sorted(set(obs.open_ports)))
    sources["open_ports"] = SCAN
    kind = DEVICE_KINDS.get(obs.device_type)
    if kind is not None:
        put("kind", kind)
    if obs.os_guess:
        family, name, _version = parse_os(obs.os_guess)
        if family is OsFamily.OTHER and obs.os_guess == "printer firmware":
            family = OsFamily.PRINTER_FIRMWARE
        if family is not OsFamily.OTHER or obs.device_type == "network device":
            put("os_family", family)
        put("os_name", name)
    updates["last_seen"] = now
    if base.first_seen is None:
        updates["first_seen"] = now
    return base.with_changes(**updates, field_sources=sources)
