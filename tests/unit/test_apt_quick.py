"""The fast path's version reads: a dpkg-query that dies is an error, never "not installed"."""

import pytest

from app.drivers.apt_quick import _versions
from app.drivers.base import DriverError


def test_versions_of_an_answering_dpkg_query() -> None:
    text = "pd-tools\tall\t2.1-1\tii\nlibc6\tamd64\t2.36-9\tii\n"
    assert _versions("h", {"versions": text}, ["pd-tools", "libc6", "absent"], "amd64") == {
        "pd-tools": "2.1-1", "libc6": "2.36-9", "absent": ""}


def test_a_killed_dpkg_query_is_an_error_not_a_missing_package() -> None:
    with pytest.raises(DriverError, match="ended with status 137") as caught:
        _versions("h", {"versions": "@@pd-query-failed 137"}, ["pd-tools"], "amd64")
    assert caught.value.kind == "verify_failed"
