"""What every command group of the CLI shares: exit codes, the site session, the one output
helper (text or ``--json``), the progress bar, long jobs run one way, shared option groups,
and the vault's master password."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO, TypeAlias, TypeVar, cast

from app.core.errors import PatchDeskError, UserError
from app.core.frameworks import Framework
from app.core.models import Asset
from app.core.progress import Cancelled, CancelToken, Progress
from app.services import SiteService, default_site_path
from app.services.reports import ReportOptions, parse_sections

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

log = logging.getLogger("patchdesk")

#: The sub-command table of a parser (what ``add_subparsers`` returns).
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

T = TypeVar("T")


class UsageError(PatchDeskError):
    """The command line is wrong; exit code 2."""


# -- output ----------------------------------------------------------------------------------
#: Characters a terminal would act on: C0 controls but tab and newline, DEL, C1 controls,
#: and the bidirectional overrides that reorder what is shown ([12].17).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with every control character a terminal would act on (ESC, BEL, CR, C1,
    bidi overrides) shown as an escape (``\\x1b``) instead; invalid UTF-8 too."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")

    def escape(m: re.Match[str]) -> str:
        c = m.group()
        return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"

    text = _CONTROL.sub(escape, text)
    return text if keep_newlines else text.replace("\n", "\\n")


class TerminalSafe:
    """A text stream that writes :func:`terminal_safe` text to another one."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, text: str) -> int:
        return self.out.write(terminal_safe(text))

    def flush(self) -> None:
        self.out.flush()


def emit_json(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, ensure_ascii=False, default=str)
    out.write("\n")


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under headers: the text form of a list (cells are cut at 40 characters)."""

    rows: list[list[str]]
    headers: list[str]


def emit(args: argparse.Namespace, out: TextIO, data: Any,
         text: str | Table | Callable[[TextIO], None]) -> None:
    """The one way a command prints its result (the sqlite-utils pattern).

    Args:
        data: the JSON form, printed with ``--json``; a function returning it when it costs
            something to build (called only then).
        text: the human form otherwise: a string, a :class:`Table`, or a function writing
            to ``out``.
    """
    if args.json:
        emit_json(data() if callable(data) else data, out)
    elif isinstance(text, str):
        out.write(terminal_safe(text))
    elif isinstance(text, Table):
        table(text.rows, text.headers, out)
    else:
        text(cast(TextIO, TerminalSafe(out)))


def table(rows: list[list[str]], headers: list[str], out: TextIO) -> None:
    rows = [[terminal_safe(c, keep_newlines=False) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), 40)

    def fmt(cells: list[str]) -> str:
        return "  ".join(c[: widths[i]].ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    out.write(fmt(headers) + "\n")
    for row in rows:
        out.write(fmt(row) + "\n")


class ProgressBar:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, stream: TextIO | None = None, label: str = "") -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self._last = 0.0
        self._start = time.monotonic()

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and progress.done < progress.total:
            return
        self._last = now
        width = 30
        filled = int(progress.fraction * width)
        elapsed = now - self._start
        rate = progress.done / elapsed if elapsed > 0 else 0.0
        eta = (progress.total - progress.done) / rate if rate > 0 else 0.0
        self.stream.write(
            f"\r{self.label}[{'#' * filled}{'.' * (width - filled)}] "
            f"{progress.done}/{progress.total} {progress.message[:40]:<40} ETA {eta:4.0f}s"
        )
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def run_job(label: str, work: Callable[[ProgressBar, CancelToken], T]) -> T:
    """Run a long job the one way every command does: on a worker thread with a progress bar
    on stderr; Ctrl-C asks the job to stop (its cancel token) and waits for it to wind down.

    Returns:
        what ``work`` returned (a cancelled scan or assessment returns what it has).

    Raises:
        KeyboardInterrupt: interrupted and the job gave up (raised :class:`Cancelled`).
        Whatever ``work`` raised.
    """
    bar = ProgressBar(label=label)
    cancel = CancelToken()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work(bar, cancel)
        except BaseException as exc:  # handed to the main thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name=label.strip() or "job", daemon=True)
    try:
        thread.start()
        while thread.is_alive():
            try:
                thread.join(0.2)
            except KeyboardInterrupt:
                sys.stderr.write("\ncancelling...\n")
                cancel.cancel()
    finally:
        thread.join()
        bar.finish()
    error = box.get("error")
    if isinstance(error, Cancelled):
        raise KeyboardInterrupt from error
    if error is not None:
        raise error
    result: T = box["result"]
    return result


# -- the site --------------------------------------------------------------------------------
@contextmanager
def opened(args: argparse.Namespace, *, create: bool = False) -> Iterator[SiteService]:
    """The site named on the command line, closed when the command is done."""
    service = open_service(args, create=create)
    try:
        yield service
    finally:
        service.close()


def open_service(args: argparse.Namespace, *, create: bool = False) -> SiteService:
    """Open the site of ``--site`` (the default site, created on first use, without it)."""
    path = Path(args.site).expanduser() if args.site else default_site_path()
    default = not args.site
    service = SiteService.open(path, create=create or default, actor=args.actor,
                               name="Default site" if default else None)
    if getattr(args, "accept_new_host_keys", False):  # the person's explicit choice ([12].10)
        service.credentials.access.accept_new_host_keys = True
    return service


def one_asset(service: SiteService, selector: str) -> Asset:
    """The one asset a selector names (UserError when it names several)."""
    found = service.find_assets(selector)
    if len(found) > 1:
        ids = ", ".join(f"#{a.id}" for a in found)
        raise UserError(f"'{selector}' matches several assets ({ids}); use an id.")
    return found[0]


def split_list(values: list[str] | None) -> list[str]:
    """Repeated, comma-separated option values as one list."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def now() -> datetime:
    """The current time in UTC, second precision (as the site records it)."""
    return datetime.now(UTC).replace(microsecond=0)


def print_event(_dep_id: int, _asset_id: int | None, message: str) -> None:
    """Print a deployment engine event on stderr."""
    sys.stderr.write(f"  {message}\n")
    sys.stderr.flush()


# -- shared option groups --------------------------------------------------------------------
def json_parent() -> argparse.ArgumentParser:
    """The ``--json`` option every sub-command takes (as a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable JSON output")
    common.add_argument("--accept-new-host-keys", action="store_true",
                        default=argparse.SUPPRESS,
                        help="a password credential may make first contact with hosts "
                             "whose SSH key was never confirmed (their keys are pinned as "
                             "confirmed by you)")
    return common


def count_arg(low: int = 1, high: int = 100_000) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` ([12].17)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range ({low}–{high})")
        return value
    return parse


def date_arg(text: str) -> date:
    """An argparse type: a YYYY-MM-DD date."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def add_period_options(p: argparse.ArgumentParser) -> None:
    """``--from`` and ``--to``: the period of a report or an export."""
    p.add_argument("--from", dest="period_from", type=date_arg, metavar="DATE",
                   help="period start, YYYY-MM-DD (deployments, audit events, trend)")
    p.add_argument("--to", dest="period_to", type=date_arg, metavar="DATE",
                   help="period end, YYYY-MM-DD (inclusive)")


def period(args: argparse.Namespace, sections: str | None = None) -> ReportOptions:
    """The report options of ``--from``/``--to`` and a section list."""
    try:
        return ReportOptions(parse_sections(sections), args.period_from, args.period_to)
    except UserError as exc:
        raise UsageError(str(exc)) from None


def framework_choice(text: str | None) -> list[Framework]:
    """The frameworks of ``--framework pci-dss,cyber-essentials`` (none when not given);
    an unknown id is a usage error, found before the site is opened."""
    from app.services.compliance import pick_frameworks

    try:
        return pick_frameworks(text)
    except UserError as exc:
        raise UsageError(str(exc)) from None


# -- the credential vault --------------------------------------------------------------------
def master_password(args: argparse.Namespace) -> str:
    """The vault's master password: a file, $PATCHDESK_MASTER_PASSWORD, or a prompt."""
    if args.master_password_file:
        try:
            return Path(args.master_password_file).expanduser().read_text(
                encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UserError(f"Cannot read the master password file: {exc.strerror}") from None
    env = _env_password or os.environ.pop(ENV_PASSWORD, "")
    if env:
        return env
    if sys.stdin.isatty() or tty_available():
        return getpass.getpass("PatchDesk master password: ")
    raise UsageError("the vault is locked: set PATCHDESK_MASTER_PASSWORD, use "
                     "--master-password-file, or run on a terminal")


ENV_PASSWORD = "PATCHDESK_MASTER_PASSWORD"  # noqa: S105 (a variable name)
#: $PATCHDESK_MASTER_PASSWORD, taken out of the environment when the command starts so that
#: no child process (ip, arp, nmap, ssh helpers) inherits it ([12].13).
_env_password = ""


def env_password() -> str:
    """$PATCHDESK_MASTER_PASSWORD as the command found it ("" when not set)."""
    return _env_password


@contextmanager
def master_password_from_environment() -> Iterator[None]:
    """Take $PATCHDESK_MASTER_PASSWORD out of ``os.environ`` for the command's lifetime
    (put back afterwards for an in-process caller such as the tests)."""
    global _env_password
    _env_password = os.environ.pop(ENV_PASSWORD, "")
    try:
        yield
    finally:
        if _env_password:
            os.environ[ENV_PASSWORD] = _env_password
        _env_password = ""


def tty_available() -> bool:
    """Whether a terminal is there to prompt on."""
    try:
        with open("/dev/tty"):
            return True
    except OSError:
        return False


def unlock(service: SiteService, args: argparse.Namespace, *, create: bool = False) -> None:
    """Unlock the site's vault for this command (asking for the master password)."""
    if not service.credentials.unlocked:
        service.credentials.unlock(master_password(args), create=create)


_stdin_lines: list[str] | None = None


def reset_stdin() -> None:
    """Forget the lines read from stdin (a new command reads its own)."""
    global _stdin_lines
    _stdin_lines = None


def secret(flag_stdin: bool, file: str | None, what: str) -> str | None:
    """A secret from a file or the next line of stdin; never from the command line."""
    global _stdin_lines
    if file:
        try:
            return Path(file).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise UserError(f"Cannot read the {what} file: {exc.strerror}") from None
    if flag_stdin:
        if _stdin_lines is None:
            _stdin_lines = sys.stdin.read().splitlines()
        if not _stdin_lines:
            raise UsageError(f"expected the {what} on standard input")
        return _stdin_lines.pop(0)
    return None
