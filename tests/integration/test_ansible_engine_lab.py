"""The Ansible engine on the lab's real Debian hosts (ansible-core + ansible-runner, the
extra ``.[ansible]``): the same deployment through ``--engine ansible`` and through the
built-in engine gives the same per-host records, verification and report; a failing
maintainer script halts at the test ring and the rollback through Ansible restores the
kept version; the key and the sudo password never appear in a file of the run's private
folder nor on any process's command line."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from app.core.deployment import Deployment, Gates, HostState, Phase
from app.core.models import Asset
from app.deploy.ansible import available, missing_reason
from app.deploy.ansible import runner as ansible_runner_module
from app.services import SiteService
from tests.lab.lab import Lab

MASTER = "lab master password"
SUDO = "Ansible-Lab-Sudo-7Q2x"  # the admin's password on these hosts (sudo asks for it)
PATCHDESK = str(Path(sys.executable).with_name("patchdesk"))

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(not available() and not os.environ.get(
                  "PATCHDESK_REQUIRE_LAB"), reason=f"Ansible engine: {missing_reason()}")]


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pd-ansible-test",
                    "-f", str(path)], check=True)
    return path, path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def site(tmp_path: Path, key: tuple[Path, str]) -> Iterator[SiteService]:
    assert available(), missing_reason()  # CI installs '.[ansible]'
    service = SiteService.open(tmp_path / "ansible.pdsite", create=True, actor="tech")
    service.remote.unlock(MASTER, create=True)
    service.remote.add_ssh_credential("office", "admin", key_file=str(key[0]),
                                      sudo_password=SUDO)
    service.people.add("J. Smith", "4711-blue")
    yield service
    service.close()


def add_hosts(lab_host: Any, site: SiteService, pubkey: str, names: list[str]) -> None:
    for name in names:
        info = lab_host(name=name, sudo_password=SUDO, authorized_keys=(pubkey,))
        site.add_asset(Asset(hostname=info.name, ips=(info.ip,)))


def version(lab: Lab, host: str, package: str) -> str:
    out = lab.exec(host, ["dpkg-query", "-W", "-f=${Version} ${db:Status-Abbrev}", package])
    return out.stdout.strip()


def comparable(dep: Deployment, prefix: str) -> dict[str, dict[str, Any]]:
    """Each host's record without what differs by nature (times, ids, addresses, the
    measured health figures), by host name without the engine's prefix."""
    out = {}
    for t in dep.targets:
        kept = t.health_before.get("kept", {})
        out[t.label.removeprefix(prefix)] = {
            "stage": str(t.stage), "wave": t.wave, "state": str(t.state), "detail": t.detail,
            "preflight": t.preflight, "before": t.before, "after": t.after,
            "changes": [(c.name, c.before, c.after) for c in t.changes],
            "reboot": t.reboot, "verified": t.verified,
            "kept": {n: Path(p).name for n, p in kept.items()},
            "native_arch": t.health_before.get("native_arch"),
            "pins": t.health_before.get("pins"),
            "health_problems": t.health_after.get("problems"),
            "reboot_required": t.health_after.get("reboot_required"),
        }
    return out


def report_rows(site: SiteService, dep_id: int, prefix: str, tmp_path: Path) -> list[dict]:
    """The report's deployment rows (the deployments export) of one deployment."""
    path = tmp_path / f"deployments-{dep_id}.csv"
    site.reports.export("deployments", "csv", path)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["deployment_id"] == str(dep_id)]
    for row in rows:
        for field in ("deployment_id", "asset_id", "created_at", "started_at", "finished_at",
                      "approved_at"):
            row.pop(field, None)
        row["host"] = row["host"].removeprefix(prefix)
    return sorted(rows, key=lambda r: r["host"])


def report_section(text: str, dep_id: int) -> str:
    """A deployment's summary and host table in the PDF report's text, with what differs by
    nature (ids, times, the engines' host name prefixes) taken out."""
    start = text.rfind(f"Deployment #{dep_id} ")
    assert start >= 0
    section = text[start:text.index("Step log", start)]
    section = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?(\.\d+)?(\+00:00)?", "T", section)
    section = re.sub(r"\b[xb](test|pilot|prod\d)\b", r"\1", section)
    return re.sub(r"\s+", " ", section.replace(f"#{dep_id}", "#N"))


class SecretWatch:
    """Looks for secrets on every process's command line while a run goes on, and in
    every file of each private folder just before it is removed."""

    def __init__(self, secrets: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.secrets = [s for s in secrets if s]
        self.found: list[str] = []
        self.folders: list[Path] = []
        self.files_seen = 0
        self.processes_seen = 0
        self._stop = threading.Event()
        original = ansible_runner_module._remove_private

        def inspect(path: Path) -> None:
            self.folders.append(path)
            assert (path.stat().st_mode & 0o777) == 0o700
            for file in path.rglob("*"):
                if file.is_file() and not file.is_symlink():
                    self.files_seen += 1
                    text = file.read_bytes().decode("utf-8", "replace")
                    self._check(text, str(file))
            original(path)

        monkeypatch.setattr(ansible_runner_module, "_remove_private", inspect)
        self._thread = threading.Thread(target=self._scan, daemon=True)

    def _check(self, text: str, where: str) -> None:
        for secret in self.secrets:
            if secret in text:
                self.found.append(f"{where} holds a secret")

    def _scan(self) -> None:
        while not self._stop.wait(0.05):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                        "utf-8", "replace")
                except OSError:
                    continue
                if "ansible" in args or "ssh" in args:
                    self.processes_seen += 1
                self._check(args, f"process {proc.name} ({args[:80]})")

    def __enter__(self) -> SecretWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_ansible_and_builtin_engines_record_the_same_deployment(
        lab: Lab, lab_host: Any, site: SiteService, key: tuple[Path, str],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["test", "pilot", "prod1", "prod2", "prod3"]
    add_hosts(lab_host, site, key[1], [f"b{n}" for n in names] + [f"x{n}" for n in names])
    site.assess_assets()
    results: dict[str, Deployment] = {}
    for prefix, engine in (("b", "builtin"), ("x", "ansible")):
        dep = site.plan_deployment(
            ["pd-tools=2.1-1"], [f"{prefix}prod1", f"{prefix}prod2", f"{prefix}prod3"],
            test_ring=[f"{prefix}test"], pilot=[f"{prefix}pilot"],
            gates=Gates(wave_size=2, concurrency=4))
        assert site.deployments.use_engine(engine) == engine
        secrets = [SUDO, key[0].read_text().splitlines()[1], MASTER]
        with SecretWatch(secrets, monkeypatch) as watch:
            dep = site.deployments.run(dep.id)
            assert dep.phase is Phase.AWAITING_APPROVAL, dep.halt_reason
            site.deployments.approve(dep.id, "J. Smith", "test ring fine", pin="4711-blue")
            dep = site.deployments.run(dep.id)
        assert dep.phase is Phase.DONE, dep.halt_reason
        assert not watch.found, watch.found
        if engine == "ansible":
            # pre-flight, prepare x3 waves, install x3, verification: each a private folder
            assert len(watch.folders) >= 6 and watch.files_seen > 10
            assert watch.processes_seen > 0  # the scan saw ansible/ssh processes run
            assert all(not p.exists() for p in watch.folders)
        results[engine] = dep
        for name in names:
            assert version(lab, f"{prefix}{name}", "pd-tools") == "2.1-1 ii"

    builtin, ansible = (comparable(results[e], p) for e, p in (("builtin", "b"),
                                                                 ("ansible", "x")))
    assert ansible == builtin
    assert {t["verified"] for t in ansible.values()} == {"installed"}
    assert all(t["kept"] for t in ansible.values())  # the old .deb kept for rollback
    assert report_rows(site, results["ansible"].id, "x", tmp_path) == report_rows(
        site, results["builtin"].id, "b", tmp_path)

    pdf = tmp_path / "report.pdf"
    site.reports.generate(pdf)
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert report_section(text, results["ansible"].id) == report_section(
        text, results["builtin"].id)
    assert "installed" in report_section(text, results["ansible"].id)

    def actions(dep_id: int) -> list[str]:
        return sorted(e.action for e in site.audit_events(
            object_type="deployment", object_id=str(dep_id), limit=500)
            if e.action != "deploy.engine")

    assert actions(results["ansible"].id) == actions(results["builtin"].id)
    def log(dep_id: int, prefix: str) -> list[str]:
        lines = [line["message"] for line in site.deployment_log(dep_id)]
        return sorted(re.sub(rf"\b{prefix}(test|pilot|prod\d)\b", r"\1", m) for m in lines)

    ansible_log, builtin_log = log(results["ansible"].id, "x"), log(results["builtin"].id, "b")
    assert sum(m.startswith("engine: ansible") for m in ansible_log) == 1
    # The same step lines as the built-in engine's, host names aside.
    assert [m for m in ansible_log if not m.startswith("engine: ")] == builtin_log


def test_failing_update_halts_at_the_test_ring_and_ansible_rolls_back(
        lab: Lab, lab_host: Any, site: SiteService, key: tuple[Path, str]) -> None:
    add_hosts(lab_host, site, key[1], ["xbtest", "xbpilot", "xbprod"])
    site.deployments.use_engine("ansible")
    dep = site.plan_deployment(["pd-broken=1.1-1"], ["xbpilot", "xbprod"],
                               test_ring=["xbtest"], pilot=["xbpilot"])
    dep = site.deployments.run(dep.id, approve_as="J. Smith", pin="4711-blue")
    assert dep.phase is Phase.HALTED
    assert "test host(s) failed" in dep.halt_reason
    states = {t.label: t.state for t in dep.targets}
    assert states == {"xbtest": HostState.FAILED, "xbpilot": HostState.PENDING,
                      "xbprod": HostState.PENDING}
    failed = dep.targets[[t.label for t in dep.targets].index("xbtest")]
    assert failed.detail.startswith("failed: apt exited 100"), failed.detail
    assert failed.before == {"pd-broken": "1.0-1"}
    assert version(lab, "xbtest", "pd-broken").startswith("1.1-1 i")  # half-configured
    assert version(lab, "xbpilot", "pd-broken") == "1.0-1 ii"

    # The repository drops the old version: only the .deb kept on the host can restore it.
    lab.republish(drop=[("pd-broken", "1.0-1")])
    try:
        dep = site.deployments.rollback(dep.id)
    finally:
        lab.republish(restore=[("pd-broken", "1.0-1")])
    assert dep.phase is Phase.ROLLED_BACK, [t.detail for t in dep.targets]
    target = dep.target(site.find_assets("xbtest")[0].id or 0)
    assert target.state is HostState.ROLLED_BACK
    assert target.after == {"pd-broken": "1.0-1"}
    assert version(lab, "xbtest", "pd-broken") == "1.0-1 ii"
    history = lab.read_file("xbtest", "/var/log/apt/history.log") + lab.exec(
        "xbtest", ["sh", "-c", "cat /var/log/dpkg.log"]).stdout
    assert "/var/cache/patchdesk/rollback/" in history or "1.0-1" in history
    actions = [e.action for e in site.audit_events(limit=50)]
    assert "deploy.rollback_done" in actions and "deploy.rollback_host" in actions


def test_killed_ansible_run_resumes_without_installing_twice(
        lab: Lab, lab_host: Any, site: SiteService, key: tuple[Path, str],
        tmp_path: Path) -> None:
    names = ["ktest", "kp1", "kp2"]
    add_hosts(lab_host, site, key[1], names)
    dep = site.plan_deployment(["pd-tools=2.1-1"], ["kp1", "kp2"], test_ring=["ktest"],
                               gates=Gates(wave_size=1, concurrency=1))
    path = site.path
    site.close()
    env = {**os.environ, "PATCHDESK_MASTER_PASSWORD": MASTER}
    proc = subprocess.Popen([PATCHDESK, "--site", str(path), "--accept-new-host-keys",
                             "deploy", "run", str(dep.id),
                             "--engine", "ansible", "--approve-as", "J. Smith",
                             "--pin-stdin", "--json"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    proc.stdin.write(b"4711-blue\n")
    proc.stdin.close()
    try:
        deadline = time.monotonic() + 300
        reader = SiteService.open(path)
        while time.monotonic() < deadline:
            current = reader.deployment(dep.id)
            if any(t.label == "kp1" and t.state is HostState.RUNNING for t in current.targets):
                break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.05)
        else:
            pytest.fail("production never started")
        proc.kill()
        proc.wait(10)
        reader.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
    resumed = subprocess.run([PATCHDESK, "--site", str(path), "deploy", "resume", str(dep.id),
                              "--json"], capture_output=True, text=True, env=env,
                             timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = json.loads(resumed.stdout)
    assert final["phase"] == "done"
    assert {t["label"]: t["verified"] for t in final["targets"]} == dict.fromkeys(
        names, "installed")
    messages = [line["message"] for line in final["log"]]
    assert sum(m.startswith("engine: ansible") for m in messages) == 1  # resumed as Ansible
    assert any("resumed: the install playbook runs again" in m for m in messages)
    # The killed run's private folder (its key FIFO was already consumed) is removed by
    # the next run.
    left = [p for p in Path(tempfile.gettempdir()).glob("pd-ansible-*")
            if (p / "owner.pid").exists() and (p / "owner.pid").read_text() == str(proc.pid)]
    assert not left
    for name in names:
        assert version(lab, name, "pd-tools") == "2.1-1 ii"
        history = lab.read_file(name, "/var/log/apt/history.log")
        assert sum(1 for line in history.splitlines()
                   if line.startswith("Commandline:") and "pd-tools=2.1-1" in line) <= 1


def test_password_login_goes_through_the_prompts_only(
        lab: Lab, lab_host: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password credential (no key): Ansible logs in with the password answered at its
    --ask-pass prompt (paramiko when sshpass is missing) and sudo's at --ask-become-pass;
    neither reaches a file or a command line."""
    service = SiteService.open(tmp_path / "pw.pdsite", create=True, actor="tech")
    try:
        service.remote.unlock(MASTER, create=True)
        service.remote.add_ssh_credential("office", "admin", password=SUDO)
        info = lab_host(name="xpw", sudo_password=SUDO)
        service.add_asset(Asset(hostname=info.name, ips=(info.ip,)))
        service.deployments.use_engine("ansible")
        dep = service.plan_deployment(["pd-tools=2.1-1"], ["xpw"])
        with SecretWatch([SUDO, MASTER], monkeypatch) as watch:
            dep = service.deployments.run(dep.id)
        assert dep.phase is Phase.DONE, (dep.halt_reason, [t.detail for t in dep.targets])
        assert not watch.found, watch.found
        assert watch.files_seen > 0
        assert [t.verified for t in dep.targets] == ["installed"]
        assert version(lab, "xpw", "pd-tools") == "2.1-1 ii"
    finally:
        service.close()


def test_reboot_through_ansible_is_recorded_like_the_builtin_engine(
        lab: Lab, lab_host: Any, site: SiteService, key: tuple[Path, str]) -> None:
    """pd-kernel asks for a reboot: the notice goes to logged-in users through wall, the
    reboot module schedules it with the lead time (the lab's shutdown stand-in records the
    request; the test restarts the host), waits for the new boot marker, and the host is
    recorded as the built-in engine records it."""
    from tests.integration.test_deploy_lab import SHUTDOWN_SHIM

    add_hosts(lab_host, site, key[1], ["xrboot"])
    lab.exec("xrboot", ["sh", "-c", "cat > /usr/local/sbin/shutdown; "
                                    "chmod 755 /usr/local/sbin/shutdown"],
             input=SHUTDOWN_SHIM, check=True)
    site.deployments.use_engine("ansible")
    dep = site.plan_deployment(["pd-kernel=5.1-1"], ["xrboot"],
                               gates=Gates(reboot_lead_minutes=1),
                               override_reason="lab test: one minute of notice")
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(
        dep=site.deployments.run(dep.id)), daemon=True)
    runner.start()
    deadline = time.monotonic() + 300
    request = ""
    while time.monotonic() < deadline and not request:
        request = lab.exec("xrboot", "cat /run/pd-shutdown-request 2>/dev/null").stdout.strip()
        time.sleep(0.2)
    assert request.startswith("-r 1 "), request  # one minute of lead time
    recorded = site.deployment(dep.id).targets[0]
    assert recorded.reboot == "scheduled" and recorded.reboot_marker
    lab.simulate_reboot("xrboot")
    runner.join(300)
    assert not runner.is_alive()
    done = result["dep"]
    assert done.phase is Phase.DONE, done.halt_reason
    target = done.targets[0]
    assert (target.state, target.reboot, target.verified) == (
        HostState.SUCCEEDED, "done (boot marker changed)", "installed")
    assert target.health_after["boot_marker"] != target.reboot_marker
    assert lab.exec("xrboot", "test -e /var/run/reboot-required").returncode == 1
    log = " ".join(line["message"] for line in site.deployment_log(done.id))
    assert "reboot scheduled in 1 min; users notified" in log
    assert "back after reboot" in log
    assert "deploy.reboot" in [e.action for e in site.audit_events(limit=50)]
