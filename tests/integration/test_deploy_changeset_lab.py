"""Deployments of real Debian packages with a real dependency chain, and host-side job ids
that never collide between sites (issue [7]).

zlib1g-dev's security update depends on the matching zlib1g: apt upgrades both in one
transaction. The deployment must record both (apt's simulation before, dpkg after), keep
both old package files, and roll both back together; the lab host's dpkg says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.deployment import HostState, Phase
from app.core.models import Asset
from app.services import SiteService
from tests.lab.lab import Lab

MASTER = "lab master password"
PATCHDESK = str(Path(sys.executable).with_name("patchdesk"))

pytestmark = pytest.mark.lab


def open_site(path: Path) -> SiteService:
    service = SiteService.open(path, create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", password="labpass")
    return service


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteService]:
    service = open_site(tmp_path / "deploy.pdsite")
    yield service
    service.close()


def dpkg(lab: Lab, host: str, *packages: str) -> dict[str, str]:
    """``name → "version status"`` as dpkg-query prints it on the host ("" when unknown)."""
    out = lab.exec(host, ["dpkg-query", "-W", "-f=${Package} ${Version} ${db:Status-Abbrev}\\n",
                          *packages])
    found = dict.fromkeys(packages, "")
    for line in out.stdout.splitlines():
        name, _, rest = line.partition(" ")
        found[name] = rest.strip()
    return found


def test_dependency_chain_is_deployed_recorded_and_rolled_back_together(
        lab: Lab, lab_host, site: SiteService, tmp_path: Path) -> None:
    with lab.real_packages() as real:
        old, new = real["zlib1g-dev"]
        assert real["zlib1g"] == (old, new)
        info = lab_host(name="zdev")
        lab.exec("zdev", "apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive "
                 f"apt-get -q -y install zlib1g-dev={old} >/dev/null", check=True, timeout=300)
        assert dpkg(lab, "zdev", "zlib1g", "zlib1g-dev") == {
            "zlib1g": f"{old} ii", "zlib1g-dev": f"{old} ii"}
        site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
        env = {**os.environ, "PATCHDESK_MASTER_PASSWORD": MASTER}
        cli = [PATCHDESK, "--site", str(site.path), "--accept-new-host-keys", "deploy"]
        expected = f"zlib1g-dev {old} → {new}, and with it: zlib1g {old} → {new}"

        # The change set is known before anything is installed: `deploy plan --simulate`
        # asks apt on the host (and pre-flight does again).
        planned = json.loads(subprocess.run(
            [*cli, "plan", "--patch", f"zlib1g-dev={new}", "--targets", "zdev", "--simulate",
             "--json"], capture_output=True, text=True, env=env, timeout=120,
            check=True).stdout)
        assert planned["change_set"] == expected
        assert dpkg(lab, "zdev", "zlib1g", "zlib1g-dev") == {
            "zlib1g": f"{old} ii", "zlib1g-dev": f"{old} ii"}  # simulated only
        text = subprocess.run([*cli, "status", str(planned["id"])], capture_output=True,
                              text=True, env=env, timeout=60, check=True).stdout
        assert f"changes: {expected}" in text
        dep = site.deployer.run(planned["id"])
        assert dep.phase is Phase.DONE, dep.targets[0].detail
        target = dep.targets[0]
        assert target.state is HostState.SUCCEEDED and target.verified == "installed"
        assert dpkg(lab, "zdev", "zlib1g", "zlib1g-dev") == {
            "zlib1g": f"{new} ii", "zlib1g-dev": f"{new} ii"}
        changes = {c.name: (c.before, c.after, c.action) for c in target.changes}
        assert changes == {"zlib1g-dev": (old, new, "upgrade"),
                           "zlib1g": (old, new, "upgrade")}
        assert target.before == {"zlib1g-dev": old, "zlib1g": old}
        assert target.after == {"zlib1g-dev": new, "zlib1g": new}
        kept = target.health_before["kept"]
        assert set(kept) == {"zlib1g-dev", "zlib1g"}

        # The CLI shows the whole change set (text and JSON).
        text = subprocess.run([*cli, "status", str(dep.id)], capture_output=True, text=True,
                              env=env, timeout=60, check=True).stdout
        assert f"changes: {expected}" in text
        data = json.loads(subprocess.run([*cli, "status", str(dep.id), "--json"],
                                         capture_output=True, text=True, env=env, timeout=60,
                                         check=True).stdout)
        assert data["change_set"] == expected
        assert {(c["name"], c["before"], c["after"], c["action"])
                for c in data["targets"][0]["changes"]} == {
            ("zlib1g-dev", old, new, "upgrade"), ("zlib1g", old, new, "upgrade")}

        # The repository drops the old versions: rollback uses the files kept on the host.
        lab.republish(drop=[("zlib1g", old), ("zlib1g-dev", old)])
        lab.exec("zdev", "apt-get -q update >/dev/null", check=True, timeout=120)
        dep = site.deployer.rollback(dep.id)
        assert dep.phase is Phase.ROLLED_BACK, dep.targets[0].detail
        assert dep.targets[0].state is HostState.ROLLED_BACK
        assert dpkg(lab, "zdev", "zlib1g", "zlib1g-dev") == {
            "zlib1g": f"{old} ii", "zlib1g-dev": f"{old} ii"}
        # One apt transaction restored both.
        history = lab.read_file("zdev", "/var/log/apt/history.log")
        last = history.strip().split("\n\n")[-1]
        assert "Downgrade:" in last and "zlib1g-dev:amd64" in last and "zlib1g:amd64" in last


def test_a_new_package_pulled_in_is_removed_by_rollback(
        lab: Lab, lab_host, site: SiteService) -> None:
    with lab.real_packages() as real:
        old, new = real["zlib1g-dev"]
        info = lab_host(name="znew")
        lab.exec("znew", "apt-get -q update >/dev/null", check=True, timeout=120)
        assert dpkg(lab, "znew", "zlib1g", "zlib1g-dev", "libc6-dev") == {
            "zlib1g": f"{old} ii", "zlib1g-dev": "", "libc6-dev": ""}
        site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
        dep = site.deployer.run(site.plan_deployment([f"zlib1g-dev={new}"], ["znew"]).id)
        assert dep.phase is Phase.DONE, dep.targets[0].detail
        actions = {c.name: c.action for c in dep.targets[0].changes}
        assert actions["zlib1g-dev"] == "install" and actions["zlib1g"] == "upgrade"
        assert actions["libc6-dev"] == "install"
        dep = site.deployer.rollback(dep.id)
        assert dep.phase is Phase.ROLLED_BACK, dep.targets[0].detail
        state = dpkg(lab, "znew", "zlib1g", "zlib1g-dev", "libc6-dev")
        assert state["zlib1g"] == f"{old} ii"
        assert not state["zlib1g-dev"].endswith("ii") and not state["libc6-dev"].endswith("ii")


def test_deployment_one_of_two_sites_on_the_same_host_both_install(
        lab: Lab, lab_host, tmp_path: Path) -> None:
    info = lab_host(name="twosite")
    first, second = open_site(tmp_path / "a.pdsite"), open_site(tmp_path / "b.pdsite")
    try:
        for service in (first, second):
            service.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
        dep_a = first.deployer.run(first.plan_deployment(["pd-openssl=1.0-2"], ["twosite"]).id)
        dep_b = second.deployer.run(second.plan_deployment(["pd-tools=2.1-1"], ["twosite"]).id)
        assert dep_a.id == dep_b.id == 1  # the same row number in each site file
        assert dep_a.phase is Phase.DONE, dep_a.targets[0].detail
        assert dep_b.phase is Phase.DONE, dep_b.targets[0].detail
        assert dep_a.targets[0].job != dep_b.targets[0].job
        assert dpkg(lab, "twosite", "pd-openssl", "pd-tools") == {
            "pd-openssl": "1.0-2 ii", "pd-tools": "2.1-1 ii"}
        log = " ".join(line["message"] for line in second.deployment_log(dep_b.id))
        assert "re-attached" not in log
    finally:
        first.close()
        second.close()


def test_pins_of_another_architecture_apply_only_where_installed_for_it(
        lab: Lab, lab_host, site: SiteService) -> None:
    info = lab_host(name="zarch")
    native = lab.exec("zarch", "dpkg --print-architecture", check=True).stdout.strip()
    foreign = "arm64" if native != "arm64" else "amd64"
    site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
    # The patch rows' architectures: the host's own (pinned without a qualifier) and one
    # the host has nothing installed for (left out on this host).
    dep = site.plan_deployment([f"pd-tools:{native}=2.1-1", f"pd-openssl:{foreign}=1.0-2"],
                               ["zarch"])
    dep = site.deployer.run(dep.id)
    assert dep.phase is Phase.DONE, dep.targets[0].detail
    target = dep.targets[0]
    assert target.health_before["pins"] == {"pd-tools": "2.1-1"}
    assert [(c.name, c.action) for c in target.changes] == [("pd-tools", "upgrade")]
    assert target.verified == "installed"
    assert dpkg(lab, "zarch", "pd-tools", "pd-openssl") == {
        "pd-tools": "2.1-1 ii", "pd-openssl": "1.0-1 ii"}
    history = lab.read_file("zarch", "/var/log/apt/history.log")
    assert any(line.startswith("Commandline:") and " pd-tools=2.1-1" in line
               and ":" + native not in line for line in history.splitlines())


def test_a_job_with_the_same_id_but_other_arguments_is_not_re_attached(
        lab: Lab, lab_host, site: SiteService) -> None:
    info = lab_host(name="zjob")
    asset = site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
    dep = site.plan_deployment(["pd-tools=2.1-1"], ["zjob"])
    job = site.deployer._job_id(dep, int(asset.id or 0))
    assert job.startswith("pd-") and f"-{dep.uid}-a{asset.id}" in job
    # A finished job of that id whose arguments are someone else's (e.g. a copied site).
    lab.exec("zjob", f"mkdir -p /var/lib/patchdesk/jobs/{job} && cd /var/lib/patchdesk/jobs/"
             f"{job} && printf 'install\\npd-openssl=1.0-2\\n' > args && echo 0 > exit",
             check=True)
    dep = site.deployer.run(dep.id)
    assert dep.phase is Phase.DONE, dep.targets[0].detail
    assert dep.targets[0].job == f"{job}.2"
    assert dpkg(lab, "zjob", "pd-tools", "pd-openssl") == {
        "pd-tools": "2.1-1 ii", "pd-openssl": "1.0-1 ii"}
    log = " ".join(line["message"] for line in site.deployment_log(dep.id))
    assert f"job {job} on the host is another deployment's; this one runs as {job}.2" in log
    assert "re-attached" not in log
    assert lab.read_file("zjob", f"/var/lib/patchdesk/jobs/{job}.2/args") == \
        "install\npd-tools=2.1-1\n"
