"""Engine events for the deploy wizard: the engine's ``on_event`` callback fires on worker
threads, so events are queued here (plain Python, no Qt object, so nothing of the wizard is
touched — or kept alive — off the GUI thread) and the wizard drains them on a GUI timer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any


class _EventFanout:
    """Installed as ``DeployEngine.on_event``: passes each event to every listener."""

    def __init__(self, first: Callable[[int, int | None, str], None] | None) -> None:
        self.listeners: list[Callable[[int, int | None, str], None]] = \
            [first] if first is not None else []
        self.lock = threading.Lock()

    def __call__(self, dep_id: int, asset_id: int | None, message: str) -> None:
        with self.lock:
            listeners = list(self.listeners)
        for listener in listeners:
            listener(dep_id, asset_id, message)


def add_event_listener(engine: Any, listener: Callable[[int, int | None, str], None]) -> None:
    """Also call ``listener`` on every engine event (keeps the engine's existing callback)."""
    fanout = engine.on_event
    if not isinstance(fanout, _EventFanout):
        fanout = _EventFanout(fanout)
        engine.on_event = fanout
    with fanout.lock:
        fanout.listeners.append(listener)


def remove_event_listener(engine: Any, listener: Callable[[int, int | None, str], None]) -> None:
    """Undo :func:`add_event_listener`."""
    fanout = engine.on_event
    if isinstance(fanout, _EventFanout):
        with fanout.lock:
            if listener in fanout.listeners:
                fanout.listeners.remove(listener)


class EngineEvents:
    """Listens to an engine's events (from any thread) until :meth:`close`; the GUI thread
    takes them with :meth:`drain`."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._events: queue.SimpleQueue[tuple[int, int | None, str]] = queue.SimpleQueue()
        add_event_listener(engine, self._put)

    def _put(self, dep_id: int, asset_id: int | None, message: str) -> None:
        self._events.put((dep_id, asset_id, message))

    def drain(self, dep_id: int | None) -> tuple[list[str], bool]:
        """Take every queued event; returns the log lines of deployment ``dep_id`` (time
        stamped now) and whether any event was about it."""
        lines: list[str] = []
        mine = False
        while True:
            try:
                event_dep, _asset, message = self._events.get_nowait()
            except queue.Empty:
                break
            if event_dep == dep_id:
                mine = True
                lines.append(f"{datetime.now().strftime('%Y-%m-%d %H:%M:%S')}  {message}")
        return lines, mine

    def close(self) -> None:
        """Stop listening."""
        remove_event_listener(self.engine, self._put)
