"""Reusing apt's simulation while a host's package state is unchanged (app/drivers/apt_state)
and reading changelogs beside the simulation, through a scripted transport."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest

from app.drivers.apt import _download_list
from app.drivers.apt_state import STATE_KEY, AptState, split_state
from app.drivers.base import DriverError
from app.drivers.registry import assess_host
from tests.fakes import ScriptedTransport, contains
from tests.unit.test_apt_driver import debian_host, read

STATE_A = "a" * 64
STATE_B = "b" * 64
SIMULATION = read("apt/debian-12/apt-get-s-upgrade.txt")
SINCE = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def host(probe_state: str | None, after_state: str | None = None,
         simulation: str = SIMULATION) -> ScriptedTransport:
    """A Debian host whose lock probe reports ``probe_state`` and whose simulation is
    followed by ``after_state`` (None: the host prints no state line)."""
    transport = debian_host(simulation=simulation + (
        f"\n@@pd-state {after_state}\n" if after_state else ""))
    probe = "pd-lock-free\n" + (f"\n@@pd-state {probe_state}\n" if probe_state else "")
    transport.rules.insert(0, (contains("pd-lockprobe"), (0, probe, "")))
    return transport


def simulated(transport: ScriptedTransport) -> bool:
    return any("pd-simulate" in argv for argv, _ in transport.calls)


def details(state: str, simulation: str = SIMULATION) -> dict[str, Any]:
    return {STATE_KEY: AptState(state, SINCE, simulation).to_details()}


def test_split_state_takes_the_last_line_only_when_it_is_a_fingerprint() -> None:
    assert split_state(f"Inst a [1] (2 x [all])\n\n@@pd-state {STATE_A}\n") == (
        "Inst a [1] (2 x [all])\n", STATE_A)
    assert split_state("pd-lock-free\n") == ("pd-lock-free\n", None)
    assert split_state("@@pd-state not-a-hash\n")[1] is None
    assert split_state(f"@@pd-state {STATE_A}") == ("", STATE_A)


def test_stored_state_round_trips_and_damaged_ones_are_ignored() -> None:
    state = AptState(STATE_A, SINCE, SIMULATION)
    stored = state.to_details()
    assert stored is not None and len(stored["simulation"]) < len(SIMULATION)
    assert AptState.from_details(stored) == state
    assert AptState.from_details({**stored, "fingerprint": "x"}) is None
    assert AptState.from_details({**stored, "simulation": "!!"}) is None
    assert AptState.from_details({**stored, "since": "yesterday"}) is None
    assert AptState.from_details("text") is None
    bomb = base64.b64encode(zlib.compress(b"x" * 5_000_000)).decode()
    assert AptState.from_details({**stored, "simulation": bomb}) is None


def test_first_assessment_simulates_and_stores_its_state() -> None:
    transport = host(STATE_A, STATE_A)
    result = assess_host(transport)
    assert simulated(transport)
    stored = AptState.from_details(result.facts.details[STATE_KEY])
    assert stored is not None
    assert (stored.fingerprint, stored.simulation) == (STATE_A, SIMULATION)
    assert not any("unchanged since" in w for w in result.warnings)


def test_unchanged_state_reuses_the_stored_simulation() -> None:
    fresh = assess_host(host(STATE_A, STATE_A))
    transport = host(STATE_A, STATE_A)
    reused = assess_host(transport, previous=details(STATE_A))
    assert not simulated(transport)
    assert not any("--print-uris" in argv for argv, _ in transport.calls)
    assert reused.updates == fresh.updates
    assert "apt: package state unchanged since 2026-12-01 09:30:00 UTC" in " ".join(
        reused.warnings)
    # The state stays dated from when it was first seen.
    again = AptState.from_details(reused.facts.details[STATE_KEY])
    assert again is not None and again.since == SINCE


def test_changed_state_simulates_again() -> None:
    """Any change to what apt reads changes the fingerprint: the old simulation (here one
    that lists nothing) is not used."""
    empty = ("Reading package lists...\nBuilding dependency tree...\n"
             "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
    transport = host(STATE_B, STATE_B)
    result = assess_host(transport, previous=details(STATE_A, empty))
    assert simulated(transport)
    assert {u.package for u in result.updates} >= {"pd-openssl"}
    stored = AptState.from_details(result.facts.details[STATE_KEY])
    assert stored is not None and stored.fingerprint == STATE_B
    assert stored.since > SINCE


def test_state_changing_during_the_simulation_is_not_stored() -> None:
    result = assess_host(host(STATE_A, STATE_B))
    assert STATE_KEY not in result.facts.details


def test_host_without_a_state_neither_reuses_nor_stores() -> None:
    transport = host(None, None)
    result = assess_host(transport, previous=details(STATE_A))
    assert simulated(transport)
    assert STATE_KEY not in result.facts.details


def test_damaged_previous_state_means_a_fresh_simulation() -> None:
    transport = host(STATE_A, STATE_A)
    assess_host(transport, previous={STATE_KEY: {"fingerprint": STATE_A, "since": "x"}})
    assert simulated(transport)


def test_download_list_reads_names_versions_and_architectures() -> None:
    text = (
        "'http://deb.debian.org/debian/pool/main/b/bash/bash_5.2.15-2%2bb13_amd64.deb' "
        "bash_5.2.15-2+b13_amd64.deb 1490652 MD5Sum:f973a067908f9c7579d30deddd8301ed\n"
        "'http://x/pool/main/a/automake/automake_1%3a1.16.5-1.3_all.deb' "
        "automake_1%3a1.16.5-1.3_all.deb 10 SHA256:00\n"
        "'http://x/evil' $(reboot)_1_all.deb 1 SHA256:00\n"
        "'http://x/evil' a_1_b_c.deb 1 SHA256:00\n"
        "W: something\n")
    assert _download_list(text) == [("bash", "5.2.15-2+b13", "amd64"),
                                    ("automake", "1:1.16.5-1.3", "all")]


@pytest.mark.parametrize("print_uris", [True, False])
def test_changelogs_are_read_once_beside_the_simulation(print_uris: bool) -> None:
    """The changelogs of the upgrades come from apt's download list while apt simulates;
    classification after the simulation reads nothing more. Without that list they are
    read after the simulation, as before."""
    changelog = read("apt/debian-12-host/changelog.Debian-libssl3-head120.txt")
    simulation = (
        "Reading package lists...\nBuilding dependency tree...\nCalculating upgrade...\n"
        "1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
        "Inst libssl3 [3.0.18-1~deb12u2] (3.0.19-1~deb12u2 Debian-Security:12/"
        "stable-security [amd64])\n")
    transport = host(STATE_A, STATE_A, simulation)
    transport.rules.insert(0, (contains("changelogs"), (
        0, f"\n@@pd:0@@\n{changelog}\n@@pd:end@@\n", "")))
    uris = ("'http://deb.debian.org/debian-security/pool/updates/main/o/openssl/"
            "libssl3_3.0.19-1%7edeb12u2_amd64.deb' libssl3_3.0.19-1~deb12u2_amd64.deb 2021088 "
            "SHA256:" + "0" * 64 + "\n") if print_uris else ""
    transport.rules.insert(0, (contains("--print-uris"), (0 if print_uris else 100, uris, "")))
    transport.rules.insert(0, (contains("-W"), (
        0, "libssl3:amd64\tii \t3.0.18-1~deb12u2\tamd64\topenssl\t3.0.18-1~deb12u2\n", "")))
    result = assess_host(transport)
    [update] = result.updates
    assert update.cves[:2] == ("CVE-2026-28387", "CVE-2026-28389")
    fetches = [argv for argv, _ in transport.calls if "changelogs" in argv]
    assert len(fetches) == 1
    assert fetches[0][-2:] == ("0", "libssl3:amd64=3.0.19-1~deb12u2")
    assert result.lookups is not None
    assert (result.lookups.fetched, result.lookups.cached, result.lookups.failed) == (1, 0, 0)


def test_known_apt_host_refreshes_once_beside_the_facts() -> None:
    """A host whose previous assessment stored an apt state starts apt-get update with
    the facts script; it still runs once, and its failure still fails the host."""
    transport = host(STATE_A, STATE_A)
    assess_host(transport, previous=details(STATE_A))
    assert sum("pd-update" in argv for argv, _ in transport.calls) == 1
    locked = host(STATE_A, STATE_A)
    locked.rules.insert(0, (contains("pd-update"), (
        100, "", "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process "
                 "4242 (apt-get)\n")))
    with pytest.raises(DriverError) as caught:
        assess_host(locked, previous=details(STATE_A))
    assert caught.value.kind == "apt_lock"
    unchanged = host(STATE_A, STATE_A)
    assess_host(unchanged, previous=details(STATE_A), refresh=False)
    assert not any("pd-update" in argv for argv, _ in unchanged.calls)


def test_refresh_probes_the_lock_and_fingerprints_in_the_same_command() -> None:
    """apt-get update, the dpkg-lock probe and the fingerprint are one round trip; the
    separate probe runs only when the refresh's output does not say the lock was checked."""
    transport = host(STATE_A, STATE_A)
    transport.rules.insert(0, (contains("pd-update"), (
        0, f"Reading package lists...\npd-lock-free\n@@pd-lock-checked\n\n@@pd-state {STATE_B}\n",
        "")))
    result = assess_host(transport, previous=details(STATE_B))
    assert not simulated(transport)
    assert not any("pd-lockprobe" in argv for argv, _ in transport.calls)
    assert any("unchanged since" in w for w in result.warnings)
    unsure = host(STATE_A, STATE_A)  # the refresh says nothing of the lock
    assess_host(unsure, previous=details(STATE_A))
    assert any("pd-lockprobe" in argv for argv, _ in unsure.calls)
