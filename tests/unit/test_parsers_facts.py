"""Host facts parsers on output captured from the Debian 12 lab host, plus edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.drivers.parsers import ParseError
from app.drivers.parsers.facts import (
    clean_dmi_value,
    parse_boot_id,
    parse_cpuinfo,
    parse_df,
    parse_dmi,
    parse_ip_addr_json,
    parse_meminfo,
    parse_uptime,
    parse_who,
)

D = Path(__file__).resolve().parents[1] / "data" / "facts" / "debian-12"


def test_meminfo() -> None:
    mem = parse_meminfo((D / "meminfo").read_text())
    assert mem.total == 24684092 * 1024
    assert mem.available == 24224012 * 1024
    assert parse_meminfo("MemTotal: 1000 kB\n").available is None
    for bad in ("", "MemFree: 1 kB\n", "MemTotal 1 kB\n", "MemTotal: lots\n"):
        with pytest.raises(ParseError):
            parse_meminfo(bad)


def test_df_bytes_and_mounts() -> None:
    fs = parse_df((D / "df-P-B1.txt").read_text())
    root = next(f for f in fs if f.mount == "/")
    assert (root.device, root.size, root.used, root.available, root.capacity_percent) == (
        "overlay",
        270553174016,
        24012582912,
        84931710976,
        23,
    )
    assert [f.mount for f in fs] == ["/", "/dev", "/dev/shm", "/run", "/tmp"]


def test_df_kilobyte_blocks_and_mount_with_space() -> None:
    text = (
        "Filesystem     1024-blocks    Used Available Capacity Mounted on\n"
        "/dev/sdb1          1000       10       990       1% /media/usb stick\n"
    )
    (fs,) = parse_df(text)
    assert fs.size == 1000 * 1024 and fs.mount == "/media/usb stick"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Filesystem Size Used Avail Use% Mounted on\n/dev/sda1 10G 1G 9G 10% /\n",  # df -h
        "Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/sda1 x 1 1 1% /\n",
        "Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/sda1 1 1 1 full /\n",
    ],
)
def test_df_garbage_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_df(text)


def test_ip_addr_json() -> None:
    lo, eth0 = parse_ip_addr_json((D / "ip-j-addr.json").read_text())
    assert lo.name == "lo" and lo.mac is None
    assert eth0.mac == "02:99:00:00:00:0a" and eth0.operstate == "UP"
    assert [(a.family, a.address, a.prefixlen) for a in eth0.addresses] == [
        ("inet", "10.98.0.10", 24),
        ("inet6", "fe80::99:ff:fe00:a", 64),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        '{"ifname": "eth0"}',
        '[{"mtu": 1500}]',
        '[{"ifname": "e", "addr_info": [{"family": "inet", "local": "10.0.0.1"}]}]',
        "[1]",
    ],
)
def test_ip_addr_garbage_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_ip_addr_json(text)


def test_cpuinfo() -> None:
    cpu = parse_cpuinfo((D / "cpuinfo").read_text())
    assert cpu.model == "AMD EPYC" and cpu.count == 2
    arm = parse_cpuinfo(
        "processor\t: 0\nBogoMIPS\t: 108.00\n\nprocessor\t: 1\n\n"
        "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    )
    assert arm.count == 2 and arm.model == "Raspberry Pi 4 Model B Rev 1.4"
    for bad in ("", "model name : x\n", "garbage line\n"):
        with pytest.raises(ParseError):
            parse_cpuinfo(bad)


def test_uptime_and_boot_id() -> None:
    assert parse_uptime((D / "uptime").read_text()) == pytest.approx(926.84)
    assert parse_boot_id((D / "boot_id").read_text()) == "a341123c-412f-4c5e-a35e-33bb633b08db"
    for bad in ("", "12", "a b", "-1 2", "1 2 3"):
        with pytest.raises(ParseError):
            parse_uptime(bad)
    for bad in ("", "not-a-uuid", "a341123c-412f-4c5e-a35e"):
        with pytest.raises(ParseError):
            parse_boot_id(bad)


def test_who() -> None:
    assert parse_who((D / "who.txt").read_text()) == ()  # captured: nobody logged in
    logins = parse_who(
        "alice    tty2         2024-03-01 09:58 (tty2)\n"
        "bob      pts/0        2024-03-01 10:02 (192.168.1.5)\n"
        "root     pts/1        2024-03-01 10:05\n"
    )
    assert [(x.user, x.tty, x.host) for x in logins] == [
        ("alice", "tty2", "tty2"),
        ("bob", "pts/0", "192.168.1.5"),
        ("root", "pts/1", None),
    ]
    with pytest.raises(ParseError):
        parse_who("alice pts/0 Mar  1 10:02\n")  # non-C locale time format


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "\n",
        "To Be Filled By O.E.M.\n",
        "Default string",
        "System Product Name",
        "Not Specified",
        "0123456789",
        "00000000",
        "  none  ",
    ],
)
def test_dmi_placeholders_are_none(raw: str | None) -> None:
    assert clean_dmi_value(raw) is None


def test_dmi_real_values_and_lab_capture() -> None:
    info = parse_dmi("Dell Inc.\n", "OptiPlex 7090\n", "5CG1234XYZ\n")
    assert (info.vendor, info.product, info.serial) == ("Dell Inc.", "OptiPlex 7090", "5CG1234XYZ")
    # the lab VM exposes no DMI table: every value captured empty
    values = dict(line.split("=", 1) for line in (D / "dmi.txt").read_text().splitlines())
    lab = parse_dmi(values["sys_vendor"], values["product_name"], values["product_serial"])
    assert (lab.vendor, lab.product, lab.serial) == (None, None, None)


def test_df_device_with_spaces_and_a_second_table() -> None:
    """A CIFS share's device has a space (``//nas/My Share``); and the facts script's
    fallback ``df`` (after the filtered one failed part-way) prints a second table: both
    are read, each mount once."""
    text = (
        "Filesystem         1-blocks        Used   Available Capacity Mounted on\n"
        "/dev/vda       270553174016 24817770496 84126523392      23% /\n"
        "//nas/My Share   1000000000   500000000   500000000      50% /mnt/my share\n"
        "Filesystem         1-blocks        Used   Available Capacity Mounted on\n"
        "/dev/vda       270553174016 24817770496 84126523392      23% /\n"
        "tmpfs             104857600           0   104857600       0% /run\n"
    )
    fs = parse_df(text)
    assert [(f.device, f.mount) for f in fs] == [
        ("/dev/vda", "/"), ("//nas/My Share", "/mnt/my share"), ("tmpfs", "/run")]
    assert fs[1].size == 1000000000


def test_unreadable_facts_sections_become_warnings() -> None:
    from app.drivers.linux import host_facts, split_sections

    real = (Path(__file__).parents[1] / "data" / "facts" / "debian-12-realhost" /
            "linux_facts.txt").read_text()
    broken = real.replace("@@pd:df@@\nFilesystem", "@@pd:df@@\nDateisystem").replace(
        "@@pd:who@@\n", "@@pd:who@@\nroot pts/0 Dec  5 08:00\n")
    warnings: list[str] = []
    facts = host_facts(split_sections(broken), warnings)
    assert facts.disks == () and facts.logged_in_users == ()
    assert len(warnings) == 2
    assert warnings[0].startswith("facts: df output was not understood")
    assert "who" in warnings[1] and "Dec  5 08:00" in warnings[1]
