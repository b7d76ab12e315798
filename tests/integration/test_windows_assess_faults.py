"""Windows assessment when things go wrong: no credential, a WUA that refuses the WinRM
logon, a dropped connection during the search, a flooding host, a WinRM credential changed
in the site file. Against the simulated endpoints on loopback (tests/lab/winrm_fixtures.py).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.credentials import Scope
from app.core.errors import UserError
from app.core.models import Asset
from app.core.progress import CancelToken
from app.services import SiteService
from tests.lab.winrm_fixtures import WindowsTrio

MASTER = "lab master password"


@pytest.fixture
def site(tmp_path: Path, windows_trio: WindowsTrio) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "faults.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    for name in windows_trio.endpoints:
        service.add_asset(Asset(hostname=windows_trio.hostname(name),
                                ips=(windows_trio.ip(name),), open_ports=(135, 445, 5986)))
    yield service
    service.close()


def add_credential(site: SiteService, trio: WindowsTrio, **extra: Any) -> None:
    site.remote.add_winrm_credential("windows-admin", trio.user, password=trio.password,
                                     port=trio.port, ca_file=str(trio.ca_file), **extra)


def outcomes(site: SiteService) -> dict[str, Any]:
    return {o.label: o for o in site.assess.assess_assets()}


def test_windows_hosts_without_a_credential_are_not_assessed(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    site.remote.add_ssh_credential("linux", "admin", password="x",
                                   scopes=(Scope.parse("tag:linux"),))
    got = outcomes(site)
    assert {o.kind for o in got.values()} == {"no_credential"}
    assert all("no WinRM credential" in o.message for o in got.values())
    assert all(ep.stats.requests == 0 for ep in windows_trio.endpoints.values())
    figure = site.compliance()
    assert (figure.percent, figure.not_assessed, figure.assets_compliant) == (None, 3, 0)


def test_wua_refusing_the_winrm_logon_still_finds_the_updates(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    # Windows 11 after KB5065789: the agent refuses even its searcher to a WinRM logon; the
    # SYSTEM task still searches, the history and WUA reboot flag are reported missing.
    windows_trio.endpoints["win11"].host.wua_remote_denied = True
    add_credential(site, windows_trio)
    win11 = outcomes(site)[windows_trio.hostname("win11")]
    # 3 KBs and 2 winget upgrades (read through the SYSTEM task as well)
    assert win11.ok and win11.updates == 5 and win11.security_updates == 2
    assert any("WUA history unavailable" in w and "0x80070005" in w for w in win11.warnings)
    record = site.assessment(win11.asset_id)
    assert record is not None and record.reboot_required is False


def test_a_connection_dropped_during_the_search_loses_nothing(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    ep = windows_trio.endpoints["server2022"]
    host = ep.host
    original = host._ps_wua_task
    drops: list[str] = []

    def poll_then_drop(args: dict[str, Any]) -> Any:
        if args.get("action") == "poll" and not drops:
            drops.append(str(args.get("job_id")))
            ep.faults.drop["Receive"] = 1  # the answer to this poll never arrives
        return original(args)

    host._ps_wua_task = poll_then_drop  # type: ignore[method-assign]
    add_credential(site, windows_trio)
    srv = outcomes(site)[windows_trio.hostname("server2022")]
    assert drops and ep.stats.dropped == 1
    # the poll was asked again; the result collected (2 KBs, 3 Chocolatey packages)
    assert srv.ok and srv.updates == 5
    assert not host.tasks and not host.job_dirs  # and the task removed


def test_a_flooding_host_is_cut_off_and_reported(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    ep = windows_trio.endpoints["workgroup"]
    ep.faults.flood_bytes = 17 * 1024 * 1024  # over the 16 MiB a document may be
    add_credential(site, windows_trio)
    got = outcomes(site)
    flood = got[windows_trio.hostname("workgroup")]
    assert (flood.ok, flood.kind) == (False, "output_too_large")
    assert "output too large" in flood.message
    assert got[windows_trio.hostname("win11")].ok  # the others go on


def test_a_winrm_credential_changed_in_the_site_file_does_not_open(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    add_credential(site, windows_trio)
    path = site.path
    site.store.db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn = sqlite3.connect(path)
    # Someone switches off certificate validation for every host in the file.
    conn.execute("UPDATE credentials SET options = json_set(options, '$.skip_cert_hosts', "
                 f"'{windows_trio.ip('win11')}')")
    conn.commit()
    conn.close()
    reopened = SiteService.open(path)
    try:
        reopened.remote.unlock(MASTER)
        [cred] = reopened.remote.credentials()
        assert cred.options["skip_cert_hosts"] == windows_trio.ip("win11")
        with pytest.raises(UserError, match="damaged or was moved"):
            reopened.remote.winrm_credential(cred, windows_trio.ip("win11"))
    finally:
        reopened.close()


def test_cancel_during_a_long_search_stops_it_and_removes_the_task(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    for ep in windows_trio.endpoints.values():
        ep.host.polls_until_done = 10_000  # a search that takes "hours"
    add_credential(site, windows_trio)
    cancel = CancelToken()
    polled = threading.Event()
    host = windows_trio.endpoints["win11"].host
    original = host._ps_wua_task

    def watch(args: dict[str, Any]) -> Any:
        if args.get("action") == "poll":
            polled.set()
        return original(args)

    host._ps_wua_task = watch  # type: ignore[method-assign]
    done: list[Any] = []
    worker = threading.Thread(target=lambda: done.extend(
        site.assess.assess_assets(cancel=cancel)))
    started = time.monotonic()
    worker.start()
    assert polled.wait(20)
    cancel.cancel()
    worker.join(30)
    assert not worker.is_alive() and time.monotonic() - started < 25
    assert {o.kind for o in done} == {"cancelled"}
    for ep in windows_trio.endpoints.values():
        assert not ep.host.tasks and not ep.host.job_dirs  # every task removed
