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
    ``count(name)`` is how often *name* was hit; ``wait_hit(name, after=n)`` waits (with timeout) until
    it was hit more than *n* times, optionally until ``until()`` holds at a hit - a condition checked
    where the engine says it is safe to look, instead of a sleep.
    """

    def __init__(self) -> None:
        self._callbacks: dict[str, list[Callable[[], None]]] = {}
        self._paused: dict[str, threading.Event] = {}
        self._reached: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._counted = threading.Condition(self._lock)

    def count(self, name: str) -> int:
        with self._lock:
            return self._counts.get(name, 0)

    def wait_hit(self, name: str, after: int = 0, timeout: float = 10.0,
                 until: Callable[[], bool] | None = None) -> bool:
        """True once *name* was hit more than *after* times and (if given) ``until()`` holds, checked
        after each hit; False on timeout. *until* runs on the test's thread, after the hit."""
        import time

        deadline = time.monotonic() + timeout
        seen = after
        while True:
            with self._counted:
                if not self._counted.wait_for(lambda: self._counts.get(name, 0) > seen,
                                              max(0.0, deadline - time.monotonic())):
                    return False
                seen = self._counts[name]
            if until is None or until():
                return True

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
            self._counts[name] = self._counts.get(name, 0) + 1
            self._counted.notify_all()
            ev = self._paused.get(name)
            reached = self._reached.get(name)
        if ev is not None:
            assert reached is not None
            reached.set()
            ev.wait(30.0)
