"""Discovery: sweep IP ranges, store each scan and its diff, merge it into the inventory.

:mod:`app.discovery` (the asyncio sweep, the OUI table) is imported on first use, inside the
functions below: the GUI imports this module at start-up, and its cold start must stay under
0.5 s (DESIGN.md §6).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.clock import utcnow
from app.core.errors import FieldError, UserError, ValidationError
from app.core.inventory_merge import Observation, apply_observation, match, plan_merge
from app.core.models import Asset
from app.core.progress import CancelToken, ProgressCallback
from app.services.base import ServicePart
from app.store.repos import AssetRepo, AuditRepo, asset_diff
from app.store.scans import ScanRecord, ScanRepo

__all__ = ["DiscoveryService", "LargeRangeError", "PublicScanError", "ScanRecord",
           "check_scan_range",
           "local_scan_ranges", "observation_from", "parse_scan_ports", "scan_profiles"]


class LargeRangeError(ValidationError):
    """A scan range larger than a /16 that the user has not confirmed."""

    def __init__(self, errors: list[FieldError], count: int) -> None:
        super().__init__(errors)
        self.count = count


class PublicScanError(ValidationError):
    """The targets include public Internet addresses and that was not chosen explicitly."""

    def __init__(self, errors: list[FieldError], count: int) -> None:
        super().__init__(errors)
        self.count = count


def _checked_targets(targets: str, exclude: str, allow_large: bool,
                     allow_public: bool) -> Any:
    """The parsed target set within every limit ([12].14): never more than a /12, more
    than a /16 only when confirmed, public addresses only when chosen.

    Raises:
        ValidationError: invalid, or over the hard limit (no confirmation lifts it).
        LargeRangeError: more than a /16 and not ``allow_large``.
        PublicScanError: public addresses and not ``allow_public``.
    """
    from app.discovery import MAX_TARGETS, RangeError, parse_targets
    from app.discovery.ranges import PublicRangeError, RangeTooLargeError, check_limits

    try:
        target_set = parse_targets(targets, exclude, True)
        check_limits(target_set, allow_public=True)  # the hard ceiling first
    except RangeError as exc:
        raise ValidationError([FieldError("range", str(exc))]) from None
    if target_set.count > MAX_TARGETS and not allow_large:
        large = RangeTooLargeError("", target_set.count)
        raise LargeRangeError([FieldError("range", str(large))], large.count)
    try:
        check_limits(target_set, allow_public=allow_public)
    except PublicRangeError as exc:
        raise PublicScanError([FieldError("range", str(exc))], exc.count) from None
    return target_set


class DiscoveryService(ServicePart):
    """Network scans of the site and their history."""

    def scan_network(
        self,
        targets: str,
        *,
        exclude: str = "",
        ports: Sequence[int] | None = None,
        allow_large: bool = False,
        allow_public: bool = False,
        merge: bool = True,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        on_host: Callable[[Any], None] | None = None,
    ) -> ScanRecord:
        """Sweep an IP range, store the scan and its diff, and merge it into the inventory.

        Args:
            targets: CIDR, ``a-b`` ranges, IPs, host names, lists, ``!exclusions``.
            exclude: more exclusions, in the same syntax.
            ports: TCP ports to fingerprint (default: the default profile).
            allow_large: confirm a scan of more than a /16 (never more than a /12).
            allow_public: the targets may include public Internet addresses.
            merge: add new devices and update seen ones (fields a person typed are kept);
                when false the scan is only recorded and reported.
            progress: addresses done / total.
            cancel: stops the sweep; what was found so far is still stored (a cancelled
                scan never reports devices as gone).
            on_host: called with each live ``HostResult`` as soon as it is complete.

        Raises:
            ValidationError: the range or ports are invalid (field ``range``/``ports``).
        """
        from app.discovery import (
            DEFAULT_PORTS,
            ScanOptions,
            raise_nofile_limit,
            scan,
        )

        target_set = _checked_targets(targets, exclude, allow_large, allow_public)
        try:
            opts = ScanOptions(ports=tuple(ports or DEFAULT_PORTS))
        except ValueError as exc:
            raise ValidationError([FieldError("ports", str(exc))]) from None
        raise_nofile_limit()
        started = utcnow()
        with self.store.atomic() as db:
            scan_id = ScanRepo(db).start(
                started_at=started, targets=targets, exclude=exclude,
                ports=list(opts.ports), addresses=target_set.count, actor=self.actor,
            )
        result = scan(target_set, opts, progress, cancel, on_host)
        return self._store_scan(scan_id, [h.to_dict() for h in result.hosts],
                                target_set.__contains__, cancelled=result.cancelled,
                                merge=merge, action="scan.run", details={
                                    "targets": targets, "exclude": exclude,
                                    "addresses": target_set.count, "ports": list(opts.ports),
                                    "cancelled": result.cancelled,
                                    "unresolved": list(result.unresolved)})

    def import_nmap(self, path: Path | str, *, merge: bool = True) -> ScanRecord:
        """Import an Nmap XML report (``nmap -oX``) as a scan: stored with its diff against
        the inventory and merged into it exactly like :meth:`scan_network`'s results.

        An asset counts as not seen when one of its addresses lies in a network the Nmap
        run targeted (its command line's trailing address or CIDR arguments) or is listed
        in the report as down; host-name targets are never resolved.

        Raises:
            UserError: the file cannot be read or is not an Nmap XML report.
        """
        from app.discovery.nmapxml import MAX_NMAP_XML, NmapXmlError, parse_nmap_xml

        source = Path(path)
        try:
            if source.stat().st_size > MAX_NMAP_XML:
                raise UserError(f"{source} is larger than {MAX_NMAP_XML // 2**20} MB.")
            report = parse_nmap_xml(source.read_bytes())
        except OSError as exc:
            raise UserError(f"Cannot read {source}: {exc.strerror or exc}") from None
        except NmapXmlError as exc:
            raise UserError(f"{source.name} is not an Nmap XML report PatchDesk can read: "
                            f"{exc}") from None
        networks = nmap_networks(report.args)
        listed = {h.ip for h in report.hosts} | set(report.down)
        ports = sorted(report.ports) if report.ports else sorted(
            {p for h in report.hosts for p in h.open_ports})

        def in_scope(ip: str) -> bool:
            if ip in listed:
                return True
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                return False
            return any(address in net for net in networks)

        targets = f"nmap: {source.name}"
        addresses = sum(n.num_addresses for n in networks) or len(listed)
        started = report.started or utcnow()
        with self.store.atomic() as db:
            scan_id = ScanRepo(db).start(started_at=started, targets=targets, exclude="",
                                         ports=ports, addresses=addresses, actor=self.actor)
        return self._store_scan(scan_id, [h.to_dict() for h in report.hosts], in_scope,
                                cancelled=False, merge=merge, action="scan.import_nmap",
                                details={"file": str(source), "nmap_args": report.args,
                                         "nmap_version": report.version,
                                         "addresses": addresses, "ports": ports,
                                         "down": len(report.down)})

    def _store_scan(self, scan_id: int, hosts: list[dict[str, Any]],
                    in_scope: Callable[[str], bool], *, cancelled: bool, merge: bool,
                    action: str, details: dict[str, Any]) -> ScanRecord:
        """Store a scan's hosts with their diff against the inventory, merge them (when
        ``merge``), record the assets not seen, finish the scan and audit it."""
        observations = [observation_from(h) for h in hosts]
        plan = plan_merge(self.site.inventory.assets(), observations, in_scope)
        if cancelled:
            plan.gone = []
        now = utcnow()
        with self.store.atomic() as db:
            repo, scans, audit = AssetRepo(db), ScanRepo(db), AuditRepo(db)
            for change, host in zip(plan.hosts, hosts, strict=True):
                asset_id = change.asset.id if change.asset else None
                if merge:
                    asset_id = self._merge_observation(repo, audit, change.asset,
                                                       change.observation, now, scan_id)
                scans.add_host(scan_id, host, change.change, change.changes, asset_id)
            for asset in plan.gone:
                scans.add_gone(scan_id, asset)
            summary = plan.summary()
            scans.finish(scan_id, finished_at=now, cancelled=cancelled, merged=merge,
                         summary=summary)
            audit.append(self.actor, action, "scan", str(scan_id), {**details, **summary})
        return ScanRepo(self.store.db()).get(scan_id)

    def _merge_observation(self, repo: AssetRepo, audit: AuditRepo, asset: Asset | None,
                           obs: Observation, now: datetime, scan_id: int) -> int:
        updated = apply_observation(asset, obs, now)
        if asset is None:
            stored = repo.insert(updated)
            audit.append(self.actor, "asset.discover", "asset", str(stored.id),
                         {"label": stored.label, "scan": scan_id, "ip": obs.ip,
                          "mac": obs.mac, "source": "scan"})
            return int(stored.id or 0)
        changes = asset_diff(asset, updated)
        repo.update(updated)
        if changes:
            audit.append(self.actor, "asset.edit", "asset", str(asset.id),
                         {"label": updated.label, "changes": changes, "source": "scan",
                          "scan": scan_id})
        return int(asset.id or 0)

    def add_scanned_hosts(self, scan_id: int, ips: Iterable[str]) -> list[Asset]:
        """Add hosts of a stored scan to the inventory (the Discover page's "add selected").

        Hosts already in the inventory are updated from the observation instead.
        """
        wanted = set(ips)
        record = ScanRepo(self.store.db()).get(scan_id)
        now = utcnow()
        added: list[Asset] = []
        with self.store.atomic() as db:
            repo, scans, audit = AssetRepo(db), ScanRepo(db), AuditRepo(db)
            assets = repo.all()
            for host in record.hosts:
                if host["ip"] not in wanted:
                    continue
                obs = observation_from(host)
                existing = match(assets, obs)
                asset_id = self._merge_observation(repo, audit, existing, obs, now, scan_id)
                scans.set_host_asset(scan_id, obs.ip, asset_id)
                stored = repo.get(asset_id)
                assets.append(stored)
                added.append(stored)
        return added

    def scans(self, limit: int = 50) -> list[ScanRecord]:
        """Recent scans, newest first."""
        return ScanRepo(self.store.db()).list(limit)

    def scan_record(self, scan_id: int) -> ScanRecord:
        """One stored scan with its hosts and diff."""
        return ScanRepo(self.store.db()).get(scan_id)


def scan_profiles() -> dict[str, tuple[int, ...]]:
    """Named port profiles for discovery ("default", "quick", "windows", ...)."""
    from app.discovery import PROFILES

    return {name: tuple(ports) for name, ports in PROFILES.items()}


def parse_scan_ports(text: str) -> list[int]:
    """Parse a port list such as ``22,80,8000-8010`` or a profile name.

    Raises:
        ValidationError: naming the bad token (field ``ports``).
    """
    from app.discovery import PortError, parse_ports

    try:
        return parse_ports(text)
    except PortError as exc:
        raise ValidationError([FieldError("ports", str(exc))]) from None


def check_scan_range(targets: str, exclude: str = "", *, allow_large: bool = False,
                     allow_public: bool = False) -> int:
    """Validate a scan range without scanning; return how many addresses it covers.

    Raises:
        ValidationError: the range is invalid or over the hard limit of a /12; more than a
            /16 without ``allow_large`` raises :class:`LargeRangeError`, public addresses
            without ``allow_public`` :class:`PublicScanError` ([12].14).
    """
    return int(_checked_targets(targets, exclude, allow_large, allow_public).count)


def local_scan_ranges() -> list[str]:
    """The machine's own IPv4 subnets (the default range to scan)."""
    from app.discovery import local_subnets

    return local_subnets()


def nmap_networks(args: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks an Nmap command line targeted: its trailing arguments that are IP
    addresses or CIDR blocks (Nmap's octet ranges and host names are left out, and nothing
    is resolved)."""
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for token in reversed(args.split()):
        if token.startswith("-"):
            break
        if "." not in token and ":" not in token:
            continue
        try:
            out.append(ipaddress.ip_network(token, strict=False))
        except ValueError:
            continue
    return out[::-1]


def observation_from(host: dict[str, Any]) -> Observation:
    """The inventory-relevant part of a discovered host (``HostResult.to_dict()`` form)."""
    names = list(host.get("hostnames") or [])
    netbios = host.get("netbios_name")
    if netbios and netbios not in names:
        names.append(netbios)
    return Observation(
        ip=host["ip"],
        mac=host.get("mac") or None,
        vendor=host.get("vendor") or None,
        hostnames=tuple(names),
        open_ports=tuple(int(p) for p in host.get("open_ports") or ()),
        device_type=host.get("device_type") or "unknown",
        os_guess=host.get("os_guess") or None,
    )
