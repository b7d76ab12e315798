"""The patchdesk command line: round trips, exit codes, one-line errors, nothing written."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import build_parser, main


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


ADD = ["asset", "add", "--hostname", "web01", "--ip", "10.0.0.5", "--mac",
       "00:11:22:33:44:55", "--os", "Ubuntu 22.04"]


def test_add_then_list_json_round_trips_every_field(tmp_path: Path) -> None:
    site = str(tmp_path / "x.pdsite")
    code, _ = run("--site", site, *ADD, "--os-build", "5.15.0-91", "--location", "Rack 2",
                  "--kind", "server", "--manufacturer", "Dell", "--model", "R650",
                  "--serial", "SN1", "--vendor", "Acme", "--order-number", "PO-1",
                  "--purchase-date", "2024-01-02", "--warranty-end", "2027-01-02",
                  "--support-contact", "+44 20 7946 0000", "--owner", "Web team",
                  "--tag", "dmz,web", "--ring", "pilot", "--impact", "critical",
                  "--data", "payment,personal", "--critical-operations", "--public-facing",
                  "--internet-facing", "--notes", "front end")
    assert code == 0
    code, text = run("--site", site, "asset", "list", "--json")
    assert code == 0
    [asset] = json.loads(text)
    expected = {
        "hostname": "web01", "ips": ["10.0.0.5"], "macs": ["00:11:22:33:44:55"],
        "os_family": "linux", "os_name": "Ubuntu", "os_version": "22.04",
        "os_build": "5.15.0-91", "location": "Rack 2", "kind": "server",
        "manufacturer": "Dell", "model": "R650", "serial": "SN1", "vendor": "Acme",
        "order_number": "PO-1", "purchase_date": "2024-01-02", "warranty_end": "2027-01-02",
        "support_contact": "+44 20 7946 0000", "owner": "Web team", "tags": ["dmz", "web"],
        "ring": "pilot", "impact": "critical", "data_sensitivity": ["payment", "personal"],
        "critical_operations": True, "public_facing": True, "internet_facing": True,
        "notes": "front end",
    }
    assert {k: asset[k] for k in expected} == expected


def test_the_issue_example(tmp_path: Path) -> None:
    site = str(tmp_path / "x.pdsite")
    assert run("--site", site, *ADD)[0] == 0
    [asset] = json.loads(run("--site", site, "asset", "list", "--json")[1])
    assert (asset["hostname"], asset["ips"], asset["macs"], asset["os_name"],
            asset["os_version"]) == ("web01", ["10.0.0.5"], ["00:11:22:33:44:55"],
                                     "Ubuntu", "22.04")


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [("--ip", "10.0.0.256", "ip"), ("--mac", "00:11:22:33:44", "mac"),
     ("--purchase-date", "31/12/2024", "purchase_date")],
)
def test_bad_value_exit_2_one_line_nothing_written(tmp_path: Path, capsys, option: str,
                                                   value: str, field: str) -> None:
    site = tmp_path / "x.pdsite"
    code, out = run("--site", str(site), "asset", "add", "--hostname", "web01", option, value)
    err = capsys.readouterr().err
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and field in err and value in err
    assert not site.exists()


def test_bad_value_on_existing_site_writes_nothing(tmp_path: Path, capsys) -> None:
    site = str(tmp_path / "x.pdsite")
    run("--site", site, *ADD)
    before = run("--site", site, "audit", "list", "--json")[1]
    assert run("--site", site, "asset", "add", "--hostname", "b", "--ip", "1.2.3")[0] == 2
    assert run("--site", site, "asset", "edit", "web01", "--mac", "zz")[0] == 2
    assert run("--site", site, "audit", "list", "--json")[1] == before


def test_show_edit_rm(tmp_path: Path, capsys) -> None:
    site = str(tmp_path / "x.pdsite")
    run("--site", site, *ADD)
    code, text = run("--site", site, "asset", "edit", "10.0.0.5", "--owner", "Ann", "--json")
    assert code == 0 and json.loads(text)["owner"] == "Ann"
    code, text = run("--site", site, "asset", "show", "web01", "--json")
    assert json.loads(text)["owner"] == "Ann"
    assert run("--site", site, "asset", "show", "nosuch")[0] == 1
    assert "No asset matches 'nosuch'" in capsys.readouterr().err
    # Without a terminal, deleting needs --yes.
    assert run("--site", site, "asset", "rm", "web01")[0] == 2
    assert run("--site", site, "asset", "rm", "web01", "--yes")[0] == 0
    assert json.loads(run("--site", site, "asset", "list", "--json")[1]) == []


def test_not_a_site_is_refused_untouched(tmp_path: Path, capsys) -> None:
    path = tmp_path / "x.pdsite"
    path.write_text("not a site")
    assert run("--site", str(path), "asset", "list")[0] == 1
    assert "not a PatchDesk site" in capsys.readouterr().err
    assert path.read_text() == "not a site"


def test_import_export_round_trip(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in.csv"
    src.write_text("hostname,ip,mac,os\na,10.0.0.1,00:00:00:00:00:01,Debian 12\n"
                   "b,10.0.0.999,,\nc,10.0.0.3,,Windows 11\n", encoding="utf-8")
    site = str(tmp_path / "s.pdsite")
    code, text = run("--site", site, "import", "csv", str(src), "--json")
    report = json.loads(text)
    assert code == 1  # some rows were refused
    assert (report["added"], [e["row"] for e in report["errors"]]) == (2, [3])
    code, csv_text = run("--site", site, "export", "csv")
    assert code == 0 and csv_text.startswith("id,hostname,ips,macs")
    out = tmp_path / "out.json"
    assert run("--site", site, "export", "json", "-o", str(out))[0] == 0
    assert [a["hostname"] for a in json.loads(out.read_text())["assets"]] == ["a", "c"]


def test_audit_verify_reports_tampering(tmp_path: Path, capsys) -> None:
    import sqlite3

    site = tmp_path / "s.pdsite"
    run("--site", str(site), *ADD)
    assert run("--site", str(site), "audit", "verify")[0] == 0
    conn = sqlite3.connect(site)
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DELETE FROM audit_log WHERE id = 1")
    conn.commit()
    conn.close()
    code, text = run("--site", str(site), "audit", "verify")
    assert code == 1 and "audit row 1: row 1 deleted" in text


def test_default_site_lives_in_the_user_data_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PATCHDESK_SITE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    code, text = run("site", "info", "--json")
    assert code == 0
    info = json.loads(text)
    assert info["path"] == str(tmp_path / "data" / "PatchDesk" / "default.pdsite")
    assert info["name"] == "Default site"


def test_usage_errors_exit_2(tmp_path: Path, capsys) -> None:
    assert run("--site", str(tmp_path / "s.pdsite"), "asset", "frobnicate")[0] == 2
    assert run("--site", str(tmp_path / "s.pdsite"), "asset", "edit", "x")[0] == 2


def test_every_command_is_documented() -> None:
    """Every subcommand appears in the README's usage section (like sqlite-utils' test)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    missing = []
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
            names = [f"{name} {n}" for a in nested for n in a.choices] or [name]
            missing += [n for n in names if f"patchdesk {n}" not in readme
                        and f"patchdesk --site PATH {n}" not in readme]
    assert missing == []


def test_console_script_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("patchdesk")
    env = {**os.environ, "PATCHDESK_SITE": str(tmp_path / "e.pdsite")}
    proc = subprocess.run([str(exe), "asset", "add", "--hostname", "x", "--ip", "300.1.1.1"],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("patchdesk: error: invalid ip:")


@pytest.mark.parametrize(
    ("target", "needle"),
    [("10.0.0.0/33", "10.0.0.0/33"), ("10.0.0.9-3", "10.0.0.9-3"), ("foo..bar", "foo..bar"),
     ("10.0.0.0/13", "--yes-large"), ("10.0.0.0/8", "at most 1,048,576")],
)
def test_scan_refuses_bad_ranges_before_starting(tmp_path: Path, capsys, target: str,
                                                 needle: str) -> None:
    site = tmp_path / "s.pdsite"
    code, out = run("--site", str(site), "scan", target)
    err = capsys.readouterr().err
    assert code == 2
    assert out == ""
    assert err.startswith("patchdesk: error: invalid range:")
    assert needle in err
    assert not site.exists()


def test_scan_refuses_bad_ports(tmp_path: Path, capsys) -> None:
    code, _ = run("--site", str(tmp_path / "s.pdsite"), "scan", "127.0.0.1", "--ports", "0,80")
    assert code == 2
    assert "ports" in capsys.readouterr().err
