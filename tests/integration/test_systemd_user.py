"""`schedule install` against a real systemd user manager, when the test machine has one
(otherwise skipped with the reason; the unit files' content is tested in
test_runner_lab.py and tests/unit/test_schedule_units.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.osschedule import UNIT
from app.services.schedules import install_os_scheduler


def _user_manager() -> str:
    """'' when a systemd user manager answers, else why not."""
    if not sys.platform.startswith("linux"):
        return f"not Linux ({sys.platform})"
    if shutil.which("systemctl") is None:
        return "systemctl is not installed"
    probe = subprocess.run(["systemctl", "--user", "is-system-running"], capture_output=True,
                           text=True, timeout=30, check=False)
    state = (probe.stdout or probe.stderr).strip()
    return "" if state in ("running", "degraded") else \
        f"no systemd user manager is running (systemctl --user is-system-running: {state})"


def test_install_enables_the_user_timer(tmp_path: Path) -> None:
    why = _user_manager()
    if why:
        pytest.skip(why)
    unit_file = Path.home() / ".config" / "systemd" / "user" / f"{UNIT}.timer"
    if unit_file.exists():
        pytest.skip(f"{unit_file} exists already (a real installation; left alone)")
    site = tmp_path / "t.pdsite"
    try:
        result = install_os_scheduler([sys.executable, "-m", "app", "--site", str(site),
                                       "run-due"])
        assert not result["todo"], result
        enabled = subprocess.run(["systemctl", "--user", "is-enabled", f"{UNIT}.timer"],
                                 capture_output=True, text=True, timeout=30, check=False)
        assert enabled.stdout.strip() == "enabled"
        timers = subprocess.run(["systemctl", "--user", "list-timers", "--all"],
                                capture_output=True, text=True, timeout=30, check=False)
        assert f"{UNIT}.timer" in timers.stdout
    finally:
        subprocess.run(["systemctl", "--user", "disable", "--now", f"{UNIT}.timer"],
                       capture_output=True, timeout=30, check=False)
        for name in (f"{UNIT}.timer", f"{UNIT}.service"):
            (unit_file.parent / name).unlink(missing_ok=True)
        subprocess.run(["systemctl", "--user", "daemon-reload"], capture_output=True,
                       timeout=30, check=False)
