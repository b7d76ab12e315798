"""The test lab's rpm-md repository: small RPMs built with the real ``rpmbuild``, indexed
with ``createrepo_c``, with an ``updateinfo.xml`` added by ``modifyrepo_c``.

Stdlib only, no project imports (like lab.py). Needs ``rpmbuild`` (Debian package
``rpm``) and ``createrepo_c``/``modifyrepo_c`` (``createrepo-c``) on this machine; see
tests/lab/apt-packages.txt. Nothing is downloaded.

What the repository offers (every package in two versions, old and new, both indexed):

============  =========  ========  ============  ==========================================
package       arch       old       new           update
============  =========  ========  ============  ==========================================
pd-openssl    x86_64     1.0-1     1.0-2         security: advisory PDLAB-2024:0001,
                                                 severity Important, CVE-2024-0727
pd-tools      noarch     2.0-1     2.1-1         bugfix: advisory PDLAB-2024:0002
pd-broken     noarch     1.0-1     1.1-1         its %post exits 1 (no advisory)
pd-multi      x86_64     1.0-1     1.1-1         multilib pair: the same name built for
              + i686                             x86_64 and (``--target i686``) i686
============  =========  ========  ============  ==========================================

The built repository is cached in ``<lab cache>/rpmrepo-<hash>`` where the hash covers
every input (specs, advisories, recipe version, rpmbuild and createrepo_c versions), so a
run with the same inputs reuses it (~0 s) and CI does not rebuild it every time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path

from tests.lab import lab as _lab

RECIPE_VERSION = "1"
RELEASE_SUFFIX = "pdlab"  # release "1.pdlab": like a dist tag (".el9"), but our own
SOURCE_DATE_EPOCH = _lab.SOURCE_DATE_EPOCH
ISSUED = "2024-01-30 00:00:00"


@dataclasses.dataclass(frozen=True)
class RpmSpec:
    """One version of one lab RPM (installs ``/usr/share/<name>/VERSION.<arch>``)."""

    name: str
    version: str
    release: str
    arch: str = "noarch"  # noarch | x86_64 | i686
    summary: str = ""
    post: str | None = None  # %post scriptlet body (sh)
    provides: tuple[str, ...] = ()  # extra Provides: lines

    @property
    def full_release(self) -> str:
        return f"{self.release}.{RELEASE_SUFFIX}"

    @property
    def evr(self) -> str:
        return f"{self.version}-{self.full_release}"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.evr}.{self.arch}.rpm"

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.evr}.{self.arch}"


@dataclasses.dataclass(frozen=True)
class Advisory:
    """One updateinfo entry (yum/dnf/zypper read the same ``updateinfo.xml``)."""

    id: str
    type: str  # security | bugfix | enhancement
    title: str
    packages: tuple[RpmSpec, ...]
    severity: str | None = None  # Critical | Important | Moderate | Low
    cves: tuple[str, ...] = ()
    description: str = ""


POST_FAIL = 'echo "pd-broken: simulated %post scriptlet failure" >&2\nexit 1'


def _pkg(name: str, version: str, release: str, arch: str = "noarch", summary: str = "",
         post: str | None = None) -> RpmSpec:
    return RpmSpec(name, version, release, arch, summary or f"PatchDesk lab package {name}",
                   post)


OPENSSL_OLD = _pkg("pd-openssl", "1.0", "1", "x86_64", "PatchDesk lab TLS library")
OPENSSL_NEW = _pkg("pd-openssl", "1.0", "2", "x86_64", "PatchDesk lab TLS library (security fix)")
TOOLS_OLD = _pkg("pd-tools", "2.0", "1", summary="PatchDesk lab tools")
TOOLS_NEW = _pkg("pd-tools", "2.1", "1", summary="PatchDesk lab tools (bug fix)")
BROKEN_OLD = _pkg("pd-broken", "1.0", "1", summary="PatchDesk lab package")
BROKEN_NEW = _pkg("pd-broken", "1.1", "1", summary="PatchDesk lab package (its %post fails)",
                  post=POST_FAIL)
MULTI = tuple(_pkg("pd-multi", v, "1", arch, "PatchDesk lab multilib library")
              for v in ("1.0", "1.1") for arch in ("x86_64", "i686"))

#: Installed on every lab RPM host, never served: the Debian 12 userland the host really
#: runs on, so that scriptlet dependencies (/bin/sh) resolve as on a real system.
USERLAND = RpmSpec("pd-lab-userland", "12", "1", "noarch",
                   "Debian 12 userland of a PatchDesk lab host", provides=("/bin/sh", "/bin/bash"))

DEFAULT_RPMS: tuple[RpmSpec, ...] = (
    OPENSSL_OLD, OPENSSL_NEW, TOOLS_OLD, TOOLS_NEW, BROKEN_OLD, BROKEN_NEW, *MULTI,
)
SECURITY_CVE = "CVE-2024-0727"
DEFAULT_ADVISORIES: tuple[Advisory, ...] = (
    Advisory(
        "PDLAB-2024:0001", "security", "Important: pd-openssl security update",
        (OPENSSL_NEW,), severity="Important", cves=(SECURITY_CVE,),
        description="A NULL dereference in PKCS12 parsing was fixed.",
    ),
    Advisory(
        "PDLAB-2024:0002", "bugfix", "pd-tools bug fix update", (TOOLS_NEW,),
        description="pd-tools no longer prints its version twice.",
    ),
)
#: What a lab RPM host has installed at start (every old version; both pd-multi arches).
DEFAULT_INSTALLED: tuple[RpmSpec, ...] = tuple(
    s for s in DEFAULT_RPMS if s.release == "1" and s.version in ("1.0", "2.0"))
#: The updates such a host is offered: (name, arch) -> (installed evr, candidate evr).
DEFAULT_UPDATES: dict[tuple[str, str], tuple[str, str]] = {
    (new.name, new.arch): (old.evr, new.evr)
    for old in DEFAULT_INSTALLED
    for new in DEFAULT_RPMS
    if new.name == old.name and new.arch == old.arch and new.evr != old.evr
}


def spec_file(s: RpmSpec) -> str:
    """The rpmbuild spec of one package: no sources, one data file, optional %post."""
    lines = [
        f"Name: {s.name}",
        f"Version: {s.version}",
        f"Release: {s.full_release}",
        f"Summary: {s.summary}",
        "License: MIT",
        "URL: https://patchdesk.invalid/lab",
        "Packager: PatchDesk Lab <lab@patchdesk.invalid>",
        "Vendor: PatchDesk Lab",
    ]
    if s.arch == "noarch":
        lines.append("BuildArch: noarch")
    lines += [f"Provides: {p}" for p in s.provides]
    lines += [
        "",
        "%description",
        f"{s.summary}. Package built by the PatchDesk test lab.",
        "",
        "%install",
        f"mkdir -p %{{buildroot}}/usr/share/{s.name}",
        # one file per arch: the two halves of a multilib pair never conflict
        f"echo {s.evr} > %{{buildroot}}/usr/share/{s.name}/VERSION.{s.arch}",
        "",
        "%files",
        f"/usr/share/{s.name}",
        "",
    ]
    if s.post:
        lines += ["%post", s.post, ""]
    lines += ["%changelog",
              f"* Tue Jan 30 2024 PatchDesk Lab <lab@patchdesk.invalid> - {s.evr}",
              f"- {s.summary}", ""]
    return "\n".join(lines)


def updateinfo_xml(advisories: Iterable[Advisory]) -> str:
    """``updateinfo.xml`` in the yum/dnf/zypper format (as Red Hat and SUSE publish it)."""
    root = ET.Element("updates")
    for a in advisories:
        u = ET.SubElement(root, "update", {"from": "lab@patchdesk.invalid", "status": "stable",
                                           "type": a.type, "version": "1"})
        ET.SubElement(u, "id").text = a.id
        ET.SubElement(u, "title").text = a.title
        if a.severity:
            ET.SubElement(u, "severity").text = a.severity
        ET.SubElement(u, "release").text = "PatchDesk Lab"
        ET.SubElement(u, "issued", {"date": ISSUED})
        ET.SubElement(u, "updated", {"date": ISSUED})
        ET.SubElement(u, "rights").text = "Copyright PatchDesk Lab"
        ET.SubElement(u, "summary").text = a.title
        ET.SubElement(u, "description").text = a.description or a.title
        refs = ET.SubElement(u, "references")
        for cve in a.cves:
            ET.SubElement(refs, "reference", {
                "href": f"https://www.cve.org/CVERecord?id={cve}", "id": cve, "type": "cve",
                "title": cve})
        coll = ET.SubElement(ET.SubElement(u, "pkglist"), "collection", {"short": "pdlab"})
        ET.SubElement(coll, "name").text = "PatchDesk Lab"
        for p in a.packages:
            pe = ET.SubElement(coll, "package", {
                "name": p.name, "version": p.version, "release": p.full_release,
                "epoch": "0", "arch": p.arch, "src": f"{p.name}-{p.evr}.src.rpm"})
            ET.SubElement(pe, "filename").text = p.filename
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _tool_version(tool: str) -> str:
    cp = _lab.run([_lab._tool(tool), "--version"], timeout=30, what=f"{tool} --version")
    return cp.stdout.strip().splitlines()[0] if cp.stdout.strip() else "?"


def repo_key(rpms: Sequence[RpmSpec], advisories: Sequence[Advisory]) -> str:
    """Hash of everything that goes into the repository (the cache key)."""
    recipe = {
        "recipe": RECIPE_VERSION,
        "specs": [spec_file(s) + "\0" + s.arch for s in (*rpms, USERLAND)],
        "updateinfo": updateinfo_xml(advisories),
        "rpmbuild": _tool_version("rpmbuild"),
        "createrepo_c": _tool_version("createrepo_c"),
        "epoch": SOURCE_DATE_EPOCH,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def build_rpm(s: RpmSpec, outdir: Path, workdir: Path) -> Path:
    """Build one RPM with rpmbuild (``--target`` the package's arch) into outdir."""
    top = workdir / f"{s.name}-{s.evr}.{s.arch}"
    shutil.rmtree(top, ignore_errors=True)
    (top / "SPECS").mkdir(parents=True)
    spec = top / "SPECS" / f"{s.name}.spec"
    spec.write_text(spec_file(s))
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH),
           "HOME": str(top)}
    argv = [_lab._tool("rpmbuild"), "-bb", "--quiet",
            "--define", f"_topdir {top}",
            "--define", "_buildhost lab.patchdesk.invalid",
            "--define", "use_source_date_epoch_as_buildtime 1",
            "--define", "clamp_mtime_to_source_date_epoch 1",
            "--define", "_binary_payload w9.gzdio",
            "--define", "__os_install_post %{nil}",
            "--define", "debug_package %{nil}",
            "--target", s.arch, str(spec)]
    _lab.run(argv, env=env, timeout=120, what=f"rpmbuild of {s.filename}")
    built = top / "RPMS" / s.arch / s.filename
    if not built.is_file():
        found = sorted(p.name for p in (top / "RPMS").rglob("*.rpm"))
        raise _lab.LabError(f"rpmbuild did not produce {s.filename} (found: {found})")
    out = outdir / s.filename
    built.replace(out)
    shutil.rmtree(top, ignore_errors=True)
    return out


def _build(dest: Path, rpms: Sequence[RpmSpec], advisories: Sequence[Advisory]) -> None:
    pkgs = dest / "Packages"
    pkgs.mkdir(parents=True)
    work = dest.parent / (dest.name + ".work")
    work.mkdir()
    host = dest / "host"  # installed on the hosts, not served in the index
    host.mkdir()
    try:
        for s in rpms:
            build_rpm(s, pkgs, work)
        build_rpm(USERLAND, host, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)}
    _lab.run([_lab._tool("createrepo_c"), "--quiet", "--excludes", "host/*", "--no-database",
              "--simple-md-filenames", "--revision", str(SOURCE_DATE_EPOCH),
              "--set-timestamp-to-revision", str(dest)],
             env=env, timeout=120, what="indexing the rpm repository with createrepo_c")
    uidir = dest.parent / (dest.name + ".updateinfo")
    uidir.mkdir()
    ui = uidir / "updateinfo.xml"
    ui.write_text(updateinfo_xml(advisories))
    os.utime(ui, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH))
    try:
        _lab.run([_lab._tool("modifyrepo_c"), "--mdtype=updateinfo", "--simple-md-filenames",
                  str(ui), str(dest / "repodata")],
                 env=env, timeout=60, what="adding updateinfo.xml with modifyrepo_c")
    finally:
        shutil.rmtree(uidir, ignore_errors=True)


def ensure_repo(cache: Path | None = None, *, rpms: Sequence[RpmSpec] = DEFAULT_RPMS,
                advisories: Sequence[Advisory] = DEFAULT_ADVISORIES,
                timeout: float = 300.0) -> Path:
    """The cached repository directory (``Packages/`` + ``repodata/``), built if missing.

    Atomic (temp dir + rename) and serialised with the lab cache's flock, like the base.
    """
    cache = cache or _lab.cache_dir()
    key = repo_key(rpms, advisories)
    final = cache / f"rpmrepo-{key}"
    marker = final / ".patchdesk-lab-rpmrepo"
    if marker.is_file():
        return final
    with _lab._flock(cache / ".rpmrepo.lock", timeout, "the lab rpm repository build lock"):
        if marker.is_file():
            return final
        tmp = cache / f".rpmrepo-build-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        t0 = time.monotonic()
        try:
            _build(tmp, rpms, advisories)
            (tmp / ".patchdesk-lab-rpmrepo").write_text(
                json.dumps({"key": key, "rpms": [s.filename for s in rpms]}) + "\n")
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _lab._log(f"lab rpm repository built in {time.monotonic() - t0:.1f}s: {final}")
        for old in cache.glob("rpmrepo-*"):
            if old != final and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    return final


def publish(repo: Path, served_root: Path, name: str = "rpm") -> Path:
    """Copy the cached repository under the lab's HTTP root (``http://<repo ip>/rpm/``)."""
    dest = served_root / name
    if dest.exists():
        return dest
    tmp = served_root / f".{name}.tmp{os.getpid()}"
    shutil.copytree(repo, tmp, ignore=shutil.ignore_patterns(".patchdesk-lab-rpmrepo", "host"))
    tmp.rename(dest)
    return dest


def rpm_query(path: Path, fmt: str) -> str:
    """``rpm -qp --queryformat fmt path`` (used by the tests to check what was built)."""
    return subprocess.run([_lab._tool("rpm"), "-qp", "--queryformat", fmt, str(path)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "LANG": "C"}).stdout
