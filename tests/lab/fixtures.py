"""pytest plugin for the test lab (load with ``pytest_plugins = ["tests.lab.fixtures"]``).

Fixtures:
  lab            session-scoped running Lab with default_hosts() (4 Debian hosts, a printer,
                 a Windows-like box, a firewalled box), normally on 10.99.0.0/24 — but use
                 lab.host(name).ip / lab.subnet rather than literal addresses: a concurrent
                 test run on the same machine gets the next free 10.99.N.0/24. Tests must
                 not break its hosts; use lab_host for destructive work.
  lab_host       factory: ``lab_host(**HostSpec fields) -> HostInfo``; a fresh throwaway
                 Debian host (or other kind), removed after the test.

Tests using them are marked ``@pytest.mark.lab`` (added automatically if missing, so
``-m "not lab"`` deselects them). Without root / ``ip netns`` they SKIP with the reason,
except when ``CI`` is set or ``PATCHDESK_REQUIRE_LAB=1``: then they FAIL.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.lab.lab import HostInfo, HostSpec, Lab, LabError, default_hosts, lab_unavailable_reason

LAB_FIXTURES = frozenset({"lab", "lab_host"})


def lab_required() -> bool:
    """CI must run the lab tests: never skip them there."""
    return bool(os.environ.get("CI")) or os.environ.get("PATCHDESK_REQUIRE_LAB") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("lab") is None and _uses_lab_fixture(item):
            item.add_marker(pytest.mark.lab)


def _uses_lab_fixture(item: pytest.Item) -> bool:
    """True if the item uses *this plugin's* lab fixtures (not a module's own `lab`)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in LAB_FIXTURES.intersection(info.names_closure):
        defs = info.name2fixturedefs.get(name) or ()
        if defs and getattr(defs[-1].func, "__module__", None) == __name__:
            return True
    return False


def _unavailable() -> None:
    reason = lab_unavailable_reason()
    if reason is None:
        return
    if lab_required():
        pytest.fail(
            f"the test lab is required here (CI / PATCHDESK_REQUIRE_LAB=1) but: {reason}",
            pytrace=False,
        )
    pytest.skip(f"test lab unavailable: {reason}")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    _unavailable()
    # PATCHDESK_LAB_SUBNET forces a subnet; otherwise 10.99.0.0/24, or the next free
    # 10.99.N.0/24 if another test run on this machine holds it.
    the_lab = Lab(subnet=os.environ.get("PATCHDESK_LAB_SUBNET") or None)
    try:
        the_lab.start(default_hosts())
    except LabError as exc:
        try:
            the_lab.teardown()
        finally:
            pytest.fail(f"could not start the test lab: {exc}", pytrace=False)
    try:
        yield the_lab
    finally:
        the_lab.teardown()


_host_counter = itertools.count(1)


@pytest.fixture
def lab_host(lab: Lab) -> Iterator[Callable[..., HostInfo]]:
    created: list[str] = []

    def make(**fields: Any) -> HostInfo:
        fields.setdefault("name", f"tmp{next(_host_counter)}")
        info = lab.add_host(HostSpec(**fields))
        created.append(info.name)
        return info

    yield make
    for name in created:
        if name in lab.hosts:
            lab.remove_host(name)
