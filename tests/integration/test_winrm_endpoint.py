"""pywinrm (through app/remote/winrm.py) against the simulated WinRM endpoint on loopback.

Real sockets, real HTTP/TLS, real NTLM (pyspnego acceptor) with MS-WSMV encryption; the
endpoint answers our scripts from a host state model (tests/lab/winrm_hosts.py). Only
127.0.0.x addresses are used. What this proves and what it cannot: docs in
tests/data/winrm/NOTES.md ("simulated").
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import winrm

from app.core.errors import UserError
from app.core.models import Classification, Severity
from app.drivers.parsers.windows import (
    parse_facts,
    parse_installed_software,
    parse_installed_updates,
    parse_pending_reboot,
)
from app.drivers.windows import script, with_args
from app.drivers.windows.wua import run_wua_job
from app.remote.winrm import (
    BOOTSTRAP,
    INLINE_LIMIT,
    AuthenticationError,
    CertificateError,
    CommandTimeoutError,
    InsecureTransportError,
    OutputTooLargeError,
    UnreachableError,
    WinRMCredential,
    WinRMTransport,
)
from tests.lab.winrm_ca import LabCA
from tests.lab.winrm_endpoint import CMD_LIMIT, WinRMEndpoint
from tests.lab.winrm_hosts import PRESETS, WindowsHost, win11

USER, PASSWORD = "Administrator", "Lab-Passw0rd!"
Factory = Callable[..., WinRMEndpoint]


@pytest.fixture(scope="module")
def lab_ca(tmp_path_factory: pytest.TempPathFactory) -> LabCA:
    return LabCA(tmp_path_factory.mktemp("winrm-ca"))


@pytest.fixture
def endpoint() -> Iterator[Factory]:
    started: list[WinRMEndpoint] = []
    counter = iter(range(2, 250))

    def make(host: WindowsHost | None = None, **kwargs: Any) -> WinRMEndpoint:
        address = kwargs.pop("address", f"127.0.0.{next(counter)}")
        ep = WinRMEndpoint(host or win11(), address=address, users=[(USER, PASSWORD)],
                           **kwargs).start()
        started.append(ep)
        return ep

    yield make
    for ep in started:
        ep.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def http_transport(ep: WinRMEndpoint, **cred: Any) -> WinRMTransport:
    options: dict[str, Any] = {"https": False, "port": ep.port, **cred}
    password = options.pop("password", PASSWORD)
    retries = options.pop("retries", 2)
    operation_timeout = options.pop("operation_timeout", 20)
    return WinRMTransport(ep.address, WinRMCredential(USER, password, **options),
                          retries=retries, retry_delay=0.05,
                          operation_timeout=operation_timeout)


# -- transport and authentication -------------------------------------------------------------
def test_ntlm_over_http_every_message_is_encrypted(endpoint: Factory) -> None:
    ep = endpoint()
    res = http_transport(ep).run_ps(script("facts").text, name="facts")
    assert res.ok, res.stderr
    facts = parse_facts(res.stdout)
    assert facts.facts.os_name == "Windows 11 Pro" and facts.revision == "22631.4317"
    assert ep.stats.auth_headers["negotiate"] >= 2  # NTLM negotiate + authenticate
    soap = sum(ep.stats.operations.values())
    assert soap == 5 and ep.stats.encrypted_messages == soap  # Create..Delete, all sealed
    assert ep.stats.unencrypted_refused == 0
    wire = b"".join(ep.stats.wire)
    assert b"application/HTTP-SPNEGO-session-encrypted" in wire
    for clear in (b"CommandLine", b"powershell -NoProfile", b"ReceiveResponse", b"ShellId",
                  b"WIN11-LAB01", base64.b64encode(res.stdout.encode())[:40]):
        assert clear not in wire  # neither the commands nor the answers travel in clear


def test_http_endpoint_refuses_clear_text_soap(endpoint: Factory) -> None:
    # What a client that does not encrypt meets: WinRM's default AllowUnencrypted=false.
    ep = endpoint()
    proto = winrm.Protocol(f"http://{ep.address}:{ep.port}/wsman", transport="ntlm",
                           username=USER, password=PASSWORD, message_encryption="never",
                           ca_trust_path=None, proxy=None)
    with pytest.raises(winrm.exceptions.InvalidCredentialsError):
        proto.open_shell()
    assert ep.stats.unencrypted_refused == 1 and not ep.shells
    assert b"rsp:InputStreams" in b"".join(ep.stats.wire)  # the tap does see clear text


def test_https_with_the_lab_ca(endpoint: Factory, lab_ca: LabCA) -> None:
    ep = endpoint(tls=lab_ca.issue("win11", "127.0.0.60"), address="127.0.0.60")
    cred = WinRMCredential(USER, PASSWORD, port=ep.port, ca_file=str(lab_ca.ca_file))
    res = WinRMTransport(ep.address, cred).run_ps(script("pending_reboot").text)
    assert res.ok, res.stderr
    assert parse_pending_reboot(res.stdout).required is False
    assert ep.stats.encrypted_messages == 0  # TLS protects it; NTLM with channel binding
    assert ep.stats.auth_headers["negotiate"] >= 2 and ep.stats.tls_failures == 0


def test_untrusted_certificate_is_refused_before_any_credential(
        endpoint: Factory, lab_ca: LabCA, tmp_path: Path) -> None:
    ep = endpoint(tls=lab_ca.issue("win11", "127.0.0.61"), address="127.0.0.61")
    other = LabCA(tmp_path, name="Some Other CA")
    for ca_file in (str(other.ca_file), None):  # another CA; the system bundle
        cred = WinRMCredential(USER, PASSWORD, port=ep.port, ca_file=ca_file)
        with pytest.raises(CertificateError, match="not trusted"):
            WinRMTransport(ep.address, cred, retries=0).run_ps(script("facts").text)
    assert ep.stats.requests == 0 and not ep.stats.auth_headers
    # The server thread counts the failed handshake after the client gave up on it.
    assert wait_for(lambda: ep.stats.tls_failures >= 2)
    # Skipping validation is possible, but only as an explicit choice.
    cred = WinRMCredential(USER, PASSWORD, port=ep.port, skip_cert_validation=True)
    assert WinRMTransport(ep.address, cred).run_raw("hostname").stdout.strip() == \
        "WIN11-LAB01"


def test_wrong_password_is_refused(endpoint: Factory) -> None:
    ep = endpoint()
    with pytest.raises(AuthenticationError, match="refused the credentials"):
        http_transport(ep, password="wrong-password").run_raw("hostname")
    assert ep.stats.auth_failures >= 1 and not ep.shells


def test_basic_over_http_is_refused_before_the_password_is_sent(endpoint: Factory) -> None:
    # The host would even accept it (Basic on, AllowUnencrypted): the refusal is ours.
    ep = endpoint(basic=True, allow_unencrypted=True)
    with pytest.raises(InsecureTransportError, match="nothing was sent"):
        http_transport(ep, auth="basic")
    cred = WinRMCredential(USER, PASSWORD, auth="basic", https=False, port=ep.port)
    with pytest.raises(InsecureTransportError):
        cred.check()
    assert ep.stats.requests == 0 and ep.stats.basic_passwords_received == 0
    # With the explicit choice it works, and the endpoint does see a password then.
    res = http_transport(ep, auth="basic", allow_unencrypted=True).run_raw("hostname")
    assert res.ok and ep.stats.basic_passwords_received >= 1


def test_basic_is_refused_by_a_host_without_it(endpoint: Factory, lab_ca: LabCA) -> None:
    ep = endpoint(tls=lab_ca.issue("win11", "127.0.0.62"), address="127.0.0.62")
    cred = WinRMCredential(USER, PASSWORD, auth="basic", port=ep.port,
                           ca_file=str(lab_ca.ca_file))
    with pytest.raises(AuthenticationError):
        WinRMTransport(ep.address, cred).run_raw("hostname")


# -- robustness ------------------------------------------------------------------------------
def test_dropped_connection_is_retried_with_a_fresh_session(endpoint: Factory) -> None:
    ep = endpoint()
    ep.faults.drop = {"Create": 1, "Receive": 1}
    res = http_transport(ep).run_ps(script("installed_software").text)
    assert res.ok, res.stderr
    assert {p.name for p in parse_installed_software(res.stdout)} >= {"7-Zip 23.01 (x64)"}
    assert ep.stats.dropped == 2 and ep.stats.operations["Create"] == 3
    assert ep.stats.auth_headers["negotiate"] >= 6  # a new NTLM handshake per attempt


def test_dropped_connection_after_a_non_idempotent_command_is_not_rerun(
        endpoint: Factory) -> None:
    ep = endpoint()
    ep.faults.drop = {"Receive": 1}
    with pytest.raises(UnreachableError, match="may or may not have finished"):
        http_transport(ep).run_raw("hostname")
    assert ep.stats.operations["Command"] == 1


def test_a_host_that_keeps_dropping_is_unreachable(endpoint: Factory) -> None:
    ep = endpoint()
    ep.faults.drop = {"Create": 10}
    with pytest.raises(UnreachableError, match="tried 3 times"):
        http_transport(ep, retries=2).run_raw("hostname")
    assert ep.stats.dropped == 3


def test_flooding_host_is_cut_off(endpoint: Factory) -> None:
    ep = endpoint()
    ep.faults.flood_bytes = 64 * 1024 * 1024
    cap = 1024 * 1024
    with pytest.raises(OutputTooLargeError) as caught:
        http_transport(ep).run_ps(script("facts").text, max_output=cap)
    assert caught.value.head.startswith("AAAA")
    assert ep.stats.operations["Receive"] <= cap // (64 * 1024) + 2  # stopped reading
    assert ep.stats.signals == 1  # the command was terminated


def test_hanging_command_times_out(endpoint: Factory) -> None:
    ep = endpoint()
    ep.faults.hang = True
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError):
        http_transport(ep, operation_timeout=1).run_ps(script("facts").text, timeout=2)
    assert time.monotonic() - started < 8
    assert ep.stats.signals == 1


# -- the command-line limit and the stdin bootstrap -------------------------------------------
def test_large_script_goes_through_the_stdin_bootstrap(endpoint: Factory) -> None:
    ep = endpoint()
    worker = base64.b64encode(script("wua_worker").text.encode()).decode()
    text = with_args(script("wua_task"), {"action": "start", "job_id": "a" * 32,
                                          "operation": "search", "kbs": [],
                                          "worker": worker})
    assert len(text) > 8 * 1024
    # pywinrm's own run_ps puts it on the command line, and cmd.exe refuses it.
    session = winrm.Session(f"http://{ep.address}:{ep.port}/wsman", auth=(USER, PASSWORD),
                            transport="ntlm", proxy=None, ca_trust_path=None)
    plain = session.run_ps(text)
    assert plain.status_code == 1 and b"The command line is too long" in plain.std_err
    assert ep.stats.command_lines[-1] > CMD_LIMIT
    res = http_transport(ep).run_ps(text, idempotent=False)
    assert res.ok, res.stderr
    assert '"started":true' in res.stdout
    assert ep.stats.command_lines[-1] <= INLINE_LIMIT
    assert ep.stats.stdin_bytes >= len(text)
    assert ep.host.tasks == {"a" * 32}
    assert "Trim()" in BOOTSTRAP  # the reviewed bootstrap is what was sent


def test_a_changed_script_fails_until_its_reply_is_reviewed(endpoint: Factory) -> None:
    ep = endpoint()
    text = script("facts").text.replace("$ProgressPreference = 'SilentlyContinue'",
                                        "$ProgressPreference = 'Continue'")
    res = http_transport(ep).run_ps(text)
    assert res.exit_code == 1 and "has not been reviewed" in res.stderr
    res = http_transport(ep).run_ps("Get-Process | ConvertTo-Json")
    # PowerShell's CLIXML error stream arrives as plain text.
    assert res.exit_code == 1 and res.stderr.startswith("the simulated host cannot run")
    assert "CLIXML" not in res.stderr and "_x000D_" not in res.stderr
    assert "+ CategoryInfo" in res.stderr


# -- the scripts' replies through the transport ------------------------------------------------
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_answers_every_read_only_script(endpoint: Factory, preset: str) -> None:
    ep = endpoint(PRESETS[preset]())
    transport = http_transport(ep)
    facts = parse_facts(transport.run_ps(script("facts").text).stdout)
    updates = parse_installed_updates(transport.run_ps(script("installed_updates").text).stdout)
    software = parse_installed_software(
        transport.run_ps(script("installed_software").text).stdout)
    reboot = parse_pending_reboot(transport.run_ps(script("pending_reboot").text).stdout)
    assert facts.facts.hostname == ep.host.name
    assert updates.kbs >= {h["kb"] for h in ep.host.hotfixes}
    assert len(software) == len(ep.host.software)
    assert reboot.required is (ep.host.cbs_reboot or ep.host.wua_reboot or ep.host.wu_reboot)
    if preset == "workgroup":
        assert facts.workgroup == "WORKGROUP" and facts.domain == ""
        assert any("rename" in r for r in reboot.reasons)


def test_wua_search_and_install_through_the_scheduled_task(endpoint: Factory) -> None:
    ep = endpoint()
    transport = http_transport(ep)
    seen: list[str] = []
    found = run_wua_job(transport, "search", sleep=lambda s: None,
                        on_progress=lambda e: seen.append(e["stage"]))
    assert found.ok and seen == ["searching", "searched", "finished"]
    cu = next(u for u in found.updates if u.kbs == ("KB5046633",))
    assert cu.severity is Severity.CRITICAL and cu.classification is Classification.SECURITY
    assert "CVE-2024-49039" in cu.cves and cu.uninstallable is False and cu.reboot_required
    assert not ep.host.tasks and not ep.host.job_dirs  # always removed
    # A connection dropped while polling the install: the poll is retried, the task's
    # result is still collected.
    ep.host.polls_until_done = 3

    def drop_next_poll(event: dict[str, Any]) -> None:
        if event["stage"] == "searching":
            ep.faults.drop = {"Receive": 1}

    done = run_wua_job(transport, "install", ["KB5046633"], sleep=lambda s: None,
                       on_progress=drop_next_poll)
    assert done.ok and [o.ok for o in done.installed] == [True] and done.reboot_required
    assert ep.stats.dropped == 1 and not ep.host.tasks and not ep.host.job_dirs
    after = parse_installed_updates(transport.run_ps(script("installed_updates").text).stdout)
    assert "KB5046633" in after.kbs
    reboot = parse_pending_reboot(transport.run_ps(script("pending_reboot").text).stdout)
    assert reboot.required is True


def test_failed_install_is_reported_with_a_readable_reason(endpoint: Factory) -> None:
    host = win11()
    host.install_failures["KB5046633"] = -2145124318  # 0x80240022
    ep = endpoint(host)
    done = run_wua_job(http_transport(ep), "install", ["KB5046633"], sleep=lambda s: None)
    outcome = done.installed[0]
    assert not outcome.ok and "0x80240022" in outcome.reason and "failed" in outcome.reason
    assert "KB5046633" in {u.kb for u in host.missing} and not host.tasks


def test_argv_commands_and_what_winrm_cannot_do(endpoint: Factory) -> None:
    ep = endpoint()
    transport = http_transport(ep)
    assert transport.run(["hostname"]).stdout == "WIN11-LAB01\r\n"
    missing = transport.run(["no-such-tool", "a b"])
    assert missing.exit_code == 9009 and "is not recognized" in missing.stderr
    with pytest.raises(UserError, match="no sudo"):
        transport.run(["hostname"], sudo=True)


def test_basic_over_validated_https_needs_no_extra_choice(
        endpoint: Factory, lab_ca: LabCA) -> None:
    ep = endpoint(tls=lab_ca.issue("win11", "127.0.0.63"), address="127.0.0.63", basic=True)
    cred = WinRMCredential(USER, PASSWORD, auth="basic", port=ep.port,
                           ca_file=str(lab_ca.ca_file))
    assert WinRMTransport(ep.address, cred).run_raw("hostname").ok
    assert ep.stats.basic_passwords_received >= 1
    # ... but not when the certificate is not checked.
    with pytest.raises(InsecureTransportError, match="not checked"):
        WinRMTransport(ep.address, WinRMCredential(USER, PASSWORD, auth="basic", port=ep.port,
                                                   skip_cert_validation=True))


def test_the_password_never_shows_in_results(endpoint: Factory) -> None:
    host = win11()
    host.serial = f"serial-{PASSWORD}"  # a host echoing the password back
    ep = endpoint(host)
    res = http_transport(ep).run_ps(script("facts").text)
    assert PASSWORD not in res.stdout and "serial-********" in res.stdout


@pytest.mark.parametrize("word", ["a&calc", "x|y", "%PATH%", "a^b", "q\"uote", "", "x>y"])
def test_cmd_metacharacters_never_reach_a_command_line(endpoint: Factory, word: str) -> None:
    ep = endpoint()
    with pytest.raises(UserError, match="plain Windows command word"):
        http_transport(ep).run(["hostname", word])
    assert ep.stats.requests == 0


def test_a_closed_port_is_unreachable_after_the_retries(endpoint: Factory) -> None:
    ep = endpoint()
    port = ep.port
    ep.stop()
    transport = WinRMTransport(ep.address, WinRMCredential(USER, PASSWORD, https=False,
                                                           port=port),
                               retries=1, retry_delay=0.01)
    started = time.monotonic()
    with pytest.raises(UnreachableError, match=r"connection refused.*tried 2 times"):
        transport.run_raw("hostname")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("loop", [False, True])
def test_reboot_drops_connections_then_answers_with_a_new_boot_time(
        endpoint: Factory, loop: bool) -> None:
    host = PRESETS["server2022"]()
    ep = endpoint(host)
    transport = http_transport(ep, retries=0)
    before = parse_pending_reboot(transport.run_ps(script("pending_reboot").text).stdout)
    assert before.required is True
    old_boot = host.last_boot
    ep.reboot(down_for=0.4, clears_flags=not loop)
    with pytest.raises(UnreachableError):
        transport.run_raw("hostname")
    time.sleep(0.45)
    facts = parse_facts(transport.run_ps(script("facts").text).stdout)
    assert facts.facts.last_boot is not None and facts.facts.last_boot > old_boot
    after = parse_pending_reboot(transport.run_ps(script("pending_reboot").text).stdout)
    assert after.required is loop  # a reboot loop keeps asking for another reboot


def test_wua_refused_to_the_winrm_logon_still_leaves_the_other_signals(
        endpoint: Factory) -> None:
    host = win11()
    host.wua_remote_denied = True
    host.cbs_reboot = True
    transport = http_transport(endpoint(host))
    updates = parse_installed_updates(transport.run_ps(script("installed_updates").text).stdout)
    assert updates.kbs == {"KB5043080", "KB5044285"}  # Get-HotFix still answers
    assert "E_ACCESSDENIED" in updates.warnings[0]
    reboot = parse_pending_reboot(transport.run_ps(script("pending_reboot").text).stdout)
    assert reboot.required is True  # CBS says so even without WUA
    # The search runs in the SYSTEM task, which the refusal does not affect.
    assert run_wua_job(transport, "search", sleep=lambda s: None).updates
