"""README's install command on a fresh Debian 12 (minimal, ``python3`` only), for real ([14]).

A green run on the development machine once hid a missing install step (a font package and
libpython3.11). This test builds a pristine Debian 12 root filesystem with debootstrap
(minbase + python3, cached as a template and copied fresh for each run), copies the working
tree into it, runs the README's first command there (without its final GUI start), then
starts the GUI offscreen, does a CLI round trip and writes a report whose arrows and
non-Latin text must read back from the PDF.

It needs root (chroot, mounts) and reaches only the package registries (Debian's mirror as
configured on this machine, PyPI) from the chroot; it is slow (a few minutes).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import lab as labmod

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NETWORK_ENV = frozenset({"PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "http_proxy",
                         "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"})

CLIENT = "Müller Zahnärzte → Ωmega"  # Latin, Greek and an arrow: DejaVu covers them


def _readme_install_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(sh packaging/debian-deps\.sh[^\n]*)\n```", readme)
    install = commands[0]
    assert install.endswith("&& .venv/bin/patchdesk-gui"), install
    return install.removesuffix("&& .venv/bin/patchdesk-gui").strip()


def _template() -> Path:
    """A pristine minbase + python3 root filesystem, built once and kept as a template."""
    cache = labmod.cache_dir()
    final = cache / "fresh-bookworm-python3"
    if (final / "etc" / "patchdesk-fresh").is_file():
        return final
    with labmod._flock(cache / ".fresh.lock", 900, "the fresh rootfs build lock"):
        if (final / "etc" / "patchdesk-fresh").is_file():
            return final
        tmp = cache / f".fresh-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        debs = cache / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        subprocess.run([labmod._tool("debootstrap"), "--variant=minbase", "--include=python3",
                        f"--cache-dir={debs}", labmod.SUITE, str(tmp),
                        labmod.find_debian_mirror()], check=True, capture_output=True,
                       timeout=900, env={**os.environ, "LANG": "C", "LC_ALL": "C"})
        (tmp / "etc" / "patchdesk-fresh").write_text("minbase + python3\n")
        tmp.rename(final)
    return final


# what a checkout holds beyond the tracked files: never copied into the fresh machine
_UNTRACKED = frozenset({".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache",
                        ".hypothesis", ".ruff_cache", "build", "dist", "tmp"})


def _tracked_files() -> bytes:
    """NUL-separated paths of the working tree as a fresh clone has them.

    ``git ls-files`` where git and the repository's metadata are there; otherwise (a copy of
    the tree on a machine without git, as when the suite itself runs on a fresh machine)
    every file outside the caches and build folders.
    """
    git = shutil.which("git")
    if git is not None and (ROOT / ".git").exists():
        listed = subprocess.run([git, "-C", str(ROOT), "ls-files", "-z"], capture_output=True,
                                check=False)
        if listed.returncode == 0:
            return listed.stdout
    paths = []
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if path.is_dir() or _UNTRACKED.intersection(rel.parts) or path.suffix == ".pyc":
            continue
        if rel.parts[0].endswith(".egg-info"):
            continue
        paths.append(str(rel).encode())
    return b"\0".join(paths) + b"\0"


@contextlib.contextmanager
def _fresh_machine(tmp_path: Path) -> Iterator[Path]:
    rootfs = tmp_path / "rootfs"
    subprocess.run(["cp", "-a", str(_template()), str(rootfs)], check=True, timeout=300)
    (rootfs / "etc" / "resolv.conf").write_bytes(Path("/etc/resolv.conf").read_bytes())
    # the machine's own extra trusted CAs (a TLS-inspecting proxy's, say) as a real machine
    # on this network would have them: Debian's ca-certificates, which the README command
    # installs, picks them up from here
    local_cas = Path("/usr/local/share/ca-certificates")
    if local_cas.is_dir():
        shutil.copytree(local_cas, rootfs / "usr" / "local" / "share" / "ca-certificates",
                        dirs_exist_ok=True)
    pip_cache = Path("/root/.cache/pip")  # the host's pip cache: saves the PySide6 download
    pip_cache.mkdir(parents=True, exist_ok=True)
    (rootfs / "root" / ".cache" / "pip").mkdir(parents=True, exist_ok=True)
    mounts = [("proc", rootfs / "proc", ["-t", "proc"]),
              ("/dev", rootfs / "dev", ["--rbind"]),
              ("sysfs", rootfs / "sys", ["-t", "sysfs"]),
              (str(pip_cache), rootfs / "root" / ".cache" / "pip", ["--bind"])]
    done: list[Path] = []
    try:
        for source, target, opts in mounts:
            subprocess.run(["mount", *opts, source, str(target)], check=True)
            done.append(target)
        # the working tree as a fresh clone would have it (tracked files, current content)
        files = _tracked_files()
        dest = rootfs / "opt" / "patchdesk"
        dest.mkdir(parents=True)
        with (tmp_path / "tree.tar").open("wb") as tree:
            subprocess.run(["tar", "--null", "-T", "-", "-cf", "-"], input=files, cwd=ROOT,
                           check=True, stdout=tree)
        subprocess.run(["tar", "-xf", str(tmp_path / "tree.tar"), "-C", str(dest)], check=True)
        yield rootfs
    finally:
        for target in reversed(done):
            subprocess.run(["umount", "-R", "-l", str(target)], check=False)


def _in(rootfs: Path, script: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    # this network's settings (a proxy, its CA bundle): what a user here has in their shell
    env.update({k: v for k, v in os.environ.items() if k in NETWORK_ENV})
    return subprocess.run(["chroot", str(rootfs), "sh", "-c", f"cd /opt/patchdesk && {script}"],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)


def test_readme_install_command_works_on_a_fresh_debian_12(tmp_path: Path) -> None:
    with _fresh_machine(tmp_path) as rootfs:
        # minbase + python3: Qt's libraries and venv must come from the README command
        assert not (rootfs / "usr" / "lib" / "x86_64-linux-gnu" / "libEGL.so.1").exists()
        proc = _in(rootfs, _readme_install_command())
        assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])

        # the GUI starts offscreen and creates the default site in the user's data folder
        gui = _in(rootfs, "QT_QPA_PLATFORM=offscreen timeout -k 5 20 .venv/bin/patchdesk-gui",
                  timeout=120)
        assert gui.returncode in (124, 137), (gui.returncode, gui.stderr[-3000:])  # still up
        assert "Traceback" not in gui.stderr, gui.stderr[-3000:]
        site = rootfs / "root" / ".local" / "share" / "PatchDesk" / "default.pdsite"
        assert site.is_file()

        # a CLI round trip on that site, then a report with arrows and non-Latin text
        cli = _in(rootfs, "\n".join([
            f".venv/bin/patchdesk site set --client '{CLIENT}'",
            ".venv/bin/patchdesk asset add --hostname mueller-pc --ip 10.20.30.40 "
            "--owner 'Jürgen Müller'",
            ".venv/bin/patchdesk asset list > /tmp/assets.json",
            ".venv/bin/patchdesk report -o /tmp/report.pdf",
        ]).replace("\n", " && "), timeout=300)
        assert cli.returncode == 0, (cli.stdout[-3000:], cli.stderr[-3000:])
        assert "mueller-pc" in (rootfs / "tmp" / "assets.json").read_text(encoding="utf-8")
        text = subprocess.run(["pdftotext", "-layout", str(rootfs / "tmp" / "report.pdf"), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert CLIENT in text, text[:2000]
        assert "→" in text and "?" not in CLIENT
