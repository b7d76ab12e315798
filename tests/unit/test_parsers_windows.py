"""Parsers of the Windows scripts' JSON (tests/data/winrm: simulated replies, see NOTES.md)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from app.core.models import Classification, Severity
from app.drivers.parsers import ParseError
from app.drivers.parsers.windows import (
    describe_hresult,
    load_document,
    parse_facts,
    parse_installed_software,
    parse_installed_updates,
    parse_pending_reboot,
    parse_task_action,
    parse_time,
    parse_wua_poll,
    parse_wua_result,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "winrm"


def read(path: str) -> str:
    return (DATA / path).read_bytes().decode("utf-8")


def doc(**fields: object) -> str:
    return json.dumps({"schema": 1, **fields})


# -- documents ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "message"), [
    ("", "printed nothing"),
    ("   \r\n", "printed nothing"),
    ("WARNING: something\r\n{}", "not JSON"),
    ('{"schema":1}\r\n{"schema":1}', "more than one JSON document"),
    ("[1, 2]", "expected a JSON object"),
    ('{"schema":2}', "unknown schema"),
    ('{"hostname":"x"}', "unknown schema"),
])
def test_a_document_is_exactly_one_object_of_our_schema(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        load_document(text, "facts")


def test_bom_and_trailing_crlf_are_accepted() -> None:
    assert load_document('\ufeff{"schema":1,"a":2}\r\n', "x") == {"schema": 1, "a": 2}


# -- facts ---------------------------------------------------------------------------------------
def test_windows_11_facts() -> None:
    wf = parse_facts(read("windows11-23h2/facts.json"))
    f = wf.facts
    assert (f.os_id, f.os_name, f.os_version) == ("windows", "Windows 11 Pro", "23H2")
    assert f.os_pretty == "Windows 11 Pro 23H2 (build 22631.4317)"
    assert f.kernel == "10.0.22631.4317" and wf.revision == "22631.4317"
    assert wf.is_windows_11 and wf.edition == "Professional"
    assert wf.part_of_domain is True and wf.domain == "corp.example.test" and wf.workgroup == ""
    assert (f.manufacturer, f.model, f.serial) == ("LENOVO", "21HD003MGE", "PF4XK2QH")
    assert f.interfaces[0].mac == "8c:16:45:3a:5b:01"
    assert f.interfaces[0].addresses == ("127.0.0.31", "fe80::1c2d:3e4f:5a6b:7c8d")
    assert f.disks[0].mount == "C:" and f.disks[0].free_bytes < f.disks[0].size_bytes
    assert f.logged_in_users == ("CORP\\alice",)
    assert f.last_boot == dt.datetime(2024, 11, 4, 7, 12, 9, tzinfo=dt.UTC)


def test_windows_11_is_named_from_the_build_when_only_product_name_is_known() -> None:
    text = doc(product_name="Windows 10 Enterprise", current_build="22631", ubr=4460,
               installation_type="Client", display_version="23H2")
    assert parse_facts(text).facts.os_name == "Windows 11 Enterprise"
    server = doc(product_name="Windows Server 2025 Standard", current_build="26100",
                 installation_type="Server")
    parsed = parse_facts(server)
    assert parsed.facts.os_name == "Windows Server 2025 Standard" and not parsed.is_windows_11


def test_server_and_workgroup_facts() -> None:
    srv = parse_facts(read("server2022-21h2/facts.json"))
    assert srv.facts.os_name == "Windows Server 2022 Standard" and not srv.is_windows_11
    assert srv.revision == "20348.2762" and len(srv.facts.disks) == 2
    assert srv.facts.logged_in_users == ()
    wg = parse_facts(read("windows10-22h2/facts.json"))
    assert wg.facts.os_name == "Windows 10 Pro" and wg.revision == "19045.5011"
    assert wg.part_of_domain is False and wg.workgroup == "WORKGROUP" and wg.domain == ""


def test_powershell_51_quirks_and_hostile_values() -> None:
    wf = parse_facts(read("quirks/facts_ps51.json"))
    f = wf.facts
    assert f.os_name == "Windows 10 Pro" and wf.display_version == "1809"
    assert wf.revision == "17763.6414" and f.memory_total == 8589934592
    assert f.last_boot == dt.datetime(2024, 11, 4, 7, 12, 9, tzinfo=dt.UTC)
    assert f.interfaces[0].mac == "00:0c:29:ab:cd:ef"
    assert f.interfaces[0].addresses == ("192.168.10.25",)
    assert f.serial == "System Serial Number[31m"  # control characters removed
    assert f.disks == ()  # more free space than size: rejected
    assert f.logged_in_users == ()


def test_wrong_types_become_unknown_rather_than_guesses() -> None:
    text = doc(hostname=["x"], current_build="22631; rm", ubr=-1, cpu_count=True,
               interfaces=[{"name": "eth", "mac": "not-a-mac", "addresses": ["1.2.3.4",
                                                                             "evil"]}],
               manufacturer="A" * 5000, last_boot="yesterday")
    f = parse_facts(text)
    assert f.build is None and f.ubr is None and f.facts.hostname == ""
    assert f.facts.cpu_count is None and f.facts.last_boot is None
    assert f.facts.interfaces[0].mac is None
    assert f.facts.interfaces[0].addresses == ("1.2.3.4",)
    assert len(f.facts.manufacturer) == 500


def test_parse_time_forms() -> None:
    assert parse_time("2024-11-04T07:12:09.1234567Z") == dt.datetime(
        2024, 11, 4, 7, 12, 9, 123456, tzinfo=dt.UTC)
    assert parse_time("/Date(0)/") == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert parse_time(None) is None and parse_time(12) is None


# -- installed updates and software ----------------------------------------------------------
def test_installed_updates_merge_hotfixes_and_history() -> None:
    got = parse_installed_updates(read("windows11-23h2/installed_updates.json"))
    assert got.kbs == {"KB5043080", "KB5044285"}
    sources = {(u.kb, u.source) for u in got.updates}
    assert ("KB5044285", "wua-history") in sources and ("KB5044285", "hotfix") in sources
    packages = got.as_packages()
    assert [p.name for p in packages] == ["KB5043080", "KB5044285"]


def test_failed_and_uninstalled_history_entries_are_not_installed() -> None:
    text = doc(hotfixes={"kb": "KB5000001", "description": "Update", "installed_on": None},
               history=[
                   {"title": "Update (KB5000002)", "operation": 1, "result_code": 4},
                   {"title": "Update (KB5000003)", "operation": 2, "result_code": 2},
                   {"title": "Update (KB5000004)", "operation": 1, "result_code": 3},
                   {"title": "no kb here", "operation": 1, "result_code": 2},
               ], hotfix_bad=[{"kb": "KB1; calc"}])
    got = parse_installed_updates(text)
    assert got.kbs == {"KB5000001", "KB5000004"}
    assert got.failed_history == ("Update (KB5000002)",)


def test_installed_software_both_views() -> None:
    got = parse_installed_software(read("windows11-23h2/installed_software.json"))
    by_name = {p.name: p for p in got}
    assert by_name["Adobe Acrobat Reader"].arch == "x86"
    assert by_name["7-Zip 23.01 (x64)"].version == "23.01"
    assert all(p.source == "uninstall-registry" for p in got)
    dup = doc(software=[{"name": "A", "version": "1"}, {"name": "A", "version": "1"},
                        {"name": "", "version": "2"}, "junk"])
    assert len(parse_installed_software(dup)) == 1


# -- pending reboot --------------------------------------------------------------------------
def test_pending_reboot_signals() -> None:
    srv = parse_pending_reboot(read("server2022-21h2/pending_reboot.json"))
    assert srv.required is True and srv.reasons == ("Component Based Servicing: RebootPending",)
    wg = parse_pending_reboot(read("windows10-22h2/pending_reboot.json"))
    assert wg.required is False and "reboot recommended" in wg.reasons[0]
    none = parse_pending_reboot(doc(wua_reboot_required=None))
    assert none.required is None


# -- Windows Update ------------------------------------------------------------------------
def test_wua_search_result() -> None:
    result = parse_wua_result(read("windows11-23h2/wua_search_result.json"))
    assert result.ok and result.operation == "search"
    cu, net, defender = result.updates
    assert cu.kbs == ("KB5046633",) and cu.severity is Severity.CRITICAL
    assert cu.classification is Classification.SECURITY and cu.uninstallable is False
    assert cu.cves == ("CVE-2024-43451", "CVE-2024-49039", "CVE-2024-43639")
    assert net.uninstallable is True and net.reboot_behavior == 2
    assert defender.severity is Severity.UNKNOWN and not defender.reboot_required
    assert defender.classification is Classification.OTHER
    update = cu.to_update()
    assert (update.package, update.kb, update.source) == ("KB5046633", "KB5046633",
                                                          "windows-update")
    assert update.reboot_required and update.cves == cu.cves


def test_wua_result_rejects_hostile_entries() -> None:
    text = doc(operation="search", ok=True, updates=[
        {"update_id": "../../etc", "title": "no identity"},
        {"update_id": "58B4D421-AD77-8EF2-77AF-7E61FE068AF5", "kbs": ["5046633", "KB1;x"],
         "cves": ["CVE-2024-1", "cve-2024-43451", "<script>"], "msrc_severity": "Extreme",
         "reboot_behavior": 7, "categories": "Security Updates"},
    ])
    (only,) = parse_wua_result(text).updates
    assert only.update_id == "58b4d421-ad77-8ef2-77af-7e61fe068af5"
    assert only.kbs == ("KB5046633",) and only.cves == ("CVE-2024-43451",)
    assert only.severity is Severity.UNKNOWN and only.reboot_behavior is None
    assert only.reboot_required and only.classification is Classification.SECURITY
    with pytest.raises(ParseError, match="unknown operation"):
        parse_wua_result(doc(operation="format c:"))


def test_install_outcomes_and_hresults() -> None:
    text = doc(operation="install", ok=True, install_result_code=3, reboot_required=True,
               installed=[{"kbs": ["KB5046633"], "title": "CU", "result_code": 2,
                           "hresult": 0, "reboot_required": True},
                          {"kbs": ["KB5045935"], "title": ".NET", "result_code": 4,
                           "hresult": -2145124318, "reboot_required": False}])
    result = parse_wua_result(text)
    ok, failed = result.installed
    assert ok.ok and ok.reason == "succeeded"
    assert not failed.ok
    assert failed.reason == "failed: all updates failed (WU_E_ALL_UPDATES_FAILED) (0x80240022)"
    assert describe_hresult(-2147024891).endswith("(0x80070005)")
    assert "access denied" in describe_hresult(0x80070005)
    assert describe_hresult(0x12345678) == "error (0x12345678)"


def test_task_answers_must_be_for_our_job() -> None:
    job = "a" * 32
    start = doc(action="start", job_id=job, started=True)
    assert parse_task_action(start, "start", job).done
    with pytest.raises(ParseError, match="another action or job"):
        parse_task_action(start, "start", "b" * 32)
    poll = doc(action="poll", job_id=job, task_state="Running",
               progress=['{"ts":"t","stage":"searching"}', "garbage", 42, '{"stage":"sear'],
               result=None)
    parsed = parse_wua_poll(poll, job)
    assert parsed.task_state == "Running" and parsed.result is None
    assert [e["stage"] for e in parsed.progress] == ["searching"]
    assert parsed.consumed == 3  # the half-written last line is read again next time
    done = doc(action="poll", job_id=job, task_state="Ready", progress=[],
               result=read("windows11-23h2/wua_search_result.json"))
    assert parse_wua_poll(done, job).result is not None


@pytest.mark.parametrize(("preset", "folder"), [("win11", "windows11-23h2"),
                                                ("server2022", "server2022-21h2"),
                                                ("workgroup", "windows10-22h2")])
def test_fixtures_are_what_the_lab_hosts_answer(preset: str, folder: str) -> None:
    """The fixtures and the lab endpoint's replies cannot drift apart."""
    from app.drivers.windows import script
    from tests.lab.winrm_hosts import PRESETS

    host = PRESETS[preset]()
    for name in ("facts", "installed_updates", "installed_software", "pending_reboot"):
        run = host.run_script(script(name).text)
        assert run.exit_code == 0 and run.stdout == (DATA / folder / f"{name}.json").read_bytes()
