"""macOS and Homebrew parsers on captured outputs (tests/data/macos, tests/data/brew; see
their NOTES.md for where each came from)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.drivers.parsers import ParseError
from app.drivers.parsers.brew import parse_brew_outdated
from app.drivers.parsers.macos import (
    parse_hardware,
    parse_hardware_json,
    parse_hardware_text,
    parse_install_history,
    parse_softwareupdate_list,
    parse_sw_vers,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def read(path: str) -> str:
    return (DATA / path).read_text(encoding="utf-8")


# -- sw_vers ---------------------------------------------------------------------------------
def test_sw_vers_mac_os_x_era() -> None:
    v = parse_sw_vers(read("macos/macos-10.10/sw_vers.txt"))
    assert (v.product_name, v.product_version, v.build, v.version_extra) == (
        "Mac OS X", "10.10.5", "14F27", "")
    assert v.major == (10, 10)
    assert parse_sw_vers(read("macos/macos-10.14/sw_vers.txt")).major == (10, 14)


def test_sw_vers_rapid_security_response_suffix() -> None:
    v = parse_sw_vers(read("macos/macos-13/sw_vers.txt"))
    assert v.product_name == "macOS"
    assert v.version_extra == "(a)"
    assert v.full_version == "13.3.1 (a)"
    assert v.build == "22E772610a"
    assert v.major == (13,)
    assert parse_sw_vers(read("macos/macos-14/sw_vers.txt")).full_version == "14.6.1"


@pytest.mark.parametrize("text", [
    "", "ProductName:\tmacOS\n", "ProductVersion: 14.6\nBuildVersion: ;rm -rf /\n",
    "ProductVersion: 14.6\nBuildVersion: 23G93\nProductVersionExtra: $(id)\n",
    "zsh: command not found: sw_vers\n",
])
def test_sw_vers_refuses_what_is_not_sw_vers(text: str) -> None:
    with pytest.raises(ParseError):
        parse_sw_vers(text)


# -- system_profiler ---------------------------------------------------------------------------
def test_hardware_json_apple_silicon() -> None:
    hw = parse_hardware_json(read("macos/macos-14/system_profiler-hardware.json"))
    assert (hw.model_name, hw.model_id, hw.serial, hw.chip) == (
        "MacBook Pro", "Mac14,7", "D5XQV1FMFJ", "Apple M2")
    assert hw.apple_silicon
    assert hw.memory_bytes == 16 << 30
    assert hw.cores == 8


def test_hardware_json_intel() -> None:
    hw = parse_hardware(read("macos/macos-10.15/system_profiler-hardware.json"))
    assert hw.chip == "Dual-Core Intel Core i5"
    assert not hw.apple_silicon
    assert hw.serial == "XX00YY11ZZ22"
    assert hw.cores == 2


def test_hardware_text_before_json_existed() -> None:
    intel = parse_hardware(read("macos/macos-12/system_profiler-hardware.txt"))
    assert (intel.model_id, intel.serial, intel.chip) == (
        "MacPro7,1", "C02ZX0AAJGH5", "8-Core Intel Xeon W")
    assert intel.memory_bytes == 32 << 30
    assert not intel.apple_silicon
    old = parse_hardware_text(read("macos/macos-10.10/system_profiler-hardware.txt"))
    assert (old.model_name, old.model_id, old.serial) == ("Mac", "MacBook2,1", "W8717FYXWGL")
    silicon = parse_hardware_text(read("macos/macos-14/system_profiler-hardware.txt"))
    assert silicon.apple_silicon and silicon.cores == 12 and silicon.serial == ""


def test_hardware_localized_or_garbage_is_refused() -> None:
    with pytest.raises(ParseError):
        parse_hardware(read("macos/macos-14/system_profiler-hardware-fr.txt"))
    for text in ("", "{}", '{"SPHardwareDataType": []}', "{not json"):
        with pytest.raises(ParseError):
            parse_hardware(text)


# -- softwareupdate --list ----------------------------------------------------------------------
def test_softwareupdate_mojave_format() -> None:
    updates, notes = parse_softwareupdate_list(read("macos/macos-10.14/softwareupdate-list.txt"))
    assert [(u.label, u.version, u.recommended, u.action) for u in updates] == [
        ("Command Line Tools (macOS Mojave version 10.14) for Xcode-10.3", "10.3", True, ""),
        ("macOS 10.14.1 Update", "10.14.1", True, "restart"),
        ("BridgeOSUpdateCustomer", "10.14.4.1.1.1555388607", True, "shut down"),
        ("iCal-1.0.2", "1.0.2", False, ""),
    ]
    assert updates[0].title == "Command Line Tools (macOS Mojave version 10.14) for Xcode"
    assert updates[3].title == "iCal"
    assert updates[1].size_kib == 199140
    assert [u.restart for u in updates] == [False, True, True, False]
    assert "Software Update Tool" in notes


def test_softwareupdate_label_keeps_its_trailing_space() -> None:
    updates, _ = parse_softwareupdate_list(
        read("macos/macos-10.14/softwareupdate-list-trailing-space.txt"))
    assert [u.label for u in updates] == ["macOS Mojave 10.14.6 Supplemental Update- "]
    assert updates[0].version == "" and updates[0].action == "restart"


def test_softwareupdate_catalina_format() -> None:
    updates, _ = parse_softwareupdate_list(read("macos/macos-10.15/softwareupdate-list.txt"))
    assert [(u.label, u.title, u.version, u.size_kib, u.recommended, u.action)
            for u in updates] == [
        ("Command Line Tools beta 5 for Xcode-11.0", "Command Line Tools beta 5 for Xcode",
         "11.0", 224804, True, ""),
        ("macOS Catalina Developer Beta-6", "macOS Catalina Public Beta", "5", 3084292, True,
         "restart"),
        ("BridgeOSUpdateCustomer", "BridgeOSUpdateCustomer", "10.15.0.1.1.1560926689",
         390674, True, "shut down"),
        ("iCal-1.0.2", "iCal", "1.0.2", 6520, False, ""),
    ]


def test_softwareupdate_stray_warnings_and_major_upgrade_kept_apart() -> None:
    updates, notes = parse_softwareupdate_list(read("macos/macos-12/softwareupdate-list.txt"))
    assert [u.label for u in updates] == ["Safari17.6MontereyAuto-17.6",
                                          "macOS Monterey 12.7.6-21H1320",
                                          "macOS Sonoma 14.6.1-23G93"]
    assert updates[0].size_kib == 152370 and updates[0].action == ""
    assert any("XType" in n for n in notes)
    assert [u.is_major_upgrade("12.7.5") for u in updates] == [False, False, True]
    assert not updates[2].is_major_upgrade("14.6")


def test_softwareupdate_nothing_new_with_exit_1() -> None:
    text = read("macos/macos-10.15/softwareupdate-none.txt")
    assert parse_softwareupdate_list(text, exit_code=1)[0] == []
    with pytest.raises(ParseError):  # a failure without the message is a failure
        parse_softwareupdate_list("Software Update Tool\n\nFinding available software\n", 1)


def test_softwareupdate_localized_headers_still_read() -> None:
    # The headers are localized, the Label/Title keys are not: the items are read and the
    # localized lines are only notes.
    updates, notes = parse_softwareupdate_list(
        read("macos/macos-12/softwareupdate-list-fr.txt"))
    assert [u.version for u in updates] == ["17.6", "12.7.6"]
    assert notes[0].startswith("Outil")


def test_softwareupdate_cut_or_malformed_is_refused() -> None:
    with pytest.raises(ParseError):
        parse_softwareupdate_list(read("macos/macos-12/softwareupdate-list-cut.txt"))
    with pytest.raises(ParseError):
        parse_softwareupdate_list("* Label: X\n")
    with pytest.raises(ParseError):
        parse_softwareupdate_list("* Label: X\n\tTitle: X, Version: 1, Action: reboot now,\n")


# -- InstallHistory.plist ------------------------------------------------------------------------
def test_install_history() -> None:
    entries = parse_install_history(
        (DATA / "macos/macos-10.10/InstallHistory.plist").read_bytes())
    assert len(entries) == 7
    assert entries[0].name == "OS X" and entries[0].version == "10.9 (13A603)"
    assert entries[0].date == datetime(2013, 11, 12, 2, 59, 35, tzinfo=UTC)
    assert entries[1].process == "Installer" and not entries[1].apple_update
    assert entries[2].content_type == "config-data" and entries[2].apple_update
    assert entries[-1].packages == ("com.apple.pkg.ChineseWordlistUpdate.5-30",)
    for garbage in (b"", b"not a plist", b"<plist><dict></dict></plist>",
                    b'<?xml version="1.0"?><plist version="1.0"><array><dict>'
                    b"<key>date</key><date>2013</date></dict></array></plist>"):
        with pytest.raises(ParseError):
            parse_install_history(garbage)


# -- brew outdated --json=v2 -------------------------------------------------------------------
def test_brew_outdated_homebrew_test_output() -> None:
    [item] = parse_brew_outdated(read("brew/homebrew-4/outdated-testball.json"))
    assert (item.name, item.kind, item.installed, item.current, item.pinned) == (
        "testball", "formula", "0.0.1", "0.1", False)


def test_brew_outdated_formulae_casks_and_pins() -> None:
    items = parse_brew_outdated(read("brew/homebrew-4/outdated-mixed.json"))
    assert [(i.name, i.kind, i.installed, i.current, i.pinned, i.pinned_version)
            for i in items] == [
        ("git", "formula", "2.43.0", "2.44.0", False, ""),
        ("openssl@3", "formula", "3.2.0_1", "3.2.1", True, "3.2.0_1"),
        ("firefox", "cask", "122.0", "123.0", False, ""),
    ]
    [old] = parse_brew_outdated(read("brew/homebrew-2.7/outdated-cask-string.json"))
    assert (old.name, old.kind, old.installed) == ("electrum", "cask", "4.0.2")
    assert parse_brew_outdated(read("brew/homebrew-4/outdated-empty.json")) == []


@pytest.mark.parametrize("text", [
    "", "[]", '{"formulae": []}', '{"formulae": [{"name": "x;rm"}], "casks": []}',
    '{"formulae": [{"name": "git", "installed_versions": ["1 2"], "current_version": "2"}],'
    ' "casks": []}',
])
def test_brew_outdated_refuses_malformed(text: str) -> None:
    with pytest.raises(ParseError):
        parse_brew_outdated(text)
    with pytest.raises(ParseError):
        parse_brew_outdated(read("brew/homebrew-4/outdated-cut.json"))


def test_install_history_binary_plist_reads_the_same() -> None:
    import plistlib

    xml = (DATA / "macos/macos-10.10/InstallHistory.plist").read_bytes()
    binary = plistlib.dumps(plistlib.loads(xml), fmt=plistlib.FMT_BINARY)
    assert parse_install_history(binary) == parse_install_history(xml)
