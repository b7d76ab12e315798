"""The engine deploys through the driver registry: which deployer a host gets, what dnf and
zypper say a transaction changes (captured from the lab's real tools, tests/data/rpmdeploy),
what counts as a failed install, and the engine's one run lock (issue [8])."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from app.core.deployment import Gates, HostState, PackageChange, PackagePin, Phase, Stage
from app.core.models import Asset
from app.deploy.engine import DeploymentBusyError
from app.drivers.apt_deploy import AptDeployer
from app.drivers.base import DriverError, JobStatus
from app.drivers.linux_deploy import compare_health, parse_job_status
from app.drivers.parsers import ParseError
from app.drivers.parsers.rpm_changes import (
    RpmRow,
    changes_from,
    parse_dnf_transaction,
    parse_rpm_rows,
    parse_zypper_summary,
    rpm_states,
)
from app.drivers.registry import deployer_for
from app.drivers.rpm_deploy import DnfDeployer, ZypperDeployer
from app.services import SiteService
from app.store.deployments import DeploymentRepo
from tests.fakes import ScriptedTransport, starts

DATA = Path(__file__).parents[1] / "data" / "rpmdeploy"
ROCKY, SUSE = DATA / "rocky-9-lab", DATA / "opensuse-leap-15.5-lab"


def _os_release(argv: Sequence[str]) -> bool:
    return len(argv) == 3 and argv[2].startswith("cat /etc/os-release")


# -- which deployer ------------------------------------------------------------------------
@pytest.mark.parametrize(("release", "kind"), [
    ('ID=rocky\nID_LIKE="rhel centos fedora"\nPRETTY_NAME="Rocky Linux 9.3"\n', DnfDeployer),
    ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\nPRETTY_NAME="openSUSE Leap 15.5"\n',
     ZypperDeployer),
    ('ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n', AptDeployer),
])
def test_the_registry_picks_the_deployer_from_os_release(release: str, kind: type) -> None:
    transport = ScriptedTransport("h1")
    transport.on(_os_release, 0, release)
    deployer = deployer_for(transport)
    assert isinstance(deployer, kind)
    assert deployer.tool in ("apt", "dnf", "zypper")


def test_a_host_without_a_known_package_manager_has_no_deployer() -> None:
    transport = ScriptedTransport("h1")
    transport.on(_os_release, 0, 'ID=plan9\nPRETTY_NAME="Plan 9"\n')
    with pytest.raises(DriverError, match="no driver for installs") as caught:
        deployer_for(transport)
    assert caught.value.kind == "unknown_os"


# -- change sets -----------------------------------------------------------------------------
def test_dnf_upgrade_table_with_a_multilib_pair() -> None:
    rows = parse_dnf_transaction((ROCKY / "dnf-assumeno-install-upgrade.txt").read_text())
    assert rows == [("upgrade", "pd-multi", "i686", "1.1-1.pdlab"),
                    ("upgrade", "pd-multi", "x86_64", "1.1-1.pdlab"),
                    ("upgrade", "pd-tools", "noarch", "2.1-1.pdlab")]
    before = {"pd-multi": "1.0-1.pdlab", "pd-multi:i686": "1.0-1.pdlab",
              "pd-tools": "2.0-1.pdlab"}
    changes = changes_from(rows, before, {"pd-tools": "2.1-1.pdlab"}, "x86_64")
    assert changes == (
        PackageChange("pd-multi:i686", "1.0-1.pdlab", "1.1-1.pdlab", "upgrade"),
        PackageChange("pd-multi", "1.0-1.pdlab", "1.1-1.pdlab", "upgrade"),
        PackageChange("pd-tools", "2.0-1.pdlab", "2.1-1.pdlab", "upgrade", requested=True))


def test_dnf_simulation_applies_pins_per_architecture() -> None:
    transport = ScriptedTransport("rocky1")
    transport.on(lambda argv: argv[0] == "sh" and "uname -m" in argv[2], 0,
                 "x86_64\npd-tools\tnoarch\t2.0-1.pdlab\npd-multi\tx86_64\t1.0-1.pdlab\n"
                 "pd-multi\ti686\t1.0-1.pdlab\n")
    transport.on(starts("dnf", "--assumeno", "install"), 1,
                 (ROCKY / "dnf-assumeno-install-upgrade.txt").read_text(), "Operation aborted.")
    sim = DnfDeployer().simulate(transport, {
        "pd-tools:noarch": "2.1-1.pdlab", "pd-multi:x86_64": "1.1-1.pdlab",
        "pd-multi:i686": "1.1-1.pdlab", "pd-multi:s390x": "1.1-1.pdlab"})
    assert sim.native_arch == "x86_64"
    # the s390x half is not installed here: that pin does not apply (as with apt)
    assert sim.pins == {"pd-multi:i686": "1.1-1.pdlab", "pd-multi": "1.1-1.pdlab",
                        "pd-tools": "2.1-1.pdlab"}
    dnf = next(argv for argv, _sudo in transport.calls if argv[0] == "dnf")
    assert dnf[3:] == ("pd-multi-1.1-1.pdlab.i686", "pd-multi-1.1-1.pdlab",
                       "pd-tools-2.1-1.pdlab")
    assert {c.name: (c.before, c.after, c.requested) for c in sim.changes} == {
        "pd-multi:i686": ("1.0-1.pdlab", "1.1-1.pdlab", True),
        "pd-multi": ("1.0-1.pdlab", "1.1-1.pdlab", True),
        "pd-tools": ("2.0-1.pdlab", "2.1-1.pdlab", True)}
    refused = ScriptedTransport("rocky1")
    refused.on(lambda argv: argv[0] == "sh", 0, "x86_64\n")
    refused.on(starts("dnf"), 1, "", "Error: Unable to find a match: pd-x-9")
    with pytest.raises(DriverError, match="Unable to find a match") as caught:
        DnfDeployer().simulate(refused, {"pd-x": "9"})
    assert caught.value.kind == "install_impossible"


def test_dnf_rollback_table_downgrade_and_removal() -> None:
    rows = parse_dnf_transaction(
        (ROCKY / "dnf-assumeno-shell-downgrade-remove.txt").read_text())
    assert rows == [("remove", "pd-tools", "noarch", "2.0-1.pdlab"),
                    ("downgrade", "pd-openssl", "x86_64", "1.0-1.pdlab")]
    changes = changes_from(rows, {"pd-tools": "2.0-1.pdlab", "pd-openssl": "1.0-2.pdlab"},
                           {}, "x86_64")
    assert [(c.name, c.action, c.after) for c in changes] == [
        ("pd-tools", "remove", ""), ("pd-openssl", "downgrade", "1.0-1.pdlab")]


def test_dnf_wrapped_rows_and_unsafe_values() -> None:
    text = ("Installing dependencies:\n"
            " python3-a-very-long-package-name-that-does-not-fit\n"
            "                     x86_64     1:2.0-3.el9        appstream      1.2 M\n"
            "     replacing  python3-old.x86_64 1.0-1.el9\n"
            "Skipping packages with conflicts:\n"
            " pd-x               noarch     1.0-1              pdlab          1 k\n"
            "\nTransaction Summary\n Upgrade 1 Package\n")
    assert parse_dnf_transaction(text) == [
        ("install", "python3-a-very-long-package-name-that-does-not-fit", "x86_64",
         "1:2.0-3.el9")]
    with pytest.raises(ParseError, match="unsafe"):
        parse_dnf_transaction("Upgrading:\n pd-x   x86_64   1.0;rm -rf /   pdlab  1 k\n")


def test_zypper_summary_and_its_errors() -> None:
    rows = parse_zypper_summary((SUSE / "zypper-xmlout-install-dry-run.xml").read_text())
    assert rows == [("upgrade", "pd-openssl", "x86_64", "1.0-2.pdlab"),
                    ("upgrade", "pd-tools", "noarch", "2.1-1.pdlab")]
    with pytest.raises(ParseError, match="No provider of 'pd-nothere=1' found"):
        parse_zypper_summary((SUSE / "zypper-xmlout-install-not-found.xml").read_text())
    with pytest.raises(ParseError, match="DTD"):
        parse_zypper_summary('<!DOCTYPE x [<!ENTITY a "b">]><stream/>')


def test_rpm_rows_pick_the_native_arch_and_the_newest_instance() -> None:
    rows = parse_rpm_rows("pd-multi\tx86_64\t1.0-1.pdlab\npd-multi\ti686\t1.1-1.pdlab\n"
                          "kernel-core\tx86_64\t5.14.0-1.el9\nkernel-core\tx86_64\t"
                          "5.14.0-10.el9\nperl\tx86_64\t4:5.32.1-480.el9\n"
                          "pd-tools\tnoarch\t0:2.0-1\npackage pd-gone is not installed\n")
    assert RpmRow("pd-tools", "noarch", "2.0-1") in rows  # epoch 0 is no epoch
    assert rpm_states(rows, ["pd-multi", "pd-multi:i686", "kernel-core", "perl", "pd-tools",
                             "pd-gone"], "x86_64") == {
        "pd-multi": "1.0-1.pdlab", "pd-multi:i686": "1.1-1.pdlab",
        "kernel-core": "5.14.0-10.el9", "perl": "4:5.32.1-480.el9", "pd-tools": "2.0-1",
        "pd-gone": ""}
    with pytest.raises(ParseError):
        parse_rpm_rows("pd-x\tx86_64\t1.0-1 --force\n")


# -- what a failed install is ------------------------------------------------------------------
def _job(path: Path) -> JobStatus:
    """A job's status as job_status.sh reports it for the captured log."""
    text = path.read_text()
    code = int(text.rstrip().rsplit("exit: ", 1)[1])
    notes = [line for line in text.splitlines() if "scriptlet failed" in line
             or line.startswith("Error in ")]
    return parse_job_status("state: done\nexit: {}\nnotes:\n{}\nlog:\n{}".format(
        code, "\n".join(notes), text))


def test_a_failed_post_scriptlet_is_a_failed_install_though_dnf_exits_0() -> None:
    status = _job(ROCKY / "dnf-install-failing-post.txt")
    assert status.exit_code == 0
    assert DnfDeployer().job_problems(status) == [
        "a package scriptlet failed: warning: %post(pd-broken-1.1-1.pdlab.noarch) scriptlet "
        "failed, exit status 1"]
    zypper = _job(SUSE / "zypper-install-failing-post.txt")
    assert zypper.exit_code == 107
    assert ZypperDeployer().job_problems(zypper)[0] == "zypper exited 107 (a package " \
                                                        "script failed)"
    # a clean run, and zypper's "reboot needed" exit, are successes
    assert DnfDeployer().job_problems(JobStatus("done", 0, "Complete!")) == []
    assert ZypperDeployer().job_problems(JobStatus("done", 102, "")) == []
    assert DnfDeployer().job_problems(JobStatus("done", 1, "", ("Error: Unable to find a "
                                                                 "match: pd-x",))) == [
        "dnf exited 1", "Error: Unable to find a match: pd-x"]


def test_job_status_notes_and_health_comparison() -> None:
    status = parse_job_status("state: done\nexit: 100\nnotes:\nE: Sub-process failed\nlog:\n"
                              "line 1\nE: Sub-process failed\n")
    assert (status.state, status.exit_code, status.notes) == ("done", 100,
                                                              ("E: Sub-process failed",))
    assert AptDeployer().job_problems(status) == ["apt exited 100", "E: Sub-process failed"]
    assert compare_health({}, {"package_audit": "pd-x-1 requires libfoo",
                               "package_tool": "dnf"}, []) == [
        "rpm -Va reports: pd-x-1 requires libfoo"]
    # a snapshot stored before package_audit existed still counts
    assert compare_health({}, {"dpkg_audit": "pd-broken half-configured"}, []) == [
        "dpkg --audit reports: pd-broken half-configured"]


# -- the engine's run lock -------------------------------------------------------------------
def test_one_run_or_rollback_of_a_deployment_at_a_time(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lock.pdsite"
    site = SiteService.open(path, create=True, actor="tech")
    other = SiteService.open(path, actor="other")
    try:
        asset = site.add_asset(Asset(hostname="r1", ips=("127.0.0.1",)))
        engine = site.deployer
        dep = engine.plan([PackagePin("pd-tools", "2.1-1")], [(asset, Stage.PRODUCTION)],
                          Gates())
        done = replace(dep.targets[0], state=HostState.SUCCEEDED,
                       before={"pd-tools": "2.0-1"})
        with site.store.atomic() as db:
            DeploymentRepo(db).save(dep.with_target(done).moved(Phase.PREFLIGHT)
                                    .moved(Phase.HALTED, reason="test"))
        entered, release = threading.Event(), threading.Event()

        def slow_transport(_asset: Asset) -> object:
            entered.set()
            release.wait(10)
            raise DriverError("r1", "unreachable", "no route")  # the host is not there

        monkeypatch.setattr(site.remote, "transport_for", slow_transport)
        worker = threading.Thread(target=lambda: engine.rollback(dep.id))
        worker.start()
        try:
            assert entered.wait(10)
            assert engine.busy(dep.id) == "rolling back"
            assert other.deployments.busy(dep.id) == "rolling back"  # same site file
            with pytest.raises(DeploymentBusyError, match="rolling back already"):
                engine.run(dep.id)
            with pytest.raises(DeploymentBusyError):
                other.deployments.rollback(dep.id)
        finally:
            release.set()
            worker.join(10)
        assert engine.busy(dep.id) == ""
        assert "rollback failed" in site.deployment(dep.id).targets[0].detail
    finally:
        other.close()
        site.close()


def _health_text(tools: str, reboot_check: str = "dnf 0") -> str:
    sections = {"uid": "0", "apt-tools": "no", "package-tools": tools,
                "boot-id": "b1", "pid1-start": "42", "uptime": "100.0 50.0",
                "loadavg": "0.10 0.1 0.1 1/100 5", "meminfo": "MemTotal: 1000 kB\n"
                "MemAvailable: 500 kB", "df": "Filesystem 1-blocks Used Available Capacity "
                "Mounted on\n/dev/x 100000000000 1 99999999999 1% /",
                "dpkg-audit": "@@pd-absent@@", "rpm-verify": "",
                "failed-units": "@@pd-absent@@", "reboot-required": "@@pd-absent@@",
                "reboot-check": reboot_check}
    return "".join(f"\n@@pd:{k}@@\n{v}\n" for k, v in sections.items()) + "\n@@pd:end@@\n"


def test_health_names_the_package_tools_and_reads_needs_restarting() -> None:
    transport = ScriptedTransport("rocky1")
    transport.on(lambda argv: argv[0] == "sh", 0, _health_text("dnf\nrpm", "dnf 1\nReboot"))
    health = DnfDeployer().health(transport)
    assert (health["package_tool"], health["package_tools"]) == ("dnf", ["dnf"])
    assert health["package_audit"] == ""
    assert health["reboot_required"] is True  # needs-restarting -r exit 1
    suse = ScriptedTransport("suse1")
    suse.on(lambda argv: argv[0] == "sh", 0, _health_text("zypper\nrpm", "zypper 0"))
    assert ZypperDeployer().health(suse)["reboot_required"] is False


def test_preflight_asks_the_hosts_deployer(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A Rocky host whose dnf is gone fails pre-flight with the deployer's words (the engine
    never asks for apt); a host with no known package manager has no driver for installs."""
    site = SiteService.open(tmp_path / "pre.pdsite", create=True, actor="tech")
    try:
        rocky = site.add_asset(Asset(hostname="rocky1", ips=("127.0.0.2",)))
        plan9 = site.add_asset(Asset(hostname="plan9", ips=("127.0.0.3",)))
        hosts = {"127.0.0.2": ScriptedTransport("127.0.0.2"),
                 "127.0.0.3": ScriptedTransport("127.0.0.3")}
        hosts["127.0.0.2"].on(_os_release, 0, 'ID=rocky\nID_LIKE="rhel fedora"\n')
        hosts["127.0.0.2"].on(lambda argv: argv[0] == "sh", 0, _health_text("rpm"))
        hosts["127.0.0.3"].on(_os_release, 0, "ID=plan9\n")
        monkeypatch.setattr(site.remote, "transport_for",
                            lambda asset: hosts[asset.primary_ip])
        dep = site.deployer.plan([PackagePin("pd-openssl", "1.0-2.pdlab", "x86_64")],
                                 [(rocky, Stage.TEST), (plan9, Stage.PRODUCTION)], Gates())
        dep = site.deployer.run(dep.id)
        assert dep.phase is Phase.HALTED
        assert {t.label: t.preflight for t in dep.targets} == {
            "rocky1": ("dnf is not installed on this host (no driver for installs)",),
            "plan9": ("Linux (plan9) uses no package manager PatchDesk knows (no driver for "
                      "installs)",)}
        assert not any("apt" in argv[0] for t in hosts.values() for argv, _ in t.calls)
    finally:
        site.close()
