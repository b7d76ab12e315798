"""Scanning through the services API against loopback listeners: stored history and diffs.

Only 127.0.0.0/8 is touched. Every loopback address answers (a closed port sends RST), so
the lab tests (tests/integration/test_discovery_lab.py) cover hosts that vanish.
"""

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.errors import ValidationError
from app.services import SiteService


class Listener:
    """A TCP listener on a loopback address that answers with an SSH banner."""

    def __init__(self, ip: str, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(16)
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")

    def close(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        # shutdown() wakes the accept() blocked in the serving thread; close() alone doesn't.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def listeners() -> Iterator[dict[str, Listener]]:
    made = {"a": Listener("127.0.9.2", 2222), "b": Listener("127.0.9.3", 2222)}
    yield made
    for listener in made.values():
        listener.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SiteService]:
    svc = SiteService.open(tmp_path / "scan.pdsite", create=True, actor="tech")
    yield svc
    svc.close()


def test_scan_merges_and_second_scan_reports_port_change(service: SiteService,
                                                         listeners: dict[str, Listener]) -> None:
    seen = []
    first = service.scan_network("127.0.9.2-3", ports=[2222, 2223], on_host=seen.append)
    assert {h.ip for h in seen} == {"127.0.9.2", "127.0.9.3"}
    assert [(h["ip"], h["open_ports"], h["change"]) for h in first.hosts] == [
        ("127.0.9.2", [2222], "new"), ("127.0.9.3", [2222], "new")]
    assert first.summary["new"] == 2
    assert sorted(a.primary_ip for a in service.assets()) == ["127.0.9.2", "127.0.9.3"]

    listeners["b"].close()
    second = service.scan_network("127.0.9.2-3", ports=[2222, 2223])
    changes = {h["ip"]: (h["change"], h["changes"]) for h in second.hosts}
    assert changes["127.0.9.2"] == ("unchanged", {})
    assert changes["127.0.9.3"] == ("changed", {"open_ports": [[2222], []]})
    assert len(service.assets()) == 2
    assert [s.id for s in service.scans()] == [second.id, first.id]
    actions = [e.action for e in service.audit_events(limit=10)]
    assert actions.count("scan.run") == 2 and "asset.discover" in actions


def test_report_only_scan_writes_no_assets(service: SiteService,
                                           listeners: dict[str, Listener]) -> None:
    record = service.scan_network("127.0.9.2", ports=[2222], merge=False)
    assert record.hosts[0]["change"] == "new" and record.hosts[0]["asset_id"] is None
    assert service.assets() == []
    added = service.add_scanned_hosts(record.id, ["127.0.9.2"])
    assert [a.primary_ip for a in added] == ["127.0.9.2"]
    assert service.scan_record(record.id).hosts[0]["asset_id"] == added[0].id


@pytest.mark.parametrize(
    ("targets", "needle"),
    [("10.0.0.0/33", "10.0.0.0/33"), ("10.0.0.9-3", "10.0.0.9-3"), ("foo..bar", "foo..bar"),
     ("", "no targets"), ("10.0.0.0/13", "65,536"), ("10.0.0.0/8", "at most")],
)
def test_bad_ranges_start_nothing(service: SiteService, targets: str, needle: str) -> None:
    with pytest.raises(ValidationError, match="range") as info:
        service.scan_network(targets)
    assert needle in str(info.value)
    assert service.scans() == []
