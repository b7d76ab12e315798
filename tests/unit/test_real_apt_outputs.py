"""Every real apt/dpkg/facts output we hold, fed to the parsers ([7]): a simulation is
either read whole (unknown lines become warnings) or refused with a ParseError that says
why — never another exception, never a silently short list."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.drivers.linux import host_facts, split_sections
from app.drivers.parsers import ParseError
from app.drivers.parsers.apt import (
    AptSummaryMismatchError,
    parse_apt_simulation,
    parse_dpkg_query,
)

DATA = Path(__file__).parents[1] / "data"
APT = DATA / "apt"
SIMULATIONS = sorted([*APT.glob("*/apt-get-s-*.txt"), *APT.glob("*/*dry-run*.txt")])
#: Captures that are not complete simulations: apt's summary counts Inst lines the
#: capture does not hold (see the NOTES.md beside them). Refused, never "0 missing".
INCOMPLETE = {"ubuntu-12.04-vuls/apt-get-dist-upgrade-dry-run.txt",
              "ubuntu-14.04-vuls/apt-get-dist-upgrade-dry-run.txt"}


def _rel(path: Path) -> str:
    return str(path.relative_to(APT))


def test_we_hold_real_captures_of_several_releases() -> None:
    releases = {p.parent.name for p in SIMULATIONS}
    assert {"debian-12", "debian-12-realhost", "debian-12-multiarch", "ubuntu-24.04",
            "ubuntu-14.04-azure",
            "ubuntu-12.04-vuls", "ubuntu-14.04-vuls"} <= releases
    assert all((p.parent / "NOTES.md").exists() for p in SIMULATIONS)


@pytest.mark.parametrize("path", SIMULATIONS, ids=_rel)
def test_every_real_simulation_is_read_or_clearly_refused(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if _rel(path) in INCOMPLETE:
        with pytest.raises(AptSummaryMismatchError, match="summary says"):
            parse_apt_simulation(text)
        return
    sim = parse_apt_simulation(text)
    assert sim.unreadable == (), sim.unreadable  # every real line is understood
    assert len(sim.upgrades) == sim.summary.upgraded + sim.summary.downgraded


def test_the_real_host_backlog_in_numbers() -> None:
    sim = parse_apt_simulation((APT / "debian-12-realhost" / "apt-get-s-dist-upgrade.txt")
                               .read_text(encoding="utf-8"))
    assert (len(sim.upgrades), len(sim.new_packages), len(sim.configures)) == (144, 0, 144)
    assert len(sim.security_upgrades) == 93  # grep -c security on the Inst lines
    listed = {line.split("/")[0] for line in (APT / "debian-12-realhost" /
              "apt-list-upgradable.txt").read_text().splitlines()[1:]}
    assert {u.name for u in sim.upgrades} == listed


def test_old_apt_header_shapes_are_understood() -> None:
    sim = parse_apt_simulation((APT / "ubuntu-14.04-azure" / "apt-get-s-only-upgrade-vim.txt")
                               .read_text(encoding="utf-8"))
    assert [u.name for u in sim.upgrades] == ["vim", "vim-tiny", "vim-runtime", "vim-common"]
    assert sim.unreadable == ()


_REAL = (APT / "debian-12-realhost" / "apt-get-s-dist-upgrade.txt").read_text(encoding="utf-8")
_LINES = _REAL.splitlines()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_LINES)), st.text(st.characters(blacklist_categories=("Cs",),
                                                           blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                                             max_size=80))
def test_any_inserted_line_is_a_warning_or_a_clear_refusal(at: int, line: str) -> None:
    text = "\n".join([*_LINES[:at], line, *_LINES[at:]]) + "\n"
    try:
        sim = parse_apt_simulation(text)
    except ParseError:
        # Only what changes apt's plan may refuse: an operation line, an apt error, a
        # second summary, or a header/indented name that changes a block's names.
        assert line.startswith(("Inst", "Remv", "Purg", "E: ", " ", "The following")) \
            or "upgraded, " in line or line.endswith(":"), line
        return
    assert len(sim.upgrades) == 144
    # What was not understood is the inserted line, or block names it cut off from
    # their header; nothing else.
    assert all(repr(line[:150]).strip("'\"") in u or "unreadable line: '  " in u
               for u in sim.unreadable), sim.unreadable


@pytest.mark.parametrize("path", sorted(APT.glob("*/dpkg-query*.txt")), ids=_rel)
def test_every_real_dpkg_query_is_read(path: Path) -> None:
    inventory = parse_dpkg_query(path.read_text(encoding="utf-8"))
    assert inventory.installed


@pytest.mark.parametrize("name", ["linux_facts.txt", "linux_facts-many-mounts-interfaces.txt"])
def test_real_facts_outputs_are_read_whole(name: str) -> None:
    warnings: list[str] = []
    facts = host_facts(split_sections(
        (DATA / "facts" / "debian-12-realhost" / name).read_text(encoding="utf-8")), warnings)
    assert warnings == []
    assert facts.os_id == "debian" and facts.arch == "x86_64"
    assert facts.logged_in_users == ()  # nobody logged in: empty, not an error
    if "many" in name:
        assert len(facts.disks) == 7
        assert {"/", "vol 1", "backups (old)"} <= {d.mount.rpartition("/")[2] or "/"
                                                   for d in facts.disks}
        assert len(facts.interfaces) == 101
        tun = next(i for i in facts.interfaces if i.name == "tun0")
        assert (tun.mac, tun.addresses) == (None, ("10.8.0.1/24",))
    else:
        assert [d.mount for d in facts.disks] == ["/"]
        assert len(facts.interfaces) == 3
