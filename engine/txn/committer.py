"""The single committer: commit timestamps, OCC validation, group commit, persist, apply, publish.

Who may call it: the database (``commit`` from any number of threads; ``serialized`` for the mutation
runner's fallback and for schema changes; ``exclusive`` for gc, verify and close). It is the only writer
of the durable log, the index store, the write window and the catalog history.

How a commit goes (for each batch, under the leader lock):
1. For each queued transaction: a transaction with writes that ran against an older catalog version than
   the current one conflicts (a schema change or table creation committed meanwhile: its validation and
   index keys belong to a catalog that no longer holds). Otherwise take a commit ts from the HLC, then
   check its read set against every index key written in ``(begin_ts, commit_ts]`` - published commits
   and those validated earlier in this same batch, because validated commits enter the write window
   before they are durable.
2. Append every validated commit's record to persistence in ONE durable write (group commit). A
   transaction carrying a ``CatalogChange`` adds one write to the reserved ``_catalog`` table: the new
   catalog and schema commit atomically with it.
3. Prepare the index store for each catalog change (``prepare_indexes``: drop removed indexes, backfill
   added ones from the log, open new ones), apply the index writes, install the new catalog versions,
   advance the published ts, hand the commits to ``publish`` (subscriptions).
4. Acknowledge: a caller learns "committed" only after step 2 returned.

Combined write (``combined_write``, wired by the database when the log and the indexes live in one LMDB
environment): a batch without a catalog change does steps 2 and 3's index application in ONE storage
transaction (``combined_write(records, index_commits)``): the log records and the index writes commit
together or not at all, so a failure leaves nothing durable and nothing applied, and the committer keeps
running (the batch's callers get the error; nothing needs replaying). A batch with a catalog change keeps
the two-step path, because its index work (drop, backfill) must run between the durable write and the
application; such batches are rare and run alone (schema changes are serialized).

Deliberate trade-off: a transaction may conflict with a validated commit of the same batch whose durable
write then fails. That is a false conflict (the retry will succeed); it lets validation never wait on the
disk. Soundness - no missed conflict - is what the serializability tests check.

Group commit is leader-based, without a committer thread: a caller enqueues its transaction; if no
caller holds the leader lock it takes it, drains the queue (up to ``max_batch``) and commits the batch;
otherwise it sleeps on its own wake lock until a leader settled its transaction (and woke it) or asked it
to lead next (the lock came free with work queued). While the leader waits on fsync, others queue up and
are committed together by the next leader. A single-threaded caller therefore pays no thread hand-off.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from engine.catalog import (CATALOG_DOC_ID, CATALOG_INDEX_ID, CATALOG_KEY, CATALOG_TABLE, CatalogChange, CatalogHistory,
                            CatalogVersion, absent_table_key, encode_catalog)
from engine.conflict.base import ConflictInfo, Verdict
from engine.documents import REFERENCE_KEYS, DocumentKeys, by_id_value, document_index_writes
from engine.model.errors import PersistenceError, RippleError
from engine.log.write_window import KeyWrite, WindowCommit, WriteWindow
from engine.persistence.base import CommitRecord, DocumentWrite
from engine.hooks import NO_HOOKS, Hooks
from engine.txn.transaction import FinalTransaction
from engine.model.types import Timestamp

#: ``_rebase`` verdict: the catalog changed in a way that matters to the transaction.
_INCOMPATIBLE = object()

_new_tuple = tuple.__new__


def _schema_json(schema: Any) -> Any:
    return schema.to_json() if schema is not None else None


def _same_table(a: Any, b: Any) -> bool:
    return a.number == b.number and {n: (ix.fields, ix.index_id) for n, ix in a.indexes.items()} == \
        {n: (ix.fields, ix.index_id) for n, ix in b.indexes.items()}


#: ``combined_write(records, index_commits)``: durably append *records* and apply *index_commits*
#: (``[(ts, {index_id: writes})]``) in one storage transaction, all or nothing.
CombinedWrite = Callable[[list[CommitRecord], list[tuple[Timestamp, dict[int, list]]]], None]

#: ``prepare_indexes(change, through_ts)``: make the index store match a committed catalog change before
#: its commit is applied (drop, backfill from the log through *through_ts*, open). Shared with recovery.
PrepareIndexes = Callable[[CatalogChange, Timestamp], None]


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
    __slots__ = ("final", "outcome", "error", "wake", "signalled")

    def __init__(self, final: FinalTransaction) -> None:
        self.final = final
        self.outcome: CommitOutcome | None = None
        self.error: BaseException | None = None
        #: Held while the caller sleeps; released (under the queue lock, once: ``signalled``) to wake it.
        self.wake = threading.Lock()
        self.wake.acquire()
        self.signalled = False


class Committer:
    def __init__(self, *, clock, persistence, index_store, window: WriteWindow, catalogs: CatalogHistory,
                 prepare_indexes: PrepareIndexes,
                 publish: Callable[[list[WindowCommit]], None], published_ts: Timestamp,
                 config: CommitterConfig = CommitterConfig(), hooks: Hooks = NO_HOOKS,
                 sleep: Callable[[float], None] | None = None, keys: DocumentKeys = REFERENCE_KEYS,
                 combined_write: CombinedWrite | None = None) -> None:
        self._keys = keys
        self._combined = combined_write
        self._clock = clock
        self._persistence = persistence
        self._indexes = index_store
        self._window = window
        self._catalogs = catalogs
        self._prepare_indexes = prepare_indexes
        self._publish = publish
        self._config = config
        self._hooks = hooks
        self._sleep = sleep
        self._queue: list[_Item] = []
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()
        self._published = published_ts
        self._published_cv = threading.Condition()
        self._published_waiters = 0   # callers inside wait_for (changed under the condition's lock)
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
        if not final.writes_anything:
            return CommitOutcome(Verdict.COMMIT, final.begin_ts, batch_size=0)
        if self._broken is not None:
            raise PersistenceError(f"committer stopped after an earlier failure: {self._broken}")
        item = _Item(final)
        with self._queue_lock:
            self._queue.append(item)
        while True:
            # Lead if the leader lock is free; else sleep on the item's own wake lock until a leader
            # settled it (its outcome is then set) or asked it to lead (the slot came free with work left).
            # Followers never take the leader lock in turn just to learn they are done, and a leader wakes
            # only the callers it settled plus one successor: no convoy, no wake-all.
            if self._leader.acquire(blocking=False):
                try:
                    self._lead()
                finally:
                    self._leader.release()
                    self._wake_successor()
            elif item.outcome is None and item.error is None:
                item.wake.acquire()
                with self._queue_lock:
                    item.signalled = False
            if item.outcome is not None or item.error is not None:
                break
        if item.error is not None:
            raise item.error
        assert item.outcome is not None
        return item.outcome

    def _lead(self) -> None:
        """One batch as leader (the caller holds the leader lock); wakes every caller it settled."""
        if self._config.max_delay_s > 0 and self._sleep is not None and len(self._queue) < self._config.max_batch:
            self._sleep(self._config.max_delay_s)
        with self._queue_lock:
            batch = self._queue[: self._config.max_batch]
            del self._queue[: len(batch)]
        if not batch:
            return
        try:
            self._process(batch)
        finally:
            with self._queue_lock:
                for it in batch:
                    self._signal(it)

    def _signal(self, item: _Item) -> None:
        # Caller holds the queue lock. A wake lock is released at most once per sleep of its owner.
        if not item.signalled:
            item.signalled = True
            item.wake.release()

    def _wake_successor(self) -> None:
        """After the leader lock was released: if work is queued, ask its first caller to lead (it may
        find the lock taken again; then whoever took it does this in turn, so queued work always has a
        leader coming)."""
        with self._queue_lock:
            if self._queue:
                self._signal(self._queue[0])

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the leader lock: no commit is validated or applied meanwhile (gc, verify, close)."""
        try:
            with self._leader:
                yield
        finally:
            self._wake_successor()

    @contextmanager
    def serialized(self) -> Iterator[Callable[[FinalTransaction], CommitOutcome]]:
        """Hold the leader lock and yield ``commit_now(final)``, which commits directly without queueing.

        Nothing else commits until the block exits, so a transaction that begins inside the block (at
        ``published_ts``) and commits through ``commit_now`` cannot conflict: this is how the mutation
        runner guarantees progress, and how schema changes serialize with every other commit. Others'
        commits queue meanwhile and go out in the next batch. Cost: the block's whole duration is a
        pause for every other writer (readers are unaffected).
        """
        try:
            with self._leader:
                if self._broken is not None:
                    raise PersistenceError(f"committer stopped after an earlier failure: {self._broken}")
                yield self._commit_holding_lock
        finally:
            self._wake_successor()

    def _commit_holding_lock(self, final: FinalTransaction) -> CommitOutcome:
        if not final.writes_anything:
            return CommitOutcome(Verdict.COMMIT, final.begin_ts, batch_size=0)
        item = _Item(final)
        self._process([item])
        if item.error is not None:
            raise item.error
        assert item.outcome is not None
        return item.outcome

    def wait_for(self, ts: Timestamp, timeout: float | None = None) -> bool:
        """Block until ``published_ts >= ts`` (or timeout). Returns whether it happened."""
        with self._published_cv:
            self._published_waiters += 1
            try:
                return self._published_cv.wait_for(lambda: self._published >= ts, timeout)
            finally:
                self._published_waiters -= 1

    # ---- the batch ---------------------------------------------------------------------------------

    def _process(self, batch: list[_Item]) -> None:
        accepted: list[tuple[_Item, CommitRecord, dict[int, list], WindowCommit]] = []
        current = self._catalogs.current
        catalog_ts, catalog_writer = current.ts, "schema change"
        cur_catalog, cur_schema = current.catalog, current.schema
        changes: list[tuple[CatalogVersion, CatalogChange]] = []
        for item in batch:
            final = item.final
            self._hooks.hit("committer.before_validate")
            change = final.catalog_change
            if final.catalog_ts != catalog_ts:
                change = self._rebase(final, cur_catalog, cur_schema)
            if change is _INCOMPATIBLE:
                # The catalog changed after this transaction began in a way that matters to it: its schema
                # validation or index keys belong to a catalog that no longer holds. Retrying is correct.
                item.outcome = CommitOutcome(Verdict.CONFLICT, None, ConflictInfo(
                    table=CATALOG_TABLE, index=f"{CATALOG_TABLE}.catalog", document_id=CATALOG_DOC_ID,
                    key=CATALOG_KEY, ts=Timestamp(catalog_ts), writer=catalog_writer, index_id=CATALOG_INDEX_ID),
                    len(batch))
                continue
            ts = self._clock.now()
            result = self._window.is_stale(final.read_set.by_index(), final.begin_ts, ts)
            if not result.ok:
                item.outcome = CommitOutcome(result.verdict, None, result.conflict, len(batch))
                continue
            try:
                record, index_writes, key_writes = self._prepare(final, change, cur_catalog, ts, catalog_ts)
            except RippleError as exc:
                item.error = exc
                continue
            whole: list = []
            if change is not None:
                whole = [(ix.index_id, ix.full_name) for ix in change.dropped]
                whole += [(absent_table_key(t), f"{t}.(table)") for t in change.created]
                changes.append((CatalogVersion(ts, change.catalog, change.schema), change))
                catalog_ts, catalog_writer = ts, final.writer
                cur_catalog, cur_schema = change.catalog, change.schema
            accepted.append((item, record, index_writes, self._window.append(ts, final.writer, key_writes, whole)))
        if not accepted:
            return
        self._hooks.hit("committer.before_persist")
        records = [a[1] for a in accepted]
        combined = self._combined is not None and not changes
        try:
            if combined:
                self._combined(records, [(a[1].ts, a[2]) for a in accepted])
            else:
                self._persistence.append(records)
        except BaseException as exc:  # nothing of the batch is durable (nor applied): forget it entirely
            self._window.rollback_from(accepted[0][1].ts)
            err = exc if isinstance(exc, PersistenceError) else PersistenceError(f"durable write failed: {exc!r}")
            for a in accepted:
                a[0].error = err
            return
        self._hooks.hit("committer.after_persist")
        if not combined:
            try:
                for version, change in changes:
                    self._prepare_indexes(change, Timestamp(version.ts - 1))
                self._indexes.apply_batch([(a[1].ts, a[2]) for a in accepted])
            except BaseException as exc:
                # The commits are durable but the indexes did not take them. Readers must not see a
                # published ts the indexes lack, so stop committing; reopening replays the log into them.
                self._broken = exc
                for a in accepted:
                    a[0].error = PersistenceError(f"commit {a[1].ts} is durable but index apply failed ({exc!r}); reopen the database")
                raise
        for version, _ in changes:
            self._catalogs.install(version)
        last = accepted[-1][1].ts
        # Publish, then wake waiters only if there are any (a Condition costs microseconds even unused).
        # No lost wake-up: a waiter counts itself before it first tests the predicate, and the new ts is
        # stored before the count is read.
        self._published = last
        if self._published_waiters:
            with self._published_cv:
                self._published_cv.notify_all()
        self.batches += 1
        self.batched_commits += len(accepted)
        self._hooks.hit("committer.after_publish")
        self._publish([a[3] for a in accepted])
        for item, record, _, _ in accepted:
            item.outcome = CommitOutcome(Verdict.COMMIT, record.ts, None, len(accepted))

    def _rebase(self, final: FinalTransaction, catalog: Any, schema: Any) -> "CatalogChange | None | object":
        """A transaction that ran against an older catalog version may still commit when every change
        since was the creation of other tables (or of the very tables it created itself, identically:
        concurrent first inserts into a new table): the schema and every table it knew are unchanged.
        Returns the catalog change it still needs (None: none), or ``_INCOMPATIBLE``. O(tables)."""
        base = self._catalogs.at(final.catalog_ts)
        if base.ts != final.catalog_ts or _schema_json(base.schema) != _schema_json(schema):
            return _INCOMPATIBLE
        for name in base.catalog.tables():
            if not catalog.has_table(name) or not _same_table(base.catalog.table(name), catalog.table(name)):
                return _INCOMPATIBLE
        change = final.catalog_change
        if change is not None:
            for name in change.created:
                if not catalog.has_table(name) or not _same_table(change.catalog.table(name), catalog.table(name)):
                    return _INCOMPATIBLE
        return None

    def _prepare(self, final: FinalTransaction, change: CatalogChange | None, catalog: Any, ts: Timestamp,
                 catalog_ts: Timestamp) -> tuple[CommitRecord, dict[int, list], list[KeyWrite]]:
        """The durable record, per-index writes and window keys of one validated transaction."""
        doc_writes: list[DocumentWrite] = []
        index_writes: dict[int, list] = {}
        key_writes: list[KeyWrite] = []
        if change is not None:
            catalog = change.catalog
        touched: list = []
        for pw in final.writes:
            table = catalog.table(pw.table)
            doc_writes.append(DocumentWrite(pw.table, pw.id, pw.new_encoded, pw.old_ts))
            document_index_writes(self._keys, table, pw.id, ts, pw.old_doc, pw.new_encoded, index_writes,
                                  old_keys=pw.old_keys, new_keys=pw.new_keys, touched=touched)
            doc_id = pw.id
            # tuple.__new__ builds the named tuple without running its Python-level constructor.
            key_writes += [_new_tuple(KeyWrite, (ix.index_id, key, doc_id, ix.full_name)) for ix, key in touched]
            touched.clear()
        if change is not None:
            payload = encode_catalog(change.catalog, change.schema)
            doc_writes.append(DocumentWrite(CATALOG_TABLE, CATALOG_DOC_ID, payload, catalog_ts or None))
            index_writes[CATALOG_INDEX_ID] = [(CATALOG_KEY, by_id_value(ts, payload))]
        return CommitRecord(ts, final.writer, tuple(doc_writes)), index_writes, key_writes
