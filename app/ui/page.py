"""The base class of the main window's pages: each page loads its own data.

The Picard options-page pattern (``picard/ui/options/__init__.py``): every page implements
the same small interface and the window only lists them. The window hands each page the open
site with :meth:`Page.bind`, asks the page on display to :meth:`Page.refresh`, and marks
pages stale with :meth:`Page.mark_stale` when something they show has changed elsewhere;
what to read and how to show it is the page's business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from app.ui.qt import QSettings, QWidget, Signal
from app.ui.tasks import Task, TaskError, TaskRunner

if TYPE_CHECKING:
    from app.services import SiteService


class Page(QWidget):
    """A page of the main window.

    Subclasses implement :meth:`load` (read the page's data on the task runner and show it)
    and, if they show anything of a site, :meth:`clear`. Pages whose figures change with
    every visit set :attr:`reload_on_show`.
    """

    #: The page's data was (re)loaded and is shown.
    loaded = Signal()
    #: A write made from this page finished (what was written, e.g. ``"site"``).
    wrote = Signal(str)
    #: A line for the window's status bar (text, milliseconds to show it).
    status_message = Signal(str, int)

    #: Load again on every :meth:`refresh`, stale or not (dashboards, live lists).
    reload_on_show: ClassVar[bool] = False

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service: SiteService | None = None
        self.runner: TaskRunner | None = None
        #: What the page shows is out of date: the next :meth:`refresh` loads it.
        self.stale = True

    # -- the interface the window uses ------------------------------------------------------
    def bind(self, service: SiteService | None, runner: TaskRunner) -> None:
        """Show this site (None: the site was closed); the page is cleared and stale."""
        self.service = service
        self.runner = runner
        self.stale = True
        self.clear()

    def clear(self) -> None:
        """Forget what the page shows of the previous site (nothing by default)."""

    def load(self) -> None:
        """Read the page's data in the background and show it (nothing by default)."""
        self.stale = False

    def refresh(self) -> None:
        """The page is (again) on display: load it if it is stale."""
        if self.stale or self.reload_on_show:
            self.load()

    def mark_stale(self) -> None:
        """Something the page shows changed elsewhere: load it at the next refresh."""
        self.stale = True

    def focus_search(self) -> bool:
        """Put the cursor in the page's filter box (Ctrl+F); False if it has none."""
        return False

    def save_state(self, settings: QSettings) -> None:
        """Remember the page's layout (columns, splitters, last inputs); nothing by default."""

    def restore_state(self, settings: QSettings) -> None:
        """Restore what :meth:`save_state` remembered."""

    # -- helpers for subclasses -------------------------------------------------------------
    def read(self, fn: Callable[[SiteService], Any], name: str,
             on_result: Callable[[Any], None],
             on_error: Callable[[TaskError], None] | None = None, *,
             loading: bool = True) -> Task | None:
        """Run ``fn(service)`` on the read pool; ``on_result`` gets its value on the GUI
        thread unless another site was opened meanwhile.

        Args:
            loading: this reads what the page shows (it is no longer stale); False for
                details read on demand.
        """
        service, runner = self.service, self.runner
        if service is None or runner is None:
            return None
        if loading:
            self.stale = False

        def done(result: Any) -> None:
            if service is self.service:
                on_result(result)

        return runner.submit(lambda: fn(service), name=name, on_result=done,
                             on_error=on_error)

    def write(self, what: str, fn: Callable[[], Any], on_result: Callable[[Any], None],
              on_error: Callable[[TaskError], None] | None = None) -> Task | None:
        """Run a change on the write pool; then ``on_result`` and :attr:`wrote` (``what``),
        unless another site was opened meanwhile."""
        service, runner = self.service, self.runner
        if service is None or runner is None:
            return None

        def done(result: Any) -> None:
            if service is not self.service:
                return
            on_result(result)
            self.wrote.emit(what)

        return runner.submit(fn, name=what, write=True, on_result=done, on_error=on_error)
