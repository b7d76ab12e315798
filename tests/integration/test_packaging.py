"""The wheel carries everything the app loads at run time (icons, driver scripts)."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_resources_and_scripts(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = tmp_path.glob("patchdesk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    icons = {p.name for p in (ROOT / "resources" / "icons").glob("*.svg")}
    assert icons
    assert {f"app/resources/icons/{name}" for name in icons} <= names
    assert "app/drivers/scripts/linux_facts.sh" in names
    assert "app/drivers/windows/wua_task.ps1" in names  # the Windows driver's scripts
    assert "app/resources/data/known_exploited_vulnerabilities.json" in names  # KEV sample
    assert "app/ui/icons.py" in names
    fonts = {p.name for p in (ROOT / "resources" / "fonts").iterdir()}
    assert {"DejaVuSans.ttf", "DejaVuSansCondensed-Bold.ttf", "LICENSE-DejaVu.txt"} <= fonts
    assert {f"app/resources/fonts/{name}" for name in fonts} <= names  # report fonts + licence
    frameworks = {p.name for p in (ROOT / "resources" / "frameworks").glob("*.json")}
    assert {"pci-dss.json", "cyber-essentials.json", "essential-eight.json"} <= frameworks
    assert {f"app/resources/frameworks/{name}" for name in frameworks} <= names  # [16]
