"""The embedded database: opens storage, replays the log, runs transactions, and exposes inspection.

Who may call it: applications, notebooks, tests, experiments and (later) the server. This is the one
place that wires the layers together; every layer below receives what it needs (clock, kernels,
persistence, index store, hooks) explicitly.

Invariants:
- The durable commit log is the truth. On open, the index store is brought up to the log's last commit
  (replaying what it lacks), index ids the catalog does not know are dropped, and the HLC observes the
  highest persisted timestamp, so timestamps never go back across a restart.
- ``latest_ts()`` is the newest commit that is durable and applied to every index; every read happens at
  a snapshot ``<= latest_ts()`` and ``>= retention_watermark()`` (else ``TooOldError``).
- User functions run outside every engine lock; only the committer's short critical section serialises.
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from engine import _impl, ids, values
from engine.catalog import BY_ID, Catalog, IndexInfo, TableInfo
from engine.clock.hlc import PhysicalClock
from engine.conflict.base import ConflictInfo, Verdict
from engine.config import DatabaseConfig
from engine.documents import DocumentKeys, document_index_writes, split_by_id_value
from engine.errors import (ConflictError, DatabaseClosedError, InvalidIdError, RippleError,
                           SchemaValidationError, TooOldError)
from engine.index.base import IndexConfig
from engine.index.registry import INDEX_KERNELS, open_index_store
from engine.log.write_window import WindowCommit, WriteWindow
from engine.persistence.base import CommitRecord, PersistenceConfig
from engine.persistence.registry import open_persistence
from engine.subscriptions import SubscriptionHandle, SubscriptionManager
from engine.hooks import NO_HOOKS, Hooks
from engine.txn.committer import CommitOutcome, Committer, CommitterConfig
from engine.txn.transaction import Transaction, TxnState
from engine.types import Interval, Timestamp

CATALOG_GLOBAL = "catalog"
SCHEMA_GLOBAL = "schema"
WATERMARK_GLOBAL = "retention_watermark"
REPLAY_CHUNK = 512


def system_clock_ms() -> int:
    """Wall-clock milliseconds: the default physical clock, injected at the edge (never read inside)."""
    return time.time_ns() // 1_000_000


# ---- records returned to callers ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One execution of a mutation: its snapshot, verdict, what it read and what it tried to write."""

    begin_ts: Timestamp
    verdict: Verdict | None          # None: the function raised (no commit attempted)
    commit_ts: Timestamp | None
    conflict: ConflictInfo | None
    read_set: dict[str, list[Interval]]
    write_set: list[tuple[str, str, str]]


@dataclass(frozen=True, slots=True)
class MutationOutcome:
    value: Any
    commit_ts: Timestamp | None
    attempts: tuple[AttemptRecord, ...]

    @property
    def retries(self) -> int:
        return len(self.attempts) - 1


@dataclass(frozen=True, slots=True)
class WriteView:
    table: str
    id: str
    value: dict | None
    prev_ts: Timestamp | None


@dataclass(frozen=True, slots=True)
class LogEntry:
    ts: Timestamp
    writer: str
    writes: tuple[WriteView, ...]


@dataclass(frozen=True, slots=True)
class Version:
    ts: Timestamp
    value: dict | None   # None: deleted at ts


@dataclass
class Stats:
    commits: int = 0
    conflicts: int = 0
    too_old: int = 0
    retries: int = 0
    failed_mutations: int = 0
    user_errors: int = 0
    reads: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    indexes_checked: int
    snapshots_checked: int
    problems: tuple[str, ...] = field(default_factory=tuple)


class Database:
    """An open Ripple database. Thread-safe. Use ``open_database`` to construct."""

    def __init__(self, path: str | None, config: DatabaseConfig, *, physical_clock: PhysicalClock,
                 hooks: Hooks = NO_HOOKS, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = path
        self.config = config
        self._hooks = hooks
        self._sleep = sleep
        self._physical = physical_clock
        self._closed = False
        self.kernels = _impl.resolve_all(config.impl)
        #: Index keys with the selected key-codec kernel (shared by transactions, committer and replay).
        self.keys = DocumentKeys(self.kernels["keycodec"][1])
        self._interval_set_cls = self.kernels["interval_set"][1].IntervalSet
        self._interval_map_cls = self.kernels["interval_map"][1].IntervalMap
        self._rng = random.Random(config.seed)
        self._rng_lock = threading.Lock()
        self.stats_ = Stats()
        self._stats_lock = threading.Lock()

        if config.persistence != "memory" and path is None:
            raise ValueError(f"persistence {config.persistence!r} needs a path (or use persistence='memory')")
        if path is not None:
            os.makedirs(path, exist_ok=True)
        self._persistence = open_persistence(config.persistence, PersistenceConfig(
            path=os.path.join(path, "log") if path else None, durability=config.durability, map_size=config.map_size,
            options=config.resolved_persistence_options()),
            codec=self.kernels["record"][1])
        try:
            self._open_rest()
        except BaseException:
            self._persistence.close()
            raise

    def _open_rest(self) -> None:
        config, path = self.config, self.path
        raw = self._persistence.get_global(CATALOG_GLOBAL)
        self.catalog = Catalog.from_json(raw) if raw else Catalog()
        raw_schema = self._persistence.get_global(SCHEMA_GLOBAL)
        self._schema = None
        if raw_schema:
            from engine.schema import Schema

            self._schema = Schema.from_json(json.loads(raw_schema))
        raw_wm = self._persistence.get_global(WATERMARK_GLOBAL)
        self._watermark = Timestamp(int(raw_wm)) if raw_wm else Timestamp(0)

        self.clock = self.kernels["hlc"][1].HybridLogicalClock(self._physical)
        self.clock.observe(self._persistence.max_ts())
        # Ids are random bytes from a seeded generator (deterministic experiments). The seed mixes in the
        # persisted high-water mark so a reopened database does not replay the id sequence it already used.
        self._idgen = ids.IdGenerator(random.Random(f"ids:{config.seed}:{self._persistence.max_ts()}"))

        index_name = config.resolved_index()
        self._index_store = open_index_store(index_name, IndexConfig(
            path=os.path.join(path, "indexes") if path else None, durability="none", map_size=config.map_size,
            options=config.resolved_index_options()),
            kernel=self.kernels[INDEX_KERNELS[index_name]][1])
        self._views: dict[int, Any] = {}
        self._catch_up_indexes()

        latest = self._log_max_ts()
        self._window = WriteWindow(purged_ts=latest)
        self._subs = SubscriptionManager(
            window=self._window, run_query=self._run_query_for_subscription,
            make_interval_map=self._interval_map_cls, results_equal=_results_equal,
            processed_ts=latest, mode=config.subscriptions)
        self._committer = Committer(
            clock=self.clock, persistence=self._persistence, index_store=self._index_store,
            window=self._window, catalog=self.catalog, publish=self._on_publish, published_ts=latest,
            config=CommitterConfig(config.group_commit_max_batch, config.group_commit_max_delay_ms / 1000.0),
            hooks=self._hooks, sleep=self._sleep, keys=self.keys)
        self._catalog_lock = threading.Lock()

    # ---- open-time recovery ----------------------------------------------------------------------

    def _log_max_ts(self) -> Timestamp:
        # After replay the index store has applied the newest logged commit, which is what readers see.
        # (persistence.max_ts() may be a higher high-water mark; the clock observes that, readers do not.)
        return Timestamp(self._index_store.applied_ts())

    def _catch_up_indexes(self) -> None:
        """Drop unknown index ids, backfill indexes the store lacks, replay commits it has not applied."""
        known = {ix.index_id: ix for ix in self.catalog.all_indexes()}
        present = set(self._index_store.index_ids())
        for stale in present - set(known):
            self._index_store.drop_index(stale)
        missing = [ix for i, ix in known.items() if i not in present]
        applied = Timestamp(self._index_store.applied_ts())
        if missing and applied > 0:
            # Built before the last close but absent now (a crash mid-backfill, or a fresh in-memory store
            # for some of them): rebuild exactly those from the log up to `applied`.
            self._backfill(missing, through=applied)
        for ix in missing:
            self._index_store.open_index(ix.index_id)
        self._replay(after=applied)

    def _index_writes_for(self, rec: CommitRecord, old_docs: Callable[[str, Timestamp], dict | None],
                          only: set[int] | None = None) -> dict[int, list]:
        """The index writes of a logged commit (``documents.document_index_writes``, as the committer)."""
        out: dict[int, list] = {}
        for w in rec.writes:
            document_index_writes(self.keys, self.catalog.table(w.table), w.id, rec.ts, old_docs(w.id, rec.ts),
                                  w.value, out, only=only)
        return out

    def _replay(self, after: Timestamp) -> None:
        """Apply every logged commit with ts > *after* to the index store, in chunks."""
        chunk: list[tuple[Timestamp, dict[int, list]]] = []
        recent: dict[str, dict | None] = {}  # docs written earlier in this unapplied chunk

        def old_doc(doc_id: str, ts: Timestamp) -> dict | None:
            if doc_id in recent:
                return recent[doc_id]
            return self._doc_at(doc_id, Timestamp(ts - 1))

        for rec in self._persistence.load_log(Timestamp(after + 1)):
            chunk.append((rec.ts, self._index_writes_for(rec, old_doc)))
            for w in rec.writes:
                recent[w.id] = values.decode_document(w.value) if w.value is not None else None
            if len(chunk) >= REPLAY_CHUNK:
                self._index_store.apply_batch(chunk)
                chunk, recent = [], {}
        if chunk:
            self._index_store.apply_batch(chunk)

    def _backfill(self, indexes: list[IndexInfo], through: Timestamp) -> None:
        """Write the full retained history of *indexes* (freshly created, empty) from the log."""
        only = {ix.index_id for ix in indexes}
        tables = {ix.table for ix in indexes}
        history: dict[str, dict | None] = {}  # id -> latest doc so far, replaying from the start

        def old_doc(doc_id: str, ts: Timestamp) -> dict | None:
            return history.get(doc_id)

        batches: list[tuple[Timestamp, dict[int, list]]] = []
        for rec in self._persistence.load_log(Timestamp(0), Timestamp(through + 1)):
            if not any(w.table in tables for w in rec.writes):
                continue
            sub = CommitRecord(rec.ts, rec.writer, tuple(w for w in rec.writes if w.table in tables))
            writes = self._index_writes_for(sub, old_doc, only)
            for w in sub.writes:
                history[w.id] = values.decode_document(w.value) if w.value is not None else None
            if writes:
                batches.append((rec.ts, writes))
        for ix in indexes:
            entries = [(ts, w[ix.index_id]) for ts, w in batches if ix.index_id in w]
            if entries:
                self._index_store.backfill(ix.index_id, entries)
        self._views.clear()

    # ---- services used by transactions (engine.txn.transaction.TxnServices) ----------------------

    def index_view(self, index_id: int) -> Any:
        view = self._views.get(index_id)
        if view is None:
            view = self._views[index_id] = self._index_store.open_index(index_id)
        return view

    def new_id(self, table_number: int, now_ms: float) -> str:
        with self._rng_lock:
            return self._idgen.new_id(table_number, now_ms)

    def physical_ms(self) -> int:
        return self._physical()

    def make_interval_set(self) -> Any:
        return self._interval_set_cls()

    def ensure_table(self, name: str) -> TableInfo:
        if self.catalog.has_table(name):
            return self.catalog.table(name)
        with self._catalog_lock:
            table, created = self.catalog.ensure_table(name)
            if created:
                # Durable before any commit can carry an id with this table number.
                self._persistence.put_global(CATALOG_GLOBAL, self.catalog.to_json())
                for ix in table.indexes.values():
                    self._index_store.open_index(ix.index_id)
            return table

    def validate_for_schema(self, table: str, user_doc: dict) -> None:
        schema = self._schema
        if schema is not None:
            schema.validate_document(table, user_doc, self._validation_context())

    def _validation_context(self) -> Any:
        from engine.schema import ValidationContext

        return ValidationContext(table_of_id=self._table_name_of_id)

    def _table_name_of_id(self, doc_id: str) -> str | None:
        try:
            t = self.catalog.table_by_number(ids.table_number_of(doc_id))
        except InvalidIdError:
            return None
        return t.name if t is not None else None

    # ---- transactions ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseClosedError("the database is closed")

    def latest_ts(self) -> Timestamp:
        """Newest committed (durable and indexed) timestamp; 0 for an empty database."""
        return self._committer.published_ts

    def retention_watermark(self) -> Timestamp:
        """Snapshots below this may have lost versions to gc; reading them raises TooOldError."""
        return self._watermark

    def begin(self, *, at: Timestamp | None = None, read_only: bool = False, writer: str = "anonymous") -> Transaction:
        """A new transaction at snapshot *at* (default: latest). Prefer ``mutate``/``read``, which also
        commit, retry and clean up."""
        self._check_open()
        latest = self.latest_ts()
        ts = latest if at is None else Timestamp(at)
        if ts > latest:
            raise ValueError(f"timestamp {ts} is in the future (latest committed is {latest})")
        if ts < self._watermark:
            raise TooOldError(ts, self._watermark)
        return Transaction(self, ts, read_only=read_only, writer=writer)

    def run_mutation(self, fn: Callable[..., Any], *args: Any, name: str | None = None,
                     max_retries: int | None = None) -> MutationOutcome:
        """Run ``fn(tx, *args)`` and commit, retrying on OCC conflicts (``config.max_retries``).

        Returns the value, commit ts and every attempt (read set, write set, verdict). An exception from
        *fn* propagates at once and nothing is written. Raises ``ConflictError`` when every attempt
        conflicted; its ``outcome`` holds the attempts.
        """
        self._check_open()
        writer = name or getattr(fn, "__qualname__", None) or "anonymous"
        retries = self.config.max_retries if max_retries is None else max_retries
        attempts: list[AttemptRecord] = []
        last_conflict: ConflictInfo | None = None
        for attempt in range(retries + 1):
            tx = self.begin(writer=writer)
            try:
                value = fn(tx, *args)
            except BaseException:
                tx.state = TxnState.ABORTED
                self._bump("user_errors")
                raise
            final = tx.finalize()
            outcome = self._committer.commit(final)
            attempts.append(AttemptRecord(tx.begin_ts, outcome.verdict, outcome.ts, outcome.conflict,
                                          tx.read_set.intervals(), tx.write_set()))
            if outcome.verdict is Verdict.COMMIT:
                tx.state = TxnState.COMMITTED
                self._bump("commits" if final.writes else "reads")
                return MutationOutcome(value, outcome.ts, tuple(attempts))
            tx.state = TxnState.ABORTED
            self._bump("conflicts" if outcome.verdict is Verdict.CONFLICT else "too_old")
            last_conflict = outcome.conflict or last_conflict
            if attempt < retries:
                self._bump("retries")
                self._backoff(attempt)
        self._bump("failed_mutations")
        partial = MutationOutcome(None, None, tuple(attempts))
        raise ConflictError(last_conflict, len(attempts), partial, function_name=writer)

    def commit(self, tx: Transaction) -> "CommitOutcome":
        """Commit an explicitly managed transaction (from ``begin``) once, without retrying: the committer's
        ``CommitOutcome`` (verdict COMMIT with its ts, CONFLICT with attribution, or TOO_OLD). For tests,
        notebooks and experiments that script interleavings; applications use ``mutate``."""
        self._check_open()
        final = tx.finalize()
        outcome = self._committer.commit(final)
        if outcome.verdict is Verdict.COMMIT:
            tx.state = TxnState.COMMITTED
            self._bump("commits" if final.writes else "reads")
        else:
            tx.state = TxnState.ABORTED
            self._bump("conflicts" if outcome.verdict is Verdict.CONFLICT else "too_old")
        return outcome

    def mutate(self, fn: Callable[..., Any], *args: Any, name: str | None = None) -> Any:
        """Run ``fn(tx, *args)`` as a mutation (see ``run_mutation``) and return its value."""
        return self.run_mutation(fn, *args, name=name).value

    def read(self, fn: Callable[..., Any], *args: Any, at: Timestamp | None = None) -> Any:
        """Run ``fn(tx, *args)`` read-only at the latest snapshot or at *at* (time travel)."""
        tx = self.begin(at=at, read_only=True, writer=getattr(fn, "__qualname__", "query"))
        try:
            return fn(tx, *args)
        finally:
            tx.state = TxnState.COMMITTED
            self._bump("reads")

    def _backoff(self, attempt: int) -> None:
        first, cap = self.config.retry_backoff_ms
        with self._rng_lock:
            jitter = self._rng.random()
        self._sleep(min(cap, first * (2 ** attempt)) * (0.5 + jitter / 2) / 1000.0)

    def _bump(self, counter: str) -> None:
        with self._stats_lock:
            setattr(self.stats_, counter, getattr(self.stats_, counter) + 1)

    # ---- subscriptions ---------------------------------------------------------------------------

    def deploy(self, app_dir: "str | os.PathLike", *, host: str = "reference", config: Any = None,
               scheduler: bool = True) -> Any:
        """Deploy the app in *app_dir* (function files plus an optional ``schema.py``) on this database and
        return its ``engine.functions.app.App``: ``app.run("chat:send_message", {...})``. *host* is
        "reference" (in-process) or "wasm" (wasmtime sandboxes); *config* a ``FunctionsConfig``."""
        self._check_open()
        from engine.functions.app import deploy

        return deploy(self, os.fspath(app_dir), host=host, config=config, scheduler=scheduler)

    def subscribe(self, fn: Callable[..., Any], *args: Any,
                  on_change: Callable[[Any, Timestamp], None] | None = None) -> SubscriptionHandle:
        """Run the read-only ``fn(tx, *args)`` now and keep it live: after any commit that writes inside
        what it read, re-run it and call ``on_change(result, ts)`` if the result changed."""
        self._check_open()
        return self._subs.subscribe(fn, args, on_change)

    def wait_for_subscriptions(self, timeout: float | None = 10.0) -> bool:
        """Block until every commit so far has been matched against subscriptions and callbacks ran."""
        return self._subs.wait_idle(timeout)

    @property
    def subscriptions(self) -> SubscriptionManager:
        return self._subs

    def _run_query_for_subscription(self, fn: Callable[..., Any], args: tuple) -> tuple[Any, Any, Timestamp]:
        tx = self.begin(read_only=True, writer=getattr(fn, "__qualname__", "query"))
        try:
            return fn(tx, *args), tx.read_set, tx.begin_ts
        finally:
            tx.state = TxnState.COMMITTED

    def _on_publish(self, commits: list[WindowCommit]) -> None:
        self._subs.on_publish(commits)
        # Keep write_window_ms of HLC time for OCC. The subscription manager needs no more: when it checks
        # a new subscription against commits it already matched and finds them trimmed, the verdict is
        # TOO_OLD and the subscription simply re-runs.
        horizon = Timestamp(max(0, commits[-1].ts - (self.config.write_window_ms << 16)))
        if horizon > self._window.purged_ts:
            self._window.trim(horizon)

    # ---- inspection ------------------------------------------------------------------------------

    def log(self, from_ts: Timestamp = Timestamp(0), to_ts: Timestamp | None = None) -> Iterator[LogEntry]:
        """Commit records with ``from_ts <= ts < to_ts`` (None: through the newest), values decoded."""
        self._check_open()
        for rec in self._persistence.load_log(Timestamp(from_ts), to_ts):
            yield LogEntry(rec.ts, rec.writer, tuple(
                WriteView(w.table, w.id, values.decode_document(w.value) if w.value is not None else None, w.prev_ts)
                for w in rec.writes))

    def history(self, doc_id: str) -> list[Version]:
        """Every retained version of a document, oldest first (value None: deleted at that ts)."""
        self._check_open()
        table = self.catalog.table_by_number(ids.table_number_of(doc_id))
        if table is None:
            return []
        view = self.index_view(table.indexes[BY_ID].index_id)
        out = []
        for ts, raw in reversed(view.versions(self.keys.id_key(doc_id))):
            out.append(Version(Timestamp(ts), values.decode_document(split_by_id_value(raw)[1]) if raw is not None else None))
        return out

    def _doc_at(self, doc_id: str, ts: Timestamp) -> dict | None:
        table = self.catalog.table_by_number(ids.table_number_of(doc_id))
        if table is None:
            return None
        raw = self.index_view(table.indexes[BY_ID].index_id).get(self.keys.id_key(doc_id), ts)
        return values.decode_document(split_by_id_value(raw)[1]) if raw is not None else None

    def stats(self) -> dict[str, Any]:
        """Counters: commits, conflicts, too_old, retries, failed mutations, reads; group-commit batches;
        subscription activity."""
        with self._stats_lock:
            out: dict[str, Any] = self.stats_.as_dict()
        out["commit_batches"] = self._committer.batches
        out["batched_commits"] = self._committer.batched_commits
        out["subscriptions"] = dict(self._subs.stats.__dict__, live=self._subs.live())
        out["latest_ts"] = self.latest_ts()
        return out

    def tables(self) -> list[str]:
        return self.catalog.tables()

    def implementations(self) -> dict[str, str]:
        """Which implementation (py or cy) each kernel resolved to."""
        return {k: v[0] for k, v in self.kernels.items()}

    def describe(self) -> dict[str, Any]:
        """Configuration and implementation record, for experiment metadata."""
        return {"config": self.config.to_dict(), "impl": self.implementations(), "path": self.path}

    def verify(self, max_snapshots: int = 64) -> VerifyReport:
        """Rebuild every index from the log into a fresh in-memory store and compare it with the live one
        at the newest snapshot and up to *max_snapshots* earlier commit timestamps (>= the watermark).
        Cost: O(log size + Σ index sizes × snapshots)."""
        from engine.index.registry import open_index_store as _open

        with self._committer.exclusive():
            latest = self.latest_ts()
            fresh = _open("mem-btree", IndexConfig())
            fresh_views: dict[int, Any] = {}
            recent_docs: dict[str, dict | None] = {}

            def old_doc(doc_id: str, ts: Timestamp) -> dict | None:
                return recent_docs.get(doc_id)

            stamps: list[Timestamp] = []
            for rec in self._persistence.load_log(Timestamp(0), Timestamp(latest + 1)):
                fresh.apply_batch([(rec.ts, self._index_writes_for(rec, old_doc))])
                for w in rec.writes:
                    recent_docs[w.id] = values.decode_document(w.value) if w.value is not None else None
                if rec.ts >= self._watermark:
                    stamps.append(rec.ts)
            step = max(1, len(stamps) // max_snapshots)
            check = sorted(set(stamps[::step][-max_snapshots:] + ([latest] if latest else [])))
            problems: list[str] = []
            indexes = self.catalog.all_indexes()
            for ix in indexes:
                fv = fresh_views.setdefault(ix.index_id, fresh.open_index(ix.index_id))
                live = self.index_view(ix.index_id)
                for ts in check:
                    want = list(fv.scan(Interval.all(), ts))
                    got = list(live.scan(Interval.all(), ts))
                    if want != got:
                        problems.append(f"{ix.full_name} at ts {ts}: live index has {len(got)} entries, log says {len(want)}")
                        break
            live_store_ids = set(self._index_store.index_ids())
            for ix in indexes:
                if ix.index_id not in live_store_ids:
                    problems.append(f"{ix.full_name} (id {ix.index_id}) missing from the index store")
            fresh.close()
            return VerifyReport(not problems, len(indexes), len(check), tuple(problems))

    # ---- schema ----------------------------------------------------------------------------------

    @property
    def schema(self) -> Any:
        return self._schema

    def set_schema(self, schema: Any) -> None:
        """Install *schema* (``engine.define_schema``): validate every existing document of its tables,
        create its tables, add its indexes (backfilling their full history from the log) and drop user
        indexes it no longer lists. All or nothing: on a validation error nothing changes."""
        self._check_open()
        from engine.schema import Schema

        if schema is not None and not isinstance(schema, Schema):
            raise TypeError("set_schema takes an engine.define_schema(...) result or None")
        with self._committer.exclusive():
            latest = self.latest_ts()
            if schema is not None and schema.schema_validation:
                ctx = self._validation_context()
                for table in schema.tables:
                    if not self.catalog.has_table(table):
                        continue
                    t = self.catalog.table(table)
                    for _, raw in self.index_view(t.indexes[BY_ID].index_id).scan(Interval.all(), latest):
                        doc = values.decode_document(split_by_id_value(raw)[1])
                        user = {k: v for k, v in doc.items() if k not in ("_id", "_creationTime")}
                        try:
                            schema.validate_document(table, user, ctx)
                        except SchemaValidationError as exc:
                            raise SchemaValidationError(
                                exc.table, exc.path, exc.expected, exc.got,
                                message=f"existing document {doc['_id']} violates the new schema: {exc}") from None
            added: list[IndexInfo] = []
            with self._catalog_lock:
                if schema is not None:
                    for table in schema.tables:
                        t, _ = self.catalog.ensure_table(table)
                        wanted = {d.name: tuple(d.fields) for d in schema.indexes(table)}
                        for name, ix in list(t.indexes.items()):
                            if name in ("by_id", "by_creation_time"):
                                continue
                            if wanted.get(name) != ix.fields:
                                self.catalog.remove_index(table, name)
                                self._index_store.drop_index(ix.index_id)
                                self._views.pop(ix.index_id, None)
                        for name, fields in wanted.items():
                            if name not in t.indexes:
                                added.append(self.catalog.add_index(table, name, fields))
                        for ix in t.indexes.values():
                            if ix.name in ("by_id", "by_creation_time"):
                                self._index_store.open_index(ix.index_id)
                if added:
                    # Validate that every existing document's key fits before committing to the change.
                    for ix in added:
                        t = self.catalog.table(ix.table)
                        for _, raw in self.index_view(t.indexes[BY_ID].index_id).scan(Interval.all(), latest):
                            self.keys.index_key(ix, values.decode_document(split_by_id_value(raw)[1]))
                    self._backfill(added, through=latest)
                self._persistence.put_global(CATALOG_GLOBAL, self.catalog.to_json())
                self._persistence.put_global(SCHEMA_GLOBAL, json.dumps(schema.to_json() if schema else None).encode())
                self._schema = schema

    # ---- retention ---------------------------------------------------------------------------------

    def gc(self, below_ts: Timestamp) -> int:
        """Raise the retention watermark to *below_ts* and drop index versions no snapshot at or above
        it can see. Returns the number of versions removed. The commit log itself is kept."""
        self._check_open()
        with self._committer.exclusive():
            below = Timestamp(min(below_ts, self.latest_ts()))
            if below <= self._watermark:
                return 0
            self._watermark = below
            self._persistence.put_global(WATERMARK_GLOBAL, str(int(below)).encode())
            return self._index_store.gc(below)

    # ---- lifecycle -------------------------------------------------------------------------------

    def check_invariants(self) -> None:
        self.catalog.check_invariants()
        self._window.check_invariants()
        self._index_store.check_invariants()
        self._subs.check_invariants()
        self.clock.check_invariants()
        assert self._index_store.applied_ts() == self.latest_ts() or self.latest_ts() == 0

    def close(self) -> None:
        """Stop subscriptions, persist the clock's high-water mark, close storage. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._subs.stop()
        with self._committer.exclusive():
            try:
                self._persistence.bump_max_ts(self.clock.last())
            finally:
                self._index_store.close()
                self._persistence.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _results_equal(a: Any, b: Any) -> bool:
    try:
        return values.values_equal(a, b)
    except (TypeError, ValueError, RippleError):
        return a == b


def open_database(path: str | os.PathLike | None = None, config: DatabaseConfig | None = None, *,
                  schema: Any = None, physical_clock: PhysicalClock | None = None, hooks: Hooks = NO_HOOKS,
                  sleep: Callable[[float], None] = time.sleep, **overrides: Any) -> Database:
    """Open (or create) a database at *path*. ``path=None`` gives an in-memory database.

    *config* (or keyword *overrides* of its fields) chooses strategies and knobs; *schema* is installed
    after open; *physical_clock* (default: wall clock) and *hooks* are injected for tests.
    """
    if config is None:
        if path is None and "persistence" not in overrides:
            overrides["persistence"] = "memory"
        config = DatabaseConfig(**overrides)
    elif overrides:
        from dataclasses import replace

        config = replace(config, **overrides)
    db = Database(os.fspath(path) if path is not None else None, config,
                  physical_clock=physical_clock or system_clock_ms, hooks=hooks, sleep=sleep)
    if schema is not None:
        try:
            db.set_schema(schema)
        except BaseException:
            db.close()
            raise
    return db
