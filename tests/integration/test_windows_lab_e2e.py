"""[9]'s "Done when" end to end on the DEFAULT lab, Linux and Windows hosts together.

The default lab (tests/lab/lab.py) runs real Debian hosts and three simulated Windows hosts
(tests/lab/winhosts.py: Windows 11 ``win11``, Server 2022 ``srv22``, a workgroup Windows 10
``wg10``), each a WinRM endpoint in its own network namespace beside the RPC/SMB/RDP/
NetBIOS listeners of a Windows box. ``patchdesk scan`` from the client namespace finds and
marks them; ``assess --all`` reaches Debian over SSH and Windows over WinRM (HTTPS, the
lab's CA) and lists the missing KBs with severity and CVEs; a deployment goes test ring →
approval with the approver's PIN → pilot → production, each host with a restart notice, a
restart and a re-check, then verification. Simulated Windows: see docs/platforms.md.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

import app.cli.common
from app.cli import main
from app.core.deployment import Gates, HostState, Phase, Stage
from app.services import SiteService
from tests.lab.lab import Lab

ROOT = Path(__file__).resolve().parents[2]
MASTER = "lab master password"
PIN = "2468-green"
#: The cumulative update each simulated host misses (tests/lab/winrm_hosts.py presets).
CUS = {"win11": "KB5046633", "srv22": "KB5046616", "wg10": "KB5046613"}
pytestmark = pytest.mark.lab


def cli(site: Path, *argv: str, stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    app.cli.common._stdin_lines = None
    try:
        code = main(["--site", str(site), *argv], out=out)
    finally:
        sys.stdin = old
    return code, out.getvalue()


def test_scan_assess_and_ring_deployment_on_linux_and_windows_lab_hosts(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", MASTER)
    site = tmp_path / "e2e.pdsite"
    ips = {name: lab.host(name).ip for name in CUS}
    boots = {name: lab.windows_state(name)["last_boot"] for name in CUS}
    try:
        # -- scan: found and marked -----------------------------------------------------
        scan = lab.client_run(
            [sys.executable, "-m", "app.cli", "--site", str(site), "scan", str(lab.subnet),
             "--json"], env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=300)
        assert scan.returncode == 0, scan.stderr[-2000:]
        found = {h["ip"]: h for h in json.loads(scan.stdout)["hosts"]}
        for name, ip in ips.items():
            assert {135, 445, 3389, 5985, 5986} <= set(found[ip]["open_ports"]), name
            assert found[ip]["os_guess"] == "Windows", name
            assert lab.host(name).netbios_name in found[ip]["names"], name
        assert found[lab.host("deb1").ip]["os_guess"] == "Debian"
        code, text = cli(site, "asset", "list", "--json")
        families = {a["ips"][0]: a["os_family"] for a in json.loads(text) if a["ips"]}
        assert {families[ip] for ip in ips.values()} == {"windows"}
        # -- credentials: SSH for Linux, WinRM (HTTPS, the lab's CA) for Windows ----------
        code, text = cli(site, "cred", "add", "office", "--scope", "all", "--ssh-user",
                         "admin", "--password-stdin", stdin="labpass\n")
        assert code == 0, text
        win = lab.host("win11")
        code, text = cli(site, "cred", "add", "windows", "--scope", "all", "--winrm-user",
                         win.user, "--password-stdin", "--ca-file", str(lab.winrm_ca_file),
                         stdin=win.password + "\n")
        assert code == 0, text
        # -- assess --all: Linux and Windows in one run ---------------------------------
        code, text = cli(site, "--accept-new-host-keys", "assess", "--all", "--json")
        outcomes = {o["ip"]: o for o in json.loads(text)}
        for name in ("deb1", "deb2"):
            o = outcomes[lab.host(name).ip]
            assert o["ok"] and o["driver"] == "apt", o
            assert "pd-openssl" in {u["package"] for u in o["missing"]}
        for name, ip in ips.items():
            o = outcomes[ip]
            assert o["ok"] and o["driver"] == "windows", o
            missing = {u["kb"]: u for u in o["missing"]}
            cu = missing[CUS[name]]
            assert cu["severity"] == "critical" and cu["classification"] == "security"
            assert {"CVE-2024-43451", "CVE-2024-49039"} <= set(cu["cves"])
        # Hosts that cannot be assessed say so (never compliant): the port-only box.
        assert not outcomes[lab.host("win1").ip]["ok"]
        code, text = cli(site, "patches", "--json")
        rows = [r for r in json.loads(text) if r["kb"]]
        assert {(r["ip"], r["kb"]) for r in rows} >= {(ips[n], kb) for n, kb in CUS.items()}
        # Third-party applications beside the KBs, by their source ([10]).
        code, text = cli(site, "patches", "--source", "winget", "--json")
        assert ("Mozilla.Firefox", ips["win11"]) in {(r["package"], r["ip"])
                                                     for r in json.loads(text)}
        code, text = cli(site, "patches", "--source", "choco", "--json")
        assert {r["ip"] for r in json.loads(text)} == {ips["srv22"], ips["wg10"]}
        # -- the deployment: test ring → approval (PIN) → pilot → production ------------
        service = SiteService.open(site, actor="tech")
        try:
            service.remote.unlock(MASTER)
            service.people.add("J. Smith", PIN)
            # The policy asks servers for a verified backup (the wizard recommends a
            # snapshot before the test ring): attested as a person would.
            service.inventory.attest_backup(
                [int(a.id or 0) for a in service.assets() if a.primary_ip in ips.values()],
                "lab: VM snapshots taken and checked")
            dep = service.plan_deployment(
                list(CUS.values()), [ips["wg10"]], test_ring=[ips["win11"]],
                pilot=[ips["srv22"]], gates=Gates(reboot_lead_minutes=0),
                override_reason="lab: simulated hosts restart at once")
            stages = {t.address: t.stage for t in dep.targets}
            assert stages == {ips["win11"]: Stage.TEST, ips["srv22"]: Stage.PILOT,
                              ips["wg10"]: Stage.PRODUCTION}
            dep = service.deployments.run(dep.id)
            assert dep.phase is Phase.AWAITING_APPROVAL, [
                (t.label, t.preflight) for t in dep.targets]
            assert lab.windows_state("win11")["installs"] == ["KB5046633"]
            assert lab.windows_state("srv22")["installs"] == []  # nothing past the test ring
            with pytest.raises(Exception, match="PIN"):
                service.deployments.approve(dep.id, "J. Smith", "ok", pin="0000-wrong")
            service.deployments.approve(dep.id, "J. Smith", "test ring fine", pin=PIN)
            dep = service.deployments.run(dep.id)
            assert dep.phase is Phase.DONE, dep.halt_reason
            for t in dep.targets:
                assert (t.state, t.verified) == (HostState.SUCCEEDED, "installed"), t.detail
                assert t.reboot.startswith("done"), t.reboot
            for name in CUS:
                state = lab.windows_state(name)
                assert state["installs"] == [CUS[name]]
                assert state["last_boot"] > boots[name]  # restarted: a new boot time
                assert any(n.startswith("msg: PatchDesk") for n in state["notices"]), name
                assert any(n.startswith("shutdown /r /t 5 /c PatchDesk")
                           for n in state["notices"]), name
                assert not state["tasks"] and not state["job_dirs"]
                assert not any(state["reboot_flags"].values())  # re-checked after the boot
            # Verification re-assessed: no Windows host misses its deployed KB any more.
            left = {p.package for p in service.patches() if p.package in CUS.values()}
            assert not left
        finally:
            service.close()
    finally:
        for name in CUS:  # the default hosts are shared: back to their preset state
            lab.simulate_reboot(name)
