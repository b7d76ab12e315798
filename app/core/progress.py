"""Progress reporting and cooperative cancellation shared by every long-running service.

Services are synchronous and Qt-free: they take an optional ``progress`` callback and an
optional :class:`CancelToken`. The GUI runs them on a worker thread and forwards progress
to the GUI thread; the CLI prints a progress bar.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


class Cancelled(Exception):  # noqa: N818 - reads as a state, like asyncio's
    """Raised inside a service when its :class:`CancelToken` was cancelled."""


class CancelToken:
    """A thread-safe flag a caller sets to ask a running service to stop soon."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the service to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was requested."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; return True early if cancelled."""
        return self._event.wait(timeout)


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress report: ``done`` of ``total`` units, with a short human message."""

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """Completion in [0, 1]; 0 when the total is unknown."""
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]
