"""The background runner: scheduled jobs (scan, assess, deploy, report, feed refresh) that
``patchdesk run-due`` executes when the OS's scheduler starts it, with the GUI closed, and
the e-mail notifications it sends (deployment results, halts, new devices, overdue
emergencies)."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.credentials import Credential, CredentialKind
from app.core.deployment import Phase
from app.core.errors import UserError
from app.core.osschedule import (
    LAUNCHD_LABEL,
    UNIT,
    launchd_plist,
    schtasks_xml,
    shell_line,
    systemd_units,
)
from app.core.policy import Priority, selector_matches
from app.core.schedule import JobKind, Schedule, check_arg, next_run, parse_kind, parse_spec
from app.services.base import ServicePart
from app.store.repos import AuditRepo
from app.store.schedules import ScheduleRepo

NOTIFY_SETTING = "notify_smtp"  # the name of the SMTP credential that sends notifications


def local_now() -> datetime:
    """The local time schedules are judged by (aware)."""
    return datetime.now().astimezone()


class ScheduleService(ServicePart):
    """Schedules of one site and the runner that executes the due ones."""

    clock: Callable[[], datetime] = staticmethod(local_now)

    # -- schedules -----------------------------------------------------------------------
    def all(self) -> list[Schedule]:
        """Every schedule, by id."""
        return ScheduleRepo(self.store.db()).all()

    def add(self, kind: str, arg: str, spec: str) -> Schedule:
        """Add a schedule (audited); its first run is computed from now.

        Raises:
            UserError: unknown kind, bad argument or spec, a deployment that does not
                exist.
        """
        try:
            job = parse_kind(kind)
            arg = check_arg(job, arg)
            spec = parse_spec(spec)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if job is JobKind.DEPLOY:
            self.site.deployments.get(int(arg))  # must exist
        due = self._next(spec, self.clock())
        with self.store.atomic() as db:
            saved = ScheduleRepo(db).add(job, arg, spec, due, self.actor)
            AuditRepo(db).append(self.actor, "schedule.add", "schedule", str(saved.id),
                                 saved.to_dict())
        return saved

    def update(self, schedule_id: int, *, spec: str | None = None, arg: str | None = None,
               enabled: bool | None = None) -> Schedule:
        """Change a schedule's spec, argument or enabled flag (audited)."""
        with self.store.atomic() as db:
            repo = ScheduleRepo(db)
            old = repo.get(schedule_id)
            changes: dict[str, Any] = {}
            try:
                if spec is not None:
                    changes["spec"] = parse_spec(spec)
                    changes["next_run"] = self._next(changes["spec"], self.clock())
                if arg is not None:
                    changes["arg"] = check_arg(old.kind, arg)
            except ValueError as exc:
                raise UserError(str(exc)) from None
            if enabled is not None:
                changes["enabled"] = int(enabled)
            new = repo.update(schedule_id, **changes)
            AuditRepo(db).append(self.actor, "schedule.edit", "schedule", str(schedule_id),
                                 {"before": old.to_dict(), "after": new.to_dict()})
        return new

    def remove(self, schedule_id: int) -> Schedule:
        """Delete a schedule (audited)."""
        with self.store.atomic() as db:
            gone = ScheduleRepo(db).remove(schedule_id)
            AuditRepo(db).append(self.actor, "schedule.remove", "schedule", str(schedule_id),
                                 gone.to_dict())
        return gone

    def _next(self, spec: str, after: datetime) -> datetime | None:
        return next_run(spec, after, self.site.risk.policy().policy.windows)

    # -- the runner ----------------------------------------------------------------------
    def due(self, now: datetime | None = None) -> list[Schedule]:
        """The enabled schedules whose next run has come."""
        now = now or self.clock()
        return [s for s in self.all() if s.enabled and s.next_run is not None
                and s.next_run <= now]

    def run_due(self, now: datetime | None = None) -> list[Schedule]:
        """Run every due schedule once (a missed run runs once, late), record its result
        and audit it; then send the notifications. Returns the schedules as they ended."""
        now = now or self.clock()
        ran: list[Schedule] = []
        notes: list[str] = []
        for sched in self.due(now):
            with self.store.atomic() as db:  # claim it: a second runner skips it
                if not ScheduleRepo(db).claim(sched, self._next(sched.spec, now)):
                    continue
            try:
                status, result, note = "ok", *self._execute(sched)
            except Exception as exc:
                status, result, note = "failed", str(exc) or type(exc).__name__, \
                    f"Scheduled {sched.kind} {sched.arg} failed: {exc}"
            with self.store.atomic() as db:
                ScheduleRepo(db).finished(sched.id, now, status, result)
                AuditRepo(db).append(self.actor, "schedule.run", "schedule", str(sched.id), {
                    "kind": str(sched.kind), "arg": sched.arg, "status": status,
                    "result": result})
            if note:
                notes.append(note)
            ran.append(ScheduleRepo(self.store.db()).get(sched.id))
        if ran:
            notes.extend(self._overdue_emergencies())
            if notes:
                self.notify("PatchDesk: " + notes[0].split("\n")[0], "\n\n".join(notes))
        return ran

    def _execute(self, sched: Schedule) -> tuple[str, str]:
        """Run one job: (result, notification text or "")."""
        site = self.site
        if sched.kind is JobKind.SCAN:
            before = {a.primary_ip for a in site.assets()}
            record = site.scan_network(sched.arg)
            new = [h for h in record.hosts if h.get("ip") not in before]
            result = (f"scan {record.id}: {record.summary.get('up', len(record.hosts))} "
                      f"host(s) up, {len(new)} new")
            note = ("New devices found by scheduled scan of " + sched.arg + ":\n" + "\n".join(
                f"  {h.get('ip')} {h.get('hostname') or ''}".rstrip() for h in new)) \
                if new else ""
            return result, note
        if sched.kind is JobKind.ASSESS:
            ids = [int(a.id or 0) for a in site.assets()
                   if selector_matches(sched.arg, a)]
            if not ids:
                raise UserError(f"no asset matches {sched.arg}")
            outcomes = site.assess_assets(ids)
            good = sum(1 for o in outcomes if o.ok)
            failed = [f"{o.label}: {o.message}" for o in outcomes if not o.ok]
            result = f"assessed {good} of {len(outcomes)} host(s)" + (
                "; " + "; ".join(failed) if failed else "")
            return result, ""
        if sched.kind is JobKind.DEPLOY:
            dep = site.deployments.run(int(sched.arg), notify=False)  # in this summary
            done = sum(1 for t in dep.targets if str(t.state) == "succeeded")
            result = f"deployment {dep.id}: {dep.phase} ({done} of {len(dep.targets)} host(s) " \
                     "succeeded)" + (f"; {dep.halt_reason}" if dep.phase is Phase.HALTED else "")
            # (imported here: the deployment engine is loaded only when a run needs it)
            from app.services.deployments import deployment_note

            return result, deployment_note(dep)[1]
        if sched.kind is JobKind.REPORT:
            path = Path(sched.arg or site.path.with_name(
                f"{site.path.stem}-report-{self.clock():%Y%m%d-%H%M}.pdf")).expanduser()
            site.reports.generate(path)
            return f"report written to {path}", ""
        if not sched.arg:
            raise UserError("a feed refresh needs the KEV catalogue's file or URL")
        imported = site.risk.kev_import(sched.arg)
        return f"KEV catalogue {imported.to_dict().get('version', '')} imported", ""

    def _overdue_emergencies(self) -> list[str]:
        """Overdue emergency updates not reported before (each is reported once)."""
        try:
            items = [i for i in self.site.risk.risk_items()
                     if i.overdue and i.priority is Priority.EMERGENCY]
        except UserError:
            return []
        settings = self.site.settings()
        told = set(settings.get("notified_overdue", []))
        fresh = [i for i in items if f"{i.host}/{i.package}" not in told]
        if not fresh:
            return []
        self.site.update_settings(notified_overdue=sorted(
            told | {f"{i.host}/{i.package}" for i in fresh}))
        return ["Overdue emergency updates:\n" + "\n".join(
            f"  {i.host}: {i.package} (due {i.due:%Y-%m-%d %H:%M})" for i in fresh)]

    # -- notifications -------------------------------------------------------------------
    def smtp_credential(self) -> Credential | None:
        """The SMTP credential notifications go through (None: not configured)."""
        name = str(self.site.settings().get(NOTIFY_SETTING, ""))
        creds = [c for c in self.site.remote.credentials() if c.kind is CredentialKind.SMTP]
        return next((c for c in creds if c.name == name), creds[0] if creds else None)

    def set_smtp(self, name: str, username: str, password: str | None, *, host: str,
                 port: int = 587, sender: str = "", recipients: tuple[str, ...] = (),
                 cafile: str = "") -> Credential:
        """Store the mail server's login in the vault and send notifications through it."""
        cred = self.site.remote.add_smtp_credential(
            name, username, password, host=host, port=port, sender=sender,
            recipients=recipients, cafile=cafile)
        self.site.update_settings(**{NOTIFY_SETTING: cred.name})
        return cred

    def notify(self, subject: str, body: str) -> str:
        """E-mail a notification through the site's SMTP credential (audited). Returns the
        Message-ID, or "" when no mail server is configured. A failure to send is recorded
        in the audit log, never raised (the job it reports on did its work)."""
        from app.notify.mail import SmtpSettings, send_mail

        cred = self.smtp_credential()
        if cred is None:
            return ""
        opts = cred.options
        settings = SmtpSettings(
            host=opts.get("host", ""), port=int(cred.port or 587), username=cred.username,
            sender=opts.get("sender", ""), cafile=opts.get("cafile", ""),
            recipients=tuple(r for r in opts.get("recipients", "").split(",") if r))
        try:
            password = self.site.remote.secret_password(cred) if cred.has_password else None
            msg_id = send_mail(settings, password, subject, body)
        except UserError as exc:
            self._audit("notify.failed", "notification", cred.name,
                        {"subject": subject, "error": str(exc)})
            return ""
        self._audit("notify.sent", "notification", cred.name,
                    {"subject": subject, "to": list(settings.recipients), "id": msg_id})
        return msg_id


def runner_command(site: Path, master_password_file: str = "") -> list[str]:
    """The command the OS scheduler starts: this installation's ``patchdesk run-due`` for
    the site (the bundle itself when frozen)."""
    if getattr(sys, "frozen", False):
        exe = [sys.executable]
    else:
        script = Path(sys.executable).with_name(
            "patchdesk.exe" if sys.platform == "win32" else "patchdesk")
        exe = [str(script)] if script.exists() else [sys.executable, "-m", "app"]
    extra = ["--master-password-file", master_password_file] if master_password_file else []
    return [*exe, "--site", str(site), *extra, "run-due"]


def install_os_scheduler(command: list[str], *, platform: str | None = None,
                         home: Path | None = None, interval_minutes: int = 5,
                         run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
                         ) -> dict[str, Any]:
    """Register ``run-due`` with the OS's own scheduler.

    Linux: the user service + timer under ``~/.config/systemd/user``, then ``systemctl
    --user daemon-reload`` and ``enable --now`` when a user manager answers (otherwise the
    commands to run are returned). Windows: the task XML, then ``schtasks /Create``.
    macOS: the launchd agent plist, then ``launchctl bootstrap``.

    Returns:
        ``{"files": [...], "ran": [[argv, exit code, output]], "todo": "..."}``.
    """
    platform = platform or sys.platform
    home = home or Path.home()
    files: dict[Path, str] = {}
    commands: list[list[str]] = []
    if platform.startswith("linux"):
        unit_dir = home / ".config" / "systemd" / "user"
        files = {unit_dir / n: t for n, t in systemd_units(command, interval_minutes).items()}
        commands = [["systemctl", "--user", "daemon-reload"],
                    ["systemctl", "--user", "enable", "--now", f"{UNIT}.timer"]]
    elif platform == "win32":
        files = {home / "AppData" / "Local" / "PatchDesk" / "run-due-task.xml":
                 schtasks_xml(command, interval_minutes)}
        commands = [["schtasks", "/Create", "/TN", "PatchDesk\\run-due", "/XML",
                     str(next(iter(files))), "/F"]]
    elif platform == "darwin":
        plist = home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        files = {plist: launchd_plist(command, interval_minutes,
                                      str(home / "Library" / "Logs" / "patchdesk-run-due.log"))}
        commands = [["launchctl", "bootstrap", f"gui/{os.getuid()}", str(plist)]]
    else:
        raise UserError(f"No OS scheduler known for {platform}; run "
                        f"'{shell_line(command)}' every few minutes with cron.")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-16" if path.suffix == ".xml" else "utf-8")
    ran: list[list[Any]] = []
    todo = ""
    if shutil.which(commands[0][0]) is None:
        todo = "run: " + " && ".join(shell_line(c) for c in commands)
    else:
        for argv in commands:
            proc = run(argv, capture_output=True, text=True, timeout=60, check=False)
            ran.append([argv, proc.returncode, (proc.stdout + proc.stderr).strip()])
            if proc.returncode != 0:
                todo = (f"'{shell_line(argv)}' failed ({(proc.stderr or '').strip()[:200]}); "
                        "when a user session is running, run: "
                        + " && ".join(shell_line(c) for c in commands))
                if platform.startswith("linux"):
                    todo += f"; to run while logged out: loginctl enable-linger {_user()}"
                break
    return {"files": [str(p) for p in files], "ran": ran, "todo": todo}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "$USER"
