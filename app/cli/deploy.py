"""``patchdesk deploy plan|run|resume|status|list|approve|override|cancel-reboot|rollback|
cancel|archive``:
test-then-deploy through ``service.deployments``."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from app.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Subparsers,
    Table,
    UsageError,
    emit,
    one_asset,
    opened,
    print_event,
    run_job,
    split_list,
    table,
    unlock,
)
from app.cli.people import add_pin_option, pin_from_stdin
from app.core.deployment import Gates, RebootPolicy
from app.core.planrules import Request
from app.services import SiteService

#: Flags that ask for a policy rule (a flag may tighten it; loosening needs --override).
_RULE_FLAGS = {"reboot": "--reboot", "max_failures": "--max-failures",
               "max_failure_rate": "--max-failure-rate", "pilot_success": "--pilot-success",
               "backup_days": "--backup-days", "reboot_lead_minutes": "--reboot-lead"}


def _rules(args: argparse.Namespace) -> dict[str, Any]:
    """The plan's keyword arguments: the other numbers as Gates, the rule flags given as
    requests (each rule not given comes from the policy in force)."""
    base = Gates()
    requested = {rule: Request(RebootPolicy(value) if rule == "reboot" else value,
                               f"flag {flag}")
                 for rule, flag in _RULE_FLAGS.items()
                 if (value := getattr(args, rule, None)) is not None}
    return {"gates": Gates(wave_size=args.wave_size or base.wave_size,
                           concurrency=args.concurrency or base.concurrency),
            "requested": requested, "source": "flag --test-ring/--pilot",
            "override_reason": args.override or "", "emergency": args.emergency or ""}


def _dep_json(service: SiteService, dep: Any, with_log: bool = False) -> dict[str, Any]:
    return service.deployment_json(dep.id, with_log=with_log)


def _print_dep(dep: Any, out: TextIO, notes: list[str] | None = None) -> None:
    pins = ", ".join(str(p) for p in dep.packages)
    out.write(f"deployment {dep.id}: {dep.phase}  ({pins})\n")
    out.write(f"  changes: {dep.change_summary()}\n")  # apt's simulation on each host
    for note in notes or ():  # what cannot be rolled back, before anyone approves
        out.write(f"  no rollback: {note}\n")
    for rule, source in dep.gates.sources:  # each rule and where it came from
        value = getattr(dep.gates, rule, None)
        shown = "; ".join(value) or "any time" if isinstance(value, tuple) else value
        out.write(f"  rule {rule}: {'' if rule == 'rings' else f'{shown} '}({source})\n")
    if dep.halt_reason and str(dep.phase) == "halted":
        out.write(f"  halted: {dep.halt_reason}\n")
    if dep.archived:
        out.write(f"  archived by {dep.archived}\n")
    if dep.approval:
        out.write(f"  approved by {dep.approval.approver} at "
                  f"{dep.approval.at.isoformat()}\n")
    table([[t.label, t.address, str(t.stage), str(t.wave + 1), str(t.state),
             t.verified, ("; ".join(t.preflight) + (f" [override: {t.override}]"
                                                     if t.override else "")) or t.detail]
            for t in dep.targets],
           ["HOST", "ADDRESS", "RING", "WAVE", "STATE", "VERIFIED", "DETAIL"], out)


def cmd_deploy_plan(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        dep = service.plan_deployment(
            split_list(args.patch), split_list(args.targets) or None,
            test_ring=split_list(args.test_ring), pilot=split_list(args.pilot), **_rules(args))
        if args.simulate:  # the change set on each host, before anything runs
            unlock(service, args)
            dep = service.deployments.simulate(dep.id)
        notes = service.deployments.rollback_notes(dep.id)
        emit(args, out, lambda: _dep_json(service, dep), lambda out: _print_dep(dep, out, notes))
        return EXIT_OK


def cmd_deploy_run(args: argparse.Namespace, out: TextIO) -> int:
    pin = pin_from_stdin(args, args.approve_as) if args.approve_as else None
    with opened(args) as service:
        unlock(service, args)
        if args.patch:
            dep = service.plan_deployment(
                split_list(args.patch), split_list(args.targets) or None,
                test_ring=split_list(args.test_ring), pilot=split_list(args.pilot),
                **_rules(args))
            if not args.yes:
                if not sys.stdin.isatty():
                    raise UsageError("refusing to deploy without --yes (no terminal to "
                                     "confirm on)")
                _print_dep(dep, sys.stderr, service.deployments.rollback_notes(dep.id))
                sys.stderr.write("Start this deployment? [y/N] ")
                if sys.stdin.readline().strip().lower() not in ("y", "yes"):
                    sys.stderr.write("not started (the plan is kept)\n")
                    return EXIT_FAILED
            dep_id = dep.id
        else:
            dep_id = args.id if args.id is not None else service.deployment().id
        deployments = service.deployments
        if not args.json:
            deployments.on_event = print_event
        start = deployments.resume if args.deploy_command == "resume" else deployments.run
        dep = run_job("deploy ", lambda bar, cancel: start(
            dep_id, approve_as=args.approve_as or "", progress=bar, cancel=cancel, pin=pin))

    def data() -> dict[str, Any]:
        with opened(args) as service:
            return _dep_json(service, dep, with_log=True)

    def text(out: TextIO) -> None:
        _print_dep(dep, out)
        if str(dep.phase) == "awaiting_approval":
            out.write(f"the test ring passed; approve with: patchdesk deploy approve {dep.id} "
                      "--as NAME --pin-stdin, then deploy resume\n")

    emit(args, out, data, text)
    return EXIT_OK if str(dep.phase) in ("done", "awaiting_approval") else EXIT_FAILED


def cmd_deploy_status(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        dep = service.deployment(args.id)

        def text(out: TextIO) -> None:
            _print_dep(dep, out)
            if args.log:
                for line in service.deployment_log(dep.id):
                    out.write(f"{line['ts']}  {line['message']}\n")

        emit(args, out, lambda: _dep_json(service, dep, with_log=True), text)
    return EXIT_OK


def cmd_deploy_list(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        # Archived deployments are hidden unless asked for ([13]).
        deps = service.deployments.listed(None if args.all else bool(args.archived))
        emit(args, out, lambda: [service.deployments.json(d.id, with_log=False) for d in deps],
             Table([[str(d.id), d.created_at.isoformat() if d.created_at else "", str(d.phase),
                     ", ".join(str(p) for p in d.packages), str(len(d.targets))]
                    for d in deps],
                   ["ID", "CREATED", "PHASE", "PACKAGES", "HOSTS"]))
    return EXIT_OK


def cmd_deploy_approve(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        dep = service.deployments.approve(args.id, args.approver, args.note or "",
                                          pin=pin_from_stdin(args, args.approver))
        _print_dep(dep, out)
    return EXIT_OK


def cmd_deploy_override(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        asset = one_asset(service, args.host)
        dep = service.deployments.override(args.id, int(asset.id or 0), args.reason)
        _print_dep(dep, out)
    return EXIT_OK


def cmd_deploy_rollback(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        unlock(service, args)
        dep_id = service.deployment(None if args.last or args.id is None else args.id).id
        ids = [int(one_asset(service, sel).id or 0) for sel in split_list(args.host)] or None
        deployments = service.deployments
        if not args.json:
            deployments.on_event = print_event
        dep = deployments.rollback(dep_id, ids)
        emit(args, out, lambda: _dep_json(service, dep, with_log=True),
             lambda out: _print_dep(dep, out))
    return EXIT_OK if str(dep.phase) != "halted" else EXIT_FAILED


def cmd_deploy_cancel(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        dep = service.deployments.cancel(args.id, args.reason)
        emit(args, out, lambda: _dep_json(service, dep), lambda out: _print_dep(dep, out))
    return EXIT_OK


def cmd_deploy_archive(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        dep = service.deployments.archive(args.id, not args.undo)
        emit(args, out, lambda: _dep_json(service, dep),
             f"deployment {dep.id}: " + (f"archived by {dep.archived}" if dep.archived
                                         else "not archived") + "\n")
    return EXIT_OK


def cmd_deploy_cancel_reboot(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        unlock(service, args)
        asset = one_asset(service, args.host)
        dep = service.deployments.cancel_reboot(args.id, int(asset.id or 0))
        _print_dep(dep, out)
    return EXIT_OK


def _add_plan_options(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--patch", action="append", required=required, metavar="PKG[=VERSION]",
                   help="package to deploy (repeatable); without a version, the candidate "
                        "the last assessment found")
    p.add_argument("--targets", action="append", metavar="SELECTORS",
                   help="hosts (comma list of ids, names, IPs) or 'all' (default: every "
                        "host missing the patch)")
    p.add_argument("--test-ring", action="append", metavar="SELECTORS")
    p.add_argument("--pilot", action="append", metavar="SELECTORS")
    p.add_argument("--wave-size", type=int, metavar="N", help="production hosts per wave")
    p.add_argument("--concurrency", type=int, metavar="N", help="hosts at a time in a wave")
    # The rules come from the patch policy in force; these flags may tighten one.
    p.add_argument("--reboot", choices=["never", "if-needed", "always"],
                   help="reboot behaviour (default: the policy's)")
    p.add_argument("--reboot-lead", dest="reboot_lead_minutes", type=int, metavar="MIN",
                   help="minutes of notice before a reboot (default: the policy's)")
    p.add_argument("--max-failures", type=int, metavar="N",
                   help="halt production after N failed hosts (default: the policy's)")
    p.add_argument("--max-failure-rate", type=float, metavar="F",
                   help="halt production above this share of failed hosts (default: the "
                        "policy's)")
    p.add_argument("--pilot-success", type=float, metavar="F",
                   help="share of the pilot that must succeed (default: the policy's)")
    p.add_argument("--backup-days", type=int, metavar="N",
                   help="servers need a verified backup within N days (default: the "
                        "policy's)")
    p.add_argument("--override", metavar="REASON",
                   help="let the flags loosen the policy's rules (the policy's responsible "
                        "person only; audited with the reason)")
    p.add_argument("--emergency", metavar="REASON",
                   help="the policy's emergency procedure: run outside the maintenance "
                        "windows (responsible person only; audited)")


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    deploy = sub.add_parser("deploy", help="test-then-deploy with approval and rollback"
                            ).add_subparsers(dest="deploy_command", metavar="ACTION",
                                             required=True)
    p = deploy.add_parser("plan", parents=[common], help="plan a deployment")
    _add_plan_options(p, required=True)
    p.add_argument("--simulate", action="store_true",
                   help="ask apt on each host what the install would change (nothing is "
                        "installed); the change set is shown with the plan")
    p.set_defaults(func=cmd_deploy_plan)
    for name, helptext in (("run", "plan (with --patch) and run, or run a planned one"),
                           ("resume", "continue an interrupted or approved deployment")):
        p = deploy.add_parser(name, parents=[common], help=helptext)
        p.add_argument("id", nargs="?", type=int, help="deployment id (default: the newest)")
        _add_plan_options(p, required=False)
        p.add_argument("--approve-as", metavar="NAME",
                       help="approve after the test ring in this person's name (with "
                            "--pin-stdin: their PIN)")
        add_pin_option(p, "the approver")
        p.add_argument("--yes", action="store_true", help="do not ask before starting")
        p.set_defaults(func=cmd_deploy_run)
    p = deploy.add_parser("status", parents=[common], help="a deployment's state")
    p.add_argument("id", nargs="?", type=int)
    p.add_argument("--log", action="store_true", help="also print the step log")
    p.set_defaults(func=cmd_deploy_status)
    p = deploy.add_parser("list", parents=[common],
                          help="deployment history (archived ones hidden)")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--archived", action="store_true", help="only archived deployments")
    shown.add_argument("--all", action="store_true", help="archived ones too")
    p.set_defaults(func=cmd_deploy_list)
    p = deploy.add_parser("cancel", parents=[common],
                          help="cancel a deployment that will not go on (audited)")
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_deploy_cancel)
    p = deploy.add_parser("archive", parents=[common],
                          help="hide a finished, halted or cancelled deployment from the list")
    p.add_argument("id", type=int)
    p.add_argument("--undo", action="store_true", help="unarchive it")
    p.set_defaults(func=cmd_deploy_archive)
    p = deploy.add_parser("approve", parents=[common], help="named approval after the test ring")
    p.add_argument("id", type=int)
    p.add_argument("--as", dest="approver", required=True, metavar="NAME")
    add_pin_option(p, "the approver")
    p.add_argument("--note")
    p.set_defaults(func=cmd_deploy_approve)
    p = deploy.add_parser("override", parents=[common],
                          help="let a host that failed pre-flight take part (audited)")
    p.add_argument("id", type=int)
    p.add_argument("host", metavar="SELECTOR")
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_deploy_override)
    p = deploy.add_parser("cancel-reboot", parents=[common],
                          help="cancel a host's scheduled reboot (shutdown -c)")
    p.add_argument("id", type=int)
    p.add_argument("host", metavar="SELECTOR")
    p.set_defaults(func=cmd_deploy_cancel_reboot)
    p = deploy.add_parser("rollback", parents=[common],
                          help="restore the versions from before a deployment")
    p.add_argument("id", nargs="?", type=int)
    p.add_argument("--last", action="store_true", help="the newest deployment")
    p.add_argument("--host", action="append", metavar="SELECTORS", help="only these hosts")
    p.set_defaults(func=cmd_deploy_rollback)
