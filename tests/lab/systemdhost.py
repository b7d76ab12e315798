"""A machine that boots a real systemd as PID 1, for tests of the OS scheduler.

Stdlib only, no project imports (like lab.py). The disk is, from the top::

    per-run overlay upper  the test's user, lingering, the product's paths bind-mounted
    cached "systemd layer" Debian 12's systemd, systemd-sysv, dbus and libpam-systemd,
                           apt-get installed from the machine's Debian mirror into an
                           overlay over the base (``<lab cache>/systemd-<hash>``, built
                           atomically under the cache's flock, ~20 s once)
    the shared debootstrap base (unchanged)

The machine is started with ``unshare --pid --mount --uts --ipc --fork`` in a network
namespace given by the test, ``chroot``-ed into the overlay, with ``exec /lib/systemd/systemd``:
systemd runs as PID 1 of its PID namespace with its own cgroup subtree, boots to
``multi-user.target`` and, for a user with lingering, starts ``systemd --user``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.lab import lab as _lab
from tests.lab.common import HOST_PATH, LabError

LAYER_RECIPE_VERSION = "1"
LAYER_PACKAGES = ("systemd", "systemd-sysv", "dbus", "libpam-systemd")

# Runs in the chroot (overlay over the base) when the layer is built; {packages} and
# {mirror} are filled in. The machine's resolv.conf is copied in first and emptied after.
LAYER_SCRIPT = r"""
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C DEBIAN_FRONTEND=noninteractive
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} bookworm main" \
    > /etc/apt/sources.list
apt-get -q update >/dev/null
apt-get -q -y --no-install-recommends install {packages} >/dev/null
rm -f /etc/apt/sources.list
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
: > /etc/resolv.conf
"""


def layer_key() -> str:
    recipe = {"recipe": LAYER_RECIPE_VERSION, "base": _lab.base_key(),
              "packages": sorted(LAYER_PACKAGES), "script": LAYER_SCRIPT}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure_layer(base: Path, cache: Path, *, timeout: float = 900.0) -> Path:
    """The cached systemd layer (an overlay upper over ``base``), built if missing."""
    key = layer_key()
    final = cache / f"systemd-{key}"
    marker = final / "etc" / "patchdesk-lab-systemd"
    if marker.is_file():
        return final
    with _lab._flock(cache / ".systemd.lock", timeout, "the lab systemd layer build lock"):
        if marker.is_file():
            return final
        mirror = _lab.find_debian_mirror()
        tmp = cache / f".systemd-build-{key}-{os.getpid()}"
        work, mnt = Path(f"{tmp}.work"), Path(f"{tmp}.mnt")
        for d in (tmp, work, mnt):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        _lab._log(f"building the lab systemd layer ({' '.join(LAYER_PACKAGES)}) from {mirror} "
                  "(takes ~20 s, once)")
        t0 = time.monotonic()
        try:
            (tmp / "etc").mkdir()
            shutil.copy("/etc/resolv.conf", tmp / "etc" / "resolv.conf")
            script = LAYER_SCRIPT.replace("{mirror}", mirror).replace(
                "{packages}", " ".join(LAYER_PACKAGES))
            _lab._run_in_chroot(mnt, script, what="installing systemd into a lab layer",
                                overlay=(str(base), tmp, work), timeout=timeout)
            (tmp / "etc" / "patchdesk-lab-systemd").write_text(
                json.dumps({"key": key, "packages": LAYER_PACKAGES}) + "\n")
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
            with contextlib.suppress(OSError):
                mnt.rmdir()
        _lab._log(f"lab systemd layer built in {time.monotonic() - t0:.1f}s: {final}")
        mounted = Path("/proc/self/mountinfo").read_text()
        for old in cache.glob("systemd-*"):
            if old != final and old.is_dir() and str(old) not in mounted:
                shutil.rmtree(old, ignore_errors=True)
    return final


def kernel_support() -> str:
    """'' when this kernel can run a systemd machine (PID + cgroup namespaces, a writable
    cgroup hierarchy systemd can use), else why not."""
    for ns in ("pid", "cgroup", "mnt", "uts", "ipc"):
        if not Path(f"/proc/self/ns/{ns}").exists():
            return f"the kernel has no {ns} namespaces (/proc/self/ns/{ns} is missing)"
    if _cgroup_layout() is None:
        return ("no cgroup hierarchy systemd can use: neither cgroup2 on /sys/fs/cgroup nor "
                "a name=systemd hierarchy on /sys/fs/cgroup/systemd")
    return ""


def _cgroup_layout() -> dict[str, Path] | None:
    """{container mount point under /sys/fs/cgroup: the host hierarchy's root} ("" = the
    unified hierarchy on /sys/fs/cgroup itself)."""
    mounts = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) > 4 and rest:
            mounts[fields[4]] = (rest[0], rest[-1])
    if mounts.get("/sys/fs/cgroup", ("",))[0] == "cgroup2":
        return {"": Path("/sys/fs/cgroup")}
    v1 = mounts.get("/sys/fs/cgroup/systemd")
    if v1 is None or v1[0] != "cgroup" or "name=systemd" not in v1[1]:
        return None
    layout = {"systemd": Path("/sys/fs/cgroup/systemd")}
    if mounts.get("/sys/fs/cgroup/unified", ("",))[0] == "cgroup2":
        layout["unified"] = Path("/sys/fs/cgroup/unified")
    return layout


# Runs (as root, in the new namespaces) to set the machine up and exec systemd as PID 1.
BOOT_SCRIPT = r"""
set -eu
R={root}
mount -t overlay overlay -o {overlay} "$R"
mount -t proc proc "$R/proc"
mount -t sysfs -o ro sysfs "$R/sys"
{cgroups}
mount -t tmpfs -o mode=755 tmpfs "$R/dev"
for d in null zero full random urandom tty; do
    touch "$R/dev/$d"
    mount --bind "/dev/$d" "$R/dev/$d"
done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs tmpfs "$R/dev/shm"
touch "$R/dev/console"
mount --bind {console} "$R/dev/console"
echo {hostname} > "$R/etc/hostname"
{binds}
cd "$R"
mkdir -p .pd-oldroot
pivot_root . .pd-oldroot
umount -l /.pd-oldroot
rmdir /.pd-oldroot
exec env -i container=patchdesk-lab TERM=dumb /lib/systemd/systemd --log-target=console \
    --log-level=info
"""


class Machine:
    """A booted systemd machine: ``exec`` runs a command in it (as root or a user)."""

    def __init__(self, pid: int, proc: subprocess.Popen[bytes], console: Path) -> None:
        self.pid, self.proc, self.console = pid, proc, console

    def exec(self, argv: Sequence[str], *, user: str = "", env: dict[str, str] | None = None,
             timeout: float = 120.0, input: str | None = None,
             ) -> subprocess.CompletedProcess[str]:
        inner = list(argv)
        if env:
            inner = ["env", *(f"{k}={v}" for k, v in env.items()), *inner]
        if user:
            inner = ["runuser", "-u", user, "--", *inner]
        return subprocess.run(["nsenter", "-t", str(self.pid), "-a", "-r", "-w", *inner],
                              capture_output=True, text=True, timeout=timeout, input=input,
                              check=False, env={"PATH": HOST_PATH, "LANG": "C.UTF-8"})

    def wait_running(self, timeout: float = 60.0) -> str:
        """Wait for the boot to finish: 'running' or 'degraded' (anything else raises)."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            res = self.exec(["systemctl", "is-system-running"], timeout=30)
            state = res.stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.5)
        raise LabError(f"systemd did not finish booting (state {state!r}); console:\n"
                            + self.console.read_text(errors="replace")[-3000:])


@contextlib.contextmanager
def boot(base: Path, cache: Path, workdir: Path, *, netns: str,
         binds: Sequence[tuple[str, bool]] = (), hostname: str = "pdsystemd",
         setup: str = "") -> Iterator[Machine]:
    """Boot the systemd layer as PID 1 in ``netns`` (torn down on exit).

    ``binds``: (path, writable) bind-mounted at the same path. ``setup``: shell run in the
    machine's root before systemd starts (users, linger files).
    """
    layer = ensure_layer(base, cache)
    layout = _cgroup_layout()
    if layout is None:
        raise LabError(kernel_support())
    upper, work, root = workdir / "upper", workdir / "work", workdir / "root"
    for d in (upper, work, root):
        d.mkdir(parents=True, exist_ok=True)
    console = workdir / "console.log"
    console.write_text("")
    name = f"pdsd-{secrets.token_hex(3)}"
    groups = [(mnt, host / name) for mnt, host in layout.items()]
    for _, cg in groups:
        cg.mkdir()
    q = shlex.quote
    if "" in layout:
        cgroups = 'mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup"'
    else:
        cgroups = 'mount -t tmpfs -o mode=755 tmpfs "$R/sys/fs/cgroup"\n' + "\n".join(
            f'mkdir "$R/sys/fs/cgroup/{m}"\n' + (
                f'mount -t cgroup -o none,name=systemd cgroup "$R/sys/fs/cgroup/{m}"'
                if m == "systemd" else f'mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup/{m}"')
            for m in layout)
    bind_lines = []
    bound = [Path(p) for p, _ in binds]

    def inside_a_bind(path: Path) -> bool:  # (a venv inside the checkout, as CI has it)
        return any(path != other and path.is_relative_to(other) for other in bound)

    for path, writable in binds:
        if inside_a_bind(Path(path)):
            continue  # already seen through the bind above it (which may be read-only)
        bind_lines.append(f'mkdir -p "$R"{q(path)}\nmount --bind {q(path)} "$R"{q(path)}')
        if not writable:
            bind_lines.append(f'mount -o remount,bind,ro "$R"{q(path)}')
        # every directory above a bind is traversable in the machine (e.g. /root is 0700)
        for parent in Path(path).parents:
            if str(parent) != "/" and parent not in bound and not inside_a_bind(parent):
                bind_lines.append(f'chmod o+x "$R"{q(str(parent))}')
    if setup:
        bind_lines.append(f"chroot \"$R\" /bin/sh -euc {q(setup)}")
    script = BOOT_SCRIPT.format(
        root=q(str(root)), console=q(str(console)), hostname=q(hostname),
        overlay=q(f"lowerdir={layer}:{base},upperdir={upper},workdir={work}"),
        cgroups=cgroups, binds="\n".join(bind_lines))
    enter = "".join(f"echo $$ > {q(str(cg / 'cgroup.procs'))}; " for _, cg in groups)
    argv = ["ip", "netns", "exec", netns, "/bin/sh", "-c",
            enter + 'exec unshare --pid --mount --uts --ipc --cgroup --fork --kill-child '
            '--propagation private /bin/sh -c "$0"', script]
    log = (workdir / "boot.log").open("wb")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            env={"PATH": HOST_PATH, "LANG": "C"}, start_new_session=True)
    try:
        pid = _init_pid(proc, workdir)
        machine = Machine(pid, proc, console)
        yield machine
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        log.close()
        for _, cg in groups:
            _remove_cgroup(cg)


def _init_pid(proc: subprocess.Popen[bytes], workdir: Path, timeout: float = 30.0) -> int:
    """The machine's PID 1 as the host sees it (the child of unshare running systemd)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError("the systemd machine did not start: "
                                + (workdir / "boot.log").read_text(errors="replace")[-2000:])
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        with contextlib.suppress(OSError, ValueError):
            for child in children.read_text().split():
                exe = os.readlink(f"/proc/{child}/exe")
                if exe.endswith("/systemd"):
                    return int(child)
        time.sleep(0.1)
    raise LabError("systemd did not start within "
                        f"{timeout:.0f}s: " + (workdir / "boot.log").read_text()[-2000:])


def _remove_cgroup(path: Path) -> None:
    """rmdir a cgroup tree bottom-up (its processes are gone with the PID namespace)."""
    deadline = time.monotonic() + 10
    while path.exists() and time.monotonic() < deadline:
        for sub in sorted((p for p in path.rglob("*") if p.is_dir()),
                          key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                sub.rmdir()
        with contextlib.suppress(OSError):
            path.rmdir()
        if path.exists():
            time.sleep(0.2)
