"""Network discovery: target parsing, the asyncio sweep and device fingerprinting (Qt-free)."""

from app.discovery.fingerprint import Facts, Rule, classify
from app.discovery.oui import normalise_mac, vendor_for
from app.discovery.ports import DEFAULT_PORTS, PROFILES, PortError, parse_ports
from app.discovery.ranges import (
    MAX_TARGETS,
    RangeError,
    RangeTooLargeError,
    TargetSet,
    local_subnets,
    parse_targets,
)
from app.discovery.results import DeviceType, HostResult, ScanResult
from app.discovery.sweep import ScanOptions, effective_concurrency, raise_nofile_limit, scan

__all__ = [
    "DEFAULT_PORTS",
    "MAX_TARGETS",
    "PROFILES",
    "DeviceType",
    "Facts",
    "HostResult",
    "PortError",
    "RangeError",
    "RangeTooLargeError",
    "Rule",
    "ScanOptions",
    "ScanResult",
    "TargetSet",
    "classify",
    "effective_concurrency",
    "local_subnets",
    "normalise_mac",
    "parse_ports",
    "parse_targets",
    "raise_nofile_limit",
    "scan",
    "vendor_for",
]
