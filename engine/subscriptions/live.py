"""Records of the subscription engine: one live query, the handle users hold, counters, wait outcomes.

Who may call it: ``engine.subscriptions.manager`` and ``engine.subscriptions.rerun`` build and mutate
``LiveQuery`` records (under the manager's lock); users and the server hold ``SubscriptionHandle``s and
read ``SubscriptionStats``. Holds no policy, threads or storage access.

A live query is what both kinds of subscriber share: an embedded ``db.subscribe(fn)`` and one shared
query of the sync server's hub. It knows how to run itself at a snapshot (``run(ts) -> (result,
read_set)``), how to compare results (``equal``), and where a changed result goes: ``on_change(result,
ts)`` (embedded callback, on the re-run worker's thread) and/or its ``group`` (a ``BatchListener`` that
receives every changed result of one batch in one call - the server hub).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from engine.model.types import Timestamp

#: Runs a live query at snapshot ts: (result, read_set). May raise; the engine keeps the old result.
RunAt = Callable[[Timestamp], tuple[Any, Any]]

#: Sentinel "no result delivered yet": a deferred live query's first result always counts as changed.
NOTHING = object()


class WaitOutcome(enum.Enum):
    """How a wait ended. Truthy only for ``DONE`` (so ``assert db.wait_for_subscriptions()`` reads well)."""

    DONE = "done"
    TIMED_OUT = "timed_out"
    STOPPED = "stopped"   # the manager stopped (database closing) before the condition held

    def __bool__(self) -> bool:
        return self is WaitOutcome.DONE


class BatchListener(Protocol):
    """Receives, once per re-run batch and on the worker thread, the batch snapshot ``ts`` and the
    changed results of the live queries in its group as ``[(tag, result), ...]`` (possibly empty: the
    call also says "every result you hold is still valid at ts"). Must be cheap and must not block
    (the server hub hands the list to its event loop)."""

    def on_batch(self, ts: Timestamp, changes: list[tuple[Any, Any]]) -> None: ...


@dataclass(eq=False)
class LiveQuery:
    id: int
    run: RunAt | None                       # None for a watch (invalidation only, never re-run)
    equal: Callable[[Any, Any], bool]
    on_change: Callable[[Any, Timestamp], None] | None = None
    group: BatchListener | None = None
    tag: Any = None                         # what the group's changes name this query by
    result: Any = NOTHING
    ts: Timestamp = Timestamp(0)            # snapshot of ``result`` (and of ``read_set``)
    read_set: Any = None                    # None until the first run
    active: bool = True
    runs: int = 0
    notifications: int = 0
    error: BaseException | None = None
    on_invalidate: Callable[[Timestamp], None] | None = None  # set for watches
    invalid: bool = False


class SubscriptionHandle:
    """What ``db.subscribe`` returns: the current result and ts, and ``cancel()``."""

    __slots__ = ("_manager", "_sub")

    def __init__(self, manager: Any, sub: LiveQuery) -> None:
        self._manager = manager
        self._sub = sub

    @property
    def id(self) -> int:
        return self._sub.id

    @property
    def result(self) -> Any:
        r = self._sub.result
        return None if r is NOTHING else r

    @property
    def ts(self) -> Timestamp:
        return self._sub.ts

    @property
    def read_set(self) -> Any:
        return self._sub.read_set

    @property
    def active(self) -> bool:
        return self._sub.active

    @property
    def invalid(self) -> bool:
        """For a watch: True once a commit wrote inside its read set (it is then gone)."""
        return self._sub.invalid

    @property
    def error(self) -> BaseException | None:
        """The exception of the latest re-run, if it raised (the result then keeps its last value)."""
        return self._sub.error

    def cancel(self) -> None:
        """Stop the subscription; no callback starts after this returns (except one already running
        on the worker). Idempotent, thread-safe."""
        self._manager.cancel(self._sub.id)


@dataclass
class SubscriptionStats:
    subscribed: int = 0
    invalidated: int = 0
    reruns: int = 0
    notified: int = 0
    unchanged: int = 0
    callback_errors: int = 0
    keys_stabbed: int = 0
    batches: int = 0
    intervals_added: int = 0     # in-place read-set refresh: intervals inserted into the maps
    intervals_removed: int = 0   # ... and removed (a re-run whose read set did not move adds 0 and removes 0)


__all__ = ["BatchListener", "LiveQuery", "NOTHING", "RunAt", "SubscriptionHandle", "SubscriptionStats",
           "WaitOutcome"]
