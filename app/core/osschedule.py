"""The OS's own scheduler entries that start ``patchdesk run-due`` (pure text).

No PatchDesk daemon: a systemd user timer on Linux, a Task Scheduler task (XML for
``schtasks /Create /XML``) on Windows and a launchd agent (plist) on macOS run the
runner every few minutes; ``run-due`` does nothing when nothing is due.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from xml.sax.saxutils import escape

UNIT = "patchdesk-run-due"
LAUNCHD_LABEL = "org.patchdesk.run-due"


def _systemd_quote(arg: str) -> str:
    """One ExecStart argument: double-quoted when needed, ``%`` and ``$`` escaped."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and all(c.isalnum() or c in "/._-=:+,@" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_units(command: Sequence[str], interval_minutes: int = 5) -> dict[str, str]:
    """``{file name: content}`` of the user service and timer (``~/.config/systemd/user``).

    ``Persistent=true`` runs a run missed while the computer was off at the next boot.
    """
    exec_start = " ".join(_systemd_quote(a) for a in command)
    service = (
        "[Unit]\n"
        "Description=PatchDesk: run the scheduled jobs that are due\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={exec_start}\n"
        "Nice=5\n"
    )
    timer = (
        "[Unit]\n"
        "Description=PatchDesk: start run-due every few minutes\n\n"
        "[Timer]\n"
        f"OnCalendar=*:0/{interval_minutes}\n"
        "Persistent=true\n"
        "RandomizedDelaySec=20\n"
        f"Unit={UNIT}.service\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {f"{UNIT}.service": service, f"{UNIT}.timer": timer}


def schtasks_xml(command: Sequence[str], interval_minutes: int = 5,
                 start: str = "2020-01-01T00:00:00") -> str:
    """A Task Scheduler task (``schtasks /Create /TN PatchDesk\\run-due /XML FILE``) that
    runs the command every ``interval_minutes`` as the current user, only when logged on
    is not required, and catches up a missed run."""
    program, *args = command
    arguments = " ".join(f'"{a}"' if (" " in a or not a) else a for a in args)
    return (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\n'
        "  <RegistrationInfo>\n"
        "    <Description>PatchDesk: run the scheduled jobs that are due</Description>\n"
        "  </RegistrationInfo>\n"
        "  <Triggers>\n"
        "    <TimeTrigger>\n"
        f"      <StartBoundary>{start}</StartBoundary>\n"
        "      <Enabled>true</Enabled>\n"
        "      <Repetition>\n"
        f"        <Interval>PT{interval_minutes}M</Interval>\n"
        "        <StopAtDurationEnd>false</StopAtDurationEnd>\n"
        "      </Repetition>\n"
        "    </TimeTrigger>\n"
        "  </Triggers>\n"
        "  <Principals>\n"
        '    <Principal id="Author">\n'
        "      <LogonType>S4U</LogonType>\n"
        "      <RunLevel>LeastPrivilege</RunLevel>\n"
        "    </Principal>\n"
        "  </Principals>\n"
        "  <Settings>\n"
        "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n"
        "    <StartWhenAvailable>true</StartWhenAvailable>\n"
        "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n"
        "    <ExecutionTimeLimit>PT12H</ExecutionTimeLimit>\n"
        "    <Enabled>true</Enabled>\n"
        "  </Settings>\n"
        '  <Actions Context="Author">\n'
        "    <Exec>\n"
        f"      <Command>{escape(program)}</Command>\n"
        f"      <Arguments>{escape(arguments)}</Arguments>\n"
        "    </Exec>\n"
        "  </Actions>\n"
        "</Task>\n"
    )


def launchd_plist(command: Sequence[str], interval_minutes: int = 5,
                  log_path: str = "") -> str:
    """A launchd agent (``~/Library/LaunchAgents/org.patchdesk.run-due.plist``, loaded
    with ``launchctl bootstrap gui/$UID FILE``)."""
    args = "\n".join(f"    <string>{escape(a)}</string>" for a in command)
    log = (f"  <key>StandardOutPath</key>\n  <string>{escape(log_path)}</string>\n"
           f"  <key>StandardErrorPath</key>\n  <string>{escape(log_path)}</string>\n"
           if log_path else "")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        '<plist version="1.0">\n'
        "<dict>\n"
        f"  <key>Label</key>\n  <string>{LAUNCHD_LABEL}</string>\n"
        f"  <key>ProgramArguments</key>\n  <array>\n{args}\n  </array>\n"
        f"  <key>StartInterval</key>\n  <integer>{interval_minutes * 60}</integer>\n"
        "  <key>RunAtLoad</key>\n  <true/>\n"
        f"{log}"
        "</dict>\n"
        "</plist>\n"
    )


def shell_line(command: Sequence[str]) -> str:
    """The command as a POSIX shell line (for messages)."""
    return " ".join(shlex.quote(a) for a in command)
