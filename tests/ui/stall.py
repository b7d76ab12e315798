"""Measures how long the GUI thread's event loop was blocked while something ran."""

from __future__ import annotations

import gc

from app.ui.qt import QElapsedTimer, QTimer


class StallMeter:
    """The longest gap between 10 ms timer ticks on the GUI thread (a 100 ms gap = a stall)."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.worst = 0
        self.ticks = 0
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        self.worst = max(self.worst, self.clock.restart())
        self.ticks += 1

    def __enter__(self) -> StallMeter:
        # Objects left by earlier tests would make every full garbage collection during the
        # measurement scan them all; the app freezes its start-up objects the same way
        # (app.ui.main), so freeze what exists now and measure the code under test.
        gc.collect()
        gc.freeze()
        self.clock.start()
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.stop()
        gc.unfreeze()
