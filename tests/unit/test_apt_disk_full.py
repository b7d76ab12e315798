"""A full disk under apt's lists: apt-get update only warns ("W: Failed to fetch …
No space left on device") and exits 0, then simulates on no lists — "0 missing", a false
up-to-date. The assessment fails that host as ``disk_full`` instead (issue 15)."""

from __future__ import annotations

import pytest

from app.drivers.base import DriverError
from app.drivers.registry import assess_host
from tests.fakes import contains
from tests.unit.test_apt_driver import debian_host

FULL = ("W: Failed to fetch http://10.0.0.1/debian/dists/bookworm/main/binary-amd64/Packages"
        "  Error writing to file - write (28: No space left on device) [IP: 10.0.0.1 80]\n"
        "W: Some index files failed to download. They have been ignored, or old ones used "
        "instead.\n")


@pytest.mark.parametrize("exit_code", [0, 100])
def test_lists_that_could_not_be_stored_are_a_disk_full_error(exit_code: int) -> None:
    transport = debian_host(simulation="0 upgraded, 0 newly installed, 0 to remove and 0 "
                                       "not upgraded.\n")
    transport.rules.insert(0, (contains("pd-update"), (
        exit_code, "Reading package lists...\n", FULL)))
    with pytest.raises(DriverError) as caught:
        assess_host(transport)
    assert caught.value.kind == "disk_full"
    assert "No space left on device" in str(caught.value)
