"""Schedule specs and the OS scheduler entries (systemd, Task Scheduler, launchd) as text."""

from __future__ import annotations

import plistlib
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest

from app.core.osschedule import launchd_plist, schtasks_xml, systemd_units
from app.core.policy import MaintenanceWindow
from app.core.schedule import IN_WINDOW, JobKind, check_arg, next_run, parse_kind, parse_spec
from app.services.schedules import install_os_scheduler

CMD = ["/opt/Patch Desk/patchdesk", "--site", "/srv/a site.pdsite", "run-due"]


def test_specs_and_next_runs() -> None:
    assert parse_spec("Sat 22:00") == "Sat 22:00"
    assert parse_spec("DAILY 2:00") == "daily 02:00"
    assert parse_spec("in the window") == IN_WINDOW
    with pytest.raises(ValueError, match="not a schedule"):
        parse_spec("whenever")
    fri = datetime(2026, 12, 4, 12, 0)
    assert next_run("Sat 22:00", fri) == datetime(2026, 12, 5, 22, 0)
    assert next_run("daily 02:00", datetime(2026, 12, 4, 2, 0)) == datetime(2026, 12, 5, 2, 0)
    window = (MaintenanceWindow.parse("sat 22:00-04:00"),)
    assert next_run(IN_WINDOW, fri, window) == datetime(2026, 12, 5, 22, 0)
    inside = datetime(2026, 12, 5, 23, 0)
    assert next_run(IN_WINDOW, inside, window) == datetime(2026, 12, 12, 22, 0)
    assert next_run(IN_WINDOW, fri) is None
    assert parse_kind("feed refresh") is JobKind.FEED_REFRESH
    assert check_arg(JobKind.DEPLOY, "#12") == "12"
    with pytest.raises(ValueError, match="planned deployment"):
        check_arg(JobKind.DEPLOY, "x")


def test_systemd_units_quote_the_command() -> None:
    units = systemd_units(CMD, 5)
    service = units["patchdesk-run-due.service"]
    assert 'ExecStart="/opt/Patch Desk/patchdesk" --site "/srv/a site.pdsite" run-due' in service
    assert "Type=oneshot" in service
    timer = units["patchdesk-run-due.timer"]
    assert "OnCalendar=*:0/5" in timer and "Persistent=true" in timer
    assert "%%" in systemd_units(["/x", "50%"])["patchdesk-run-due.service"]


def test_task_scheduler_xml_and_launchd_plist_parse() -> None:
    root = ET.fromstring(schtasks_xml(CMD, 10).split("\n", 1)[1])  # noqa: S314 - our own text
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    assert root.find(".//t:Interval", ns).text == "PT10M"  # type: ignore[union-attr]
    assert root.find(".//t:Command", ns).text == CMD[0]  # type: ignore[union-attr]
    assert root.find(".//t:Arguments", ns).text == \
        '--site "/srv/a site.pdsite" run-due'  # type: ignore[union-attr]
    assert root.find(".//t:StartWhenAvailable", ns).text == "true"  # type: ignore[union-attr]
    plist = plistlib.loads(launchd_plist(CMD, 5, "/tmp/log").encode())
    assert plist["ProgramArguments"] == CMD and plist["StartInterval"] == 300
    assert plist["Label"] == "org.patchdesk.run-due"


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_install_writes_the_entry_and_registers_it(tmp_path: Path, platform: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    class Done:
        returncode, stdout, stderr = 0, "", ""

    def run(argv: list[str], **_: object) -> Done:
        calls.append(argv)
        return Done()

    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    result = install_os_scheduler(CMD, platform=platform, home=tmp_path,
                                  run=run)  # type: ignore[arg-type]
    written = Path(result["files"][0])
    assert written.is_file() and not result["todo"]
    assert calls[0][0] == ("schtasks" if platform == "win32" else "launchctl")
    if platform == "win32":
        assert written.read_text(encoding="utf-16").startswith("<?xml")
        assert calls[0][-2:] == [str(written), "/F"]
