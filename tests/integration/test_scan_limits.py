"""[12].14: a hard ceiling on one scan (a /12) that no confirmation lifts, and public
Internet addresses only with their own explicit choice. Nothing here sends a packet: every
scan below is refused before the sweep starts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app.cli import main
from app.core.errors import ValidationError
from app.services import LargeRangeError, PublicScanError, SiteService, check_scan_range


@pytest.fixture(autouse=True)
def _no_packet_may_leave(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests name public addresses only to see them refused: should a refusal ever
    regress, the sweep fails the test instead of sending a packet."""
    import app.discovery
    import app.discovery.sweep

    def refuse(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("a scan of a public range reached the sweep")

    monkeypatch.setattr(app.discovery, "scan", refuse)
    monkeypatch.setattr(app.discovery.sweep, "scan", refuse)


def test_more_than_a_slash_12_is_refused_even_when_confirmed() -> None:
    for targets in ("0.0.0.0/0", "10.0.0.0/8", "172.0.0.0/11"):
        with pytest.raises(ValidationError) as caught:
            check_scan_range(targets, allow_large=True, allow_public=True)
        assert not isinstance(caught.value, LargeRangeError)  # nothing to confirm
        assert "at most 1,048,576" in str(caught.value)
    assert check_scan_range("10.16.0.0/12", allow_large=True) == 1_048_574


def test_public_addresses_need_their_own_choice() -> None:
    with pytest.raises(PublicScanError) as caught:
        check_scan_range("10.0.0.1, 8.8.8.0/30", allow_large=True)
    assert caught.value.count == 2  # .1 and .2: network and broadcast are not scanned
    assert check_scan_range("8.8.8.0/30", allow_public=True) == 2
    assert check_scan_range("192.168.1.0/24, 127.0.0.1") == 255


def test_scan_network_refuses_before_sweeping(tmp_path: Path) -> None:
    service = SiteService.open(tmp_path / "s.pdsite", create=True)
    try:
        with pytest.raises(PublicScanError):
            service.scan_network("8.8.8.8")
        with pytest.raises(ValidationError, match="at most"):
            service.scan_network("0.0.0.0/0", allow_large=True, allow_public=True)
        assert service.scans() == []
    finally:
        service.close()


@pytest.mark.parametrize(("argv", "words"), [
    (["scan", "0.0.0.0/0", "--yes-large"], "at most 1,048,576"),
    (["scan", "0.0.0.0/0", "--yes-large", "--public"], "at most 1,048,576"),
    (["scan", "8.8.8.8"], "--public"),
    (["scan", "1.1.1.0/24", "--yes-large"], "--public"),
])
def test_cli_refuses_with_exit_2(tmp_path: Path, capsys, argv: list[str], words: str) -> None:
    code = main(["--site", str(tmp_path / "s.pdsite"), *argv], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1
