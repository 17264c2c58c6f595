"""Test control of the engine's named race points (see ``engine.hooks``): hold a point to force an
interleaving, or run a callback there. Who may call it: tests only.
"""
from __future__ import annotations

import threading
from typing import Callable

from engine.hooks import Hooks


class HookController(Hooks):
    """Test controller: register callbacks per point, or pause a point until released.

    ``pause(name)`` makes the next thread reaching *name* block until ``release(name)``;
    ``wait_reached(name)`` lets the test wait (with timeout) until some thread is held there.
    """

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callable[[], None]]] = {}
        self._paused: dict[str, threading.Event] = {}
        self._reached: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def on(self, name: str, fn: Callable[[], None]) -> None:
        self._callbacks.setdefault(name, []).append(fn)

    def pause(self, name: str) -> None:
        with self._lock:
            self._paused[name] = threading.Event()
            self._reached[name] = threading.Event()

    def release(self, name: str) -> None:
        with self._lock:
            ev = self._paused.pop(name, None)
        if ev is not None:
            ev.set()

    def wait_reached(self, name: str, timeout: float = 10.0) -> bool:
        ev = self._reached.get(name)
        return ev.wait(timeout) if ev is not None else False

    def hit(self, name: str) -> None:
        for fn in self._callbacks.get(name, ()):
            fn()
        with self._lock:
            ev = self._paused.get(name)
            reached = self._reached.get(name)
        if ev is not None:
            assert reached is not None
            reached.set()
            ev.wait(30.0)
