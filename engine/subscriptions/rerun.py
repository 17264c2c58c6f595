"""The re-run worker: each published batch of commits becomes one re-run batch at that batch's snapshot.

Who may call it: ``engine.subscriptions.manager`` only (it constructs one ``RerunWorker`` and forwards
``on_publish``, ``wait_idle``, ``wait_delivered``, ``stop``).

One batch (``_process``), on the worker thread (or inline in ``wait_idle`` for ``mode="inline"``):

1. Take every queued commit (commits published meanwhile coalesce into one batch) and, under the
   manager's lock, ``match`` them: the live queries they invalidate, plus those queued by request (new
   deferred ones, stale at registration, forced). ``T`` = the newest matched commit = ``processed_ts``.
   Hook ``subscriptions.after_match``.
2. Re-run each such query once at snapshot ``T``, outside the lock (queries may be slow). No commit after
   ``T`` is matched until the batch ends (this thread is the only matcher), so a result computed at ``T``
   and its read set registered at ``T`` cannot miss a write: the next batch stabs the new intervals.
3. Under the lock, refresh each read set in place (``manager.refresh``: a per-index diff) and decide
   "changed" with the query's own equality; a query cancelled meanwhile is skipped.
4. Deliver outside the lock: ``on_change(result, T)`` per changed embedded query, then one
   ``on_batch(T, changes)`` per group (the server hub) - also with no changes, so a group learns that
   everything it holds is valid at ``T``. Then ``delivered_ts = T``; hook ``subscriptions.after_rerun``.

A query that raises keeps its last result and read set (re-run when those keys change again), with the
error recorded in ``manager.errors`` and on the query; a callback that raises is recorded and does not
stop the others.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any

from engine.hooks import Hooks
from engine.log.write_window import WindowCommit
from engine.subscriptions.live import NOTHING, LiveQuery, WaitOutcome
from engine.model.types import Timestamp

class RerunWorker:
    # *manager* is the ``engine.subscriptions.manager.SubscriptionManager`` that owns this worker (typed
    # Any: the manager imports this module, and the layer rules forbid the cycle, even for type checks).
    def __init__(self, manager: Any, *, processed_ts: Timestamp, mode: str, hooks: Hooks) -> None:
        self._m = manager
        self._hooks = hooks
        self._mode = mode
        self._pending: deque[WindowCommit] = deque()
        # One lock guards pending, busy, woken, stopped and delivered_ts. Two conditions on it: ``_cv``
        # wakes the worker (work arrived, or stop), ``_done`` wakes callers of wait_idle/wait_delivered
        # (progress, or stop). Kept apart so that a commit with nothing to match - the fast path of
        # ``on_publish``, taken on every commit while nothing is live - wakes no thread at all.
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._done_waiters = 0
        self._busy = False
        self._stopped = False
        self._woken = False
        self.delivered_ts: Timestamp = processed_ts
        self._thread: threading.Thread | None = None
        if mode == "thread":
            self._thread = threading.Thread(target=self._run, name="ripple-subscriptions", daemon=True)
            self._thread.start()

    # ---- inputs ----------------------------------------------------------------------------------

    def on_publish(self, commits: list[WindowCommit]) -> None:
        """Queue *commits* (in commit order). O(len(commits)); never runs a query. With nothing live and
        no batch in progress, nothing can be invalidated: just advance the timestamps (no thread wake)."""
        m = self._m
        with m.lock:
            if m.is_empty():
                with self._lock:
                    if not self._pending and not self._busy and not self._woken:
                        m.processed_ts = self.delivered_ts = commits[-1].ts
                        self._progressed()
                        return
        with self._lock:
            self._pending.extend(commits)
            self._cv.notify_all()

    def wake(self) -> None:
        """Something was requested (a new or forced re-run): run a batch even with no new commit."""
        with self._lock:
            self._woken = True
            self._cv.notify_all()

    # ---- waiting ---------------------------------------------------------------------------------

    def _progressed(self) -> None:
        """Wake the callers waiting for progress, if any. Caller holds ``_lock``."""
        if self._done_waiters:
            self._done.notify_all()

    def _wait_done(self, predicate: Any, timeout: float | None) -> bool:
        """``_done.wait_for(predicate, timeout)``, counted in ``_done_waiters``. Caller holds ``_lock``."""
        self._done_waiters += 1
        try:
            return self._done.wait_for(predicate, timeout)
        finally:
            self._done_waiters -= 1

    def _idle(self) -> bool:
        return not self._pending and not self._woken and not self._busy

    def _drain_inline(self) -> None:
        with self._lock:
            self._busy = True
        try:
            self._drain()
        finally:
            with self._lock:
                self._busy = False
                self._progressed()

    def wait_idle(self, timeout: float | None) -> WaitOutcome:
        if self._mode == "inline":
            self._drain_inline()
            return WaitOutcome.DONE
        with self._lock:
            ok = self._wait_done(lambda: self._idle() or self._stopped, timeout)
            return _outcome(ok, self._stopped and not self._idle())

    def wait_delivered(self, ts: Timestamp, timeout: float | None) -> WaitOutcome:
        if self._mode == "inline":
            self._drain_inline()
        with self._lock:
            ok = self._wait_done(lambda: self.delivered_ts >= ts or self._stopped, timeout)
            return _outcome(ok, self.delivered_ts < ts)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._cv.notify_all()
            self._done.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    # ---- the loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                self._cv.wait_for(lambda: self._pending or self._woken or self._stopped)
                if self._stopped:
                    return
                self._busy = True
            try:
                self._drain()
            finally:
                with self._lock:
                    self._busy = False
                    self._progressed()

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._pending and not self._woken:
                    return
                commits = list(self._pending)
                self._pending.clear()
                self._woken = False
            self._process(commits)

    def _process(self, commits: list[WindowCommit]) -> None:
        m = self._m
        with m.lock:
            reruns, watches = m.match(commits) if commits else ([], [])
            requested = m.take_requested()
            T = m.processed_ts
            groups = m.groups()
        self._hooks.hit("subscriptions.after_match")
        for sub, commit_ts in watches:
            m.fire(sub, commit_ts)
        batch: dict[int, LiveQuery] = {s.id: s for s in reruns}
        for s in requested:
            batch.setdefault(s.id, s)
        runs: list[tuple[LiveQuery, Any, Any]] = []
        for sub in batch.values():
            if not sub.active:
                continue
            try:
                result, read_set = sub.run(T)  # type: ignore[misc]
            except BaseException as exc:  # a query that now raises: keep its last result, report
                sub.error = exc
                m.errors.append((sub.id, exc))
                runs.append((sub, None, None))
                continue
            runs.append((sub, result, read_set))
        changed: list[tuple[LiveQuery, Any]] = []
        with m.lock:
            stats = m.stats
            stats.batches += 1
            for sub, result, read_set in runs:
                if not sub.active:
                    continue
                if read_set is None:  # it raised: keep watching what it read last time, as of T
                    if sub.read_set is not None:
                        sub.ts = T
                    continue
                sub.error = None
                sub.runs += 1
                stats.reruns += 1
                m.refresh(sub, read_set, T)
                if sub.result is not NOTHING and sub.equal(result, sub.result):
                    stats.unchanged += 1
                    continue
                sub.result = result
                sub.notifications += 1
                stats.notified += 1
                changed.append((sub, result))
        by_group: dict[int, list[tuple[Any, Any]]] = {id(g): [] for g in groups}
        for sub, result in changed:
            if sub.on_change is not None:
                try:
                    sub.on_change(result, T)
                except BaseException as exc:
                    m.stats.callback_errors += 1
                    m.errors.append((sub.id, exc))
            if sub.group is not None:
                by_group.setdefault(id(sub.group), []).append((sub.tag, result))
        for g in groups:
            try:
                g.on_batch(T, by_group.get(id(g), []))
            except BaseException as exc:
                m.stats.callback_errors += 1
                m.errors.append((0, exc))
        with self._lock:
            if T > self.delivered_ts:
                self.delivered_ts = T
            self._progressed()
        self._hooks.hit("subscriptions.after_rerun")


def _outcome(ok: bool, not_reached: bool) -> WaitOutcome:
    if not ok:
        return WaitOutcome.TIMED_OUT
    return WaitOutcome.STOPPED if not_reached else WaitOutcome.DONE


__all__ = ["RerunWorker"]
