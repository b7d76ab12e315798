"""The rules the core owns once: severity and classification order, patch grouping, the
deployment phase sets, the clock, facts merged into an asset, the CSV formula guard, and
the atomic writer every export uses."""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC
from pathlib import Path

import pytest

from app.core.assessment import HostFacts, Interface
from app.core.clock import utcnow
from app.core.csvtext import FORMULA_START, csv_text, records_csv, safe_cell, unguard_cell
from app.core.deployment import (
    RESUMABLE_PHASES,
    RUNNING_PHASES,
    UNFINISHED_PHASES,
    Deployment,
    HostState,
    PackagePin,
    Phase,
    Stage,
    Target,
    halted_at_preflight,
    paused_after_preflight,
)
from app.core.errors import UserError
from app.core.inventory_merge import apply_facts
from app.core.models import Asset, AssetPatch, Classification, OsFamily, Severity
from app.core.patchgroups import (
    SEVERITY_ORDER,
    classification_rank,
    group_patches,
    most_urgent_class,
    severity_rank,
    worst_severity,
)
from app.files import atomic_text, write_bytes, write_text


# -- order and grouping ---------------------------------------------------------------------
def test_one_severity_order_from_unknown_to_critical() -> None:
    assert [severity_rank(s) for s in SEVERITY_ORDER] == [0, 1, 2, 3, 4]
    assert set(SEVERITY_ORDER) == set(Severity)
    assert worst_severity([Severity.LOW, Severity.CRITICAL, Severity.MODERATE]) is \
        Severity.CRITICAL
    assert worst_severity([]) is Severity.UNKNOWN
    assert most_urgent_class([Classification.OTHER, Classification.SECURITY]) is \
        Classification.SECURITY
    assert classification_rank(Classification.SECURITY) < \
        classification_rank(Classification.BUGFIX) < \
        classification_rank(Classification.ENHANCEMENT) < \
        classification_rank(Classification.OTHER)


PATCHES = [
    AssetPatch(1, "zlib", "2", "1", classification=Classification.BUGFIX, source="main"),
    AssetPatch(1, "ssl", "3", "1", classification=Classification.SECURITY,
               severity=Severity.LOW, cves=("CVE-2",)),
    AssetPatch(2, "ssl", "3", "2", classification=Classification.SECURITY,
               severity=Severity.CRITICAL, cves=("CVE-1",), reboot_required=True),
    AssetPatch(3, "ssl", "4", classification=Classification.BUGFIX, advisories=("DSA-1",)),
]


def test_patches_grouped_by_version_most_urgent_first() -> None:
    groups = group_patches(PATCHES)
    assert [(g.spec, g.asset_ids) for g in groups] == [
        ("ssl=3", (1, 2)), ("ssl=4", (3,)), ("zlib=2", (1,))]
    first = groups[0]
    assert (first.severity, first.classification, first.cves, first.reboot) == (
        Severity.CRITICAL, Classification.SECURITY, ("CVE-1", "CVE-2"), True)
    assert first.installed == ("1", "2")
    assert len(first.patches) == 2


def test_patches_grouped_by_package_with_host_labels() -> None:
    (ssl, zlib) = group_patches(PATCHES, {1: "web01", 2: "DB01", 3: "app"}, by_version=False)
    assert (ssl.package, ssl.candidates) == ("ssl", ("3", "4"))
    assert ssl.hosts == ((3, "app"), (2, "DB01"), (1, "web01"))  # by label, any case
    assert ssl.classes == frozenset({"security"})
    assert ssl.severity_rank == 4 and ssl.advisories == ("DSA-1",)
    assert zlib.sources == ("main",)


# -- phases ---------------------------------------------------------------------------------
def _dep(phase: Phase, *targets: Target) -> Deployment:
    return Deployment(id=1, packages=(PackagePin("p", "1"),), targets=targets, phase=phase)


def test_phase_sets_say_what_runs_resumes_and_needs_a_person() -> None:
    assert Phase.AWAITING_APPROVAL not in RUNNING_PHASES
    assert sorted(RESUMABLE_PHASES - RUNNING_PHASES) == [Phase.AWAITING_APPROVAL]
    assert RUNNING_PHASES <= RESUMABLE_PHASES
    assert Phase.ROLLING_BACK not in RESUMABLE_PHASES
    assert sorted(UNFINISHED_PHASES - RESUMABLE_PHASES) == [Phase.ROLLING_BACK]
    for finished in (Phase.DONE, Phase.HALTED, Phase.ROLLED_BACK):
        assert finished not in UNFINISHED_PHASES


def test_halted_at_preflight_only_before_anything_was_installed() -> None:
    waiting = Target(1, "a", "10.0.0.1", Stage.TEST, preflight=("disk full",))
    started = Target(2, "b", "10.0.0.2", Stage.TEST, state=HostState.FAILED, job="j1")
    assert halted_at_preflight(_dep(Phase.HALTED, waiting))
    assert not halted_at_preflight(_dep(Phase.HALTED, waiting, started))
    assert not halted_at_preflight(_dep(Phase.PREFLIGHT, waiting))
    assert not halted_at_preflight(None)
    assert paused_after_preflight(_dep(Phase.TEST_RING, waiting))
    assert not paused_after_preflight(_dep(Phase.PREFLIGHT, waiting))
    assert not paused_after_preflight(_dep(Phase.TEST_RING, started))


# -- clock and facts ------------------------------------------------------------------------
def test_the_clock_is_utc_in_whole_seconds_and_the_store_uses_it() -> None:
    from app.store import db

    now = utcnow()
    assert now.tzinfo is UTC and now.microsecond == 0
    assert db.utcnow is utcnow


def test_apply_facts_keeps_what_a_person_set() -> None:
    asset = Asset(hostname="", ips=("10.0.0.5",), model="Typed by hand", id=1,
                  field_sources={"model": "manual"})
    facts = HostFacts(os_name="Debian GNU/Linux", os_version="12", kernel="6.1.0",
                      hostname="web01", model="PowerEdge", serial="ABC",
                      interfaces=(Interface("eth0", "00:1a:2b:3c:4d:5e", ("10.0.0.5/24",)),
                                  Interface("eth1", "00:1a:2b:3c:4d:5f", ("10.9.9.9/24",))))
    updated = apply_facts(asset, facts)
    assert (updated.os_family, updated.os_name, updated.hostname) == (
        OsFamily.LINUX, "Debian GNU/Linux", "web01")
    assert updated.model == "Typed by hand" and updated.serial == "ABC"
    assert updated.macs == ("00:1a:2b:3c:4d:5e",)  # only the interface with its address
    assert updated.field_sources["serial"] == "assess"
    assert apply_facts(updated, facts) is updated  # nothing new: the same object


# -- CSV ------------------------------------------------------------------------------------
@pytest.mark.parametrize("start", FORMULA_START)
def test_every_formula_start_is_kept_as_text_and_read_back(start: str) -> None:
    value = f"{start}cmd|' /C calc'!A0"
    assert safe_cell(value) == "'" + value
    assert unguard_cell(safe_cell(value)) == value


@pytest.mark.parametrize("value", ["web01", "", "'quoted", "a=b", "10-20", "CVE-2024-1"])
def test_ordinary_cells_are_left_alone(value: str) -> None:
    assert safe_cell(value) == value
    assert unguard_cell(value) == value


def test_csv_text_guards_header_and_rows_and_flattens_records() -> None:
    text = csv_text(["name", "=x"], [["=1+1", None], [3, "a,b"]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "'=x"], ["'=1+1", ""], ["3", "a,b"]]
    text = records_csv(("host", "cves", "extra"),
                       [{"host": "@evil", "cves": ["CVE-1", "CVE-2"], "ignored": 1},
                        {"extra": {"b": 1, "a": "-2"}}])
    assert list(csv.reader(io.StringIO(text))) == [
        ["host", "cves", "extra"], ["'@evil", "CVE-1 CVE-2", ""],
        ["", "", '{"a": "-2", "b": 1}']]


# -- the atomic writer ----------------------------------------------------------------------
def test_atomic_writer_never_opens_a_planted_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep", encoding="utf-8")
    target = tmp_path / "out.csv"
    for name in (f".{target.name}.tmp", f".{target.name}.tmp-{os.getpid()}",
                 f"{target.name}.tmp", f"{target.name}~"):
        (tmp_path / name).symlink_to(victim)
    write_text(target, "new\n")
    assert victim.read_text(encoding="utf-8") == "keep"
    assert target.read_text(encoding="utf-8") == "new\n"
    # A symlink at the target itself is replaced by the file, not written through.
    link = tmp_path / "link.csv"
    link.symlink_to(victim)
    write_bytes(link, b"data")
    assert victim.read_text(encoding="utf-8") == "keep"
    assert not link.is_symlink() and link.read_bytes() == b"data"


def test_atomic_writer_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")

    def fail() -> None:
        with atomic_text(target) as fh:
            fh.write("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_writer_gives_new_files_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o640
    with pytest.raises(UserError, match="Cannot write"):
        write_text(tmp_path / "missing" / "x.txt", "x")
