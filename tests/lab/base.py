"""The lab's Debian base: the machine's Debian mirror, the cached debootstrap base image
(built once under a lock) and running scripts in a chroot. Stdlib only (see lab.py)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.lab.common import (
    BASE_PACKAGES,
    BASE_RECIPE_VERSION,
    DEFAULT_CACHE_DIR,
    DEFAULT_RUN_DIR,
    HOST_PATH,
    SUITE,
    LabError,
    _log,
    _tool,
    run,
)

# --------------------------------------------------------------------------- mirror


def _sources_files(etc: Path) -> list[Path]:
    files = []
    main = etc / "sources.list"
    if main.is_file():
        files.append(main)
    d = etc / "sources.list.d"
    if d.is_dir():
        files += sorted(p for p in d.iterdir() if p.is_file() and p.suffix in (".list", ".sources"))
    return files


def _parse_list_file(text: str) -> Iterator[tuple[str, list[str]]]:
    line_re = re.compile(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)")
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        m = line_re.match(line)
        if m:
            yield m.group(1), [m.group(2)]


def _parse_deb822(text: str) -> Iterator[tuple[str, list[str]]]:
    stanzas: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    key = None
    for raw in [*text.splitlines(), ""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, None
            continue
        if raw[0] in " \t" and key:
            cur[key] += " " + raw.strip()
            continue
        if ":" in raw:
            k, v = raw.split(":", 1)
            key = k.strip().lower()
            cur[key] = v.strip()
    for st in stanzas:
        if st.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in st.get("types", "").split():
            continue
        suites = st.get("suites", "").split()
        for uri in st.get("uris", "").split():
            yield uri, suites


def find_debian_mirror(suite: str = SUITE, etc: str | os.PathLike[str] = "/etc/apt") -> str:
    """The first configured apt URI (http/https/file) whose suites include ``suite``.

    ``PATCHDESK_LAB_MIRROR`` overrides it. No mirror host name is hard-coded anywhere.
    """
    override = os.environ.get("PATCHDESK_LAB_MIRROR")
    if override:
        return override
    etc = Path(etc)
    files = _sources_files(etc)
    for f in files:
        text = f.read_text(errors="replace")
        entries = _parse_deb822(text) if f.suffix == ".sources" else _parse_list_file(text)
        for uri, suites in entries:
            if suite in suites and uri.split(":", 1)[0] in ("http", "https", "file"):
                return uri.rstrip("/")
    raise LabError(
        f"no Debian mirror for suite {suite!r} in the apt configuration "
        f"({', '.join(map(str, files)) or f'no sources files under {etc}'}); "
        "set PATCHDESK_LAB_MIRROR"
    )


# --------------------------------------------------------------------------- base image

# Runs inside the fresh debootstrap tree (chroot) once, when the base is built.
BASE_CONFIG_SCRIPT = r"""
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C DEBIAN_FRONTEND=noninteractive
# the hosts must only ever see the lab repository
rm -f /etc/apt/sources.list
rm -rf /etc/apt/sources.list.d/*
# services never auto-start from maintainer scripts (there is no init system anyway)
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
# users: admin (sudo asks for the password), nopw (NOPASSWD sudo); root cannot log in
id admin >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo admin
id nopw >/dev/null 2>&1 || useradd -m -s /bin/bash nopw
printf 'admin:labpass\nnopw:labpass\n' | chpasswd
passwd -l root >/dev/null
printf 'nopw ALL=(ALL:ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/nopw
chmod 0440 /etc/sudoers.d/nopw
mkdir -p /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/patchdesk-lab.conf <<'EOF'
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
UseDNS no
MaxStartups 100:30:300
EOF
# every host generates its own keys on first boot (ssh-keygen -A in pd-init)
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
printf '' > /etc/resolv.conf
mkdir -p /var/log
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/log/bootstrap.log
"""


def base_key() -> str:
    recipe = {
        "recipe": BASE_RECIPE_VERSION,
        "suite": SUITE,
        "variant": "minbase",
        "packages": sorted(BASE_PACKAGES),
        "config": BASE_CONFIG_SCRIPT,
        "arch": _dpkg_arch(),
    }
    blob = json.dumps(recipe, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_ARCH: str | None = None


def _dpkg_arch() -> str:
    global _ARCH
    if _ARCH is None:
        try:
            _ARCH = run(["dpkg", "--print-architecture"], timeout=10).stdout.strip()
        except LabError:
            _ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "amd64")
    return _ARCH


def cache_dir() -> Path:
    return Path(os.environ.get("PATCHDESK_LAB_CACHE", DEFAULT_CACHE_DIR))


def run_dir() -> Path:
    return Path(os.environ.get("PATCHDESK_LAB_RUNDIR", DEFAULT_RUN_DIR))


@contextlib.contextmanager
def _flock(path: Path, timeout: float, what: str) -> Iterator[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"timed out after {timeout:g}s waiting for {what}") from None
                if not announced:
                    _log(f"waiting for {what} (another run holds {path})")
                    announced = True
                time.sleep(0.2)
        yield fd
    finally:
        os.close(fd)


def ensure_base(cache: Path | None = None, *, timeout: float = 900.0) -> Path:
    """Return the cached base rootfs directory, building it with debootstrap if missing.

    Build is atomic (temp dir + rename) and serialised with flock, so concurrent runs build
    once. Reruns with the same recipe take ~0 s.
    """
    cache = cache or cache_dir()
    key = base_key()
    final = cache / f"base-{key}"
    if (final / "etc" / "patchdesk-lab-base").is_file():
        return final
    with _flock(cache / ".build.lock", timeout, "the lab base build lock"):
        if (final / "etc" / "patchdesk-lab-base").is_file():
            return final
        for stale in cache.glob(".build-*"):
            _log(f"removing stale partial build {stale}")
            shutil.rmtree(stale, ignore_errors=True)
        mirror = find_debian_mirror()
        tmp = cache / f".build-{key}-{os.getpid()}"
        _log(f"building the lab base {final.name} from {mirror} (takes ~1 min)")
        t0 = time.monotonic()
        debs = cache / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        try:
            run(
                [
                    _tool("debootstrap"),
                    "--variant=minbase",
                    "--include=" + ",".join(BASE_PACKAGES),
                    "--components=main",
                    f"--cache-dir={debs}",
                    SUITE,
                    str(tmp),
                    mirror,
                ],
                timeout=timeout,
                what="debootstrap of the lab base",
                env={**os.environ, "LANG": "C", "LC_ALL": "C"},
            )
            _run_in_chroot(tmp, BASE_CONFIG_SCRIPT, what="configuring the lab base")
            (tmp / "etc" / "patchdesk-lab-base").write_text(
                json.dumps({"key": key, "packages": BASE_PACKAGES, "suite": SUITE}) + "\n"
            )
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _log(f"lab base built in {time.monotonic() - t0:.1f}s: {final}")
        _prune_bases(cache, keep=final)
    return final


def _prune_bases(cache: Path, keep: Path) -> None:
    """Delete bases of older recipes that no running lab has mounted (they are ~200 MB)."""
    mountinfo = Path("/proc/self/mountinfo").read_text()
    for old in cache.glob("base-*"):
        if old != keep and old.is_dir() and str(old) not in mountinfo:
            _log(f"removing superseded lab base {old}")
            shutil.rmtree(old, ignore_errors=True)


def _run_in_chroot(
    root: Path,
    script: str,
    *,
    what: str,
    netns: str | None = None,
    overlay: tuple[str, Path, Path] | None = None,
    timeout: float = 300.0,
) -> subprocess.CompletedProcess[str]:
    """Run a shell script chrooted into root, with /proc and /dev mounted in a private
    mount namespace (so every mount disappears with the process, even on a crash).

    overlay=(lowerdirs, upper, work) mounts an overlay on root first (root = mountpoint).
    """
    setup = ["set -eu"]
    if overlay:
        lower, upper, work = overlay
        setup.append(
            "mount -t overlay overlay -o "
            + shlex.quote(f"lowerdir={lower},upperdir={upper},workdir={work}")
            + f" {shlex.quote(str(root))}"
        )
    r = shlex.quote(str(root))
    setup += [
        f"mount -t proc proc {r}/proc",
        f"mount --rbind /dev {r}/dev",
        f"mount -t tmpfs tmpfs {r}/run",
        f"mount -t tmpfs tmpfs {r}/tmp",
        f"exec chroot {r} /bin/sh -s",
    ]
    argv = [_tool("unshare"), "--mount", "--propagation", "private", "--fork"]
    argv += ["/bin/sh", "-c", "\n".join(setup)]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    env = {"PATH": HOST_PATH, "LANG": "C", "LC_ALL": "C", "HOME": "/root"}
    return run(argv, input=script, timeout=timeout, what=what, env=env)
