"""``patchdesk schedule add|list|edit|rm|install``, ``patchdesk run-due`` and ``patchdesk
notify smtp|test``: the background runner that works with the GUI closed, started by the
OS's own scheduler."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from app.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    Table,
    emit,
    master_password,
    opened,
    secret,
)
from app.core.errors import UserError
from app.services.schedules import install_os_scheduler, runner_command


def _when(value: Any) -> str:
    return value.strftime("%a %Y-%m-%d %H:%M") if value else "—"


def cmd_schedule_add(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        words = list(args.kind)
        if len(words) > 1 and [w.lower() for w in words[:2]] == ["feed", "refresh"]:
            words = ["feed-refresh", *words[2:]]
        saved = service.schedules.add(words[0], " ".join(words[1:]), args.at)
        emit(args, out, saved.to_dict(), f"schedule {saved.id}: {saved.kind} {saved.arg} "
             f"({saved.spec}), next run {_when(saved.next_run)}\n")
    return EXIT_OK


def cmd_schedule_list(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        items = service.schedules.all()
        emit(args, out, [s.to_dict() for s in items], Table(
            [[str(s.id), str(s.kind), s.arg, s.spec, _when(s.next_run), _when(s.last_run),
              s.last_status or "", s.last_result[:40], "yes" if s.enabled else "no"]
             for s in items],
            ["ID", "KIND", "ARG", "WHEN", "NEXT RUN", "LAST RUN", "STATUS", "RESULT",
             "ENABLED"]))
    return EXIT_OK


def cmd_schedule_edit(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        new = service.schedules.update(args.id, spec=args.at, arg=args.arg,
                                       enabled=args.enabled)
        emit(args, out, new.to_dict(), f"schedule {new.id}: {new.kind} {new.arg} ({new.spec}),"
             f" next run {_when(new.next_run)}\n")
    return EXIT_OK


def cmd_schedule_rm(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        gone = service.schedules.remove(args.id)
        emit(args, out, gone.to_dict(), f"removed schedule {gone.id}\n")
    return EXIT_OK


def cmd_schedule_install(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        site = service.path
    command = runner_command(site, args.master_password_file or "")
    result = install_os_scheduler(command, interval_minutes=args.interval)

    def text(out: TextIO) -> None:
        for path in result["files"]:
            out.write(f"wrote {path}\n")
        for argv, code, _output in result["ran"]:
            out.write(f"ran {' '.join(argv)}: exit {code}\n")
        if result["todo"]:
            out.write(f"not registered yet: {result['todo']}\n")
        else:
            out.write("registered: run-due starts every "
                      f"{args.interval} minutes\n")

    emit(args, out, result, text)
    return EXIT_OK


def cmd_run_due(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        if not service.credentials.unlocked and (args.master_password_file
                                                 or service.credentials.vault_exists):
            try:  # jobs that need no credential (scan, report, feed) run anyway
                service.credentials.unlock(master_password(args))
            except UserError as exc:
                sys.stderr.write(f"patchdesk: vault stays locked: {exc}\n")
        ran = service.schedules.run_due()
        emit(args, out, [s.to_dict() for s in ran], Table(
            [[str(s.id), str(s.kind), s.arg, s.last_status, s.last_result[:60],
              _when(s.next_run)] for s in ran],
            ["ID", "KIND", "ARG", "STATUS", "RESULT", "NEXT RUN"]))
    return EXIT_OK if all(s.last_status == "ok" for s in ran) else EXIT_FAILED


def cmd_notify_smtp(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        if not service.credentials.unlocked:
            service.credentials.unlock(master_password(args))
        password = secret(args.password_stdin, args.password_file, "SMTP password")
        cred = service.schedules.set_smtp(
            args.name, args.user or "", password, host=args.host, port=args.port,
            sender=args.sender or "", recipients=tuple(args.to), cafile=args.cafile or "")
        emit(args, out, {"name": cred.name, "host": args.host, "port": args.port},
             f"notifications go through {cred.name} ({args.host}:{args.port}, STARTTLS)\n")
    return EXIT_OK


def cmd_notify_test(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        if not service.credentials.unlocked:
            service.credentials.unlock(master_password(args))
        msg_id = service.schedules.notify("PatchDesk: test notification",
                                          "This is a test of PatchDesk's notifications.")
        if not msg_id:
            raise UserError("not sent: no mail server configured, or it failed (see "
                            "'patchdesk audit list')")
        emit(args, out, {"message_id": msg_id}, f"sent {msg_id}\n")
    return EXIT_OK


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    sched = sub.add_parser("schedule", help="jobs the background runner starts on time"
                           ).add_subparsers(dest="schedule_command", metavar="ACTION",
                                            required=True)
    p = sched.add_parser("add", parents=[common], help="schedule a job")
    p.add_argument("kind", nargs="+", metavar="KIND",
                   help="scan RANGE | assess SELECTOR | deploy PLAN-ID | report [FILE] | "
                        "feed refresh SOURCE (the last word is the argument)")
    p.add_argument("--at", required=True, metavar="WHEN",
                   help="'Sat 22:00', 'daily 02:00', 'mon-fri 06:30' or 'in the window'")
    p.set_defaults(func=cmd_schedule_add)
    p = sched.add_parser("list", parents=[common], help="schedules, last and next runs")
    p.set_defaults(func=cmd_schedule_list)
    p = sched.add_parser("edit", parents=[common], help="change a schedule")
    p.add_argument("id", type=int)
    p.add_argument("--at", metavar="WHEN")
    p.add_argument("--arg", metavar="ARG")
    p.add_argument("--enable", dest="enabled", action="store_const", const=True)
    p.add_argument("--disable", dest="enabled", action="store_const", const=False)
    p.set_defaults(func=cmd_schedule_edit)
    p = sched.add_parser("rm", parents=[common], help="remove a schedule")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_schedule_rm)
    p = sched.add_parser("install", parents=[common],
                         help="register run-due with the OS's scheduler (systemd user timer, "
                              "Task Scheduler, launchd)")
    p.add_argument("--interval", type=int, default=5, metavar="MIN",
                   help="minutes between two runs of run-due (default 5)")
    p.set_defaults(func=cmd_schedule_install)
    p = sub.add_parser("run-due", parents=[common],
                       help="run the scheduled jobs that are due (what the OS scheduler starts)")
    p.set_defaults(func=cmd_run_due)
    notify = sub.add_parser("notify", help="e-mail notifications").add_subparsers(
        dest="notify_command", metavar="ACTION", required=True)
    p = notify.add_parser("smtp", parents=[common],
                          help="the mail server (STARTTLS; the password goes into the vault)")
    p.add_argument("name")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=587)
    p.add_argument("--user")
    p.add_argument("--from", dest="sender")
    p.add_argument("--to", action="append", required=True, metavar="ADDRESS")
    p.add_argument("--cafile", help="trust this CA bundle (a private mail server)")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--password-file", metavar="FILE")
    p.set_defaults(func=cmd_notify_smtp)
    p = notify.add_parser("test", parents=[common], help="send a test notification")
    p.set_defaults(func=cmd_notify_test)
