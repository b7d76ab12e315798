"""``patchdesk kev|policy|risk|compliance|review|exception``: what to patch first, by when,
under which policy, and who decided otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from app.cli.common import (
    EXIT_OK,
    Subparsers,
    Table,
    UsageError,
    emit,
    framework_choice,
    now,
    opened,
    table,
)
from app.cli.people import add_pin_option, pin_from_stdin
from app.core.errors import FieldError, UserError, ValidationError
from app.core.frameworks import FrameworkResult, duration_text
from app.core.policy import Policy, format_policy, set_value, setting_keys
from app.core.risk import Decision
from app.core.validate import parse_date


def _review_date(text: str | None, flag: str) -> Any:
    if text is None:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise ValidationError([FieldError(flag, str(exc))]) from None


def cmd_kev_import(args: argparse.Namespace, out: TextIO) -> int:
    if bool(args.source) == bool(args.sample):
        raise UsageError("give a file or URL of the KEV catalogue, or --sample")
    with opened(args) as service:
        result = service.kev_import(args.source, sample=args.sample, timeout=args.timeout)
    emit(args, out, result.to_dict(),
         f"imported KEV catalogue {result.catalog_version or '(no version)'}: "
         f"{result.entries} entries ({result.added} new, {result.removed} gone) "
         f"from {result.source}\n")
    return EXIT_OK


def cmd_kev_status(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        last = service.kev_status()
        items = service.risk_items() if last else []
    listed = sorted({e.cve_id for i in items for e in i.kev})
    emit(args, out, {"imported": last.to_dict() if last else None,
                     "matched_cves": listed,
                     "matched_updates": sum(1 for i in items if i.kev)},
         "no KEV catalogue imported: nothing is flagged as known exploited. Import one with "
         "`patchdesk kev import FILE|URL` (or --sample)\n" if last is None else
         f"KEV catalogue {last.catalog_version} ({last.entries} entries), imported "
         f"{last.imported_at:%Y-%m-%d %H:%M} UTC by {last.actor} from {last.source}\n"
         f"known exploited CVEs among missing updates: {', '.join(listed) or 'none'}\n")
    return EXIT_OK


def cmd_policy_show(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        version = service.policy(args.version)
    emit(args, out, version.to_dict(), format_policy(version))
    return EXIT_OK


def cmd_policy_set(args: argparse.Namespace, out: TextIO) -> int:
    pairs = list(args.settings or [])
    if len(pairs) % 2:
        raise UsageError(f"'{pairs[-1]}' has no value: give KEY VALUE pairs (keys: "
                         f"{', '.join(setting_keys())})")
    if not pairs and not args.file:
        raise UsageError("nothing to change: give KEY VALUE pairs or --file policy.json")
    policy = None
    if args.file:
        try:
            data = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"There is no file {args.file}.") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"Cannot read {args.file} as JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("policy"), dict):
            data = data["policy"]  # the output of `policy show --json`
        policy = Policy.from_dict(data)
    with opened(args) as service:
        if policy is not None:
            for key, value in zip(pairs[::2], pairs[1::2], strict=True):
                policy = set_value(policy, key, value)
            saved = service.save_policy(policy, args.note or "")
        else:
            saved = service.set_policy_values(list(zip(pairs[::2], pairs[1::2], strict=True)),
                                              args.note or "")
    emit(args, out, saved.to_dict(),
         f"saved patch policy version {saved.version} ({saved.author})\n")
    return EXIT_OK


def cmd_policy_history(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        versions = service.policy_history()
    emit(args, out, [v.to_dict() for v in versions],
         Table([[str(v.version), v.created_at.isoformat() if v.created_at else "", v.author,
                 v.note] for v in versions], ["VERSION", "SAVED", "AUTHOR", "NOTE"]))
    return EXIT_OK


def cmd_risk(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        items = service.risk_items()
        if args.host:
            wanted = {a.id for a in service.find_assets(args.host)}
            items = [i for i in items if i.asset_id in wanted]
        kev_known = service.kev_status() is not None
    if args.overdue:
        items = [i for i in items if i.overdue]
    if args.priority:
        items = [i for i in items if str(i.priority) == args.priority]
    if args.top:
        items = items[: args.top]

    def text(out: TextIO) -> None:
        if not kev_known:
            sys.stderr.write("note: no KEV catalogue imported; nothing is flagged as known "
                             "exploited (patchdesk kev import FILE|URL)\n")
        table([[str(i.risk.score), str(i.priority), i.host, i.ip, i.kb or i.package,
                f"{i.due:%Y-%m-%d}", "OVERDUE" if i.overdue else "", "KEV" if i.kev else "",
                str(i.state) if i.review else ""] for i in items],
              ["SCORE", "PRIORITY", "HOST", "IP", "UPDATE", "DUE", "OVERDUE", "KEV", "REVIEW"],
              out)
        if args.why:
            for i in items:
                out.write(f"\n{i.host} {i.kb or i.package}: {i.risk.why}\n")

    emit(args, out, [i.to_dict() for i in items], text)
    return EXIT_OK


def cmd_compliance(args: argparse.Namespace, out: TextIO) -> int:
    if args.list:
        known = framework_choice("all")
        emit(args, out, [{"framework": f.id, "title": f.title, "version": f.version,
                          "source": f.source.url} for f in known],
             Table([[f.id, f.title, f.version] for f in known], ["ID", "FRAMEWORK", "VERSION"]))
        return EXIT_OK
    chosen = framework_choice(args.framework)
    if chosen:
        with opened(args) as service:
            results = service.reports.frameworks([f.id for f in chosen])
        emit(args, out, {"frameworks": [r.to_dict() for r in results]},
             lambda out: _print_frameworks(results, out))
        return EXIT_OK
    with opened(args) as service:
        figure = service.compliance()
    if figure.percent is None:
        text = (f"SLA compliance unknown: none of the {figure.assets} covered asset(s) has "
                "been assessed (never deep-scanned, or the scan failed)\n")
    else:
        text = (f"SLA compliance {figure.percent:.1f}%: {figure.on_time} of {figure.pairs} "
                f"missing security update(s) within their due date ({figure.overdue} "
                f"overdue, {figure.excepted} under an exception); {figure.assets_compliant}"
                f" of {figure.assets} asset(s) assessed with nothing overdue")
        text += (f"; {figure.not_assessed} not assessed\n" if figure.not_assessed
                 else "\n")
    emit(args, out, figure.to_dict(), text)
    return EXIT_OK


def _print_frameworks(results: list[FrameworkResult], out: TextIO) -> None:
    for result in results:
        fw = result.framework
        out.write(f"{fw.title} {fw.version} ({fw.id}) at {result.as_of:%Y-%m-%d %H:%M} UTC: "
                  f"{result.counts_text()}\n")
        for rule in fw.rules:
            out.write(f"  deadline {rule.id}: {duration_text(rule.within)} - {rule.text}\n")
        for j in result.judgements:
            out.write(f"  {j.requirement_id:<22} {str(j.status).upper():<15} "
                      f"{fw.requirement(j.requirement_id).title}\n      {j.figures}\n")
        out.write("\n")


def _review_row(r: Any, now: Any) -> list[str]:
    state = ""
    if str(r.decision) == "exception":
        state = "EXPIRED" if r.expired(now) else "active"
    return [str(r.id), str(r.decision), r.package,
            r.cve or "", r.host or "all hosts", r.decided_by,
            r.until.isoformat() if r.until else (r.planned.isoformat() if r.planned else ""),
            state, r.reason]


_REVIEW_HEADERS = ["ID", "DECISION", "UPDATE", "CVE", "HOST", "BY", "UNTIL/DATE", "STATE",
                   "REASON"]


def _add_review(args: argparse.Namespace, out: TextIO, decision: str) -> int:
    until = _review_date(args.until, "until")
    planned = _review_date(getattr(args, "date", None), "date")
    with opened(args) as service:
        pin = pin_from_stdin(args, args.by) if decision == "exception" else None
        review = service.add_review(
            Decision(decision.replace("-", "_")), reason=args.reason, by=args.by,
            package=args.patch or "", cve=args.cve or "", host=args.host, until=until,
            planned=planned, pin=pin)
    what = review.package or review.cve
    emit(args, out, review.to_dict(),
         f"recorded {review.decision} #{review.id} for {what} on "
         f"{review.host or 'all hosts'} by {review.decided_by}"
         + (f", until {review.until}" if review.until else "") + "\n")
    return EXIT_OK


def cmd_review_add(args: argparse.Namespace, out: TextIO) -> int:
    return _add_review(args, out, args.decision)


def cmd_exception_add(args: argparse.Namespace, out: TextIO) -> int:
    return _add_review(args, out, "exception")


def cmd_review_list(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        reviews = service.reviews(Decision(args.decision.replace("-", "_"))
                                  if args.decision else None)
    at = now()
    emit(args, out, [r.to_dict(at) for r in reviews],
         Table([_review_row(r, at) for r in reviews], _REVIEW_HEADERS))
    return EXIT_OK


def cmd_exception_list(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        reviews = service.exceptions()
    at = now()
    if args.active:
        reviews = [r for r in reviews if not r.expired(at)]
    emit(args, out, [r.to_dict(at) for r in reviews],
         Table([_review_row(r, at) for r in reviews], _REVIEW_HEADERS))
    return EXIT_OK


def cmd_exception_expire(args: argparse.Namespace, out: TextIO) -> int:
    with opened(args) as service:
        review = service.end_exception(args.id, args.by)
    emit(args, out, review.to_dict(review.ended_at),
         f"exception #{review.id} ended; {review.package or review.cve} on "
         f"{review.host or 'all hosts'} is due again (overdue)\n")
    return EXIT_OK


def _add_review_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--patch", metavar="PKG", help="the update: package name or KB")
    p.add_argument("--cve", metavar="CVE", help="or every update carrying this CVE (KEV item)")
    p.add_argument("--host", metavar="SELECTOR", help="one asset (default: every host)")
    p.add_argument("--reason", required=True, help="the justification (and workaround)")
    p.add_argument("--by", required=True, metavar="NAME", help="the person who decided")
    add_pin_option(p, "that person (needed for an exception)")


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    kev = sub.add_parser("kev", help="the CISA Known Exploited Vulnerabilities catalogue"
                         ).add_subparsers(dest="kev_command", metavar="ACTION", required=True)
    p = kev.add_parser("import", parents=[common], help="import the catalogue (replaces it)",
                       description="Import CISA's known_exploited_vulnerabilities.json from a "
                                   "file or an http(s) URL, e.g. https://www.cisa.gov/sites/"
                                   "default/files/feeds/known_exploited_vulnerabilities.json")
    p.add_argument("source", nargs="?", metavar="FILE|URL")
    p.add_argument("--sample", action="store_true",
                   help="import the bundled 20-entry sample (offline first run, demos)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="how long to wait for a URL (default 30)")
    p.set_defaults(func=cmd_kev_import)
    p = kev.add_parser("status", parents=[common],
                       help="the imported catalogue and the known exploited CVEs found")
    p.set_defaults(func=cmd_kev_status)

    policy = sub.add_parser("policy", help="the versioned patch policy").add_subparsers(
        dest="policy_command", metavar="ACTION", required=True)
    p = policy.add_parser("show", parents=[common], help="print the policy")
    p.add_argument("--version", type=int, metavar="N", help="an older version")
    p.set_defaults(func=cmd_policy_show)
    p = policy.add_parser("set", parents=[common], help="change settings (a new version)",
                          description="KEY VALUE pairs, e.g. approvers alice,bob  "
                                      "sla_hours.emergency 24h  windows "
                                      "'ring:production=sat 22:00-04:00'  people.carol "
                                      "reviewer; or --file with the JSON of `policy show "
                                      "--json`.")
    p.add_argument("settings", nargs="*", metavar="KEY VALUE")
    p.add_argument("--file", metavar="FILE", help="the whole policy as JSON")
    p.add_argument("--note", help="why it changed (kept with the version)")
    p.set_defaults(func=cmd_policy_set)
    p = policy.add_parser("history", parents=[common], help="every saved version")
    p.set_defaults(func=cmd_policy_history)

    p = sub.add_parser("risk", parents=[common], help="missing updates by risk, with due dates",
                       description="Score, priority, SLA due date, overdue and KEV flags per "
                                   "(host, update), highest risk first.")
    p.add_argument("--top", type=int, metavar="N", help="only the N riskiest")
    p.add_argument("--host", metavar="SELECTOR", help="only this asset")
    p.add_argument("--overdue", action="store_true", help="only overdue items")
    p.add_argument("--priority", choices=["emergency", "high", "standard", "low"])
    p.add_argument("--why", action="store_true", help="explain every score")
    p.set_defaults(func=cmd_risk)
    p = sub.add_parser("compliance", parents=[common],
                       help="the SLA compliance figure, or a framework's requirements judged",
                       description="Without --framework: the SLA compliance figure under the "
                                   "patch policy. With it: each requirement of the named "
                                   "frameworks judged met / partly / not met / not applicable "
                                   "from the site's records, with the figures (the report's "
                                   "framework appendices show the same).")
    p.add_argument("--framework", metavar="LIST",
                   help="comma list of framework ids (or all), e.g. pci-dss,cyber-essentials")
    p.add_argument("--list", action="store_true", help="list the bundled frameworks")
    p.set_defaults(func=cmd_compliance)

    review = sub.add_parser("review", help="urgency reviews: patch now, schedule, exception"
                            ).add_subparsers(dest="review_command", metavar="ACTION",
                                             required=True)
    p = review.add_parser("add", parents=[common], help="record a named person's decision")
    _add_review_options(p)
    p.add_argument("--decision", required=True,
                   choices=["patch-now", "schedule", "exception"])
    p.add_argument("--until", metavar="YYYY-MM-DD", help="exception: valid through this day")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="schedule: the planned day")
    p.set_defaults(func=cmd_review_add)
    p = review.add_parser("list", parents=[common], help="every review")
    p.add_argument("--decision", choices=["patch-now", "schedule", "exception"])
    p.set_defaults(func=cmd_review_list)
    exc = sub.add_parser("exception", help="workaround + exception with an expiry date"
                         ).add_subparsers(dest="exception_command", metavar="ACTION",
                                          required=True)
    p = exc.add_parser("add", parents=[common], help="grant an exception until a date")
    _add_review_options(p)
    p.add_argument("--until", required=True, metavar="YYYY-MM-DD",
                   help="valid through this day; then the update is overdue again")
    p.set_defaults(func=cmd_exception_add)
    p = exc.add_parser("list", parents=[common], help="exceptions (expired ones flagged)")
    p.add_argument("--active", action="store_true", help="only unexpired ones")
    p.set_defaults(func=cmd_exception_list)
    p = exc.add_parser("expire", parents=[common], help="end an exception now")
    p.add_argument("id", type=int)
    p.add_argument("--by", metavar="NAME", help="who ended it (default: --actor)")
    p.set_defaults(func=cmd_exception_expire)
