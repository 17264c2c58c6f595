"""The single committer: commit timestamps, OCC validation, group commit, persist, apply, publish.

Who may call it: the database (``commit`` from any number of threads; ``exclusive`` for schema changes).
It is the only writer of the durable log, the index store and the write window.

How a commit goes (for each batch, under the leader lock):
1. For each queued transaction: take a commit ts from the HLC, then check its read set against every
   index key written in ``(begin_ts, commit_ts]`` - published commits and those validated earlier in
   this same batch, because validated commits enter the write window before they are durable.
2. Append every validated commit's record to persistence in ONE durable write (group commit).
3. Apply the index writes, advance the published ts, hand the commits to ``publish`` (subscriptions).
4. Acknowledge: a caller learns "committed" only after step 2 returned.

Deliberate trade-off: a transaction may conflict with a validated commit of the same batch whose durable
write then fails. That is a false conflict (the retry will succeed); it lets validation never wait on the
disk. Soundness - no missed conflict - is what the serializability tests check.

Group commit is leader-based, without a committer thread: a caller enqueues its transaction and then
takes the leader lock; whoever holds it drains the queue (up to ``max_batch``) and commits the batch. While
the leader waits on fsync, others queue up behind the lock and are committed together by the next leader.
A single-threaded caller therefore pays no thread hand-off.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from engine.catalog import Catalog
from engine.conflict.base import ConflictInfo, Verdict
from engine.documents import REFERENCE_KEYS, DocumentKeys, document_index_writes
from engine.model.errors import PersistenceError, RippleError
from engine.model.types import Timestamp
from engine.log.write_window import KeyWrite, WindowCommit, WriteWindow
from engine.persistence.base import CommitRecord, DocumentWrite
from engine.hooks import NO_HOOKS, Hooks
from engine.txn.transaction import FinalTransaction


@dataclass(frozen=True, slots=True)
class CommitterConfig:
    """Group commit knobs. ``max_batch=1`` disables grouping. ``max_delay_s`` is how long a leader waits
    for more transactions before committing a batch smaller than ``max_batch`` (0: take what is queued)."""

    max_batch: int = 256
    max_delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    """The committer's answer for one transaction: a verdict, and the commit ts when committed."""

    verdict: Verdict
    ts: Timestamp | None = None
    conflict: ConflictInfo | None = None
    batch_size: int = 1


class _Item:
    __slots__ = ("final", "outcome", "error")

    def __init__(self, final: FinalTransaction) -> None:
        self.final = final
        self.outcome: CommitOutcome | None = None
        self.error: BaseException | None = None


class Committer:
    def __init__(self, *, clock, persistence, index_store, window: WriteWindow, catalog: Catalog,
                 publish: Callable[[list[WindowCommit]], None], published_ts: Timestamp,
                 config: CommitterConfig = CommitterConfig(), hooks: Hooks = NO_HOOKS,
                 sleep: Callable[[float], None] | None = None, keys: DocumentKeys = REFERENCE_KEYS) -> None:
        self._keys = keys
        self._clock = clock
        self._persistence = persistence
        self._indexes = index_store
        self._window = window
        self._catalog = catalog
        self._publish = publish
        self._config = config
        self._hooks = hooks
        self._sleep = sleep
        self._queue: list[_Item] = []
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()
        self._published = published_ts
        self._published_cv = threading.Condition()
        self._broken: BaseException | None = None
        self.batches = 0
        self.batched_commits = 0

    # ---- public ----------------------------------------------------------------------------------

    @property
    def published_ts(self) -> Timestamp:
        """Newest commit visible to readers (durable, applied to the indexes)."""
        return self._published

    def commit(self, final: FinalTransaction) -> CommitOutcome:
        """Validate and (if valid) durably commit *final*; blocks until its fate is known.

        A transaction without writes commits at its begin ts without touching the committer (its reads
        were a consistent snapshot, so it serializes there). Raises PersistenceError if the durable write
        failed (nothing of the batch was committed).
        """
        if not final.writes:
            return CommitOutcome(Verdict.COMMIT, final.begin_ts, batch_size=0)
        if self._broken is not None:
            raise PersistenceError(f"committer stopped after an earlier failure: {self._broken}")
        item = _Item(final)
        with self._queue_lock:
            self._queue.append(item)
        while item.outcome is None and item.error is None:
            with self._leader:
                if item.outcome is not None or item.error is not None:
                    break
                if self._config.max_delay_s > 0 and self._sleep is not None and len(self._queue) < self._config.max_batch:
                    self._sleep(self._config.max_delay_s)
                with self._queue_lock:
                    batch = self._queue[: self._config.max_batch]
                    del self._queue[: len(batch)]
                if batch:
                    self._process(batch)
        if item.error is not None:
            raise item.error
        assert item.outcome is not None
        return item.outcome

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the leader lock: no commit is validated or applied meanwhile (schema changes, gc)."""
        with self._leader:
            yield

    def wait_for(self, ts: Timestamp, timeout: float | None = None) -> bool:
        """Block until ``published_ts >= ts`` (or timeout). Returns whether it happened."""
        with self._published_cv:
            return self._published_cv.wait_for(lambda: self._published >= ts, timeout)

    # ---- the batch ---------------------------------------------------------------------------------

    def _process(self, batch: list[_Item]) -> None:
        accepted: list[tuple[_Item, CommitRecord, dict[int, list], list[KeyWrite]]] = []
        for item in batch:
            final = item.final
            self._hooks.hit("committer.before_validate")
            ts = self._clock.now()
            result = self._window.is_stale(final.read_set.by_index(), final.begin_ts, ts)
            if not result.ok:
                item.outcome = CommitOutcome(result.verdict, None, result.conflict, len(batch))
                continue
            try:
                record, index_writes, key_writes = self._prepare(final, ts)
            except RippleError as exc:  # e.g. an index added since the write was staged rejects the key
                item.error = exc
                continue
            self._window.append(ts, final.writer, key_writes)
            accepted.append((item, record, index_writes, key_writes))
        if not accepted:
            return
        self._hooks.hit("committer.before_persist")
        try:
            self._persistence.append([a[1] for a in accepted])
        except BaseException as exc:  # nothing of the batch is durable: forget it entirely
            self._window.rollback_from(accepted[0][1].ts)
            err = exc if isinstance(exc, PersistenceError) else PersistenceError(f"durable write failed: {exc!r}")
            for a in accepted:
                a[0].error = err
            return
        self._hooks.hit("committer.after_persist")
        try:
            self._indexes.apply_batch([(a[1].ts, a[2]) for a in accepted])
        except BaseException as exc:
            # The commits are durable but the indexes did not take them. Readers must not see a published
            # ts the indexes lack, so stop committing; reopening replays the log into the indexes.
            self._broken = exc
            for a in accepted:
                a[0].error = PersistenceError(f"commit {a[1].ts} is durable but index apply failed ({exc!r}); reopen the database")
            raise
        last = accepted[-1][1].ts
        with self._published_cv:
            self._published = last
            self._published_cv.notify_all()
        self.batches += 1
        self.batched_commits += len(accepted)
        self._hooks.hit("committer.after_publish")
        self._publish([WindowCommit(a[1].ts, a[1].writer, tuple(a[3])) for a in accepted])
        for item, record, _, _ in accepted:
            item.outcome = CommitOutcome(Verdict.COMMIT, record.ts, None, len(accepted))

    def _prepare(self, final: FinalTransaction, ts: Timestamp) -> tuple[CommitRecord, dict[int, list], list[KeyWrite]]:
        """The durable record, per-index writes and window keys of one validated transaction."""
        doc_writes: list[DocumentWrite] = []
        index_writes: dict[int, list] = {}
        key_writes: list[KeyWrite] = []
        for pw in final.writes:
            table = self._catalog.table(pw.table)
            doc_writes.append(DocumentWrite(pw.table, pw.id, pw.new_encoded, pw.old_ts))
            # Keys were computed when the write was staged; only an index added since then (a schema
            # change between staging and commit) makes document_index_writes compute one here.
            document_index_writes(
                self._keys, table, pw.id, ts, pw.old_doc, pw.new_encoded, index_writes,
                old_keys=pw.old_keys, new_keys=pw.new_keys,
                on_key=lambda ix, key, doc_id=pw.id: key_writes.append(KeyWrite(ix.full_name, key, doc_id)))
        return CommitRecord(ts, final.writer, tuple(doc_writes)), index_writes, key_writes
