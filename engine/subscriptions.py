"""Subscriptions: live queries re-run when - and only when - a commit writes inside what they read.

Who may call it: the database (``subscribe``, ``on_publish`` from the committer, ``wait_idle``); users
hold ``SubscriptionHandle``s. It never polls storage: it learns about commits from ``on_publish`` and
finds the affected subscriptions with one stabbing query per written key against an interval map per
index (``engine.conflict.interval_map``), so the cost grows with log(live subscriptions) + hits.

Invariants (``check_invariants``):
- Every live subscription's read-set intervals are in the interval maps under its id, and nothing else
  is: ``processed_ts`` is the newest commit whose writes have been matched against the maps.
- A subscription's result is valid at its ``ts`` and stays valid through ``processed_ts`` unless it was
  queued for a re-run.
- A callback is called with ``(result, ts)`` only when a written key fell inside the subscription's read
  set and the re-run result differs (strict Convex equality) from the last one delivered.

Race it closes: a query runs at snapshot T but registers later; commits in (T, processed_ts] are checked
against its read set through the write window at registration, under the same lock as matching.
Callbacks run on the manager's worker thread (or inline in ``wait_idle`` for ``mode="inline"``); a
callback that raises is recorded in ``errors`` and does not stop other subscriptions.
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from engine.log.write_window import WindowCommit, WriteWindow
from engine.model.types import Timestamp

#: Runs a query function at the newest snapshot: returns (result, read_set, ts).
QueryRunner = Callable[[Callable[..., Any], tuple], tuple[Any, Any, Timestamp]]


@dataclass
class Subscription:
    id: int
    fn: Callable[..., Any]
    args: tuple
    on_change: Callable[[Any, Timestamp], None] | None
    result: Any = None
    ts: Timestamp = Timestamp(0)
    read_set: Any = None
    active: bool = True
    runs: int = 1
    notifications: int = 0
    error: BaseException | None = None
    on_invalidate: Callable[[Timestamp], None] | None = None  # set for watches (no re-run)
    invalid: bool = False


class SubscriptionHandle:
    """What ``db.subscribe`` returns: the current result and ts, and ``cancel()``."""

    def __init__(self, manager: "SubscriptionManager", sub: Subscription) -> None:
        self._manager = manager
        self._sub = sub

    @property
    def id(self) -> int:
        return self._sub.id

    @property
    def result(self) -> Any:
        return self._sub.result

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
        """Stop the subscription; no callback starts after this returns. Idempotent."""
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


class SubscriptionManager:
    def __init__(self, *, window: WriteWindow, run_query: QueryRunner, make_interval_map: Callable[[], Any],
                 results_equal: Callable[[Any, Any], bool], processed_ts: Timestamp,
                 mode: str = "thread") -> None:
        if mode not in ("thread", "inline"):
            raise ValueError(f'subscription mode must be "thread" or "inline", got {mode!r}')
        self._window = window
        self._run_query = run_query
        self._make_map = make_interval_map
        self._equal = results_equal
        self._mode = mode
        self._maps: dict[str, Any] = {}
        self._subs: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()  # guards maps, subs, processed_ts
        self._progress = threading.Condition(self._lock)  # notified when processed_ts advances
        self._pending: deque[WindowCommit] = deque()
        self._cv = threading.Condition(threading.Lock())
        self._busy = False
        self._stopped = False
        self.processed_ts: Timestamp = processed_ts
        self.stats = SubscriptionStats()
        self.errors: list[tuple[int, BaseException]] = []
        self._worker: threading.Thread | None = None
        if mode == "thread":
            self._worker = threading.Thread(target=self._run_worker, name="ripple-subscriptions", daemon=True)
            self._worker.start()

    # ---- subscribe / cancel ----------------------------------------------------------------------

    def subscribe(self, fn: Callable[..., Any], args: tuple, on_change: Callable[[Any, Timestamp], None] | None) -> SubscriptionHandle:
        result, read_set, ts = self._run_query(fn, args)
        sub = Subscription(next(self._ids), fn, args, on_change, result, ts, read_set)
        with self._lock:
            self._subs[sub.id] = sub
            self.stats.subscribed += 1
            stale = self._register_checked(sub)
        if stale:
            self._rerun([sub])
        return SubscriptionHandle(self, sub)

    def watch(self, read_set: Any, ts: Timestamp, on_invalidate: Callable[[Timestamp], None]) -> SubscriptionHandle:
        """One-shot invalidation watch on *read_set* (valid at *ts*), without re-running anything: the
        first commit after *ts* that writes inside it sets ``handle.invalid`` and calls
        ``on_invalidate(commit_ts)`` once (on the manager's thread; keep it cheap), then the watch is
        gone. A watch already stale at registration fires at once, on the calling thread.

        Invariant the sync server relies on: under ``consistent_view``, a watch that is not ``invalid``
        is valid at ``processed_ts``. Cost: O(intervals × log n) to register."""
        sub = Subscription(next(self._ids), None, (), None, None, ts, read_set, on_invalidate=on_invalidate)  # type: ignore[arg-type]
        with self._lock:
            self._subs[sub.id] = sub
            self.stats.subscribed += 1
            stale = self._register_checked(sub)
            if stale:
                self._subs.pop(sub.id, None)
                sub.invalid, sub.active = True, False
        if stale:
            self._fire(sub, self.processed_ts)
        return SubscriptionHandle(self, sub)

    def consistent_view(self, fn: Callable[[Timestamp], Any]) -> Any:
        """Run ``fn(processed_ts)`` while no commit is being matched: every watch's ``invalid`` flag is
        exact as of that timestamp."""
        with self._lock:
            return fn(self.processed_ts)

    def wait_processed(self, ts: Timestamp, timeout: float | None = 10.0) -> bool:
        """Block until every commit up to *ts* has been matched (``processed_ts >= ts``)."""
        with self._progress:
            return self._progress.wait_for(lambda: self.processed_ts >= ts or self._stopped, timeout)

    def _fire(self, sub: Subscription, commit_ts: Timestamp) -> None:
        try:
            sub.on_invalidate(commit_ts)  # type: ignore[misc]
        except BaseException as exc:
            self.stats.callback_errors += 1
            self.errors.append((sub.id, exc))

    def cancel(self, sub_id: int) -> None:
        with self._lock:
            sub = self._subs.pop(sub_id, None)
            if sub is None:
                return
            sub.active = False
            self._unregister(sub)

    def live(self) -> int:
        return len(self._subs)

    # ---- commits -------------------------------------------------------------------------------

    def on_publish(self, commits: list[WindowCommit]) -> None:
        """Called by the committer (in commit order) after each published batch. Cheap: enqueues, or with
        no live subscription just advances ``processed_ts`` (nothing could be invalidated)."""
        with self._lock:
            if not self._subs:
                with self._cv:
                    if not self._pending:
                        self.processed_ts = commits[-1].ts
                        self._progress.notify_all()
                        return
        with self._cv:
            self._pending.extend(commits)
            self._cv.notify_all()

    def wait_idle(self, timeout: float | None = 10.0) -> bool:
        """Block until every published commit has been matched and every re-run/callback finished.
        In inline mode this does the work on the calling thread."""
        if self._mode == "inline":
            self._drain()
            return True
        with self._cv:
            return self._cv.wait_for(lambda: (not self._pending and not self._busy) or self._stopped, timeout)

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        with self._progress:
            self._progress.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=10)

    # ---- worker ----------------------------------------------------------------------------------

    def _run_worker(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._pending or self._stopped)
                if self._stopped:
                    return
                self._busy = True
            try:
                self._drain()
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _drain(self) -> None:
        while True:
            with self._cv:
                if not self._pending:
                    return
                commits = list(self._pending)
                self._pending.clear()
            self._process(commits)

    def _process(self, commits: list[WindowCommit]) -> None:
        hit: dict[int, Subscription] = {}
        hit_ts: dict[int, Timestamp] = {}
        with self._lock:
            for commit in commits:
                for index, _name in commit.whole:  # a dropped index or a created table: every reader of it
                    imap = self._maps.get(index)
                    if imap is None:
                        continue
                    for owner in imap.owners():
                        sub = self._subs.get(owner)
                        if sub is not None and owner not in hit and sub.ts < commit.ts:
                            hit[owner] = sub
                            hit_ts[owner] = commit.ts
                for index, keys in commit.by_index().items():
                    imap = self._maps.get(index)
                    self.stats.keys_stabbed += len(keys)
                    if imap is None:
                        continue
                    for owner in imap.stab_many(keys):
                        sub = self._subs.get(owner)
                        # A subscription whose snapshot already includes this commit (it ran after the
                        # commit was published but before the manager matched it) is not invalidated.
                        if sub is not None and owner not in hit and sub.ts < commit.ts:
                            hit[owner] = sub
                            hit_ts[owner] = commit.ts
                self.processed_ts = commit.ts
            watches = []
            for sub in hit.values():
                self._unregister(sub)
                if sub.on_invalidate is not None:
                    self._subs.pop(sub.id, None)
                    sub.invalid, sub.active = True, False
                    watches.append(sub)
            self.stats.invalidated += len(hit)
            self._progress.notify_all()
        for sub in watches:
            self._fire(sub, hit_ts[sub.id])
        reruns = [sub for sub in hit.values() if sub.on_invalidate is None]
        if reruns:
            self._rerun(reruns)

    def _rerun(self, subs: list[Subscription]) -> None:
        """Re-run each subscription at the newest snapshot, deliver changed results, and re-register.
        A subscription whose new read set is already stale by registration time is queued again (a loop,
        not recursion, so a hot subscription under sustained writes cannot exhaust the stack)."""
        queue = deque(subs)
        while queue:
            sub = queue.popleft()
            if not sub.active:
                continue
            try:
                result, read_set, ts = self._run_query(sub.fn, sub.args)
            except BaseException as exc:  # a query that now raises: keep the old result, report the error
                sub.error = exc
                self.errors.append((sub.id, exc))
                with self._lock:
                    # Keep watching what it read last time, as of every commit matched so far, so the
                    # next commit touching those keys re-runs it (and a fix in the data recovers it).
                    if sub.active:
                        sub.ts = self.processed_ts
                        self._register_checked(sub)
                continue
            sub.error = None
            sub.runs += 1
            self.stats.reruns += 1
            changed = not self._equal(result, sub.result)
            with self._lock:
                if not sub.active:
                    continue
                sub.read_set, sub.ts = read_set, ts
                if changed:
                    sub.result = result
                stale = self._register_checked(sub)
            if changed:
                sub.notifications += 1
                self.stats.notified += 1
                if sub.on_change is not None:
                    try:
                        sub.on_change(result, ts)
                    except BaseException as exc:
                        self.stats.callback_errors += 1
                        self.errors.append((sub.id, exc))
            else:
                self.stats.unchanged += 1
            if stale:
                queue.append(sub)

    # ---- maps ----------------------------------------------------------------------------------

    def _register_checked(self, sub: Subscription) -> bool:
        """Insert sub's intervals; True if commits in (sub.ts, processed_ts] already invalidate it."""
        for index, iset in sub.read_set.by_index().items():
            imap = self._maps.get(index)
            if imap is None:
                imap = self._maps[index] = self._make_map()
            for iv in iset.intervals():
                imap.insert(sub.id, iv)
        if sub.ts >= self.processed_ts:
            return False
        verdict = self._window.is_stale(sub.read_set.by_index(), sub.ts, self.processed_ts)
        if verdict.ok:
            return False
        self._unregister(sub)
        return True

    def _unregister(self, sub: Subscription) -> None:
        for index in sub.read_set.by_index():
            imap = self._maps.get(index)
            if imap is not None:
                imap.remove_owner(sub.id)

    def check_invariants(self) -> None:
        with self._lock:
            owners: dict[str, set[int]] = {name: set(m.owners()) for name, m in self._maps.items()}
            for sub in self._subs.values():
                assert sub.active
            for name, os_ in owners.items():
                for o in os_:
                    assert o in self._subs, f"{name}: interval of dead subscription {o}"
            for m in self._maps.values():
                m.check_invariants()
