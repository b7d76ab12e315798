"""The background-task adapter: results, errors and progress arrive on the GUI thread."""

from __future__ import annotations

import logging
import threading

import pytest

from app.core.errors import UserError
from app.core.progress import CancelToken, Progress, ProgressCallback
from app.ui.qt import QThread
from app.ui.tasks import TaskError, TaskRunner


def test_result_arrives_on_the_gui_thread(qtbot: object) -> None:
    runner = TaskRunner()
    seen: list[tuple[object, bool]] = []
    worker_threads: list[int] = []

    def work() -> int:
        worker_threads.append(threading.get_ident())
        return 42

    task = runner.submit(work, on_result=lambda r: seen.append(
        (r, QThread.currentThread() is runner.thread())))
    with qtbot.waitSignal(task.finished, timeout=5000):  # type: ignore[attr-defined]
        pass
    assert seen == [(42, True)]
    assert worker_threads != [threading.get_ident()]
    assert runner.active == 0


def test_user_error_is_shown_not_logged_as_bug(
    qtbot: object, caplog: pytest.LogCaptureFixture,
) -> None:
    runner = TaskRunner()
    errors: list[TaskError] = []

    def fail() -> None:
        raise UserError("The disk is full.")

    task = runner.submit(fail, on_error=errors.append)
    with qtbot.waitSignal(task.finished, timeout=5000):  # type: ignore[attr-defined]
        pass
    assert len(errors) == 1
    assert errors[0].message == "The disk is full."
    assert not errors[0].is_bug
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_bug_is_logged_with_traceback_and_reported_unhandled(
    qtbot: object, caplog: pytest.LogCaptureFixture,
) -> None:
    runner = TaskRunner()

    def broken() -> None:
        raise KeyError("oops")

    with qtbot.waitSignal(runner.unhandled_error, timeout=5000) as blocker:  # type: ignore[attr-defined]
        runner.submit(broken, name="broken")
    error = blocker.args[0]
    assert error.is_bug
    assert "KeyError" in error.message
    assert any("Traceback" in r.getMessage() and "broken" in r.getMessage()
               for r in caplog.records if r.levelno == logging.ERROR)


def test_progress_is_coalesced_and_the_last_report_arrives(qtbot: object) -> None:
    runner = TaskRunner()
    reports: list[Progress] = []

    def work(progress: ProgressCallback, cancel: CancelToken) -> str:
        for i in range(1, 20_001):
            progress(Progress(i, 20_000))
        return "done"

    task = runner.submit(work, with_progress=True, on_progress=reports.append)
    with qtbot.waitSignal(task.succeeded, timeout=10_000):  # type: ignore[attr-defined]
        pass
    assert 1 <= len(reports) < 200
    assert reports[-1] == Progress(20_000, 20_000)


def test_cancel_stops_a_task(qtbot: object) -> None:
    runner = TaskRunner()
    started = threading.Event()
    results: list[object] = []

    def work(progress: ProgressCallback, cancel: CancelToken) -> str:
        started.set()
        while not cancel.wait(0.01):
            pass
        cancel.raise_if_cancelled()
        return "not reached"

    task = runner.submit(work, with_progress=True, on_result=results.append)
    assert started.wait(5)
    with qtbot.waitSignal(task.cancelled, timeout=5000):  # type: ignore[attr-defined]
        task.cancel()
    assert results == []


def test_writes_run_one_at_a_time_in_order(qtbot: object) -> None:
    runner = TaskRunner()
    order: list[int] = []
    lock = threading.Lock()
    running = [0]
    overlap: list[bool] = []

    def write(i: int) -> int:
        with lock:
            running[0] += 1
            overlap.append(running[0] > 1)
        order.append(i)
        with lock:
            running[0] -= 1
        return i

    for i in range(20):
        runner.submit(lambda i=i: write(i), write=True)
    qtbot.waitUntil(lambda: runner.active == 0, timeout=5000)  # type: ignore[attr-defined]
    assert order == list(range(20))
    assert not any(overlap)


def test_inline_runner_delivers_synchronously() -> None:
    runner = TaskRunner(inline=True)
    got: list[object] = []
    runner.submit(lambda: "now", on_result=got.append)
    assert got == ["now"]
    assert runner.wait_for_done(100)
