"""A deployment's change set (apt's simulation, dpkg's state), per-architecture pins and
the random ids that keep host-side job ids apart between sites (issue [7])."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.core.deployment import (
    Deployment,
    Gates,
    PackageChange,
    PackagePin,
    Stage,
    Target,
    change_set_text,
)
from app.core.errors import UserError
from app.core.models import Asset
from app.drivers.apt_deploy import dpkg_states
from app.drivers.parsers import ParseError
from app.drivers.parsers.apt_changes import parse_simulation
from app.services import SiteService
from app.store.deployments import DeploymentRepo, from_json, site_job_id, to_json

DATA = Path(__file__).parents[1] / "data" / "apt"
OLD, NEW = "1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"


def test_a_real_simulation_names_the_library_pulled_along() -> None:
    text = (DATA / "debian-12-host" / "apt-get-s-install-zlib1g-dev.txt").read_text()
    sim = parse_simulation(f"arch: amd64\npin: zlib1g-dev={NEW}\n{text}exit: 0\n")
    assert sim.native_arch == "amd64"
    assert sim.pins == {"zlib1g-dev": NEW}
    assert sim.changes == (PackageChange("zlib1g-dev", OLD, NEW, "upgrade", requested=True),
                           PackageChange("zlib1g", OLD, NEW, "upgrade"))
    assert change_set_text(sim.changes) == (f"zlib1g-dev {OLD} → {NEW}, and with it: "
                                            f"zlib1g {OLD} → {NEW}")


def test_new_removed_downgraded_and_foreign_packages() -> None:
    sim = parse_simulation("\n".join([
        "arch: amd64",
        "pin: libfoo:i386=2.0-1",
        "skip: pd-tools:arm64=2.1-1",
        "NOTE: This is only a simulation!",
        "Inst libfoo:i386 [1.0-1] (2.0-1 Debian:12/bookworm [i386]) [libbar:i386 on "
        "libfoo:i386] [libbar:i386 ]",
        "Inst libc6-dev (2.36-9+deb12u14 Debian:12/bookworm [amd64]) []",
        "Inst pd-old [2.0-1] (1.0-1 PatchDesk Lab:12/bookworm [all])",
        "Remv pd-gone [3.0-1]",
        "Conf libfoo:i386 (2.0-1 Debian:12/bookworm [i386])",
        "exit: 0"]))
    assert sim.pins == {"libfoo:i386": "2.0-1"}
    assert {c.name: (c.before, c.after, c.action, c.requested) for c in sim.changes} == {
        "libfoo:i386": ("1.0-1", "2.0-1", "upgrade", True),
        "libc6-dev": ("", "2.36-9+deb12u14", "install", False),
        "pd-old": ("2.0-1", "1.0-1", "downgrade", False),
        "pd-gone": ("3.0-1", "", "remove", False)}
    assert change_set_text(sim.changes) == (
        "libfoo:i386 1.0-1 → 2.0-1, and with it: libc6-dev (new) 2.36-9+deb12u14, "
        "pd-gone 3.0-1 → removed, pd-old 2.0-1 → 1.0-1")


@pytest.mark.parametrize("text", [
    "Inst zlib1g [1] (2 Debian:12/bookworm [amd64])\nexit: 0",  # no architecture line
    "arch: amd64\nInst zlib1g;rm [1] (2 Debian:12/bookworm [amd64])",
    "arch: amd64\nInst zlib1g [1] ($(reboot) Debian:12/bookworm [amd64])",
    "arch: amd64\npin: -o=1",
])
def test_unreadable_or_unsafe_simulations_are_refused(text: str) -> None:
    with pytest.raises(ParseError):
        parse_simulation(text)


def test_dpkg_states_by_name_and_architecture() -> None:
    text = "\n".join(["zlib1g\tamd64\t1:1.2.13.dfsg-1\tii ",
                      "libfoo\ti386\t1.0-1\tii ",
                      "libfoo\tamd64\t1.1-1\tii ",
                      "pd-broken\tall\t1.1-1\tiF ",
                      "pd-gone\tall\t3.0-1\trc "])
    assert dpkg_states(text, ["zlib1g", "libfoo", "libfoo:i386", "pd-broken", "pd-gone",
                              "absent"], "amd64") == {
        "zlib1g": "1:1.2.13.dfsg-1", "libfoo": "1.1-1", "libfoo:i386": "1.0-1",
        "pd-broken": "", "pd-gone": "", "absent": ""}


def test_pins_name_a_foreign_architecture_only() -> None:
    assert PackagePin("zlib1g", NEW, "amd64").host_name("amd64") == "zlib1g"
    assert PackagePin("zlib1g", NEW, "all").host_name("amd64") == "zlib1g"
    assert PackagePin("zlib1g", NEW, "").host_name("amd64") == "zlib1g"
    assert PackagePin("zlib1g", NEW, "i386").host_name("amd64") == "zlib1g:i386"
    assert str(PackagePin("zlib1g", NEW, "i386")) == f"zlib1g:i386={NEW}"


def test_change_set_and_ids_survive_the_store(tmp_path: Path) -> None:
    changes = (PackageChange("zlib1g-dev", OLD, NEW, "upgrade", True),
               PackageChange("zlib1g", OLD, NEW, "upgrade"))
    dep = Deployment(id=3, packages=(PackagePin("zlib1g-dev", NEW, "amd64"),),
                     targets=(Target(1, "a", "10.0.0.1", Stage.TEST, changes=changes),
                              Target(2, "b", "10.0.0.2", Stage.PRODUCTION, changes=changes)),
                     uid="0a1b2c3d")
    data = to_json(dep)
    assert data["change_set"] == f"zlib1g-dev {OLD} → {NEW}, and with it: zlib1g {OLD} → {NEW}"
    assert data["targets"][0]["changes"][1] == {"name": "zlib1g", "before": OLD, "after": NEW,
                                               "action": "upgrade", "requested": False}
    back = from_json(data)
    assert back == dep
    assert back.change_set() == changes  # two hosts, one distinct change set


def test_site_job_id_is_random_per_site_and_kept(tmp_path: Path) -> None:
    first = SiteService.open(tmp_path / "a.pdsite", create=True, actor="t")
    second = SiteService.open(tmp_path / "b.pdsite", create=True, actor="t")
    try:
        with first.store.atomic() as db:
            a = site_job_id(db)
            assert site_job_id(db) == a
        with second.store.atomic() as db:
            assert site_job_id(db) != a
        assert len(a) == 8 and int(a, 16) >= 0
        dep_a = first.deployer.plan([PackagePin("pd-tools", "2.1-1")], [
            (first.add_asset(Asset(hostname="h1", ips=("10.0.0.1",))), Stage.PRODUCTION)],
            Gates())
        dep_b = second.deployer.plan([PackagePin("pd-tools", "2.1-1")], [
            (second.add_asset(Asset(hostname="h1", ips=("10.0.0.1",))), Stage.PRODUCTION)],
            dep_a.gates)
        assert dep_a.id == dep_b.id == 1 and dep_a.uid != dep_b.uid
        assert first.deployer._job_id(dep_a, 1) == f"pd-{a}-{dep_a.uid}-a1"
        assert first.deployer._job_id(dep_a, 1) != second.deployer._job_id(dep_b, 1)
        # Stored deployments keep their id.
        assert DeploymentRepo(first.store.db()).get(dep_a.id).uid == dep_a.uid
    finally:
        first.close()
        second.close()


def test_plan_pins_an_architecture_when_asked(tmp_path: Path) -> None:
    service = SiteService.open(tmp_path / "s.pdsite", create=True, actor="t")
    try:
        service.add_asset(Asset(hostname="h1", ips=("10.0.0.1",)))
        dep = service.plan_deployment(["libfoo:i386=2.0-1", "zlib1g=1:1.2.13"], ["h1"])
        assert dep.packages == (PackagePin("libfoo", "2.0-1", "i386"),
                                PackagePin("zlib1g", "1:1.2.13", ""))
        with pytest.raises(UserError, match="No assessed host is missing 'libbar'"):
            service.plan_deployment(["libbar:i386"], ["h1"])
    finally:
        service.close()


def test_change_summary_before_and_after_the_simulation() -> None:
    target = Target(1, "a", "10.0.0.1", Stage.TEST)
    dep = Deployment(id=1, packages=(PackagePin("pd-tools", "2.1-1"),), targets=(target,))
    assert dep.change_summary() == "known after pre-flight (apt's simulation on each host)"
    simulated = replace(target, health_before={"native_arch": "amd64", "pins": {}})
    assert replace(dep, targets=(simulated,)).change_summary() == "no package changes"
    changed = replace(simulated, changes=(PackageChange("pd-tools", "2.0-1", "2.1-1",
                                                        "upgrade", True),))
    assert replace(dep, targets=(changed,)).change_summary() == "pd-tools 2.0-1 → 2.1-1"
