"""zypper parsers on public captured output (openSUSE Leap 16 / Tumbleweed, SLES 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.drivers.parsers import ParseError
from app.drivers.parsers.zypper import (
    EXIT_CODES,
    exit_code_meaning,
    needs_rebooting,
    parse_zypper_xml,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "zypper"


def test_leap16_list_updates() -> None:
    ups = parse_zypper_xml((DATA / "opensuse-leap-16.0" / "list-updates.xml").read_text())
    assert [(u.kind, u.name, u.edition_old, u.edition, u.arch) for u in ups] == [
        ("package", "kernel-default", "6.12.0-160000.7.1", "6.12.0-160000.8.1", "aarch64"),
        ("package", "kernel-default-extra", "6.12.0-160000.7.1", "6.12.0-160000.8.1", "aarch64"),
        ("package", "kernel-default-optional", "6.12.0-160000.7.1", "6.12.0-160000.8.1", "aarch64"),
        ("package", "qemu-guest-agent", "10.0.4-160000.1.1", "10.0.7-160000.1.1", "aarch64"),
    ]
    assert ups[0].summary == "The Standard Kernel"
    assert ups[0].repo == "https-download.opensuse.org-4bc031d9"


def test_leap16_security_patches_with_cves_and_restart_flag() -> None:
    qemu, kernel = parse_zypper_xml(
        (DATA / "opensuse-leap-16.0" / "list-patches-security-qemu.xml").read_text()
    )
    assert (qemu.kind, qemu.name, qemu.status, qemu.category, qemu.severity) == (
        "patch",
        "openSUSE-Leap-16.0-112",
        "needed",
        "security",
        "important",
    )
    assert qemu.cves == ("CVE-2025-11234", "CVE-2025-12464")
    assert ("bugzilla", "1253002") in qemu.issues
    assert not qemu.restart and not qemu.pkgmanager
    assert kernel.restart and kernel.interactive


def test_tumbleweed_one_and_none() -> None:
    (one,) = parse_zypper_xml((DATA / "opensuse-tumbleweed" / "list-updates-one.xml").read_text())
    assert (one.name, one.edition_old, one.edition) == (
        "libopenh264-8",
        "2.6.0~noopenh264-1.5",
        "2.6.0-2.suse1699.10",
    )
    assert (
        parse_zypper_xml((DATA / "opensuse-tumbleweed" / "list-updates-none.xml").read_text()) == ()
    )


def test_blocked_updates_flagged() -> None:
    text = (
        "<?xml version='1.0'?><stream><update-status version=\"0.6\"><update-list/>"
        '<blocked-update-list><update kind="package" name="a" edition="2" arch="noarch" '
        'edition-old="1"/></blocked-update-list></update-status></stream>'
    )
    (u,) = parse_zypper_xml(text)
    assert u.blocked


@pytest.mark.parametrize(
    "text",
    [
        # billion laughs / external entity: refused before parsing
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><stream>&lol;</stream>',
        '<?xml version="1.0"?><!doctype stream SYSTEM "file:///etc/passwd"><stream/>',
        "<stream><update-status><update-list><update kind='package'",  # truncated
        "<html><body>proxy error</body></html>",
        "<stream><message type=\"error\">Repository 'x' is invalid.</message></stream>",
        "<stream><surprise/></stream>",
        "<stream><update-status><update-list><update kind='package' name='x'/></update-list>"
        "</update-status></stream>",  # no edition/arch
        "<stream><update-status><update-list><update kind='patch' name='p' edition='1' "
        "arch='noarch' restart='maybe'/></update-list></update-status></stream>",
        "not xml at all",
    ],
)
def test_bad_xml_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_zypper_xml(text)


def test_update_count_cross_check() -> None:
    # an <update inside a comment is not an element: counts disagree -> refuse
    text = (
        (DATA / "opensuse-tumbleweed" / "list-updates-one.xml")
        .read_text()
        .replace("<update-list>", "<update-list><!-- <update kind='package' name='ghost'/> -->")
    )
    with pytest.raises(ParseError, match="2 <update> tags"):
        parse_zypper_xml(text)


def test_exit_code_table() -> None:
    assert exit_code_meaning(101)[0] == "INF_SEC_UPDATE_NEEDED"
    assert exit_code_meaning(7)[0] == "ZYPP_LOCKED"
    assert {100, 101, 102, 103, 104, 105, 106, 107} <= EXIT_CODES.keys()
    with pytest.raises(ParseError):
        exit_code_meaning(42)


def test_needs_rebooting() -> None:
    assert needs_rebooting(102) is True
    assert needs_rebooting(0) is False
    with pytest.raises(ParseError):
        needs_rebooting(2)
