"""Deployment plans refuse what no package manager should be handed ([12].2)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core.deployment import Gates
from app.core.validate import check_gates, check_package_pin


@pytest.mark.parametrize(("name", "version"), [
    ("openssl", "3.0.15-1~deb12u1"), ("libc6:i386", "2.36-9+deb12u9"),
    ("zlib1g-dev", "1:1.2.13.dfsg-1+deb12u1"), ("glibc.x86_64", "2.34-100.el9_4.2"),
    ("kernel", "5.14.0-427.13.1.el9_4"), ("KB5031356", "10.0.22621.2428"),
    ("python3.11", "3.11.2-6+deb12u4"), ("libstdc++6", "12.2.0-14"),
    ("git", "1:2.39.5-0+deb12u1"),
])
def test_real_names_and_versions_pass(name: str, version: str) -> None:
    assert check_package_pin(name, version) == []


@pytest.mark.parametrize(("name", "version", "field"), [
    ("x;touch /tmp/p", "1.0", "package"), ("openssl", "1.0;reboot", "version"),
    ("$(id)", "1", "package"), ("a b", "1", "package"), ("-oDebug::X", "1", "package"),
    ("openssl", "--force", "version"), ("openssl", "", "version"), ("", "1", "package"),
    ("pkg=1.0", "2", "package"), ("openssl", "1.0\n2", "version"), ("../etc", "1", "package"),
])
def test_injection_strings_are_refused(name: str, version: str, field: str) -> None:
    assert field in {e.field for e in check_package_pin(name, version)}


@pytest.mark.parametrize(("change", "field"), [
    ({"max_failure_rate": 5}, "max_failure_rate"), ({"pilot_success": -1}, "pilot_success"),
    ({"wave_size": -1}, "wave_size"), ({"wave_size": 0}, "wave_size"),
    ({"max_failures": -3}, "max_failures"), ({"test_success": 1.5}, "test_success"),
    ({"concurrency": 0}, "concurrency"), ({"host_timeout": 0}, "host_timeout"),
])
def test_out_of_range_gates_are_refused(change: dict[str, object], field: str) -> None:
    errors = check_gates(replace(Gates(), **change))  # type: ignore[arg-type]
    assert [e.field for e in errors] == [field]


def test_default_gates_pass() -> None:
    assert check_gates(Gates()) == []
