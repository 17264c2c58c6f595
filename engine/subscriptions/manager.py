"""The subscription registry: live queries, their read sets in per-index interval maps, and matching.

Who may call it: the database (``subscribe``, ``on_publish`` from the committer, ``wait_idle``), the sync
server's query hub (``subscribe_deferred``, ``cancel``, ``request_rerun``); the re-run worker
(``engine.subscriptions.rerun``) calls ``match``, ``refresh`` and ``take_requested``. Users hold
``SubscriptionHandle``s.

It never polls storage: it learns about commits from ``on_publish`` and finds the affected live queries
with one stabbing query per written key against an interval map per index
(``engine.conflict.interval_map``), so the cost grows with log(live queries) + hits. ``match`` is the
one place where a commit's written keys meet the read sets; index identifiers (the keys of
``read_set.by_index()`` and ``WindowCommit.by_index()``) are opaque hashable values, never parsed.

Invariants (``check_invariants``):
- Every live query that has run has exactly its read-set intervals in the maps under its id, and
  nothing else is there. ``processed_ts`` is the newest commit whose writes have been matched.
- A live query's result is valid at its ``ts`` and stays valid through ``processed_ts`` unless it was
  hit by ``match`` (then the worker re-runs it at the batch snapshot).
- Read sets are refreshed in place: a re-run diffs old and new intervals per index
  (``IntervalMap.replace``), so a read set that did not move costs no tree update.

Race it closes: ``subscribe`` runs a query at snapshot T on the caller's thread but registers later;
commits in (T, processed_ts] are checked against its read set through the write window at registration,
under the same lock as matching; if one hit, the query is queued for the worker's next batch.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Iterable

from engine.hooks import NO_HOOKS, Hooks
from engine.log.write_window import WindowCommit, WriteWindow
from engine.subscriptions.live import BatchListener, LiveQuery, SubscriptionHandle, SubscriptionStats, WaitOutcome
from engine.subscriptions.rerun import RerunWorker
from engine.model.types import Timestamp

#: Runs a query function: ``run_query(fn, args, at)`` -> (result, read_set, ts); ``at=None`` = newest.
QueryRunner = Callable[[Callable[..., Any], tuple, "Timestamp | None"], tuple[Any, Any, Timestamp]]


class SubscriptionManager:
    def __init__(self, *, window: WriteWindow, run_query: QueryRunner, make_interval_map: Callable[[], Any],
                 results_equal: Callable[[Any, Any], bool], processed_ts: Timestamp,
                 mode: str = "thread", hooks: Hooks = NO_HOOKS) -> None:
        if mode not in ("thread", "inline"):
            raise ValueError(f'subscription mode must be "thread" or "inline", got {mode!r}')
        self._window = window
        self._run_query = run_query
        self._make_map = make_interval_map
        self._equal = results_equal
        self.hooks = hooks
        self._maps: dict[Any, Any] = {}
        self._subs: dict[int, LiveQuery] = {}
        self._groups: dict[int, BatchListener] = {}  # id(listener) -> listener, told about every batch
        self._requested: dict[int, LiveQuery] = {}   # queued for the next batch (new, stale, forced)
        self._ids = itertools.count(1)
        self.lock = threading.RLock()  # guards maps, subs, groups, requested, processed_ts
        self.processed_ts: Timestamp = processed_ts
        self.stats = SubscriptionStats()
        self.errors: list[tuple[int, BaseException]] = []
        self._worker = RerunWorker(self, processed_ts=processed_ts, mode=mode, hooks=hooks)

    # ---- subscribe / cancel ----------------------------------------------------------------------

    def subscribe(self, fn: Callable[..., Any], args: tuple, on_change: Callable[[Any, Timestamp], None] | None) -> SubscriptionHandle:
        """Run ``fn(tx, *args)`` now (newest snapshot, caller's thread) and keep it live. Changed
        results go to ``on_change(result, ts)`` on the worker thread. Cost: one run + O(intervals log n)."""
        run_query = self._run_query
        sub = LiveQuery(next(self._ids), lambda at: run_query(fn, args, at)[:2], self._equal, on_change)
        result, read_set, ts = run_query(fn, args, None)
        sub.result, sub.read_set, sub.ts, sub.runs = result, read_set, ts, 1
        self.hooks.hit("subscriptions.before_register")
        with self.lock:
            self._subs[sub.id] = sub
            self.stats.subscribed += 1
            self._add_intervals(sub)
            if self._stale(sub):
                self._requested[sub.id] = sub
        if sub.id in self._requested:
            self._worker.wake()
        return SubscriptionHandle(self, sub)

    def subscribe_deferred(self, run: Callable[[Timestamp], tuple[Any, Any]], *, equal: Callable[[Any, Any], bool],
                           group: BatchListener, tag: Any) -> SubscriptionHandle:
        """A live query first run by the worker, in its next batch, at that batch's snapshot; its first
        result and every changed one are handed to ``group.on_batch`` with the batch's other changes.
        Never runs on the caller's thread (the server hub calls it from its event loop). O(1)."""
        sub = LiveQuery(next(self._ids), run, equal, None, group=group, tag=tag)
        with self.lock:
            self._subs[sub.id] = sub
            self._requested[sub.id] = sub
            self.stats.subscribed += 1
        self._worker.wake()
        return SubscriptionHandle(self, sub)

    def request_rerun(self, handles: Iterable[SubscriptionHandle]) -> None:
        """Re-run these live queries in the next batch even though no commit hit them (e.g. the functions
        behind them were redeployed); unchanged results are still not delivered. Thread-safe."""
        with self.lock:
            for h in handles:
                sub = self._subs.get(h.id)
                if sub is not None and sub.run is not None:
                    self._requested[sub.id] = sub
        self._worker.wake()

    def add_group(self, listener: BatchListener) -> None:
        """Tell *listener* about every batch (its snapshot), even batches with no change for it."""
        with self.lock:
            self._groups[id(listener)] = listener

    def remove_group(self, listener: BatchListener) -> None:
        with self.lock:
            self._groups.pop(id(listener), None)

    def watch(self, read_set: Any, ts: Timestamp, on_invalidate: Callable[[Timestamp], None]) -> SubscriptionHandle:
        """One-shot invalidation watch on *read_set* (valid at *ts*), without re-running anything: the
        first commit after *ts* that writes inside it sets ``handle.invalid`` and calls
        ``on_invalidate(commit_ts)`` once (on the worker thread; keep it cheap), then the watch is gone.
        A watch already stale at registration fires at once, on the calling thread.
        Cost: O(intervals × log n) to register."""
        sub = LiveQuery(next(self._ids), None, self._equal, ts=ts, read_set=read_set, on_invalidate=on_invalidate)
        with self.lock:
            self._subs[sub.id] = sub
            self.stats.subscribed += 1
            self._add_intervals(sub)
            stale = self._stale(sub)
            if stale:
                self._drop(sub)
                sub.invalid = True
            processed = self.processed_ts
        if stale:
            self.fire(sub, processed)
        return SubscriptionHandle(self, sub)

    def consistent_view(self, fn: Callable[[Timestamp], Any]) -> Any:
        """Run ``fn(processed_ts)`` while no commit is being matched: every watch's ``invalid`` flag is
        exact as of that timestamp."""
        with self.lock:
            return fn(self.processed_ts)

    def cancel(self, sub_id: int) -> None:
        """Remove live query *sub_id* and its intervals. Idempotent. O(m log n) for its m intervals."""
        with self.lock:
            sub = self._subs.get(sub_id)
            if sub is not None:
                self._drop(sub)

    def live(self) -> int:
        return len(self._subs)

    # ---- commits (forwarded to the worker) -------------------------------------------------------

    def on_publish(self, commits: list[WindowCommit]) -> None:
        """Called by the committer (in commit order) after each published batch. Cheap: enqueues."""
        self._worker.on_publish(commits)

    def wait_idle(self, timeout: float | None = 10.0) -> WaitOutcome:
        """Until every published commit has been matched and every re-run and delivery finished.
        In inline mode this does the work on the calling thread."""
        return self._worker.wait_idle(timeout)

    def wait_processed(self, ts: Timestamp, timeout: float | None = 10.0) -> WaitOutcome:
        """Until every commit up to *ts* has been matched, re-run and delivered (``TIMED_OUT`` if not
        within *timeout* seconds, ``STOPPED`` if the manager stopped first)."""
        return self._worker.wait_delivered(ts, timeout)

    @property
    def delivered_ts(self) -> Timestamp:
        """Newest batch snapshot whose re-runs and deliveries are complete."""
        return self._worker.delivered_ts

    def stop(self) -> None:
        self._worker.stop()

    # ---- used by the re-run worker (under ``lock`` where noted) -----------------------------------

    def match(self, commits: list[WindowCommit]) -> tuple[list[LiveQuery], list[tuple[LiveQuery, Timestamp]]]:
        """Stab every written key of *commits* (in order) into the maps; advance ``processed_ts``.
        Returns (live queries to re-run, fired watches with their commit ts); hit watches are removed.
        Caller holds ``lock``. The single place where commits meet read sets. A commit that invalidated
        a whole index (``WindowCommit.whole``: an index dropped or redefined by a schema change, a table
        created) hits every owner of that index's map. Cost: O(Σ keys × log n + hits)."""
        hit: dict[int, LiveQuery] = {}
        watches: list[tuple[LiveQuery, Timestamp]] = []
        for commit in commits:
            stabs = [(index, None) for index, _name in commit.whole]
            stabs += list(commit.by_index().items())
            for index, keys in stabs:
                if keys is not None:
                    self.stats.keys_stabbed += len(keys)
                imap = self._maps.get(index)
                if imap is None:
                    continue
                owners = imap.owners() if keys is None else imap.stab_many(keys)
                for owner in owners:
                    sub = self._subs.get(owner)
                    # A query whose snapshot already includes this commit (it ran after the commit was
                    # published but before it was matched) is not invalidated by it.
                    if sub is None or owner in hit or sub.ts >= commit.ts:
                        continue
                    if sub.on_invalidate is not None:
                        self._drop(sub)
                        sub.invalid = True
                        watches.append((sub, commit.ts))
                    hit[owner] = sub
            self.processed_ts = commit.ts
        self.stats.invalidated += len(hit)
        return [s for s in hit.values() if s.on_invalidate is None], watches

    def take_requested(self) -> list[LiveQuery]:
        """Live queries queued for the next batch (new deferred, stale at registration, forced). Caller
        holds ``lock``."""
        out = [s for s in self._requested.values() if s.active]
        self._requested.clear()
        return out

    def is_empty(self) -> bool:
        """No live query, no batch listener, nothing requested: no commit can matter. Caller holds ``lock``."""
        return not self._subs and not self._groups and not self._requested

    def groups(self) -> list[BatchListener]:
        return list(self._groups.values())

    def refresh(self, sub: LiveQuery, read_set: Any, ts: Timestamp) -> None:
        """After a re-run at *ts* (= ``processed_ts``): make the maps hold exactly *read_set* for *sub*,
        diffing per index (only changed intervals move). Caller holds ``lock``; *sub* is active."""
        old = sub.read_set.by_index() if sub.read_set is not None else {}
        new = read_set.by_index()
        stats = self.stats
        for index, ivs in new.items():
            imap = self._maps.get(index)
            if imap is None:
                imap = self._maps[index] = self._make_map()
            removed, added = imap.replace(sub.id, ivs.intervals())
            stats.intervals_removed += removed
            stats.intervals_added += added
        for index in old:
            if index not in new:
                imap = self._maps.get(index)
                if imap is not None:
                    stats.intervals_removed += imap.remove_owner(sub.id)
                    if not len(imap):
                        del self._maps[index]
        sub.read_set, sub.ts = read_set, ts

    def fire(self, sub: LiveQuery, commit_ts: Timestamp) -> None:
        try:
            sub.on_invalidate(commit_ts)  # type: ignore[misc]
        except BaseException as exc:
            self.stats.callback_errors += 1
            self.errors.append((sub.id, exc))

    # ---- maps ----------------------------------------------------------------------------------

    def _add_intervals(self, sub: LiveQuery) -> None:
        for index, ivs in sub.read_set.by_index().items():
            imap = self._maps.get(index)
            if imap is None:
                imap = self._maps[index] = self._make_map()
            for iv in ivs.intervals():
                imap.insert(sub.id, iv)

    def _stale(self, sub: LiveQuery) -> bool:
        """True if commits in (sub.ts, processed_ts] write inside sub's read set (or can no longer be
        checked: the window was trimmed past sub.ts)."""
        if sub.ts >= self.processed_ts:
            return False
        return not self._window.is_stale(sub.read_set.by_index(), sub.ts, self.processed_ts).ok

    def _drop(self, sub: LiveQuery) -> None:
        self._subs.pop(sub.id, None)
        self._requested.pop(sub.id, None)
        sub.active = False
        if sub.read_set is None:
            return
        for index in sub.read_set.by_index():
            imap = self._maps.get(index)
            if imap is not None:
                imap.remove_owner(sub.id)
                if not len(imap):
                    del self._maps[index]

    def check_invariants(self) -> None:
        with self.lock:
            for sub in self._subs.values():
                assert sub.active
            for index, m in self._maps.items():
                for o in m.owners():
                    assert o in self._subs, f"{index!r}: interval of dead subscription {o}"
                m.check_invariants()
            for sub in self._subs.values():
                if sub.read_set is None:
                    continue
                for index, ivs in sub.read_set.by_index().items():
                    held = self._maps[index].debug_state()["owners"].get(sub.id, [])
                    want = [(iv.start, iv.end) for iv in ivs.intervals()]
                    assert sorted(held, key=_k) == sorted(want, key=_k), (index, sub.id, held, want)


def _k(pair: tuple) -> tuple:
    s, e = pair
    return (s, e is None, e or b"")


__all__ = ["QueryRunner", "SubscriptionManager"]
