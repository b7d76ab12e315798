"""Start the PatchDesk GUI: application object, logging, crash handler, first site, window.

``main(argv)`` takes a ``sys.argv``-style list (program name first), as ``patchdesk gui``
passes it.
"""

from __future__ import annotations

import argparse
import gc
import logging
import logging.handlers
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import platformdirs

from app import APP_NAME, __version__
from app.core.errors import SiteFileError, UserError
from app.services import SiteService, default_site_path
from app.ui import dialogs
from app.ui.icons import app_icon
from app.ui.qt import QApplication, QMessageBox, Qt, QTimer, QWidget
from app.ui.settings import ORG_NAME

log = logging.getLogger("patchdesk.ui")
_STARTED = time.perf_counter()


def log_dir() -> Path:
    """Where the GUI writes its log file."""
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def setup_logging() -> logging.Handler | None:
    """Log to ``patchdesk.log`` in the user log folder (rotated); None if not writable."""
    folder = log_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            folder / "patchdesk.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8",
        )
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"
    ))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


class CrashHandler:
    """``sys.excepthook`` for the GUI: log the traceback, show a short message, keep going."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent
        self._showing = False

    def __call__(self, exc_type: type[BaseException], exc: BaseException,
                 tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.critical("unhandled exception:\n%s", text)
        if self._showing:  # an error while showing an error: log only
            return
        self._showing = True
        try:
            dialogs.show_error(
                self.parent, "Internal error",
                f"PatchDesk hit an internal error ({exc_type.__name__}: {exc}).\n\n"
                f"The details were written to {log_dir() / 'patchdesk.log'}. "
                "Your data is safe: every change is saved as it is made.",
            )
        finally:
            self._showing = False


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the GUI's options (``argv`` without the program name)."""
    parser = argparse.ArgumentParser(prog="patchdesk-gui", description="PatchDesk GUI")
    parser.add_argument("--site", metavar="PATH", help="site file to open")
    parser.add_argument("--version", action="version", version=f"PatchDesk {__version__}")
    # For packaging smoke tests and start-up timing: quit as soon as the window is shown.
    parser.add_argument("--quit-after-show", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(list(argv))


def ask_recovery(message: str, backup: Path | None = None) -> str:
    """After a site could not be opened: 'open', 'new', 'quit', or 'restore' (put the
    backup copy in place of the damaged file; offered when it has one)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Cannot open site", message)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setInformativeText(
        f"Restore the backup {backup.name} (the damaged file is kept beside it), open "
         "another site file, create a new one, or quit." if backup else
         "Open another site file, create a new one, or quit.")
    restore_button = (box.addButton("Restore backup", QMessageBox.ButtonRole.AcceptRole)
                      if backup else None)
    open_button = box.addButton("Open another…", QMessageBox.ButtonRole.AcceptRole)
    new_button = box.addButton("Create new…", QMessageBox.ButtonRole.ActionRole)
    box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore_button or open_button)
    box.exec()
    clicked = box.clickedButton()
    if restore_button is not None and clicked is restore_button:
        return "restore"
    if clicked is open_button:
        return "open"
    if clicked is new_button:
        return "new"
    return "quit"


def open_first_site(path: str | None) -> SiteService | None:
    """Open the site given on the command line or the default one, recovering from errors.

    Returns None if the user chose to quit.
    """
    target, create, name, client = path or "", False, "", ""
    while True:
        try:
            if not target:
                return SiteService.open_default()
            service = SiteService.open(target, create=create, name=name or None)
            if client:
                service.update_site(client=client)
            return service
        except UserError as exc:
            log.warning("cannot open site: %s", exc)
            backup = exc.backup if isinstance(exc, SiteFileError) else None
            choice = ask_recovery(str(exc), backup) if backup else ask_recovery(str(exc))
        if choice == "quit":
            return None
        if choice == "restore" and backup is not None:
            try:
                return SiteService.restore_backup(target or default_site_path(), backup)
            except UserError as exc:
                log.warning("cannot restore the backup: %s", exc)
                dialogs.show_error(None, "Cannot restore the backup", str(exc))
                continue
        if choice == "open":
            chosen = dialogs.ask_open_file(None, "Open site", dialogs.SITE_FILTER)
            if chosen:
                target, create, name, client = chosen, False, "", ""
        else:
            answer = dialogs.NewSiteDialog.ask(None)
            if answer is not None:
                new_path, name, client = answer
                target, create = str(new_path), True


def create_app() -> QApplication:
    """The QApplication (reused if one exists, as under pytest-qt)."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationVersion(__version__)
    app.setApplicationDisplayName(APP_NAME)
    app.setWindowIcon(app_icon())
    if sys.platform not in ("win32", "darwin"):
        app.setStyle("Fusion")
    from app.ui.theme import apply_theme, saved_choice

    apply_theme(app, saved_choice())  # light, dark, or the system's (View ▸ Theme)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run the GUI; return the exit code."""
    args_list = list(sys.argv if argv is None else argv)
    args = parse_args(args_list[1:])
    handler = setup_logging()
    old_hook = sys.excepthook
    try:
        log.info("PatchDesk %s starting", __version__)
        app = create_app()
        sys.excepthook = CrashHandler()
        service = open_first_site(args.site)
        if service is None:
            return 1
        from app.ui.mainwindow import MainWindow  # after the app exists; keeps import light

        window = MainWindow(service)
        sys.excepthook = CrashHandler(window)
        window.show()
        log.info("window shown %.0f ms after import", (time.perf_counter() - _STARTED) * 1000)
        # Everything loaded at start-up (Qt bindings, modules) lives as long as the app:
        # keep it out of the garbage collector's full passes, so those stay short while
        # scans and deployments stream results to the GUI thread.
        gc.freeze()
        if args.quit_after_show:
            QTimer.singleShot(0, window.close)
        code = app.exec()
        if window.isVisible():
            window.close()
        window.deleteLater()
        return int(code)
    finally:
        sys.excepthook = old_hook
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()


if __name__ == "__main__":
    sys.exit(main())
