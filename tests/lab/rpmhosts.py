"""RPM hosts of the test lab: kinds ``rocky`` (real dnf) and ``opensuse`` (real zypper).

Stdlib only, no project imports (like lab.py). An RPM host is a lab host like the Debian
ones (own netns, real sshd, the ``admin``/``nopw`` sudo users, ``/sbin/pd-init``) whose
disk is, from the top::

    per-host overlay upper
    per-lab "kind layer"   os-release of Rocky Linux 9.3 / openSUSE Leap 15.5, the lab's
                           rpm-md repository configured, the rpm database initialised
                           with the OLD lab RPMs installed (``rpm -i``), metadata cached
    cached "tool layer"    Debian 12's dnf 4.14 + dnf-plugins-core (rocky) or zypper 1.14
                           (opensuse) and rpm 4.18, apt-get installed from the machine's
                           Debian mirror into an overlay over the base; ``%_dbpath`` set
                           system-wide; apt and dpkg removed from the host's view
    the shared debootstrap base (unchanged)

Debian's dnf-plugins-core ``Breaks: zypper``, so each kind has its own tool layer. The
tool layers are cached in ``<lab cache>/rpmtools-<kind>-<hash>`` (hash of the base key,
the package list and the recipe), built atomically under the cache's flock (~20 s each,
once). The repository comes from rpmrepo.py, served by the lab's HTTP server at
``http://<repo ip>/rpm/``.

What the rpm database holds besides the lab packages: ``pd-lab-userland``, a package
with no files that provides ``/bin/sh`` and ``/bin/bash`` (the Debian userland the host
really runs on), so scriptlet dependencies resolve the way they do on a real system.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from tests.lab import lab as _lab
from tests.lab import rpmrepo

RPM_KINDS = ("rocky", "opensuse")
TOOL_RECIPE_VERSION = "1"
TOOL_PACKAGES: dict[str, tuple[str, ...]] = {
    "rocky": ("rpm", "dnf", "dnf-plugins-core"),
    "opensuse": ("rpm", "zypper"),
}
REPO_ID = "pdlab"

OS_RELEASE: dict[str, str] = {
    "rocky": """NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
BUG_REPORT_URL="https://bugs.rockylinux.org/"
SUPPORT_END="2032-05-31"
ROCKY_SUPPORT_PRODUCT="Rocky-Linux-9"
ROCKY_SUPPORT_PRODUCT_VERSION="9.3"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.3"
""",
    "opensuse": """NAME="openSUSE Leap"
VERSION="15.5"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.5"
PRETTY_NAME="openSUSE Leap 15.5"
ANSI_COLOR="0;32"
CPE_NAME="cpe:/o:opensuse:leap:15.5"
BUG_REPORT_URL="https://bugs.opensuse.org"
HOME_URL="https://www.opensuse.org/"
DOCUMENTATION_URL="https://en.opensuse.org/Portal:Leap"
LOGO="distributor-logo-Leap"
""",
}

# Runs in the chroot (overlay over the base) when a tool layer is built; {packages} and
# {mirror} are filled in. The machine's resolv.conf is copied in first and emptied after.
TOOL_LAYER_SCRIPT = r"""
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C DEBIAN_FRONTEND=noninteractive
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} bookworm main" \
    > /etc/apt/sources.list
apt-get -q update >/dev/null
apt-get -q -y --no-install-recommends install {packages} >/dev/null
rm -f /etc/apt/sources.list
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
# Debian's rpm keeps a per-user database (~/.rpmdb) unless %_dbpath is set system-wide.
mkdir -p /etc/rpm /var/lib/rpm
echo '%_dbpath /var/lib/rpm' > /etc/rpm/macros
# Debian's dnf-plugins-core enables the "local" plugin (a _dnf_local repository that a
# Rocky host does not have): off, like on Rocky.
if [ -f /etc/dnf/plugins/local.conf ]; then
    sed -i 's/^enabled *=.*/enabled = false/' /etc/dnf/plugins/local.conf
fi
# apt and dpkg are not part of an RPM host.
rm -rf /usr/bin/apt /usr/bin/apt-* /usr/bin/dpkg /usr/bin/dpkg-* /usr/lib/apt /etc/apt \
    /etc/debian_version /usr/sbin/needrestart
: > /etc/resolv.conf
"""

# Runs in the chroot of a kind layer (client netns: the lab repository is reachable).
KIND_LAYER_SCRIPT = r"""
set -eu
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C LC_ALL=C HOME=/root
rpm --initdb
# rpm on Debian warns "RPM should not be used directly ... use Alien instead!" on stderr
rpm -i --quiet /var/tmp/pd-rpms/*.rpm 2>/var/tmp/rpm-i.err || { cat /var/tmp/rpm-i.err; exit 1; }
rm -rf /var/tmp/pd-rpms /var/tmp/rpm-i.err
{refresh}
"""
REFRESH = {
    "rocky": "dnf -q makecache >/dev/null",
    "opensuse": "zypper -n --gpg-auto-import-keys refresh >/dev/null",
}


def tool_layer_key(kind: str) -> str:
    recipe = {
        "recipe": TOOL_RECIPE_VERSION,
        "base": _lab.base_key(),
        "packages": sorted(TOOL_PACKAGES[kind]),
        "script": TOOL_LAYER_SCRIPT,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure_tool_layer(kind: str, base: Path, cache: Path, *, timeout: float = 900.0) -> Path:
    """The cached tool layer of ``kind`` (an overlay upper over ``base``), built if missing."""
    key = tool_layer_key(kind)
    final = cache / f"rpmtools-{kind}-{key}"
    marker = final / "etc" / "patchdesk-lab-rpmtools"
    if marker.is_file():
        return final
    with _lab._flock(cache / ".rpmtools.lock", timeout, "the lab rpm tool layer build lock"):
        if marker.is_file():
            return final
        mirror = _lab.find_debian_mirror()
        tmp = cache / f".rpmtools-build-{kind}-{key}-{os.getpid()}"
        work, mnt = Path(f"{tmp}.work"), Path(f"{tmp}.mnt")
        for d in (tmp, work, mnt):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        _lab._log(f"building the lab {kind} tool layer ({' '.join(TOOL_PACKAGES[kind])}) "
                  f"from {mirror} (takes ~10-20 s, once)")
        t0 = time.monotonic()
        try:
            (tmp / "etc").mkdir()
            shutil.copy("/etc/resolv.conf", tmp / "etc" / "resolv.conf")
            script = TOOL_LAYER_SCRIPT.replace("{mirror}", mirror).replace(
                "{packages}", " ".join(TOOL_PACKAGES[kind]))
            _lab._run_in_chroot(mnt, script, what=f"installing {kind} tools into a lab layer",
                                overlay=(str(base), tmp, work), timeout=timeout)
            (tmp / "etc" / "patchdesk-lab-rpmtools").write_text(
                json.dumps({"key": key, "kind": kind, "packages": TOOL_PACKAGES[kind]}) + "\n")
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
            with contextlib.suppress(OSError):
                mnt.rmdir()
        _lab._log(f"lab {kind} tool layer built in {time.monotonic() - t0:.1f}s: {final}")
        mounted = Path("/proc/self/mountinfo").read_text()
        for old in cache.glob(f"rpmtools-{kind}-*"):
            if old != final and old.is_dir() and str(old) not in mounted:
                shutil.rmtree(old, ignore_errors=True)
    return final


def repo_file(kind: str, url: str) -> tuple[str, str]:
    """(path inside the host, content) of the lab repository's definition."""
    if kind == "rocky":
        return "etc/yum.repos.d/pdlab.repo", (
            f"[{REPO_ID}]\nname=PatchDesk Lab $releasever - $basearch\nbaseurl={url}\n"
            "enabled=1\ngpgcheck=0\nmetadata_expire=6h\n")
    return "etc/zypp/repos.d/pdlab.repo", (
        f"[{REPO_ID}]\nname=PatchDesk Lab\nenabled=1\nautorefresh=1\nbaseurl={url}\n"
        "type=rpm-md\ngpgcheck=0\n")


def lower_dirs(lab: Any, kind: str) -> str:
    """The overlay ``lowerdir=`` of a ``kind`` host of ``lab`` (a lab.Lab), building the
    tool layer (cached), the repository (cached) and this lab's kind layer on first use."""
    layers: dict[str, Path] = lab.__dict__.setdefault("_rpm_layers", {})
    if kind not in layers:
        t0 = time.monotonic()
        tools = ensure_tool_layer(kind, lab.base, lab.cache)
        repo = rpmrepo.ensure_repo(lab.cache)
        rpmrepo.publish(repo, lab.repo.root)
        layers[kind] = _build_kind_layer(lab, kind, tools, repo)
        lab.timings[f"rpm-{kind}"] = time.monotonic() - t0
    return f"{layers[kind]}:{ensure_tool_layer(kind, lab.base, lab.cache)}:{lab.base}"


def _build_kind_layer(lab: Any, kind: str, tools: Path, repo: Path) -> Path:
    layer = lab.dir / f"rpmlayer-{kind}"
    work, mnt = lab.dir / f"rpmlayer-{kind}.work", lab.dir / f"rpmlayer-{kind}.mnt"
    for d in (layer, work, mnt):
        d.mkdir(parents=True, exist_ok=True)
    (layer / "sbin").mkdir(exist_ok=True)
    (layer / "sbin" / "pd-init").write_text(_lab.PD_INIT)
    (layer / "sbin" / "pd-init").chmod(0o755)
    # /etc/os-release is a link to ../usr/lib/os-release, on Rocky and openSUSE as on Debian
    osr = layer / "usr" / "lib" / "os-release"
    osr.parent.mkdir(parents=True, exist_ok=True)
    osr.write_text(OS_RELEASE[kind])
    etc = layer / "etc"
    etc.mkdir(exist_ok=True)
    if kind == "rocky":
        (etc / "redhat-release").write_text("Rocky Linux release 9.3 (Blue Onyx)\n")
        (etc / "rocky-release").symlink_to("redhat-release")
        (etc / "system-release").symlink_to("redhat-release")
        (etc / "dnf" / "vars").mkdir(parents=True)
        (etc / "dnf" / "vars" / "releasever").write_text("9\n")
        # Rocky 9's /etc/dnf/dnf.conf (Debian's differs: best=False, skip_if_unavailable=True)
        (etc / "dnf" / "dnf.conf").write_text(
            "[main]\ngpgcheck=1\ninstallonly_limit=3\nclean_requirements_on_remove=True\n"
            "best=True\nskip_if_unavailable=False\n")
    else:
        (etc / "SUSE-brand").write_text("openSUSE\nVERSION = 15.5\n")
    rel, text = repo_file(kind, f"{lab.repo_url}/rpm/")
    (layer / rel).parent.mkdir(parents=True, exist_ok=True)
    (layer / rel).write_text(text)
    rpms = layer / "var" / "tmp" / "pd-rpms"
    rpms.mkdir(parents=True)
    (layer / "var" / "tmp").chmod(0o1777)  # the upper's copy must not hide the base's mode
    for s in rpmrepo.DEFAULT_INSTALLED:
        shutil.copy2(repo / "Packages" / s.filename, rpms / s.filename)
    shutil.copy2(repo / "host" / rpmrepo.USERLAND.filename, rpms / rpmrepo.USERLAND.filename)
    script = KIND_LAYER_SCRIPT.replace("{refresh}", REFRESH[kind])
    try:
        _lab._run_in_chroot(mnt, script, what=f"preparing the lab {kind} layer",
                            netns=lab.client_ns, overlay=(f"{tools}:{lab.base}", layer, work),
                            timeout=180)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            mnt.rmdir()
    return layer
