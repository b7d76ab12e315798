"""Network discovery: target parsing, the asyncio sweep and device fingerprinting (Qt-free)."""

from app.discovery.fingerprint import Facts, Rule, classify
from app.discovery.oui import normalise_mac, vendor_for
from app.discovery.ports import DEFAULT_PORTS, PROFILES, PortError, parse_ports
from app.discovery.ranges import (
    HARD_MAX_TARGETS,
    MAX_TARGETS,
    PublicRangeError,
    RangeError,
    RangeTooLargeError,
    TargetSet,
    check_limits,
    local_subnets,
    parse_targets,
)
from app.discovery.results import DeviceType, HostResult, ScanResult
from app.discovery.sweep import ScanOptions, effective_concurrency, raise_nofile_limit, scan

__all__ = [
    "DEFAULT_PORTS",
    "HARD_MAX_TARGETS",
    "MAX_TARGETS",
    "PROFILES",
    "DeviceType",
    "Facts",
    "HostResult",
    "PortError",
    "PublicRangeError",
    "RangeError",
    "RangeTooLargeError",
    "Rule",
    "ScanOptions",
    "ScanResult",
    "TargetSet",
    "check_limits",
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
