"""Run synchronous service calls on worker threads and deliver the outcome on the GUI thread.

This is the one adapter between Qt-free services and the GUI (Picard's ``run_task``): a
callable runs on a :class:`QThreadPool`; its result, its error or its progress comes back as a
signal of a :class:`Task` object that lives on the GUI thread. Reads share a small pool;
writes go through a one-thread pool so they are applied one at a time, in order.

Errors are split the way the rest of PatchDesk splits them: a :class:`UserError` is something
the user can fix and is shown as-is; anything else is a bug, logged with its traceback.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.errors import UserError
from app.core.progress import Cancelled, CancelToken, Progress
from app.ui.qt import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

log = logging.getLogger(__name__)

#: How often progress reaches the GUI at most (coalesced: only the latest report is shown).
PROGRESS_INTERVAL_MS = 100


@dataclass(frozen=True, slots=True)
class TaskError:
    """Why a task failed: a message to show, and whether it is our bug."""

    message: str
    is_bug: bool
    exception: BaseException
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> TaskError:
        """Classify an exception raised by a task."""
        if isinstance(exc, UserError):
            return cls(str(exc), False, exc)
        text = "".join(traceback.format_exception(exc))
        return cls(
            f"PatchDesk hit an internal error ({type(exc).__name__}: {exc}). "
            "Details were written to the log.",
            True,
            exc,
            text,
        )


class Task(QObject):
    """One background call; its signals are always emitted on the GUI thread.

    Exactly one of ``succeeded``, ``failed`` or ``cancelled`` is emitted, then ``finished``.
    """

    progressed = Signal(object)  # Progress
    succeeded = Signal(object)  # the callable's return value
    failed = Signal(object)  # TaskError
    cancelled = Signal()
    finished = Signal()

    # Emitted from the worker thread; queued to this object's (GUI) thread.
    _done = Signal(str, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.name = name
        self.token = CancelToken()
        self.running = True
        self._lock = threading.Lock()
        self._pending: Progress | None = None
        self._last: Progress | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(PROGRESS_INTERVAL_MS)
        self._timer.timeout.connect(self._flush_progress)
        self._done.connect(self._on_done)

    def cancel(self) -> None:
        """Ask the call to stop at its next check (it may still finish)."""
        self.token.cancel()

    def report(self, progress: Progress) -> None:
        """Progress callback handed to the service; safe to call from any thread."""
        with self._lock:
            self._pending = progress

    def _start_progress(self) -> None:
        self._timer.start()

    @Slot()
    def _flush_progress(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None and pending != self._last:
            self._last = pending
            self.progressed.emit(pending)

    @Slot(str, object)
    def _on_done(self, kind: str, payload: object) -> None:
        self._timer.stop()
        self._flush_progress()
        self.running = False
        if kind == "ok":
            self.succeeded.emit(payload)
        elif kind == "cancelled":
            self.cancelled.emit()
        else:
            assert isinstance(payload, TaskError)
            if payload.is_bug:
                log.error("task %s failed:\n%s", self.name, payload.traceback)
            else:
                log.info("task %s: %s", self.name, payload.message)
            self.failed.emit(payload)
        self.finished.emit()


class _Runnable(QRunnable):
    def __init__(self, task: Task, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.task = task
        self.fn = fn
        self.setAutoDelete(True)

    def run(self) -> None:
        task = self.task
        try:
            if task.token.cancelled:
                raise Cancelled()
            result = self.fn()
        except Cancelled:
            task._done.emit("cancelled", None)
        except Exception as exc:  # every failure is delivered, none escapes the thread
            task._done.emit("error", TaskError.from_exception(exc))
        else:
            task._done.emit("ok", result)


class TaskRunner(QObject):
    """Starts tasks on the read pool or the (single-thread) write pool.

    Args:
        inline: run every task synchronously in the calling thread (signals still fire);
            for tests and benchmarks that want no threads.
    """

    #: Emitted for failures of tasks started without an ``on_error`` handler.
    unhandled_error = Signal(object)  # TaskError
    #: Emitted when the number of running tasks changes (for a busy indicator).
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, *, inline: bool = False) -> None:
        super().__init__(parent)
        self.inline = inline
        self.read_pool = QThreadPool(self)
        self.read_pool.setMaxThreadCount(3)
        self.write_pool = QThreadPool(self)
        self.write_pool.setMaxThreadCount(1)
        self._active: set[Task] = set()

    @property
    def active(self) -> int:
        """How many tasks have not yet delivered their outcome."""
        return len(self._active)

    def submit(
        self,
        fn: Callable[..., Any],
        *,
        name: str = "",
        write: bool = False,
        with_progress: bool = False,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[TaskError], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
    ) -> Task:
        """Run ``fn`` in the background and call the handlers on the GUI thread.

        Args:
            fn: a synchronous, Qt-free callable. With ``with_progress`` it is called as
                ``fn(progress=callback, cancel=token)``, otherwise with no arguments.
            name: for the log.
            write: use the one-thread write pool (serialises changes to the site).
            with_progress: pass a progress callback and a cancel token.
            on_result: receives the return value.
            on_error: receives a :class:`TaskError`; without it, ``unhandled_error`` fires.
            on_progress: receives coalesced :class:`Progress` reports (about 10 per second).
            on_cancelled: called if the task stopped because it was cancelled.

        Returns:
            The task, whose signals can also be connected and which can be cancelled.
        """
        # No Qt parent: a task outlives the runner's teardown safely (a child Task deleted
        # together with the runner while its deleteLater is pending crashed PySide 6.10).
        # ``_active`` keeps it alive until it has delivered its outcome.
        task = Task(name or getattr(fn, "__name__", "task"))
        if on_result is not None:
            task.succeeded.connect(on_result)
        if on_progress is not None:
            task.progressed.connect(on_progress)
        if on_cancelled is not None:
            task.cancelled.connect(on_cancelled)
        task.failed.connect(on_error if on_error is not None else self.unhandled_error)
        task.finished.connect(lambda: self._forget(task))

        def call() -> Any:
            if with_progress:
                return fn(progress=task.report, cancel=task.token)
            return fn()

        was_idle = not self._active
        self._active.add(task)
        if was_idle:
            self.busy_changed.emit(True)
        runnable = _Runnable(task, call)
        if with_progress:
            task._start_progress()
        if self.inline:
            runnable.run()
        else:
            (self.write_pool if write else self.read_pool).start(runnable)
        return task

    def _forget(self, task: Task) -> None:
        self._active.discard(task)
        task.deleteLater()
        if not self._active:
            self.busy_changed.emit(False)

    def cancel_all(self) -> None:
        """Ask every running task to stop."""
        for task in list(self._active):
            task.cancel()

    def wait_for_done(self, msecs: int = 10_000) -> bool:
        """Block until the pools are idle (shutdown, switching sites); True if they are."""
        ok_read = self.read_pool.waitForDone(msecs)
        ok_write = self.write_pool.waitForDone(msecs)
        return bool(ok_read and ok_write)
