"""One ansible-runner run of a generated playbook, in a private folder, with results per host.

The folder is made by :func:`tempfile.mkdtemp` (mode 0700, this user only) and removed when
the run ends, whatever happens. It holds the playbook, the inventory (connection settings
and the step's host variables, no secrets), a ``known_hosts`` file of the keys the site has
pinned (strict host key checking), Ansible's home and SSH control sockets. Secrets never
go into a file of it or onto a command line: the private key goes through ansible-runner's
``ssh_key`` input (a FIFO that ``ssh-add`` reads once, then deleted), passwords through its
``passwords`` input (answers to Ansible's ``--ask-pass`` / ``--ask-become-pass`` prompts on
its terminal), and ``suppress_env_files`` keeps runner from writing its env/ files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.deploy.ansible.availability import missing_reason, playbook_binary
from app.deploy.ansible.playbooks import inventory_text

__all__ = ["HostResult", "Login", "RunFailedError", "connection_vars", "run_playbook"]

log = logging.getLogger(__name__)
PRIVATE_PREFIX = "pd-ansible-"
#: Called as (inventory host name, task name, event name) while a run goes on.
EventHook = Callable[[str, str, str], None]


class RunFailedError(Exception):
    """ansible-runner could not run the playbook at all (no host results)."""


@dataclass(frozen=True)
class Login:
    """How Ansible logs in and becomes root on a group of hosts (one credential)."""

    username: str
    key_pem: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    become: str = "password"  # "password" | "nopasswd" | "root"
    become_password: str | None = field(default=None, repr=False)

    def secrets(self) -> list[str]:
        """Every secret value (tests scan files and process arguments for them)."""
        return [s for s in (self.key_pem, self.key_passphrase, self.password,
                            self.become_password) if s]


@dataclass
class HostResult:
    """What one host did in a run: each task's result by task name, or why it was not
    reached."""

    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # task name → message
    unreachable: str = ""

    def items(self, task: str) -> list[dict[str, Any]]:
        """The per-item results of a looped task (empty when it did not run)."""
        res = self.tasks.get(task, {})
        return list(res.get("results", [])) if isinstance(res.get("results"), list) else []


def connection_vars(address: str, port: int, login: Login) -> dict[str, Any]:
    """An inventory host's connection settings (no secrets)."""
    out: dict[str, Any] = {"ansible_host": address, "ansible_port": port,
                           "ansible_user": login.username,
                           "ansible_python_interpreter": "auto_silent"}
    if login.password and not login.key_pem and shutil.which("sshpass") is None:
        # Password logins over OpenSSH need sshpass; Ansible's paramiko connection doesn't.
        out["ansible_connection"] = "paramiko"
    if login.become == "root":
        out["ansible_become"] = False
    else:
        out.update(ansible_become_method="sudo")
    return out


def _passwords(login: Login) -> tuple[dict[str, str], list[str]]:
    """ansible-runner's prompt answers and the command-line switches that ask for them."""
    answers: dict[str, str] = {}
    switches: list[str] = []
    if login.password and not login.key_pem:
        answers[r"SSH password:\s*$"] = login.password
        switches.append("--ask-pass")
    if login.become == "password" and login.become_password:
        answers[r"BECOME password.*:\s*$"] = login.become_password
        switches.append("--ask-become-pass")
    # An unknown host key is refused, never confirmed at a prompt (strict checking).
    answers[r"\(yes/no(/\[fingerprint\])?\)\?\s*$"] = "no"
    if login.key_pem and login.key_passphrase:
        answers[r"Enter passphrase for .*:\s*$"] = login.key_passphrase
    return answers, switches


def _key_fifos(path: Path) -> list[Path]:
    return [p for p in path.glob("artifacts/*/ssh_key_data") if stat.S_ISFIFO(p.lstat().st_mode)]


def _drain_key_fifo(path: Path) -> None:
    """A key FIFO no ssh-add read (the run failed before it started): read it empty so
    ansible-runner's writer thread ends (the key goes nowhere)."""
    for fifo in _key_fifos(path):
        with contextlib.suppress(OSError):
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            try:  # until the writer came and went (it may not have opened it yet)
                deadline, got = time.monotonic() + 2.0, False
                while time.monotonic() < deadline:
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        data = None
                    if data:
                        got = True
                    elif data == b"" and got:
                        break
                    else:
                        time.sleep(0.02)
            finally:
                os.close(fd)


def _release_key_reader(path: Path) -> None:
    """A killed run's ssh-add may still wait on its key FIFO: open and close the write end
    so it reads nothing and gives up (its playbook never starts)."""
    for fifo in _key_fifos(path):
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def _remove_private(path: Path) -> None:
    """Remove a run's private folder (tests wrap this to look inside first)."""
    _drain_key_fifo(path)
    shutil.rmtree(path, ignore_errors=True)


def remove_stale(base: Path | None = None) -> None:
    """Remove private folders left by runs whose process was killed (a resumed run)."""
    root = Path(base or tempfile.gettempdir())
    for path in root.glob(PRIVATE_PREFIX + "*"):
        try:
            pid = int((path / "owner.pid").read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue
        if path.stat().st_uid == os.getuid() and not Path(f"/proc/{pid}").exists():
            _release_key_reader(path)
            shutil.rmtree(path, ignore_errors=True)


def _environment(private: Path, known_hosts: Path) -> dict[str, str]:
    home = Path("~").expanduser()
    collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.pathsep.join(
        [str(home / ".ansible/collections"), "/usr/share/ansible/collections"])
    binary = playbook_binary()
    return {
        "PATH": os.pathsep.join([str(Path(binary).parent), str(Path(sys.executable).parent),
                                 os.environ.get("PATH", "/usr/bin:/bin")]),
        "HOME": str(private),  # no ~/.ssh/config, keys or known_hosts of the user's
        "ANSIBLE_HOME": str(private / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),
        "ANSIBLE_CONFIG": str(private / "no-ansible.cfg"),  # ignore any ansible.cfg around
        "ANSIBLE_COLLECTIONS_PATH": collections,
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": f"-o ControlMaster=auto -o ControlPersist=60s "
                            f"-o UserKnownHostsFile={known_hosts} "
                            f"-o StrictHostKeyChecking=yes -o IdentitiesOnly=no",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(private / "cp"),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_TIMEOUT": "30",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_SYSTEM_WARNINGS": "False",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
    }


_EVENTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_skipped": "skipped"}


def run_playbook(playbook: str, hosts: Mapping[str, Mapping[str, Any]], login: Login, *,
                 known_hosts: Sequence[str], forks: int = 5, timeout: float = 3600,
                 on_event: EventHook | None = None,
                 cancelled: Callable[[], bool] | None = None) -> dict[str, HostResult]:
    """Run ``playbook`` on ``hosts`` (inventory name → host variables, connection settings
    included) logging in as ``login``; every host's results, by inventory name.

    Raises:
        RunFailedError: ansible-runner is missing or the run produced no result at all
            (a playbook Ansible refused, a timeout, a cancel before any host answered).
    """
    reason = missing_reason()
    if reason:
        raise RunFailedError(f"the Ansible engine is not available: {reason}")
    import ansible_runner  # the optional extra: imported only when a run happens

    results: dict[str, HostResult] = {name: HostResult() for name in hosts}

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        host = str(data.get("host") or "")
        task = str(data.get("task") or "")
        kind = str(event.get("event") or "")
        if host not in results:
            return False
        if kind == "runner_on_unreachable":
            res = data.get("res") or {}
            results[host].unreachable = str(res.get("msg") or "unreachable")[:500]
        elif kind in _EVENTS:
            res = data.get("res") or {}
            results[host].tasks[task] = res
            if kind == "runner_on_failed":
                results[host].failed[task] = str(res.get("msg") or "failed")[:500]
        if on_event is not None and kind in ("runner_on_start", *(_EVENTS),
                                             "runner_on_unreachable"):
            on_event(host, task, kind)
        return False  # nothing kept in memory by runner: the results are here

    remove_stale()
    private = Path(tempfile.mkdtemp(prefix=PRIVATE_PREFIX))  # 0700
    try:
        (private / "owner.pid").write_text(str(os.getpid()), encoding="ascii")
        for sub in ("project", "inventory", "tmp", "cp", "ansible-home"):
            (private / sub).mkdir(mode=0o700)
        (private / "project" / "play.yml").write_text(playbook, encoding="utf-8")
        (private / "inventory" / "hosts.yml").write_text(inventory_text(hosts),
                                                         encoding="utf-8")
        known = private / "known_hosts"
        known.write_text("".join(line + "\n" for line in known_hosts), encoding="utf-8")
        (private / ".ssh").mkdir(mode=0o700)  # where the paramiko connection looks
        (private / ".ssh" / "known_hosts").write_text(known.read_text(encoding="utf-8"),
                                                      encoding="utf-8")
        answers, switches = _passwords(login)
        started = time.monotonic()
        runner = ansible_runner.run(
            private_data_dir=str(private), playbook="play.yml",
            inventory=str(private / "inventory" / "hosts.yml"),
            ssh_key=login.key_pem or None, passwords=answers,
            cmdline=" ".join(switches) or None, forks=max(1, forks),
            envvars=_environment(private, known), quiet=True, suppress_env_files=True,
            event_handler=handle, timeout=int(timeout),
            cancel_callback=(lambda: bool(cancelled and cancelled())),
            ident="run")
        status, rc = runner.status, runner.rc
        log.info("ansible-runner: %s on %d host(s) in %.1f s (%s)", playbook.split("\n")[2][9:],
                 len(hosts), time.monotonic() - started, status)
        if not any(r.tasks or r.unreachable for r in results.values()):
            tail = ""
            with contextlib.suppress(OSError, AttributeError):
                tail = _secret_free(runner.stdout.read()[-1500:], login)
            raise RunFailedError(f"ansible-playbook {status} (exit {rc}) after "
                                 f"{time.monotonic() - started:.0f}s without a host result"
                                 + (f": {tail.strip()}" if tail.strip() else ""))
        return results
    finally:
        _remove_private(private)


def _secret_free(text: str, login: Login) -> str:
    for secret in login.secrets():
        text = text.replace(secret, "********")
    return re.sub(r"-----BEGIN[^-]*PRIVATE KEY-----.*?-----END[^-]*PRIVATE KEY-----",
                  "********", text, flags=re.S)
