"""Windows deployments through the same engine as Linux, against three simulated Windows
hosts (tests/lab/winrm_fixtures.py: real WinRM endpoints over HTTPS with a lab CA, NTLM,
WinRS; each host's state model answers our reviewed scripts and changes when the SYSTEM
task installs or uninstalls). Everything here is *simulated* Windows (docs/platforms.md):
transport, task protocol, engine flow, parsing, restarts as dropped connections and a new
boot time — not PowerShell, WUA or wusa on a real machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.credentials import Scope, ScopeKind
from app.core.deployment import Gates, HostState, Phase, Stage
from app.core.models import Asset
from app.drivers.windows import script, with_args
from app.remote.winrm import WinRMCredential, WinRMTransport
from app.services import SiteService
from tests.lab.winrm_fixtures import WindowsTrio

MASTER = "lab master password"
PIN = "4711-blue"
NOW = "lab test: simulated hosts restart at once"
CUS = {"win11": "KB5046633", "server2022": "KB5046616", "workgroup": "KB5046613"}


@pytest.fixture
def site(tmp_path: Path, windows_trio: WindowsTrio) -> Iterator[SiteService]:
    service = SiteService.open(tmp_path / "win.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.people.add("J. Smith", PIN)
    for name in windows_trio.endpoints:
        service.add_asset(Asset(hostname=windows_trio.hostname(name),
                                ips=(windows_trio.ip(name),), tags=("windows",)))
    service.remote.add_winrm_credential(
        "windows-admin", windows_trio.user, password=windows_trio.password,
        port=windows_trio.port, ca_file=str(windows_trio.ca_file),
        scopes=(Scope(ScopeKind.TAG, "windows"),))
    yield service
    service.close()


def labels(trio: WindowsTrio) -> dict[str, str]:
    return {name: trio.hostname(name) for name in trio.endpoints}


def test_rings_approval_reboot_and_verification_on_windows(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    hosts = {name: ep.host for name, ep in trio.endpoints.items()}
    boots = {name: h.last_boot for name, h in hosts.items()}
    site.assess_assets()
    kbs = [*CUS.values(), "KB5045935"]
    dep = site.plan_deployment(kbs, ["all"], test_ring=[trio.hostname("win11")],
                               pilot=[trio.hostname("server2022")],
                               gates=Gates(wave_size=1, reboot_lead_minutes=0),
                               override_reason=NOW)
    assert {t.label: t.stage for t in dep.targets} == {
        trio.hostname("win11"): Stage.TEST, trio.hostname("server2022"): Stage.PILOT,
        trio.hostname("workgroup"): Stage.PRODUCTION}
    dep = site.deployments.run(dep.id)  # test ring, then it waits for the named approval
    assert dep.phase is Phase.AWAITING_APPROVAL, site.deployments.log(dep.id)
    win11 = next(t for t in dep.targets if t.label == trio.hostname("win11"))
    # The change set said before approval what cannot be rolled back.
    changes = {c.name: c.after for c in win11.changes}
    assert changes == {"KB5046633": "installed; cannot be rolled back",
                       "KB5045935": "installed; can be rolled back (uninstall)"}
    assert win11.state is HostState.SUCCEEDED and win11.reboot.startswith("done")
    assert sorted(hosts["win11"].installs) == ["KB5045935", "KB5046633"]
    assert hosts["win11"].last_boot > boots["win11"]  # restarted: a new boot time
    assert any(n.startswith("msg: PatchDesk") for n in hosts["win11"].notices)
    assert any(n.startswith("shutdown /r /t 5 /c PatchDesk") for n in hosts["win11"].notices)
    assert hosts["server2022"].installs == []  # nothing past the test ring
    with pytest.raises(Exception, match="PIN"):
        site.deployments.approve(dep.id, "J. Smith", "test ring fine", pin="0000-wrong")
    site.deployments.approve(dep.id, "J. Smith", "test ring fine", pin=PIN)
    dep = site.deployments.run(dep.id)
    assert dep.phase is Phase.DONE, dep.halt_reason
    assert {t.label: (t.state, t.verified) for t in dep.targets} == dict.fromkeys(
        labels(trio).values(), (HostState.SUCCEEDED, "installed"))
    assert hosts["server2022"].installs == ["KB5046616"]
    assert hosts["workgroup"].installs == ["KB5046613"]
    for name, host in hosts.items():
        assert host.last_boot > boots[name]
        assert not host.tasks and not host.job_dirs  # every task removed again
    # Verification re-assessed: no host misses a deployed KB any more.
    assert not [p for p in site.patches() if p.package in kbs]


def test_a_failing_kb_halts_at_the_test_ring_and_rollback_names_what_cannot_go(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    win11 = trio.endpoints["win11"].host
    win11.install_failures["KB5046633"] = 0x80070070 - 2 ** 32  # disk full
    site.assess_assets()
    dep = site.plan_deployment(["KB5046633", "KB5045935", "KB5046616"], ["all"],
                               test_ring=[trio.hostname("win11")],
                               gates=Gates(reboot_lead_minutes=0), override_reason=NOW)
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin=PIN)
    assert dep.phase is Phase.HALTED and "test host(s) failed" in dep.halt_reason
    target = next(t for t in dep.targets if t.label == trio.hostname("win11"))
    assert target.state is HostState.FAILED
    assert "KB5046633: failed: not enough disk space (ERROR_DISK_FULL) (0x80070070)" \
        in target.detail
    assert win11.installs == ["KB5045935"]  # the other one went in
    assert trio.endpoints["server2022"].host.installs == []
    dep = site.deployments.rollback(dep.id)
    target = next(t for t in dep.targets if t.label == trio.hostname("win11"))
    assert win11.uninstalls == ["KB5045935"]  # uninstallable: removed (wusa)
    assert "KB5045935" not in {h["kb"] for h in win11.hotfixes}
    # The cumulative update never went in; nothing else is left to undo.
    assert target.state is HostState.ROLLED_BACK, target.detail


def test_rollback_of_a_permanent_update_is_named_cannot_be_rolled_back(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    win11 = trio.endpoints["win11"].host
    site.assess_assets([a.id for a in site.assets() if a.hostname == trio.hostname("win11")])
    dep = site.plan_deployment(["KB5046633", "KB5045935"], [trio.hostname("win11")],
                               gates=Gates(reboot_lead_minutes=0), override_reason=NOW)
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin=PIN)
    assert dep.phase is Phase.DONE, dep.halt_reason
    dep = site.deployments.rollback(dep.id)
    target = dep.targets[0]
    assert dep.phase is Phase.HALTED and "rollback incomplete" in dep.halt_reason
    assert win11.uninstalls == ["KB5045935"]
    assert "KB5046633 cannot be rolled back" in target.detail
    assert "CBS_E_CANNOT_UNINSTALL" in target.detail


def test_a_connection_dropped_mid_install_still_collects_the_task_result(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    ep = trio.endpoints["server2022"]
    site.assess_assets([a.id for a in site.assets()
                        if a.hostname == trio.hostname("server2022")])
    dep = site.plan_deployment(["KB5046616"], [trio.hostname("server2022")],
                               gates=Gates(reboot_lead_minutes=0), override_reason=NOW)
    dropped = ep.stats.dropped
    ep.host.polls_until_done = 4
    original = ep.host._ps_wua_task

    armed = [True]

    def drop_on_poll(args):  # type: ignore[no-untyped-def]
        job = ep.host.jobs.get(args.get("job_id", ""))
        if args.get("action") == "poll" and job and job.operation == "install" and armed[0]:
            armed[0] = False
            ep.faults.drop["Receive"] = 1  # the answer to this poll never comes
        return original(args)

    ep.host._ps_wua_task = drop_on_poll  # type: ignore[method-assign]
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin=PIN)
    assert ep.stats.dropped > dropped
    assert dep.phase is Phase.DONE, site.deployments.log(dep.id)
    assert dep.targets[0].state is HostState.SUCCEEDED, dep.targets[0].detail
    assert ep.host.installs == ["KB5046616"]  # installed once: polls were only retried


def test_a_host_flooding_output_fails_alone(site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    ep = trio.endpoints["workgroup"]
    site.assess_assets([a.id for a in site.assets() if a.hostname == trio.hostname("workgroup")])
    dep = site.plan_deployment(["KB5046613"], [trio.hostname("workgroup")],
                               gates=Gates(reboot_lead_minutes=0), override_reason=NOW)
    ep.faults.flood_bytes = 64 * 1024 * 1024
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin=PIN)
    target = dep.targets[0]
    assert target.preflight and "more than" in " ".join(target.preflight)
    assert ep.host.installs == []


def test_preflight_explains_a_filtered_token_and_other_blockers(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    wg = trio.endpoints["workgroup"].host
    wg.elevated = False
    srv = trio.endpoints["server2022"].host
    srv.wuauserv_start_type = "Disabled"
    win11 = trio.endpoints["win11"].host
    win11.restart_scheduled.append("restart initiated 2024-11-12T08:00:00.0000000Z")
    site.assess_assets()
    dep = site.plan_deployment(list(CUS.values()), ["all"],
                               gates=Gates(reboot_lead_minutes=0), override_reason=NOW)
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin=PIN)
    assert dep.phase is Phase.HALTED
    why = {t.label: " ".join(t.preflight) for t in dep.targets}
    assert "LocalAccountTokenFilterPolicy" in why[trio.hostname("workgroup")]
    assert "EVERY local administrator" in why[trio.hostname("workgroup")]
    assert "Windows Update service (wuauserv) is disabled" in why[trio.hostname("server2022")]
    assert "a restart is already scheduled" in why[trio.hostname("win11")]
    assert all(not h.installs for h in (wg, srv, win11))


def test_retry_rounds_after_a_restart_are_bounded(
        site: SiteService, windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    host = trio.endpoints["win11"].host
    # The first round asks for a restart before the CU can go in; the second succeeds.
    host.fail_until_reboot["KB5046633"] = 0x80070BC2 - 2 ** 32
    site.assess_assets([a.id for a in site.assets() if a.hostname == trio.hostname("win11")])
    dep = site.plan_deployment(["KB5046633"], [trio.hostname("win11")],
                               gates=Gates(reboot_lead_minutes=0), override_reason=NOW)
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin=PIN)
    assert dep.phase is Phase.DONE, dep.halt_reason
    assert host.installs == ["KB5046633"]
    # Two restarts: one between the rounds (its own notice), one after the install.
    assert sum("round 2 of at most 3" in n for n in host.notices) == 2  # msg and shutdown /c
    assert sum(n.startswith("shutdown /r") for n in host.notices) == 2


def test_the_wua_installer_run_directly_over_winrm_is_refused(
        windows_trio: WindowsTrio) -> None:
    trio = windows_trio
    cred = WinRMCredential(trio.user, trio.password, port=trio.port,
                           ca_file=str(trio.ca_file))
    transport = WinRMTransport(trio.ip("server2022"), cred)
    res = transport.run_ps(with_args(script("wua_worker"), {}), name="wua_worker")
    assert res.exit_code == 1
    assert "0x80070005" in res.stderr and "E_ACCESSDENIED" in res.stderr
    assert trio.endpoints["server2022"].host.installs == []
