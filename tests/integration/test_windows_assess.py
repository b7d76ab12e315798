"""Windows assessment end to end through the CLI, against three simulated Windows hosts.

The hosts are real WinRM endpoints on loopback (tests/lab/winrm_fixtures.py: HTTPS with a
lab CA, NTLM, WinRS) answering our reviewed scripts from their state models — labelled
"simulated" in docs/platforms.md. The CLI runs in this process (``app.cli.main``) with the
real site file, vault, WinRM transport, Windows driver and WUA task protocol.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import app.cli.common
from app.cli import main
from app.services import SiteService
from tests.lab.lab import Lab
from tests.lab.winrm_fixtures import WindowsTrio

MASTER = "lab master password"

#: What each simulated host's Windows Update Agent offers (tests/lab/winrm_hosts.py).
EXPECTED = {
    "win11": {"KB5046633": ("critical", "security",
                            ["CVE-2024-43451", "CVE-2024-49039", "CVE-2024-43639"]),
              "KB5045935": ("important", "security", ["CVE-2024-43483"]),
              "KB2267602": ("unknown", "other", [])},
    "server2022": {"KB5046616": ("critical", "security", ["CVE-2024-43451", "CVE-2024-49039"]),
                   "KB5046540": ("important", "security", ["CVE-2024-43483"])},
    "workgroup": {"KB5046613": ("critical", "security", ["CVE-2024-43451", "CVE-2024-49039"]),
                  "KB2267602": ("unknown", "other", [])},
}


def cli(site: Path, *argv: str, stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    app.cli.common._stdin_lines = None  # each command reads its own stdin
    try:
        code = main(["--site", str(site), *argv], out=out)
    finally:
        sys.stdin = old
    return code, out.getvalue()


@pytest.fixture(autouse=True)
def master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHDESK_MASTER_PASSWORD", MASTER)


def add_windows(site: Path, trio: WindowsTrio) -> None:
    # No OS given: the assets are known as Windows only by their WinRM credential (the OS
    # comes from the deep scan).
    for name in trio.endpoints:
        code, text = cli(site, "asset", "add", "--hostname", trio.hostname(name),
                         "--ip", trio.ip(name), "--tag", "windows")
        assert code == 0, text
    code, text = cli(site, "cred", "add", "windows-admin", "--winrm-user", trio.user,
                     "--password-stdin", "--winrm-port", str(trio.port), "--ca-file",
                     str(trio.ca_file), "--scope", "tag:windows", stdin=trio.password + "\n")
    assert code == 0, text
    assert "NTLM over HTTPS port" in text


def check_windows_outcomes(outcomes: dict[str, dict[str, Any]], trio: WindowsTrio) -> None:
    for name, expected in EXPECTED.items():
        got = outcomes[trio.hostname(name)]
        assert got["ok"], got
        assert got["driver"] == "windows"
        kbs = [u for u in got["missing"] if u["source"] == "windows-update"]
        missing = {u["kb"]: (u["severity"], u["classification"], u["cves"]) for u in kbs}
        assert missing == expected, name
        assert all(u["package"] == u["kb"] for u in kbs)
        # The rest are third-party packages (Chocolatey, winget), shown by their source.
        assert {u["source"] for u in got["missing"]} <= {"windows-update", "choco", "winget"}
        assert got["security_updates"] == sum(1 for v in expected.values()
                                              if v[1] == "security")
    assert outcomes[trio.hostname("server2022")]["reboot_required"] is True  # CBS flag
    assert outcomes[trio.hostname("win11")]["reboot_required"] is False
    # PendingFileRenameOperations alone only recommends a reboot.
    assert outcomes[trio.hostname("workgroup")]["reboot_required"] is False


def check_stored(site: Path, trio: WindowsTrio) -> None:
    code, text = cli(site, "patches", "--json")
    assert code == 0
    rows = [r for r in json.loads(text) if r["source"] == "windows-update"]
    assert len(rows) == sum(len(v) for v in EXPECTED.values())
    cu = next(r for r in rows if r["kb"] == "KB5046633")
    assert (cu["severity"], cu["max_download_size"], cu["reboot_behavior"],
            cu["uninstallable"]) == ("critical", 716_177_408, "always", False)
    net = next(r for r in rows if r["kb"] == "KB5045935")
    assert (net["uninstallable"], net["reboot_behavior"]) == (True, "can request")
    assert net["cves"] == ["CVE-2024-43483"]
    service = SiteService.open(site)
    try:
        assets = {a.hostname: a for a in service.assets()}
        win11 = assets[trio.hostname("win11")]
        assert (str(win11.os_family), win11.os_name, win11.os_version, win11.os_build) == (
            "windows", "Windows 11 Pro", "23H2", "10.0.22631.4317")
        assert (win11.manufacturer, win11.model, win11.serial) == ("LENOVO", "21HD003MGE",
                                                                   "PF4XK2QH")
        assert [m.lower() for m in win11.macs] == ["8c:16:45:3a:5b:01"]
        record = service.assessment(int(win11.id or 0))
        assert record is not None and record.ok and record.driver == "windows"
        details = record.facts["details"]
        assert (details["revision"], details["display_version"], details["domain"],
                details["windows_11"]) == ("22631.4317", "23H2", "corp.example.test", True)
        assert record.facts["last_boot"].startswith("2024-11-04T07:12:09")
        assert record.facts["logged_in_users"] == ["CORP\\alice"]
        software = {s.name for s in service.software(int(win11.id or 0))}
        assert {"Mozilla Firefox (x64 en-US)", "7-Zip 23.01 (x64)", "KB5044285",
                "KB5043080"} <= software
        wg = assets[trio.hostname("workgroup")]
        wg_details = service.assessment(int(wg.id or 0)).facts["details"]  # type: ignore[union-attr]
        assert (wg_details["part_of_domain"], wg_details["workgroup"]) == (False, "WORKGROUP")
        # Three assessed hosts with security updates first seen now: on time, not "unknown".
        figure = service.compliance()
        assert figure.percent == 100.0 and figure.not_assessed == 0
    finally:
        service.close()
    for ep in trio.endpoints.values():
        # Every WUA task was removed again; nothing travelled outside TLS.
        assert not ep.host.tasks and not ep.host.job_dirs and not ep.host.jobs
        assert ep.stats.auth_headers["basic"] == 0


def test_assess_all_lists_missing_kbs_of_three_windows_hosts(
        windows_trio: WindowsTrio, tmp_path: Path) -> None:
    site = tmp_path / "windows.pdsite"
    add_windows(site, windows_trio)
    code, text = cli(site, "assess", "--all", "--json")
    assert code == 0, text
    outcomes = {o["host"]: o for o in json.loads(text)}
    check_windows_outcomes(outcomes, windows_trio)
    check_stored(site, windows_trio)


@pytest.mark.lab
def test_windows_and_linux_hosts_in_one_assess_run(
        lab: Lab, windows_trio: WindowsTrio, tmp_path: Path) -> None:
    site = tmp_path / "mixed.pdsite"
    add_windows(site, windows_trio)
    deb = lab.host("deb1")
    assert cli(site, "asset", "add", "--hostname", "deb1", "--ip", deb.ip,
               "--os", "Debian 12")[0] == 0
    code, text = cli(site, "cred", "add", "office", "--ssh-user", deb.user,
                     "--password-stdin", "--scope", "all", stdin=deb.password + "\n")
    assert code == 0, text
    code, text = cli(site, "assess", "--all", "--json")
    assert code == 0, text
    outcomes = {o["host"]: o for o in json.loads(text)}
    assert set(outcomes) == {"deb1", *(windows_trio.hostname(n) for n in EXPECTED)}
    check_windows_outcomes(outcomes, windows_trio)
    linux = outcomes["deb1"]
    assert linux["ok"] and linux["driver"] == "apt"
    assert "pd-openssl" in {u["package"] for u in linux["missing"]}
    check_stored(site, windows_trio)


# -- refusals -------------------------------------------------------------------------------
def test_wrong_password_is_refused_and_the_host_counts_as_not_assessed(
        windows_trio: WindowsTrio, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "wrong.pdsite"
    host = windows_trio.hostname("win11")
    assert cli(site, "asset", "add", "--hostname", host, "--ip", windows_trio.ip("win11"),
               "--os", "Windows")[0] == 0
    code, _ = cli(site, "cred", "add", "bad", "--scope", "all", "--winrm-user", windows_trio.user,
                  "--password-stdin", "--winrm-port", str(windows_trio.port), "--ca-file",
                  str(windows_trio.ca_file), stdin="Not-The-Passw0rd\n")
    assert code == 0
    code, _ = cli(site, "cred", "test", "bad", host)
    assert code == 1
    err = capsys.readouterr().err
    assert "refused the credentials of 'Administrator' (ntlm over HTTPS)" in err
    assert "Not-The-Passw0rd" not in err
    code, text = cli(site, "assess", "--all", "--json")
    assert code == 1
    [outcome] = json.loads(text)
    assert (outcome["ok"], outcome["error_kind"]) == (False, "auth_failed")
    assert windows_trio.endpoints["win11"].stats.auth_failures >= 2
    code, text = cli(site, "compliance", "--json")
    figure = json.loads(text)
    assert (figure["percent"], figure["not_assessed"], figure["assets_compliant"]) == (
        None, 1, 0)


def test_the_right_password_says_which_auth_and_transport_worked(
        windows_trio: WindowsTrio, tmp_path: Path) -> None:
    site = tmp_path / "ok.pdsite"
    add_windows(site, windows_trio)
    code, text = cli(site, "cred", "test", "windows-admin", windows_trio.hostname("server2022"))
    assert code == 0, text
    assert "login as Administrator ok with NTLM over HTTPS port" in text
    assert "certificate: validated against" in text
    code, text = cli(site, "cred", "test", "windows-admin",
                     windows_trio.hostname("server2022"), "--json")
    result = json.loads(text)
    assert (result["auth"], result["transport"], result["hostname"]) == (
        "ntlm", "https", "SRV22-LAB01")


def test_basic_over_http_needs_the_explicit_choice_and_sends_nothing_without_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.lab.winrm_endpoint import WinRMEndpoint
    from tests.lab.winrm_hosts import workgroup

    ep = WinRMEndpoint(workgroup(), address="127.0.0.77", users=[("reception", "Rc-Passw0rd!")],
                       basic=True, allow_unencrypted=True).start()
    try:
        site = tmp_path / "basic.pdsite"
        assert cli(site, "asset", "add", "--hostname", "frontdesk", "--ip", ep.address,
                   "--os", "Windows")[0] == 0
        code, _ = cli(site, "cred", "add", "basic", "--scope", "all", "--winrm-user", "reception",
                      "--password-stdin", "--winrm-auth", "basic", "--winrm-http",
                      "--winrm-port", str(ep.port), stdin="Rc-Passw0rd!\n")
        assert code == 1
        err = capsys.readouterr().err
        assert "Basic authentication would send the password in clear text over HTTP" in err
        assert "nothing was sent" in err
        assert ep.stats.requests == 0 and ep.stats.basic_passwords_received == 0
        code, text = cli(site, "cred", "list", "--json")
        assert json.loads(text) == []  # nothing was stored either
        # With the explicit choice it works — and the CLI says what that costs.
        code, text = cli(site, "cred", "add", "basic", "--scope", "all",
                         "--winrm-user", "reception",
                         "--password-stdin", "--winrm-auth", "basic", "--winrm-http",
                         "--allow-unencrypted", "--winrm-port", str(ep.port),
                         stdin="Rc-Passw0rd!\n")
        assert code == 0 and "WARNING: Basic authentication may now send" in text
        code, text = cli(site, "cred", "test", "basic", "frontdesk")
        assert code == 0 and "with BASIC over HTTP" in text
        assert "encryption: none (Basic, explicitly allowed)" in text
        assert ep.stats.basic_passwords_received >= 1
    finally:
        ep.stop()


def test_an_untrusted_certificate_is_refused_before_the_password_is_sent(
        windows_trio: WindowsTrio, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "cert.pdsite"
    name = "server2022"
    host, ep = windows_trio.hostname(name), windows_trio.endpoints[name]
    assert cli(site, "asset", "add", "--hostname", host, "--ip", windows_trio.ip(name),
               "--os", "Windows")[0] == 0
    # No --ca-file: the system CAs do not know the lab CA.
    code, _ = cli(site, "cred", "add", "nocA", "--scope", "all", "--winrm-user", windows_trio.user,
                  "--password-stdin", "--winrm-port", str(windows_trio.port),
                  stdin=windows_trio.password + "\n")
    assert code == 0
    code, _ = cli(site, "cred", "test", "nocA", host)
    assert code == 1
    assert "the HTTPS certificate is not trusted" in capsys.readouterr().err
    assert ep.stats.tls_failures >= 1 and ep.stats.requests == 0  # no NTLM, no password
    code, text = cli(site, "assess", "--all", "--json")
    assert code == 1 and json.loads(text)[0]["error_kind"] == "untrusted_certificate"
    # Skipping validation is an explicit per-host choice, warned about and audited.
    assert cli(site, "cred", "rm", "nocA")[0] == 0
    code, text = cli(site, "cred", "add", "skip", "--scope", "all",
                     "--winrm-user", windows_trio.user,
                     "--password-stdin", "--winrm-port", str(windows_trio.port),
                     "--skip-cert-validation", windows_trio.ip(name),
                     stdin=windows_trio.password + "\n")
    assert code == 0 and "is not validated" in text
    code, text = cli(site, "cred", "test", "skip", host)
    assert code == 0 and "not validated (explicit choice for this host)" in text
    code, text = cli(site, "audit", "list", "--json")
    events = json.loads(text)
    added = [e for e in events if e["action"] == "credential.add" and e["object_id"] == "skip"]
    assert added and added[0]["details"]["skip_cert_validation_for"] == [
        windows_trio.ip(name)]


def test_kerberos_without_its_libraries_is_stored_and_refused_with_the_fix(
        windows_trio: WindowsTrio, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import winrm.transport

    if winrm.transport.HAVE_KERBEROS:
        pytest.skip("this machine has pywinrm's Kerberos support")
    site = tmp_path / "krb.pdsite"
    host = windows_trio.hostname("win11")
    assert cli(site, "asset", "add", "--hostname", host, "--ip", windows_trio.ip("win11"),
               "--os", "Windows")[0] == 0
    code, text = cli(site, "cred", "add", "domain", "--scope", "all",
                     "--winrm-user", "CORP\\patcher",
                     "--password-stdin", "--winrm-auth", "kerberos", "--winrm-port",
                     str(windows_trio.port), "--ca-file", str(windows_trio.ca_file),
                     stdin="Krb-Passw0rd!\n")
    assert code == 0 and "Kerberos over HTTPS" in text
    code, _ = cli(site, "cred", "test", "domain", host)
    assert code == 1
    assert "pip install pywinrm[kerberos]" in capsys.readouterr().err
    assert windows_trio.endpoints["win11"].stats.requests == 0
