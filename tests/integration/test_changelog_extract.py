"""The changelog script's extraction on real .deb files built here with dpkg-deb: a big
package whose changelog sits in the last block of its multi-block data.tar.xz is read by
decoding that block alone; anywhere else, the whole package is decoded as before; the
text is the same either way."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "app" / "drivers" / "scripts" / "changelogs.sh"
CHANGELOG = b"""pd-big (2.0-1) bookworm-security; urgency=high

  * Fix CVE-2026-1111.

 -- PatchDesk Test <test@patchdesk.invalid>  Mon, 30 Nov 2026 10:00:00 +0000
"""

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None or shutil.which("xz") is None,
                                reason="needs dpkg-deb and xz (Debian)")


def functions() -> str:
    """data_member, last_block and extract from the script, without its main part."""
    text = SCRIPT.read_text(encoding="utf-8")
    return text[text.index("# data_member DEB"):text.index("\nopen=$groups")]


def build(root: Path, name: str, *, doc_first: bool) -> Path:
    """A package with ~40 MiB of data (several xz blocks) and its changelog, which
    dpkg-deb stores after /usr/lib (the usual case) or, with ``doc_first``, under a
    directory sorted before it."""
    tree = root / name
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 2.0-1\nArchitecture: all\nMaintainer: T <t@t.invalid>\n"
        "Description: test\n")
    data = tree / ("usr/zz" if doc_first else "usr/lib") / name
    data.mkdir(parents=True)
    chunk = bytes(range(256)) * 4096  # 1 MiB, cheap to compress
    for i in range(40):
        (data / f"part{i}").write_bytes(chunk[i:] + chunk[:i])
    doc = tree / "usr/share/doc" / name
    doc.mkdir(parents=True)
    (doc / "changelog.Debian.gz").write_bytes(gzip.compress(CHANGELOG))
    deb = root / f"{name}_2.0-1_all.deb"
    subprocess.run(["dpkg-deb", "-Zxz", "--root-owner-group", "--build", str(tree), str(deb)],
                   check=True, capture_output=True)
    shutil.rmtree(tree)
    return deb


def run(script: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", functions() + script], cwd=tmp, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "LANG": "C"})


def blocks(deb: Path, tmp: Path) -> int:
    out = run(f'm=$(data_member "{deb}") && set -- $m && '
              f'tail -c +$(($1 + 1)) "{deb}" | head -c "$2" > d.xz && '
              "xz --robot -lvv d.xz | grep -c '^block'", tmp)
    return int(out.stdout.strip() or 0)


def test_changelog_in_the_last_block_is_read_from_that_block_alone(tmp_path: Path) -> None:
    deb = build(tmp_path, "pd-big", doc_first=False)
    assert blocks(deb, tmp_path) > 1, "dpkg-deb made a multi-block data.tar.xz"
    done = run(f'mkdir x && last_block "{deb}" x pd-big && '
               "gzip -dc x/usr/share/doc/pd-big/changelog.Debian.gz", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.encode() == CHANGELOG


def test_changelog_elsewhere_is_read_by_decoding_the_whole_package(tmp_path: Path) -> None:
    deb = build(tmp_path, "pd-early", doc_first=True)
    fast = run(f'mkdir x && last_block "{deb}" x pd-early', tmp_path)
    assert fast.returncode != 0  # not in the last block: the caller decodes everything
    full = run(f'work=$PWD; max=100000; cp "{deb}" copy.deb && extract 0 pd-early copy.deb '
               "&& cat out.0", tmp_path)
    assert full.returncode == 0, full.stderr
    assert full.stdout.encode() == CHANGELOG
    assert not (tmp_path / "copy.deb").exists()  # extract removes what it read


def test_small_package_is_decoded_whole(tmp_path: Path) -> None:
    tree = tmp_path / "pd-small"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: pd-small\nVersion: 1-1\nArchitecture: all\nMaintainer: T <t@t.invalid>\n"
        "Description: test\n")
    doc = tree / "usr/share/doc/pd-small"
    doc.mkdir(parents=True)
    (doc / "changelog.Debian.gz").write_bytes(gzip.compress(CHANGELOG))
    deb = tmp_path / "pd-small_1-1_all.deb"
    subprocess.run(["dpkg-deb", "-Zxz", "--root-owner-group", "--build", str(tree), str(deb)],
                   check=True, capture_output=True)
    done = run(f'work=$PWD; max=100000; extract 0 pd-small "{deb}" && cat out.0', tmp_path)
    assert done.stdout.encode() == CHANGELOG
