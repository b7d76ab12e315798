"""The PyInstaller bundle (packaging/patchdesk.spec) builds and its executables run."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.skipif(importlib.util.find_spec("PyInstaller") is None,
                    reason="PyInstaller is not installed (pip install -e '.[dev]')")
def test_bundle_builds_and_runs(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "-y", "--log-level", "ERROR",
         "--distpath", str(tmp_path / "dist"), "--workpath", str(tmp_path / "build"),
         str(ROOT / "packaging" / "patchdesk.spec")],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    assert build.returncode == 0, build.stderr[-3000:]
    bundle = tmp_path / "dist" / "patchdesk"
    site = tmp_path / "frozen.pdsite"
    cli = [str(bundle / "patchdesk"), "--site", str(site)]
    added = subprocess.run([*cli, "asset", "add", "--hostname", "web01", "--ip", "10.0.0.5",
                            "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert added.returncode == 0, added.stderr
    report = subprocess.run([*cli, "report", "-o", str(tmp_path / "r.pdf")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    gui = subprocess.run([str(bundle / "patchdesk-gui"), "--site", str(site),
                          "--quit-after-show"], capture_output=True, text=True, timeout=60,
                         env=env, check=False)
    assert gui.returncode == 0, gui.stderr[-2000:]
