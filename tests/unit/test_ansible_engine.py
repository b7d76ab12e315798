"""The Ansible engine's parts without the lab: the generated playbooks and inventories, the
replay of driver steps over collected outputs, the prompt answers, the engine choice, and
one real ansible-runner run on this machine (local connection) proving that values are
never evaluated as templates and that the private folder is 0700 and removed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.core.errors import UserError
from app.deploy.ansible import available, missing_reason
from app.deploy.ansible import runner as runner_module
from app.deploy.ansible.choice import engine_class
from app.deploy.ansible.engine import AnsibleDeployEngine
from app.deploy.ansible.playbooks import (
    install_playbook,
    inventory_text,
    module_packages,
    playbook,
    reboot_playbook,
    rollback_playbook,
    unsafe_yaml,
)
from app.deploy.ansible.replay import (
    Command,
    NeedCommands,
    Output,
    ReplayTransport,
    command_vars,
    first_command,
    host_outputs,
    run_steps,
)
from app.deploy.ansible.runner import HostResult, Login, _passwords, connection_vars
from app.deploy.engine import DeployEngine
from app.drivers.apt_deploy import AptDeployer
from app.remote.ssh import SudoError, UnreachableError

needs_ansible = pytest.mark.skipif(not available(), reason=f"Ansible: {missing_reason()}")


def test_module_packages_name_exact_versions_per_tool() -> None:
    pins = {"pd-tools": "2.1-1", "libfoo:i386": "1:1.0-2"}
    assert module_packages("apt", pins) == ["libfoo:i386=1:1.0-2", "pd-tools=2.1-1"]
    assert module_packages("zypper", {"pd-tools": "2.1-1"}) == ["pd-tools=2.1-1"]
    assert module_packages("dnf", {"pd-tools": "2.1-1.el9", "libx:i686": "1.0-1"}) == [
        "libx-1.0-1.i686", "pd-tools-2.1-1.el9"]


def test_every_host_value_is_unsafe_in_the_inventory() -> None:
    text = inventory_text({"a1": {"ansible_port": 22, "ansible_become": False,
                                  "pd_root": [{"argv": ["sh", "-c", "echo ${#x} {{ y }}"]}]}})
    assert '!unsafe "echo ${#x} {{ y }}"' in text
    assert "ansible_port: 22" not in text and '"ansible_port": 22' in text
    assert unsafe_yaml({"k": [1, True, None, "v"]}) == '{"k": [1, true, null, !unsafe "v"]}'


def test_playbooks_use_the_package_modules_and_no_host_value() -> None:
    install = install_playbook("deployment 3 install", zypper=False)
    reboot = reboot_playbook("r")
    # The reboot module writes msg into a root shell command: never the policy's notice
    # (it goes to wall on stdin).
    msg = next(line for line in reboot.splitlines() if line.strip().startswith("msg:"))
    assert "{{" not in msg and 'stdin: "{{ pd_reboot_text }}"' in reboot
    assert "ansible.builtin.apt:" in install and "ansible.builtin.dnf:" in install
    assert "community.general.zypper" not in install  # only when the collection exists
    assert "community.general.zypper" in install_playbook("x", zypper=True)
    rollback = rollback_playbook("r", zypper=False)
    assert "deb: \"{{ pd_restore | join(',') }}\"" in rollback
    assert "allow_downgrade: true" in rollback
    assert 'name: "PatchDesk - a \'quoted\' title"' in playbook('a "quoted" title')


def test_prompt_answers_and_switches_never_carry_a_secret() -> None:
    login = Login("admin", key_pem="-----BEGIN KEY-----x", key_passphrase="kp",
                  become="password", become_password="sudo-pw")
    answers, switches = _passwords(login)
    assert switches == ["--ask-become-pass"]
    assert sorted(answers.values()) == ["kp", "no", "sudo-pw"]  # "no": unknown host keys
    assert not any(s in " ".join(switches) for s in login.secrets())
    pw = Login("admin", password="pw", become="password", become_password="pw")
    assert _passwords(pw)[1] == ["--ask-pass", "--ask-become-pass"]
    assert connection_vars("10.0.0.1", 2222, Login("root", key_pem="k", become="root")) == {
        "ansible_host": "10.0.0.1", "ansible_port": 2222, "ansible_user": "root",
        "ansible_python_interpreter": "auto_silent", "ansible_become": False}


def test_replay_runs_steps_in_rounds_and_keeps_their_errors() -> None:
    rounds: list[dict[str, list[Command]]] = []

    def execute(batch: dict[str, list[Command]]) -> dict[str, dict[Command, Any]]:
        rounds.append(batch)
        return {h: {c: Output(0, " ".join(c.argv[1:]), "") for c in cs}
                for h, cs in batch.items()}

    def step(transport: ReplayTransport) -> str:
        first = transport.run(["echo", "one"]).stdout
        try:  # a step's broad except never swallows the need for a command
            second = transport.run(["echo", first, "two"], sudo=True).stdout
        except Exception:  # pragma: no cover - must not happen
            return "swallowed"
        return second

    def broken(transport: ReplayTransport) -> str:
        transport.run(["echo", "one"])
        raise UserError("this host's own failure")

    found = run_steps({"a": ("10.0.0.1", step), "b": ("10.0.0.2", broken)}, execute)
    assert found["a"] == "one two"
    assert isinstance(found["b"], UserError)
    assert len(rounds) == 2  # one round per dependent command
    rounds.clear()
    ahead = {"a": [Command(("echo", "one"))]}
    assert run_steps({"a": ("10.0.0.1", step)}, execute, ahead)["a"] == "one two"
    assert len(rounds) == 2 and rounds[0] == ahead


def test_first_command_is_the_drivers_own() -> None:
    command = first_command(AptDeployer().health)
    assert command is not None and command.sudo and command.argv[:2] == ("sh", "-c")
    assert "dpkg" in command.argv[2]
    with pytest.raises(NeedCommands):
        ReplayTransport("h", {}).run(["true"])


def test_host_outputs_maps_items_and_failures() -> None:
    ok, sudo = Command(("true",)), Command(("id",), sudo=True)
    vars_ = command_vars([ok, sudo])
    assert [i["key"] for i in vars_["pd_user"]] == [ok.key]
    result = HostResult(tasks={"t": {"results": [
        {"item": {"key": ok.key}, "rc": 0, "stdout": "out", "stderr": ""},
        {"item": {"key": sudo.key}, "msg": "Missing sudo password"}]}})
    known = host_outputs("10.0.0.1", result, [ok, sudo])
    assert known[ok] == Output(0, "out", "")
    assert isinstance(known[sudo], SudoError)
    gone = host_outputs("10.0.0.1", HostResult(unreachable="No route to host"), [ok])
    assert isinstance(gone[ok], UnreachableError)


def test_engine_choice() -> None:
    assert engine_class("builtin") is DeployEngine
    with pytest.raises(UserError, match="Unknown engine"):
        engine_class("salt")
    if available():
        assert engine_class("ansible") is AnsibleDeployEngine
    else:
        with pytest.raises(UserError, match="not available"):
            engine_class("ansible")


@needs_ansible
def test_show_playbook_from_the_cli(tmp_path: Path) -> None:
    site = str(tmp_path / "s.pdsite")

    def run(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        return main(list(argv), out=out), out.getvalue()

    assert run("--site", site, "asset", "add", "--hostname", "web01", "--ip",
               "10.0.0.5")[0] == 0
    code, out = run("--site", site, "--json", "deploy", "plan", "--patch", "pd-tools=2.1-1",
                    "--targets", "web01", "--engine", "ansible", "--show-playbook")
    assert code == 0, out
    shown = json.loads(out)["playbooks"]
    assert "ansible.builtin.apt:" in shown["install.yml"]
    assert '!unsafe "pd-tools=2.1-1"' in shown["host_vars (install)"]
    assert "ansible.builtin.reboot:" in shown["reboot.yml"]


@needs_ansible
def test_a_real_run_never_evaluates_values_and_removes_its_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "evaluated"
    hostile = f"{{{{ lookup('pipe', 'touch {marker}') }}}} ${{#x}} {{% raw %}}"
    seen: list[tuple[Path, int, list[str]]] = []
    original = runner_module._remove_private

    def inspect(path: Path) -> None:
        seen.append((path, path.stat().st_mode & 0o777,
                     sorted(str(p.relative_to(path)) for p in path.rglob("*"))))
        original(path)

    monkeypatch.setattr(runner_module, "_remove_private", inspect)
    me = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout
    login = Login(me.strip(), become="root")
    commands = [Command(("printf", "%s", hostile)), Command(("sh", "-c", "exit 3"))]
    host = {**connection_vars("127.0.0.1", 22, login), "ansible_connection": "local",
            "ansible_python_interpreter": os.environ.get("PYTHON", "/usr/bin/python3"),
            **command_vars(commands)}
    results = runner_module.run_playbook(playbook("unit test"), {"local": host}, login,
                                         known_hosts=[], forks=1, timeout=300)
    known = host_outputs("127.0.0.1", results["local"], commands)
    assert known[commands[0]] == Output(0, hostile, "")
    assert known[commands[1]] == Output(3, "", "")
    assert not marker.exists()
    (path, mode, files), = seen
    assert mode == 0o700 and "project/play.yml" in files and "inventory/hosts.yml" in files
    assert not path.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_killed_runs_folder_and_waiting_ssh_add_are_released(tmp_path: Path) -> None:
    """A run killed before ansible-runner fed the key: its ssh-add waits on the key FIFO
    (here: cat). The next run's clean-up lets it go and removes the folder."""
    private = tmp_path / f"{runner_module.PRIVATE_PREFIX}dead"
    (private / "artifacts" / "run").mkdir(parents=True)
    fifo = private / "artifacts" / "run" / "ssh_key_data"
    os.mkfifo(fifo, 0o600)
    (private / "owner.pid").write_text(str(_dead_pid()))
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        time.sleep(0.2)
        assert reader.poll() is None  # blocked, as ssh-add was
        live = tmp_path / f"{runner_module.PRIVATE_PREFIX}live"
        live.mkdir()
        (live / "owner.pid").write_text(str(os.getpid()))
        runner_module.remove_stale(tmp_path)
        out, _ = reader.communicate(timeout=5)
        assert reader.returncode == 0 and out == b""
        assert not private.exists() and live.exists()  # a live run's folder stays
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.communicate()


def test_a_key_nobody_read_is_drained_when_the_folder_goes(tmp_path: Path) -> None:
    """ansible-runner's writer thread blocks until someone opens the key FIFO; a run that
    failed before ssh-add started must not leave it (and its process) hanging."""
    from ansible_runner.utils import open_fifo_write

    if not available():
        pytest.skip(missing_reason())
    private = tmp_path / "p"
    (private / "artifacts" / "run").mkdir(parents=True)
    before = set(threading.enumerate())
    open_fifo_write(str(private / "artifacts" / "run" / "ssh_key_data"), "KEY")
    writer = next(iter(set(threading.enumerate()) - before))
    runner_module._remove_private(private)
    writer.join(5)
    assert not writer.is_alive() and not private.exists()
