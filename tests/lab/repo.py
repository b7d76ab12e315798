"""The lab's apt repository: the packages it serves (built .debs and real Debian ones) and
the signed-less repository served over HTTP from the bridge namespace. Stdlib only."""

from __future__ import annotations

import dataclasses
import email.utils
import gzip
import hashlib
import os
import shutil
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.lab.base import (
    _dpkg_arch,
    _flock,
    cache_dir,
)
from tests.lab.common import (
    ARCHIVE_SUITES,
    DEBIAN_VERSION,
    SECURITY_SUITE,
    SOURCE_DATE_EPOCH,
    SUITE,
    LabError,
    _tool,
    run,
)

# --------------------------------------------------------------------------- packages


@dataclasses.dataclass(frozen=True)
class PackageSpec:
    """One version of one lab package (Architecture: all)."""

    name: str
    version: str
    archive: str = "debian"  # a key of ARCHIVE_SUITES
    postinst: str | None = None
    description: str = ""
    depends: str | None = None
    changelog: str | None = None  # Debian changelog text shipped in /usr/share/doc
    deb: str | None = None  # a real Debian .deb file served as is (not built)

    @property
    def filename(self) -> str:
        return Path(self.deb).name if self.deb else f"{self.name}_{self.version}_all.deb"

    @property
    def suite(self) -> str:
        return ARCHIVE_SUITES[self.archive]


POSTINST_FAIL = """#!/bin/sh
echo "pd-broken: simulated maintainer script failure" >&2
exit 1
"""

POSTINST_REBOOT = """#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
    echo '*** System restart required ***' > /var/run/reboot-required
    echo '{name}' >> /var/run/reboot-required.pkgs
fi
exit 0
"""

DEFAULT_PACKAGES: tuple[PackageSpec, ...] = (
    PackageSpec("pd-openssl", "1.0-1", description="PatchDesk lab TLS library"),
    PackageSpec(
        "pd-openssl",
        "1.0-2",
        archive="debian-security",
        description="PatchDesk lab TLS library (security fix)",
    ),
    PackageSpec("pd-tools", "2.0-1", description="PatchDesk lab tools"),
    PackageSpec("pd-tools", "2.1-1", description="PatchDesk lab tools (normal update)"),
    PackageSpec("pd-broken", "1.0-1", description="PatchDesk lab package"),
    PackageSpec(
        "pd-broken",
        "1.1-1",
        postinst=POSTINST_FAIL,
        description="PatchDesk lab package (its postinst fails)",
    ),
    PackageSpec("pd-kernel", "5.0-1", description="PatchDesk lab kernel"),
    PackageSpec(
        "pd-kernel",
        "5.1-1",
        postinst=POSTINST_REBOOT.format(name="pd-kernel"),
        description="PatchDesk lab kernel (update requires a reboot)",
    ),
)

# What a default debian host has installed at start.
DEFAULT_INSTALLED: dict[str, str] = {
    "pd-openssl": "1.0-1",
    "pd-tools": "2.0-1",
    "pd-broken": "1.0-1",
    "pd-kernel": "5.0-1",
}
# What `apt-get -s upgrade` offers on a default host.
DEFAULT_UPGRADES: dict[str, tuple[str, str, str]] = {
    # name: (installed, candidate, suite)
    "pd-openssl": ("1.0-1", "1.0-2", SECURITY_SUITE),
    "pd-tools": ("2.0-1", "2.1-1", SUITE),
    "pd-broken": ("1.0-1", "1.1-1", SUITE),
    "pd-kernel": ("5.0-1", "5.1-1", SUITE),
}


# Real Debian packages with a real dependency chain (issue [7]): zlib1g-dev's update pulls
# the matching zlib1g along (Depends: zlib1g (= same version)). Old: the release's (the
# lab base has that zlib1g); new: the security update. zlib1g-dev also needs
# libc6-dev | libc-dev, whose closure is served at the versions matching the base's
# libraries (value: the base package whose version it must equal; None: the mirror's).
REAL_UPDATES: dict[str, tuple[str, str]] = {
    "zlib1g": ("1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"),
    "zlib1g-dev": ("1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"),
}
REAL_DEPENDS: dict[str, str | None] = {
    "libc6-dev": "libc6",
    "libc-dev-bin": "libc6",
    "libcrypt-dev": "libcrypt1",
    "libnsl-dev": "libnsl2",
    "libtirpc-dev": "libtirpc3",
    "linux-libc-dev": None,
    "rpcsvc-proto": None,
}


def fetch_real_debs(base: Path, cache: Path | None = None) -> list[PackageSpec]:
    """The real packages above as lab package specs, their .deb files downloaded ONCE with
    ``apt-get download`` from this machine's configured Debian mirror into the lab cache."""
    store = (cache or cache_dir()) / "real-debs"
    wanted: list[tuple[str, str | None, str]] = []  # name, version (None: candidate), archive
    for name, (old, new) in REAL_UPDATES.items():
        wanted += [(name, old, "debian"), (name, new, "debian-security")]
    for name, match in REAL_DEPENDS.items():
        version = None
        if match:
            version = run([_tool("dpkg-query"), f"--admindir={base}/var/lib/dpkg", "-W",
                           "-f=${Version}", match], what=f"reading {match}'s version in the base"
                          ).stdout.strip()
        wanted.append((name, version, "debian"))
    specs: list[PackageSpec] = []
    with _flock(store / ".lock", 600, "the lab's real package download"):
        for name, version, archive in wanted:
            pattern = f"{name}_{(version or '*').replace(':', '%3a')}_*.deb"
            found = sorted(store.glob(pattern))
            if not found:
                pin = f"{name}={version}" if version else name
                run(["apt-get", "download", "-q", pin], cwd=store, timeout=300,
                    what=f"downloading {pin} from this machine's Debian mirror",
                    env={**os.environ, "LANG": "C", "LC_ALL": "C"})
                found = sorted(store.glob(pattern))
            if not found:
                raise LabError(f"apt-get download of {name} {version or ''} left no file")
            deb = found[-1]
            real_version = version or run([_tool("dpkg-deb"), "-f", str(deb), "Version"],
                                          what=f"reading {deb.name}").stdout.strip()
            specs.append(PackageSpec(name, real_version, archive=archive, deb=str(deb)))
    return specs


def build_deb(spec: PackageSpec, outdir: Path, workdir: Path) -> Path:
    """Build a tiny deterministic .deb installing /usr/share/<name>/VERSION."""
    root = workdir / f"{spec.name}_{spec.version}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "DEBIAN").mkdir(parents=True)
    share = root / "usr" / "share" / spec.name
    share.mkdir(parents=True)
    (share / "VERSION").write_text(spec.version + "\n")
    if spec.changelog:
        doc = root / "usr" / "share" / "doc" / spec.name
        doc.mkdir(parents=True)
        # mtime=0: the .deb stays byte-for-byte reproducible.
        (doc / "changelog.Debian.gz").write_bytes(
            gzip.compress(spec.changelog.encode("utf-8"), mtime=0))
    desc = spec.description or f"PatchDesk lab package {spec.name}"
    control = [
        f"Package: {spec.name}",
        f"Version: {spec.version}",
        "Architecture: all",
        "Maintainer: PatchDesk Lab <lab@patchdesk.invalid>",
        "Section: admin",
        "Priority: optional",
        "Installed-Size: 1",
    ]
    if spec.depends:
        control.append(f"Depends: {spec.depends}")
    control += [f"Description: {desc}", " Package built by the PatchDesk test lab."]
    (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    if spec.postinst:
        p = root / "DEBIAN" / "postinst"
        p.write_text(spec.postinst)
        p.chmod(0o755)
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or path.name == "postinst" else 0o644)
        os.utime(path, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH), follow_symlinks=False)
    out = outdir / spec.filename
    run(
        [_tool("dpkg-deb"), "--root-owner-group", "-Zgzip", "--build", str(root), str(out)],
        env={**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)},
        what=f"building {spec.filename}",
    )
    shutil.rmtree(root, ignore_errors=True)
    return out


class AptRepo:
    """The lab's apt repository: two archives (``debian`` with suite ``bookworm``,
    ``debian-security`` with suite ``bookworm-security``) under one HTTP root.

    Every built .deb stays in a private store; ``publish`` links the *indexed* versions
    into the served pool and regenerates Packages/Release. Dropping a version removes it
    from the index and from the served pool.
    """

    def __init__(self, root: Path, store: Path) -> None:
        self.root = root
        self.store = store
        self.specs: dict[tuple[str, str], PackageSpec] = {}
        self.indexed: set[tuple[str, str]] = set()
        self._last_release_mtime = 0.0
        self.arch = _dpkg_arch()

    def add(self, specs: Iterable[PackageSpec], *, index: bool = True) -> None:
        specs = list(specs)
        self.store.mkdir(parents=True, exist_ok=True)
        work = self.store / ".work"
        work.mkdir(exist_ok=True)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda s: build_deb(s, self.store, work),
                          [s for s in specs if not s.deb]))
        for s in specs:
            if s.deb and not (self.store / s.filename).exists():
                shutil.copy2(s.deb, self.store / s.filename)
        for s in specs:
            self.specs[(s.name, s.version)] = s
            if index:
                self.indexed.add((s.name, s.version))

    def deb_path(self, name: str, version: str) -> Path:
        return self.store / self.specs[(name, version)].filename

    def publish(self) -> None:
        used = {s.archive for s in self.specs.values()}
        for archive, suite in ARCHIVE_SUITES.items():
            if archive != "internal-mirror" or archive in used:
                self._publish_archive(archive, suite)

    def _publish_archive(self, archive: str, suite: str) -> None:
        aroot = self.root / archive
        wanted = {
            s.filename: s
            for key, s in self.specs.items()
            if key in self.indexed and s.archive == archive
        }
        pool_dirs = set()
        for fname, s in wanted.items():
            d = aroot / "pool" / "main" / s.name[0] / s.name
            d.mkdir(parents=True, exist_ok=True)
            pool_dirs.add(d)
            target = d / fname
            if not target.exists():
                os.link(self.store / fname, target)
        (aroot / "pool").mkdir(parents=True, exist_ok=True)
        for deb in (aroot / "pool").rglob("*.deb"):
            if deb.name not in wanted:
                deb.unlink()
        bdir = aroot / "dists" / suite / "main" / f"binary-{self.arch}"
        bdir.mkdir(parents=True, exist_ok=True)
        cp = run(
            [_tool("dpkg-scanpackages"), "--multiversion", "pool", "/dev/null"],
            cwd=aroot,
            what=f"indexing {archive} with dpkg-scanpackages",
        )
        packages = cp.stdout.encode()
        _atomic_write(bdir / "Packages", packages)
        _atomic_write(bdir / "Packages.gz", gzip.compress(packages, mtime=0))
        files = {
            f"main/binary-{self.arch}/Packages": packages,
            f"main/binary-{self.arch}/Packages.gz": (bdir / "Packages.gz").read_bytes(),
        }
        security = archive == "debian-security"
        release = [
            "Origin: PatchDesk Lab",
            "Label: " + ("Debian-Security" if security else "Internal Mirror"
                         if archive == "internal-mirror" else "PatchDesk Lab"),
            f"Suite: {suite}",
            f"Version: {DEBIAN_VERSION}",
            f"Codename: {suite}",
            f"Date: {email.utils.formatdate(usegmt=True).replace('GMT', 'UTC')}",
            f"Architectures: {self.arch}",
            "Components: main",
            f"Description: PatchDesk test lab {'security updates' if security else 'archive'}",
            "No-Support-for-Architecture-all: Packages",
        ]
        for field, algo in (("MD5Sum", hashlib.md5), ("SHA256", hashlib.sha256)):
            release.append(f"{field}:")
            for rel, data in files.items():
                release.append(f" {algo(data).hexdigest()} {len(data):>8} {rel}")
        rpath = aroot / "dists" / suite / "Release"
        _atomic_write(rpath, ("\n".join(release) + "\n").encode())
        # http.server answers If-Modified-Since with 1 s resolution: keep Release mtimes
        # strictly increasing so a republish within the same second is still fetched.
        mtime = max(float(int(time.time())), self._last_release_mtime + 1)
        self._last_release_mtime = mtime
        os.utime(rpath, (mtime, mtime))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)
