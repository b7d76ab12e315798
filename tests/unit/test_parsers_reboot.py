"""Reboot signals and their combination."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.drivers.parsers import ParseError
from app.drivers.parsers.reboot import (
    RebootSignal,
    combine_reboot_signals,
    parse_needrestart_batch,
    signal_from_kernel,
    signal_from_needrestart,
    signal_from_needs_restarting,
    signal_from_reboot_required,
    signal_from_zypper_needs_rebooting,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def test_reboot_required_files_from_debian12_lab() -> None:
    d = DATA / "reboot" / "debian-12"
    sig = signal_from_reboot_required(
        (d / "reboot-required").read_text(), (d / "reboot-required.pkgs").read_text()
    )
    assert sig.required is True
    assert "pd-kernel" in sig.reason
    absent = signal_from_reboot_required(None)
    assert absent.required is False and not absent.conclusive


def test_kernel_signal() -> None:
    assert (
        signal_from_kernel("6.1.0-18-amd64", ["6.1.0-18-amd64", "6.1.0-20-amd64"]).required is True
    )
    assert (
        signal_from_kernel("6.1.0-20-amd64", ["6.1.0-18-amd64", "6.1.0-20-amd64"]).required is False
    )
    gone = signal_from_kernel("6.1.0-17-amd64", ["6.1.0-18-amd64"])
    assert gone.required is True and "no longer installed" in gone.reason
    el = signal_from_kernel(
        "5.14.0-427.13.1.el9_4.x86_64",
        ["5.14.0-427.13.1.el9_4.x86_64", "5.14.0-503.11.1.el9_5.x86_64"],
    )
    assert el.required is True
    # numeric, not lexical: 10 > 9
    assert signal_from_kernel("6.9.0-1", ["6.9.0-1", "6.10.0-1"]).required is True
    assert signal_from_kernel("6.18.44-fc-v657", []).required is None
    with pytest.raises(ParseError):
        signal_from_kernel("", ["x"])
    with pytest.raises(ParseError):
        signal_from_kernel("Linux host 6.1.0", ["x"])


def test_lab_uname_is_one_release() -> None:
    running = (DATA / "reboot" / "debian-12" / "uname-r.txt").read_text()
    assert signal_from_kernel(running, [running.strip()]).required is False


def test_needrestart_batch_upstream_example() -> None:
    batch = parse_needrestart_batch(
        (DATA / "needrestart" / "upstream-readme" / "needrestart-b.txt").read_text()
    )
    assert batch.version == "2.1"
    assert batch.kernel_status == 1
    assert batch.services == ("systemd-journald.service", "systemd-machined.service")
    assert batch.containers == ("LXC web1",)
    sig = signal_from_needrestart(batch)
    assert sig.required is False


def test_needrestart_pending_kernel_and_microcode() -> None:
    text = (
        "NEEDRESTART-VER: 3.6\nNEEDRESTART-KCUR: 6.1.0-18-amd64\n"
        "NEEDRESTART-KEXP: 6.1.0-20-amd64\nNEEDRESTART-KSTA: 3\n"
    )
    sig = signal_from_needrestart(parse_needrestart_batch(text))
    assert sig.required is True and "6.1.0-20-amd64" in sig.reason
    uc = parse_needrestart_batch(
        "NEEDRESTART-VER: 3.6\nNEEDRESTART-KSTA: 1\nNEEDRESTART-UCSTA: 2\n"
    )
    assert signal_from_needrestart(uc).required is True
    unknown = parse_needrestart_batch("NEEDRESTART-VER: 3.6\nNEEDRESTART-KSTA: 0\n")
    assert signal_from_needrestart(unknown).required is None


@pytest.mark.parametrize(
    "text",
    [
        "NEEDRESTART-KSTA: 1\n",  # no VER
        "NEEDRESTART-VER: 3.6\nNEEDRESTART-KSTA: 7\n",
        "NEEDRESTART-VER: 3.6\nNEEDRESTART-FOO: 1\n",
        "NEEDRESTART-VER: 3.6\nScanning processes...\n",
        "",
    ],
)
def test_needrestart_garbage_raises(text: str) -> None:
    with pytest.raises(ParseError):
        parse_needrestart_batch(text)


def test_needs_restarting_and_zypper_are_conclusive() -> None:
    text = (DATA / "dnf" / "fedora-29-ci" / "needs-restarting-r-not-required.txt").read_text()
    sig = signal_from_needs_restarting(text, 0)
    assert sig.required is False and sig.conclusive
    assert combine_reboot_signals([sig]).required is False
    assert signal_from_zypper_needs_rebooting(102).required is True
    assert combine_reboot_signals([signal_from_zypper_needs_rebooting(0)]).required is False
    with pytest.raises(ParseError):
        signal_from_zypper_needs_rebooting(4)


def test_combination_rules() -> None:
    no_file = signal_from_reboot_required(None)
    kernel_ok = signal_from_kernel("6.1.0-20-amd64", ["6.1.0-20-amd64"])
    kernel_new = signal_from_kernel("6.1.0-18-amd64", ["6.1.0-18-amd64", "6.1.0-20-amd64"])
    unknown = RebootSignal("needrestart", None, "not installed")
    # a single inconclusive "no" is not enough (plain Debian without reboot-notifier)
    alone = combine_reboot_signals([no_file])
    assert alone.required is None
    assert combine_reboot_signals([no_file, unknown]).required is None
    # two independent inconclusive "no"s corroborate each other
    assert combine_reboot_signals([no_file, kernel_ok]).required is False
    # any "yes" wins, and only the "yes" reasons are reported
    state = combine_reboot_signals([no_file, kernel_new, unknown])
    assert state.required is True
    assert state.reasons == (f"kernel: {kernel_new.reason}",)
    assert combine_reboot_signals([]).required is None
