"""``patchdesk feeds import|status`` and the short forms ``epss import``, ``nvd import``
(``kev import`` is in :mod:`app.cli.risk`): vulnerability data, offline first.

A feed is read from a file (gzip or plain) or, when a person gives one, an http(s) URL;
nothing is fetched unless asked for.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from app.cli.common import (
    EXIT_OK,
    ProgressBar,
    Subparsers,
    Table,
    emit,
    now,
    opened,
    run_job,
)
from app.core.feeds import FEED_TITLES, FEEDS
from app.core.progress import CancelToken, Progress

FORMATS = {
    "debian": "the Debian Security Tracker JSON (https://security-tracker.debian.org/"
              "tracker/data/json)",
    "ubuntu": "Ubuntu OSV records (USN-*.json / UBUNTU-CVE-*.json of canonical/"
              "ubuntu-security-notices, one record or a list)",
    "nvd": "an NVD CVE JSON 2.0 file (nvdcve-2.0-YEAR.json[.gz]) or CVE API 2.0 answer",
    "epss": "FIRST's EPSS CSV (epss_scores-YYYY-MM-DD.csv[.gz])",
    "kev": "CISA's known_exploited_vulnerabilities.json",
}


def _import(args: argparse.Namespace, out: TextIO, feed: str) -> int:
    with opened(args) as service:
        def work(bar: ProgressBar, cancel: CancelToken) -> object:
            def progress(done: int, total: int | None) -> None:
                bar(Progress(done // 1024, (total or 0) // 1024, "KiB read"))

            return service.feeds.import_feed(feed, args.source, progress=progress,
                                             should_stop=lambda: cancel.cancelled,
                                             timeout=args.timeout)

        result = run_job(f"{feed} ", work)
    data = result.to_dict()  # type: ignore[attr-defined]
    emit(args, out, data,
         f"imported {FEED_TITLES[feed]}: {data['records']} record(s)"
         + (f", {data['skipped']} skipped" if data["skipped"] else "")
         + f"; the site now holds {data['stored']}; feed date "
           f"{data['feed_date'] or 'unknown'}; from {data['source']}\n")
    return EXIT_OK


def cmd_feeds_import(args: argparse.Namespace, out: TextIO) -> int:
    return _import(args, out, args.feed)


def cmd_feeds_status(args: argparse.Namespace, out: TextIO) -> int:
    moment = now()
    with opened(args) as service:
        states = service.feeds.status()
        limit = service.feeds.max_age_days()
    rows = [[s.feed, f"{s.imported_at:%Y-%m-%d %H:%M}" if s.imported_at else "never",
             (s.feed_date or "")[:10], "" if s.age_days(moment) is None
             else f"{s.age_days(moment)} d", str(s.records), str(s.stored),
             "STALE" if s.stale(moment, limit) else "", s.source] for s in states]
    emit(args, out, {"max_age_days": limit,
                     "feeds": [s.to_dict(moment, limit) for s in states]},
         Table(rows, ["FEED", "IMPORTED", "FEED DATE", "AGE", "RECORDS", "STORED", "STALE",
                      "SOURCE"]))
    return EXIT_OK


def _source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="FILE|URL",
                   help="a file (plain or .gz), or an http(s) URL (fetched now)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long to wait for a URL (default 60)")


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Declare this group's sub-commands (``common`` adds ``--json``)."""
    feeds = sub.add_parser("feeds", help="vulnerability data: Debian/Ubuntu trackers, NVD, "
                                         "EPSS, KEV").add_subparsers(
        dest="feeds_command", metavar="ACTION", required=True)
    p = feeds.add_parser("import", parents=[common], help="import a feed from a file or URL",
                         description="Import a vulnerability feed: "
                         + "; ".join(f"{k}: {v}" for k, v in FORMATS.items()) + ".")
    p.add_argument("feed", choices=FEEDS)
    _source_options(p)
    p.set_defaults(func=cmd_feeds_import)
    p = feeds.add_parser("status", parents=[common],
                         help="each feed's age, records, source and stale flag")
    p.set_defaults(func=cmd_feeds_status)
    for feed in ("epss", "nvd"):
        group = sub.add_parser(feed, help=f"{FEED_TITLES[feed]} (short for feeds import "
                                          f"{feed})").add_subparsers(
            dest=f"{feed}_command", metavar="ACTION", required=True)
        p = group.add_parser("import", parents=[common], help=f"import {FORMATS[feed]}")
        _source_options(p)
        p.set_defaults(func=lambda args, out, feed=feed: _import(args, out, feed))
