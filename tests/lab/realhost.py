"""Serve THIS machine over SSH on loopback, for tests and benchmarks against a real host.

The machine the tests run on is a real Debian/Ubuntu system with whatever backlog of
updates it has. :func:`serve_this_machine` starts a private ``/usr/sbin/sshd -D`` on a
127.0.0.x address and a free high port with a throw-away host key and client key: root
may log in by that key only (``PermitRootLogin prohibit-password``, no passwords, no PAM).
The daemon is stopped and its temporary directory removed when the ``with`` block ends.
Nothing else on the machine changes: the system's sshd config, host keys and
authorized_keys are never read or written; the only shared thing is sshd's privilege
separation directory ``/run/sshd``, created (and left, as the openssh-server package
itself would) if missing.

    with serve_this_machine() as host:          # needs root and openssh-server
        print(host.ip, host.port, host.user, host.key_path, host.host_key)

``openssh-server`` comes from tests/lab/apt-packages.txt (``packaging/debian-deps.sh
--test``). Stdlib only, like lab.py.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 15.0


class RealHostError(RuntimeError):
    """The private sshd could not be started."""


@dataclass(frozen=True)
class RealHost:
    """This machine as an SSH target.

    Attributes:
        ip: the loopback address sshd listens on (127.0.0.x).
        port: its TCP port.
        user: the login user (``root``).
        key_path: the client's private key (OpenSSH ed25519, no passphrase).
        host_key: sshd's public host key as ``(key_type, base64)``, e.g.
            ``("ssh-ed25519", "AAAAC3...")`` (for pinning / known_hosts).
        log_path: sshd's log (``-E``), useful when a login fails.
    """

    ip: str
    port: int
    user: str
    key_path: Path
    host_key: tuple[str, str]
    log_path: Path

    @property
    def known_hosts_line(self) -> str:
        """An OpenSSH known_hosts line for ``[ip]:port``."""
        return f"[{self.ip}]:{self.port} {self.host_key[0]} {self.host_key[1]}"

    def ssh_argv(self, *command: str) -> list[str]:
        """An ``ssh`` command line that logs in as :attr:`user` (strict host key checking
        against a temporary known_hosts file next to the key)."""
        known = self.key_path.parent / "known_hosts"
        if not known.exists():
            known.write_text(self.known_hosts_line + "\n", encoding="utf-8")
        return ["ssh", "-p", str(self.port), "-i", str(self.key_path),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
                f"{self.user}@{self.ip}", *command]


def realhost_unavailable_reason() -> str | None:
    """Why this machine cannot be served over SSH here, or None if it can."""
    if os.geteuid() != 0:
        return "serving this machine as root over SSH needs root"
    if not os.access(SSHD, os.X_OK):
        return (f"{SSHD} is missing: install openssh-server "
                "(packaging/debian-deps.sh --test)")
    if shutil.which(SSH_KEYGEN) is None:
        return "ssh-keygen is missing: install openssh-client"
    if shutil.which("apt-get") is None or shutil.which("dpkg-query") is None:
        return "this machine is not Debian-family (no apt-get/dpkg-query)"
    return None


def _free_endpoint(rng: random.Random) -> tuple[str, int]:
    """A 127.0.0.x address (x in 2..254) and a high port nothing listens on right now."""
    for _ in range(50):
        ip = f"127.0.0.{rng.randint(2, 254)}"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((ip, 0))
            except OSError:
                continue
            port = s.getsockname()[1]
        if port >= 1024:
            return ip, port
    raise RealHostError("no free loopback address/port found")


def _keygen(path: Path, comment: str) -> None:
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True, capture_output=True, timeout=30)


def _config(tmp: Path, ip: str, port: int) -> str:
    return "\n".join([
        f"ListenAddress {ip}:{port}",
        f"HostKey {tmp / 'host_ed25519'}",
        f"PidFile {tmp / 'sshd.pid'}",
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}",
        "AllowUsers root",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "HostbasedAuthentication no",
        "PermitEmptyPasswords no",
        "UsePAM no",
        "StrictModes no",
        "X11Forwarding no",
        "AllowAgentForwarding no",
        "AllowTcpForwarding no",
        "PermitTunnel no",
        "PermitUserEnvironment no",
        "PrintMotd no",
        "MaxStartups 50:30:100",
        "MaxSessions 50",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        "",
    ])


def _wait_for_banner(ip: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RealHostError(f"sshd exited with {proc.returncode}: "
                                f"{log.read_text(errors='replace')[-800:]}")
        try:
            with socket.create_connection((ip, port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-2.0-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RealHostError(f"sshd did not answer on {ip}:{port} within {START_TIMEOUT:.0f} s: "
                        f"{log.read_text(errors='replace')[-800:]}")


@contextlib.contextmanager
def serve_this_machine(*, seed: int | None = None) -> Iterator[RealHost]:
    """Run a private sshd serving this machine on loopback for the ``with`` block.

    Args:
        seed: seeds the choice of 127.0.0.x (for reproducing a run); random by default.

    Yields:
        The endpoint, user, client key and host key.

    Raises:
        RealHostError: not root, sshd missing, or sshd did not come up (its log is in the
            message).
    """
    reason = realhost_unavailable_reason()
    if reason is not None:
        raise RealHostError(reason)
    tmp = Path(tempfile.mkdtemp(prefix="pd-realhost-"))
    started: list[subprocess.Popen[bytes]] = []
    try:
        host = _start(tmp, random.Random(seed), started)
        yield host
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def _start(tmp: Path, rng: random.Random, started: list[subprocess.Popen[bytes]]) -> RealHost:
    """Keys, config and a running sshd in ``tmp``; every process started goes to ``started``."""
    try:
        tmp.chmod(0o700)
        _keygen(tmp / "host_ed25519", "patchdesk-realhost-host")
        _keygen(tmp / "client_ed25519", "patchdesk-realhost-client")
        shutil.copyfile(tmp / "client_ed25519.pub", tmp / "authorized_keys")
        key_type, key_b64 = (tmp / "host_ed25519.pub").read_text().split()[:2]
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        log = tmp / "sshd.log"
        for _attempt in range(5):
            ip, port = _free_endpoint(rng)
            (tmp / "sshd_config").write_text(_config(tmp, ip, port), encoding="utf-8")
            subprocess.run([SSHD, "-t", "-f", str(tmp / "sshd_config")], check=True,
                           capture_output=True, timeout=30)
            log.write_text("", encoding="utf-8")
            proc = subprocess.Popen(
                [SSHD, "-D", "-f", str(tmp / "sshd_config"), "-E", str(log)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started.append(proc)
            try:
                _wait_for_banner(ip, port, proc, log)
            except RealHostError:
                if proc.poll() is None or "Address already in use" not in log.read_text(
                        errors="replace"):
                    raise
                continue  # lost the port race: try another endpoint
            return RealHost(ip=ip, port=port, user="root", key_path=tmp / "client_ed25519",
                            host_key=(key_type, key_b64), log_path=log)
    except subprocess.CalledProcessError as exc:
        raise RealHostError(f"{exc.cmd[0]} failed: {exc.stderr.decode(errors='replace')}"
                            ) from None
    raise RealHostError("sshd could not bind a loopback port after 5 attempts")

if __name__ == "__main__":  # manual check: serve, log in once with ssh, stop
    with serve_this_machine() as served:
        print(served)
        out = subprocess.run(served.ssh_argv("id -un; hostname"), capture_output=True,
                             text=True, timeout=30, check=False)
        print(out.returncode, out.stdout.strip(), out.stderr.strip())
