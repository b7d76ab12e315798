"""Chocolatey and winget parsers on real captured outputs (tests/data/choco, tests/data/winget;
sources in their NOTES.md), including empty, malformed and localized ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.drivers.parsers import ParseError
from app.drivers.parsers.winapps import (
    AppUpgrade,
    parse_choco_list,
    parse_choco_outdated,
    parse_winget_export,
    parse_winget_module,
    parse_winget_upgrade,
    valid_app_id,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def read(path: str) -> str:
    return (DATA / path).read_text(encoding="utf-8")


def test_choco_outdated_with_headers_despite_limit_output() -> None:
    out = parse_choco_outdated(read("choco/choco-0.10/outdated-r-headers.txt"))
    assert {u.id: (u.installed, u.available) for u in out.upgrades} == {
        "7zip": ("16.04", "16.4.0.20170420"), "7zip.install": ("16.04", "16.4.0.20170420"),
        "chocolatey": ("0.10.3", "0.10.5"), "git": ("2.12.0", "2.12.2.2"),
        "git.install": ("2.12.0", "2.12.2.2"), "notepadplusplus": ("7.3.2", "7.3.3"),
        "notepadplusplus.install": ("7.3.2", "7.3.3"), "putty": ("0.68", "0.68.0.20170412"),
        "visualstudiocode": ("1.9.1", "1.11.2")}  # temp_BoxstarterPackage: same version
    assert all(u.manager == "choco" and not u.pinned for u in out.upgrades)
    assert out.warnings == ("choco outdated printed 2 line(s) that are not package data, "
                            "first: 'Outdated Packages'",)


def test_choco_outdated_pinned_and_summary() -> None:
    out = parse_choco_outdated(read("choco/choco-0.10/outdated-pinned.txt"))
    assert [(u.id, u.pinned) for u in out.upgrades] == [("chromium", True), ("github", True)]
    assert "4 line(s)" in out.warnings[0]


def test_choco_outdated_warning_lists_and_compatibility_blocks_are_not_data() -> None:
    out = parse_choco_outdated(read("choco/choco-0.10/outdated-r-warnings.txt"))
    assert [u.id for u in out.upgrades] == ["vim", "virtualbox", "vscode", "vscode.install",
                                            "winscp"]
    compat = parse_choco_outdated(read("choco/choco-1.1/outdated-r-compat-warning.txt"))
    assert compat.upgrades == () and "WARNING!" in compat.warnings[0]


def test_choco_outdated_empty_and_malformed() -> None:
    assert parse_choco_outdated(read("choco/choco-1.1/outdated-r-empty.txt")).upgrades == ()
    out = parse_choco_outdated(read("choco/choco-1.1/outdated-r-malformed.txt"))
    assert [u.id for u in out.upgrades] == ["curl"]
    assert sum("unreadable package line" in w for w in out.warnings) == 2
    assert any("not package data" in w for w in out.warnings)  # the five-field line


def test_choco_list_skips_licence_noise() -> None:
    assert parse_choco_list(read("choco/choco-1.1/list-r-license-noise.txt")) == {
        "7zip": "19.00"}


def test_winget_export_ids_and_versions() -> None:
    known = parse_winget_export(read("winget/winget-1.5/export.json"))
    assert known["Git.Git"] == "2.34.1" and known["7zip.7zip"] == ""
    assert known["Microsoft.VCRedist.2015+.x64"] == "14.28.29325.2"
    with pytest.raises(ParseError):
        parse_winget_export("Es wurde kein installiertes Paket gefunden.")
    with pytest.raises(ParseError):
        parse_winget_export('{"schema": 1}')


def test_winget_upgrade_table_read_by_known_ids_only() -> None:
    known = {"OpenWhisperSystems.Signal": "", "Microsoft.Edge": "97.0.1072.62",
             "Microsoft.Office": "", "Postman.Postman": "9.8.3"}
    found, warnings = parse_winget_upgrade(read("winget/winget-1.1/upgrade.txt"), known)
    assert {u.id: (u.installed, u.available, u.source) for u in found} == {
        "OpenWhisperSystems.Signal": ("5.27.1", "5.29.0", "winget"),
        "Microsoft.Edge": ("97.0.1072.62", "97.0.1072.69", "winget"),
        "Microsoft.Office": ("16.0.14701.20290", "16.0.14729.20228", "winget"),
        "Postman.Postman": ("9.8.3", "9.9.3", "winget")}
    # Not in the export: not listed (PatchDesk could not install it by a verified id).
    assert "Microsoft.EdgeWebView2Runtime" not in {u.id for u in found}
    assert warnings == []
    assert next(u for u in found if u.id == "Microsoft.Edge").name == "Microsoft Edge"


def test_winget_unknown_installed_versions_and_ranges() -> None:
    found, _ = parse_winget_upgrade(read("winget/winget-1.1/upgrade-unknown.txt"),
                                    {"Mega.MEGASync": "", "GOG.Galaxy": ""})
    assert {u.id: (u.installed, u.available) for u in found} == {
        "Mega.MEGASync": ("", "4.6.1.0"), "GOG.Galaxy": ("", "2.0.43.71a")}
    text = read("winget/winget-1.7/upgrade-cut-spinner.txt")
    found, _ = parse_winget_upgrade(text, {"Microsoft.VCRedist.2015+.x64": "14.36.32532.0",
                                           "Python.Python.3.11": "3.11.7",
                                           "dokan-dev.Dokany": ""})
    assert {u.id: (u.installed, u.available) for u in found} == {
        "Microsoft.VCRedist.2015+.x64": ("14.36.32532.0", "14.40.33617.1"),
        "Python.Python.3.11": ("3.11.7", "3.11.8"),
        "dokan-dev.Dokany": ("1.4.1.1000", "2.1.0.1000")}
    # The cut name is kept as winget printed it; the spinner lines are not data.
    assert next(u for u in found if u.id.startswith("Microsoft")).name.endswith("\u2026")


def test_winget_truncated_ids_resolve_only_when_unique() -> None:
    rows = read("winget/winget-1.7/list-cut-ids.txt")
    found, _ = parse_winget_upgrade(rows, {"Git.Git": "2.31.0.0.1", "Microsoft.Edge": ""})
    assert [(u.id, u.available) for u in found] == [("Git.Git", "2.33.0.2")]
    # upgrade.txt's Postman line with its id cut by hand (and in the wrong code page).
    line = read("winget/winget-1.1/upgrade.txt").splitlines()[7]
    for cut in ("Postman.Post\u2026", "Postman.Post\u0393\u00c7\u00aa"):
        text = line.replace("Postman.Postman  ", cut.ljust(17))
        found, warnings = parse_winget_upgrade(text, {"Postman.Postman": "9.8.3"})
        assert [(u.id, u.available) for u in found] == [("Postman.Postman", "9.9.3")]
        found, warnings = parse_winget_upgrade(text, {"Postman.Postman": "",
                                                      "Postman.PostmanCanary": ""})
        assert found == [] and "matches no single installed package" in warnings[0]


def test_winget_localized_outputs_give_nothing() -> None:
    assert parse_winget_upgrade(read("winget/winget-1.5/upgrade-none-de.txt"),
                                {"Git.Git": ""}) == ([], [])
    # A German table of another command: ids known, but no available version after them.
    found, _ = parse_winget_upgrade(read("winget/winget-1.5/search-de.txt"),
                                    {"WinDirStat.WinDirStat": "2.7.0"})
    assert found == []
    assert parse_winget_upgrade("", {"Git.Git": ""}) == ([], [])


def test_winget_module_objects() -> None:
    items = [{"Id": "Git.Git", "Name": "Git", "InstalledVersion": "2.31.0",
              "AvailableVersions": ["2.33.0.2", "2.32.0"], "IsUpdateAvailable": True,
              "Source": "winget"},
             {"Id": "Microsoft.Edge", "InstalledVersion": "93.0", "AvailableVersions": [],
              "IsUpdateAvailable": False},
             {"Id": "bad id; rm", "AvailableVersions": ["1.0"], "IsUpdateAvailable": True},
             "garbage"]
    assert parse_winget_module(items) == [AppUpgrade("winget", "Git.Git", "2.31.0",
                                                     "2.33.0.2", name="Git", source="winget")]
    assert parse_winget_module(None) == []


def test_ids_that_could_carry_commands_are_refused() -> None:
    assert valid_app_id("Notepad++.Notepad++")
    assert valid_app_id("IDMComputerSolutions,Inc.UltraEdit")
    for bad in ("a b", "x;calc", "$(x)", "a'b", "-rf", "", "a|b", "..\\x"):
        assert not valid_app_id(bad), bad
