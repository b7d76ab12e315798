"""``patchdesk report``: the branded PDF audit and compliance report."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from app.cli.common import (
    EXIT_OK,
    Subparsers,
    add_period_options,
    emit,
    framework_choice,
    opened,
    period,
    run_job,
)


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    options = replace(period(args, args.sections),
                      frameworks=tuple(f.id for f in framework_choice(args.framework)))
    with opened(args) as service:
        result = run_job("report ", lambda bar, cancel: service.reports.generate(
            Path(args.output), options, progress=bar, cancel=cancel))
    pct = result.figures.get("compliance_pct")
    emit(args, out, result.to_dict(),
         f"wrote {result.pages} page(s) to {result.path} in {result.seconds:.1f} s "
         f"(compliance {'—' if pct is None else f'{pct}%'}, "
         f"{result.figures['missing_total']} missing update(s))\n")
    return EXIT_OK


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    p = sub.add_parser("report", parents=[common], help="write the PDF audit and compliance report",
                       description="Executive summary, inventory, missing patches, "
                                   "deployments, exceptions, the patch-audit checklist and a "
                                   "per-host appendix, branded with the site's client, MSP "
                                   "and logo.")
    p.add_argument("--sections", metavar="LIST",
                   help="comma list of exec,inventory,patches,deployments,exceptions,"
                        "checklist,hosts (default: all)")
    add_period_options(p)
    p.add_argument("--framework", metavar="LIST",
                   help="add an appendix per compliance framework, e.g. "
                        "pci-dss,cyber-essentials (see 'patchdesk compliance --list')")
    p.add_argument("-o", "--output", required=True, metavar="FILE.pdf")
    p.set_defaults(func=cmd_report)
