"""The PSA asset list and the Ansible inventory's YAML emitter ([16], [15])."""

from __future__ import annotations

from datetime import date

import pytest

from app.core.credentials import Credential, CredentialKind, Scope, ScopeKind, SudoMode
from app.core.models import Asset, AssetKind, OsFamily, Ring
from app.reports.handoff import (
    PSA_COLUMNS,
    ansible_inventory,
    group_name,
    psa_records,
    to_yaml,
    yaml_scalar,
)

#: Strings YAML would read as something else, or break on, if written plain.
TRICKY = ["yes", "no", "on", "null", "~", "true", "123", "0x1F", "1e3", "-", "- item",
          ": x", "a: b", "# comment", "a #b", '"quoted"', "'single'", "back\\slash",
          "{flow}", "[list]", "&anchor", "*alias", "!tag", "%directive", "@at", "`tick",
          "|", ">", "line\nbreak", "tab\there", "nul\x00", "bell\x07", "del\x7f",
          "nel\x85", "ls\u2028ps\u2029", "bom\ufeff", "Zürich – 東京", "emoji 😀", "", " lead",
          "trail ", "---", "...", "<<"]


@pytest.mark.parametrize("text", TRICKY)
def test_every_string_is_double_quoted_with_escapes(text: str) -> None:
    out = yaml_scalar(text)
    assert out.startswith('"') and out.endswith('"')
    inner = out[1:-1]
    # nothing that ends a line or the string is left raw inside the quotes
    assert not any(ch in inner for ch in "\n\r\x00\x07\x7f\x85\u2028\u2029\ufeff")
    assert '"' not in inner.replace('\\"', "")


def test_escapes_are_the_yaml_ones() -> None:
    assert yaml_scalar('a"b\\c') == '"a\\"b\\\\c"'
    assert yaml_scalar("x\ny") == '"x\\u000ay"'
    assert yaml_scalar("\u2028") == '"\\u2028"'
    assert yaml_scalar("Zürich") == '"Zürich"'
    assert yaml_scalar(None) == "null" and yaml_scalar(True) == "true"
    assert yaml_scalar(22) == "22"


def test_round_trip_through_a_yaml_parser() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with ansible-core; not a "
                                              "PatchDesk dependency")
    data = {"all": {"hosts": {t or "empty": {"v": t, "n": 5, "b": False, "z": None}
                              for t in TRICKY}, "children": {}}}
    assert yaml.safe_load(to_yaml(data)) == data


def test_to_yaml_refuses_lists() -> None:
    with pytest.raises(TypeError):
        to_yaml({"a": [1]})


def test_group_names_are_valid_ansible_names() -> None:
    assert group_name("location", "HQ rack 2") == "location_hq_rack_2"
    assert group_name("tag", "Ünïcode & co") == "tag_n_code_co"
    assert group_name("tag", "!!!") == "tag_none"


def asset(i: int, **kw: object) -> Asset:
    return Asset(id=i, **kw)  # type: ignore[arg-type]


def test_inventory_groups_and_connection_settings() -> None:
    assets = [
        asset(1, hostname="web01", ips=("10.0.0.10",), os_family=OsFamily.LINUX,
              ring=Ring.TEST, location="HQ rack 2", tags=("pci", "web")),
        asset(2, hostname="dc01", ips=("10.0.0.5",), os_family=OsFamily.WINDOWS,
              ring=Ring.PRODUCTION, location="HQ rack 2"),
        asset(3, hostname="printer", ips=("10.0.0.100",), kind=AssetKind.PRINTER),
        asset(4, hostname="web01", ips=("10.0.0.11",), os_family=OsFamily.LINUX),
        asset(5, hostname='evil": {x}\n- y', ips=("10.0.0.12",), os_family=OsFamily.LINUX),
    ]
    creds = [Credential("ops", CredentialKind.SSH, "admin", port=2222,
                        sudo_mode=SudoMode.PASSWORD, scopes=(Scope(ScopeKind.TAG, "web"),),
                        has_password=True, id=1),
             Credential("win", CredentialKind.WINRM, "CORP\\patch", port=5985,
                        scopes=(Scope(ScopeKind.ALL),), id=2)]
    data, skipped = ansible_inventory(assets, creds)
    hosts = data["all"]["hosts"]
    assert [a.id for a in skipped] == [3]
    assert set(hosts) == {"web01", "web01_4", "dc01", "evil_x_-_y"}
    assert hosts["web01"] == {"ansible_host": "10.0.0.10", "ansible_connection": "ssh",
                              "ansible_port": 2222, "ansible_become": True,
                              "ansible_become_method": "sudo", "ansible_user": "admin",
                              "patchdesk_asset_id": 1}
    assert hosts["web01_4"]["ansible_port"] == 22 and "ansible_user" not in hosts["web01_4"]
    assert hosts["dc01"] == {"ansible_host": "10.0.0.5", "ansible_connection": "winrm",
                             "ansible_port": 5985, "ansible_winrm_scheme": "http",
                             "ansible_user": "CORP\\patch", "patchdesk_asset_id": 2}
    children = data["all"]["children"]
    assert set(children["ring_test"]["hosts"]) == {"web01"}
    assert set(children["os_windows"]["hosts"]) == {"dc01"}
    assert set(children["location_hq_rack_2"]["hosts"]) == {"web01", "dc01"}
    assert set(children["tag_pci"]["hosts"]) == {"web01"}
    assert set(children["os_linux"]["hosts"]) == {"web01", "web01_4", "evil_x_-_y"}


def test_psa_rows_use_the_common_field_names() -> None:
    rows = psa_records([
        asset(1, hostname="web01", ips=("10.0.0.10",), macs=("00:1a:2b:3c:4d:01",),
              kind=AssetKind.SERVER, manufacturer="Dell Inc.", model="R650", serial="7XK2",
              os_name="Debian", os_version="12", location="HQ", owner="Ops",
              warranty_end=date(2027, 3, 31), notes="=HYPERLINK(\"http://x\")"),
        asset(2, hostname="-cmd", vendor="HP", kind=AssetKind.PRINTER, notes="-5"),
    ], "Acme Dental Ltd")
    assert list(rows[0]) == list(PSA_COLUMNS)
    assert rows[0]["Organization"] == "Acme Dental Ltd" and rows[0]["Type"] == "Server"
    assert rows[0]["MAC Address"] == "00:1A:2B:3C:4D:01"
    assert rows[0]["Warranty Expiration"] == "2027-03-31" and rows[0]["OS"] == "Debian 12"
    assert rows[0]["Notes"].startswith("'=")  # a spreadsheet shows it, never runs it
    assert rows[1]["Name"] == "'-cmd" and rows[1]["Notes"] == "-5"
    assert rows[1]["Manufacturer"] == "HP" and rows[1]["Type"] == "Printer"
