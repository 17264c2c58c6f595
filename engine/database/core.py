"""The embedded database: wiring. Opens storage, recovers derived state, and exposes transactions,
mutations, subscriptions, schema changes, retention and inspection, each delegated to the module that
owns it.

Who may call it: applications, notebooks, tests, experiments and the server. This is the one place that
wires the layers together; every layer below receives what it needs (clock, kernels, persistence, index
store, hooks) explicitly. Roles live in their own modules: ``recovery`` (replay, backfill, the one
log-to-index derivation), ``runner`` (retries and the progress guarantee), ``migration`` (schema changes
as commits), ``inspection`` (log, history, verify); records in ``records``.

Invariants:
- The durable commit log is the truth. On open, the index store is brought up to the log's last commit,
  the catalog history is read back from it, and the HLC observes the highest persisted timestamp, so
  timestamps never go back across a restart.
- Catalog and schema changes are commits (``engine.catalog``): one log record each, atomic under a crash,
  serialized with every other commit, visible at their timestamp (``schema_at``).
- ``latest_ts()`` is the newest commit that is durable and applied to every index; every read happens at
  a snapshot ``<= latest_ts()`` and ``>= retention_watermark()`` (else ``TooOldError``).
- User functions run outside every engine lock, except a mutation's serialized fallback attempt, which
  holds the committer by design (``engine.database.runner``).

Storage layout of a data folder: ``<path>/log`` holds the durable log. When both strategies are LMDB
(persistence "lmdb", index "lmdb-btree": the default) it is ONE LMDB environment
(``engine.lmdb_env.SharedLmdbEnv``) holding the indexes too, and the committer writes each commit batch's
log records and index writes in one write transaction (``combined_write``). Otherwise the index store, if
file-backed, lives in ``<path>/indexes``. A folder written by an older version with both strategies LMDB
has its indexes in ``<path>/indexes``: they are derived state, so open deletes that directory and rebuilds
the indexes from the log into the shared environment (once; O(log); a crash midway resumes at the next
open from the rebuilt part's ``applied_ts``).
"""
from __future__ import annotations

import os
import random
import shutil
import threading
import time
from typing import Any, Callable, Iterator

from engine import _impl, ids

from engine.model import values
from engine.catalog import Catalog, CatalogChange, CatalogHistory, CatalogVersion
from engine.clock.hlc import PhysicalClock
from engine.conflict.base import Verdict
from engine.config import DatabaseConfig
from engine.database import inspection, migration
from engine.database.records import LogEntry, MutationOutcome, Stats, Version, VerifyReport
from engine.database.recovery import IndexMaintainer, check_document_format
from engine.database.runner import MutationRunner
from engine.documents import DocumentKeys
from engine.model.errors import DatabaseClosedError, InvalidIdError, PersistenceError, RippleError, TooOldError
from engine.hooks import NO_HOOKS, Hooks
from engine.index.base import IndexConfig
from engine.index.registry import INDEX_KERNELS, open_index_store
from engine.lmdb_env import SharedLmdbEnv
from engine.log.write_window import WindowCommit, WriteWindow
from engine.persistence.base import PersistenceConfig
from engine.persistence.registry import open_persistence
from engine.subscriptions import SubscriptionHandle, SubscriptionManager, WaitOutcome
from engine.txn.committer import CommitOutcome, Committer, CommitterConfig
from engine.txn.read_set import ReadSet
from engine.txn.transaction import FinalTransaction, Transaction, TxnContext
from engine.model.types import Timestamp

WATERMARK_GLOBAL = "retention_watermark"


def system_clock_ms() -> int:
    """Wall-clock milliseconds: the default physical clock, injected at the edge (never read inside)."""
    return time.time_ns() // 1_000_000


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
        #: Index keys and stored documents with the selected key-codec and document-codec kernels (shared
        #: by transactions, committer, recovery, migration and inspection).
        self.keys = DocumentKeys(self.kernels["keycodec"][1], self.kernels["doccodec"][1])
        self._interval_set_cls = self.kernels["interval_set"][1].IntervalSet
        self._interval_map_cls = self.kernels["interval_map"][1].IntervalMap
        self.stats_ = Stats()
        self._stats_lock = threading.Lock()
        self._ids_lock = threading.Lock()

        if config.persistence != "memory" and path is None:
            raise ValueError(f"persistence {config.persistence!r} needs a path (or use persistence='memory')")
        if path is not None:
            os.makedirs(path, exist_ok=True)
        log_path = os.path.join(path, "log") if path else None
        persistence_options = config.resolved_persistence_options()
        #: The one LMDB environment of the log and the indexes when both strategies are LMDB, else None.
        self._shared_env: SharedLmdbEnv | None = None
        if log_path is not None and config.persistence == "lmdb" and config.resolved_index() == "lmdb-btree":
            readers = max(persistence_options.max_readers, config.resolved_index_options().max_readers)
            try:
                self._shared_env = SharedLmdbEnv(log_path, map_size=config.map_size, max_readers=readers,
                                                 durable=config.durability == "full")
            except Exception as exc:  # lmdb.Error, OSError
                raise PersistenceError(f"cannot open LMDB environment at {log_path!r}: {exc}") from exc
        try:
            self._persistence = open_persistence(config.persistence, PersistenceConfig(
                path=log_path, durability=config.durability, map_size=config.map_size,
                options=persistence_options),
                codec=self.kernels["record"][1], shared_env=self._shared_env)
        except BaseException:
            if self._shared_env is not None:
                self._shared_env.close()
            raise
        try:
            self._open_rest()
        except BaseException:
            self._persistence.close()
            if self._shared_env is not None:
                self._shared_env.close()
            raise

    def _open_rest(self) -> None:
        config, path = self.config, self.path
        check_document_format(self._persistence, self.keys.docs)
        raw_wm = self._persistence.get_global(WATERMARK_GLOBAL)
        self._watermark = Timestamp(int(raw_wm)) if raw_wm else Timestamp(0)

        self.clock = self.kernels["hlc"][1].HybridLogicalClock(self._physical)
        self.clock.observe(self._persistence.max_ts())
        # Ids are random bytes from a seeded generator (deterministic experiments). The seed mixes in the
        # persisted high-water mark so a reopened database does not replay the id sequence it already used.
        self._idgen = ids.IdGenerator(random.Random(f"ids:{config.seed}:{self._persistence.max_ts()}"),
                                      codec=self.kernels["ids"][1])

        index_name = config.resolved_index()
        index_path = os.path.join(path, "indexes") if path else None
        if self._shared_env is not None:
            assert index_path is not None
            if os.path.isdir(index_path):
                # The two-environment layout of older versions: its indexes are derived from the log, so
                # drop them and let recovery rebuild them in the shared environment (see the docstring).
                shutil.rmtree(index_path)
            index_path = self._shared_env.path
        self._index_store = open_index_store(index_name, IndexConfig(
            path=index_path, durability="none", map_size=config.map_size,
            options=config.resolved_index_options()),
            kernel=self.kernels[INDEX_KERNELS[index_name]][1], shared_env=self._shared_env)
        try:
            self._open_derived()
        except BaseException:
            self._index_store.close()
            raise

    def _combined_write(self, records: list, commits: list) -> None:
        """The committer's one-transaction write (shared environment): log records and index writes."""
        self._persistence.append_staged(records, self._index_store.stage_batch(commits))

    def _open_derived(self) -> None:
        config = self.config
        self._views: dict[int, Any] = {}
        self._indexes = IndexMaintainer(self._persistence, self._index_store, self.keys)
        self._catalogs: CatalogHistory = self._indexes.recover()

        latest = Timestamp(self._index_store.applied_ts())
        self._window = WriteWindow(purged_ts=latest, kernel=self.kernels["write_window"][1])
        self._subs = SubscriptionManager(
            window=self._window, run_query=self._run_query_for_subscription,
            make_interval_map=self._interval_map_cls, results_equal=_results_equal,
            processed_ts=latest, mode=config.subscriptions, hooks=self._hooks)
        self._committer = Committer(
            clock=self.clock, persistence=self._persistence, index_store=self._index_store,
            window=self._window, catalogs=self._catalogs, prepare_indexes=self._prepare_indexes,
            publish=self._on_publish, published_ts=latest,
            config=CommitterConfig(config.group_commit_max_batch, config.group_commit_max_delay_ms / 1000.0),
            hooks=self._hooks, sleep=self._sleep, keys=self.keys,
            combined_write=self._combined_write if self._shared_env is not None else None)
        self._txn_context = TxnContext(keys=self.keys, index_view=self.index_view, new_id=self._new_id,
                                       physical_ms=self._physical, make_interval_set=self.make_interval_set,
                                       table_number_of=self.kernels["ids"][1].table_number_of)
        self._runner = MutationRunner(policy=config.retry, begin=self.begin, committer=self._committer,
                                      bump=self._bump, sleep=self._sleep, seed=config.seed, hooks=self._hooks)
        if self._catalogs.current.ts == 0 and self._indexes.has_legacy_globals():
            # Written before catalog changes were commits: make the catalog and schema one record now.
            legacy = self._catalogs.current
            self._commit_catalog(CatalogChange(legacy.catalog, legacy.schema), "upgrade: catalog into the log")

    def _prepare_indexes(self, change: CatalogChange, through: Timestamp) -> None:
        for ix in change.dropped:
            self._views.pop(ix.index_id, None)
        self._indexes.prepare(change, through)

    # ---- what transactions use ---------------------------------------------------------------------

    def index_view(self, index_id: int) -> Any:
        """Read view of one index of the store (cached). O(1) after the first call."""
        view = self._views.get(index_id)
        if view is None:
            view = self._views[index_id] = self._index_store.open_index(index_id)
        return view

    def make_interval_set(self) -> Any:
        return self._interval_set_cls()

    def _new_id(self, table_number: int, now_ms: float) -> str:
        with self._ids_lock:
            return self._idgen.new_id(table_number, now_ms)

    def physical_ms(self) -> int:
        return self._physical()

    @property
    def catalog(self) -> Catalog:
        """The current catalog (read-only: change it through ``set_schema`` or by inserting)."""
        return self._catalogs.current.catalog

    def catalog_at(self, ts: Timestamp) -> CatalogVersion:
        """The catalog version (catalog, schema, ts) in force at snapshot *ts*."""
        return self._catalogs.at(Timestamp(ts))

    def validation_context(self) -> Any:
        """Schema validation context over the current catalog (``v.id(table)`` resolves ids)."""
        from engine.model.validators import ValidationContext

        catalog = self.catalog

        def table_of_id(doc_id: str) -> str | None:
            try:
                t = catalog.table_by_number(ids.table_number_of(doc_id))
            except InvalidIdError:
                return None
            return t.name if t is not None else None

        return ValidationContext(table_of_id=table_of_id)


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
        commit, retry and clean up.

        A read-write transaction uses the catalog in force at its snapshot (it commits only if that is
        still compatible, see ``engine.txn.committer``). A read-only one uses the current catalog: every
        index holds its full history (indexes added later are backfilled), so a time-travel read may use
        today's indexes; ``schema_at(ts)`` tells which schema held then."""
        self._check_open()
        latest = self.latest_ts()
        ts = latest if at is None else Timestamp(at)
        if ts > latest:
            raise ValueError(f"timestamp {ts} is in the future (latest committed is {latest})")
        if ts < self._watermark:
            raise TooOldError(ts, self._watermark)
        catalog = self._catalogs.current if read_only else self._catalogs.at(ts)
        return Transaction(self._txn_context, ts, catalog, read_only=read_only, writer=writer)

    def run_mutation(self, fn: Callable[..., Any], *args: Any, name: str | None = None,
                     optimistic_attempts: int | None = None) -> MutationOutcome:
        """Run ``fn(tx, *args)`` and commit it under ``config.retry`` (``engine.database.runner``).

        Returns the value, commit ts and every attempt (read set, write set, verdict, mode). An exception
        from *fn* propagates at once and nothing is written. With the default policy a mutation cannot
        starve: after its optimistic attempts it runs serialized. ``ConflictError`` (its ``outcome`` holds
        the attempts) only with ``fallback="fail"``.
        """
        self._check_open()
        writer = name or getattr(fn, "__qualname__", None) or "anonymous"
        return self._runner.run(fn, args, writer, optimistic_attempts)

    def commit(self, tx: Transaction) -> CommitOutcome:
        """Commit an explicitly managed transaction (from ``begin``) once, without retrying: the committer's
        ``CommitOutcome`` (verdict COMMIT with its ts, CONFLICT with attribution, or TOO_OLD). For tests,
        notebooks and experiments that script interleavings; applications use ``mutate``."""
        self._check_open()
        final = tx.finalize()
        outcome = self._committer.commit(final)
        tx.settle(outcome.verdict)
        if outcome.verdict is Verdict.COMMIT:
            self._bump("commits" if final.writes_anything else "reads")
        else:
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
            tx.release()
            self._bump("reads")

    def _bump(self, counter: str) -> None:
        with self._stats_lock:
            setattr(self.stats_, counter, getattr(self.stats_, counter) + 1)

    # ---- functions and subscriptions -------------------------------------------------------------

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

    def wait_for_subscriptions(self, timeout: float | None = 10.0) -> WaitOutcome:
        """Block until every commit so far has been matched against subscriptions and callbacks ran.
        Returns a ``WaitOutcome`` (truthy only when done; ``TIMED_OUT`` after *timeout* seconds)."""
        return self._subs.wait_idle(timeout)

    @property
    def hooks(self) -> Hooks:
        """The injected race-point hooks (committer, runner, subscriptions, scheduler and query hub share them)."""
        return self._hooks

    @property
    def subscriptions(self) -> SubscriptionManager:
        return self._subs

    def _run_query_for_subscription(self, fn: Callable[..., Any], args: tuple,
                                    at: Timestamp | None = None) -> tuple[Any, Any, Timestamp]:
        tx = self.begin(at=at, read_only=True, writer=getattr(fn, "__qualname__", "query"))
        try:
            return fn(tx, *args), tx.read_set, tx.begin_ts
        finally:
            tx.release()

    def _on_publish(self, commits: list[WindowCommit]) -> None:
        self._subs.on_publish(commits)
        # Keep write_window_ms of HLC time for OCC. The subscription manager needs no more: when it checks
        # a new subscription against commits it already matched and finds them trimmed, the verdict is
        # TOO_OLD and the subscription simply re-runs.
        horizon = Timestamp(max(0, commits[-1].ts - (self.config.write_window_ms << 16)))
        if horizon > self._window.purged_ts:
            self._window.trim(horizon)

    # ---- schema ----------------------------------------------------------------------------------

    @property
    def schema(self) -> Any:
        return self._catalogs.current.schema

    def schema_at(self, ts: Timestamp) -> Any:
        """The schema in force at snapshot *ts* (time travel), None if there was none."""
        return self._catalogs.at(Timestamp(ts)).schema

    def set_schema(self, schema: Any) -> Timestamp | None:
        """Install *schema* (``engine.define_schema``) as one commit (``engine.database.migration``):
        validate every existing document of its tables, create its tables, add its indexes (backfilling
        their full history from the log) and drop user indexes it no longer lists. All or nothing: on a
        validation or key-size error nothing changes. Returns the commit ts, or None when the schema
        changes nothing (no commit is made)."""
        self._check_open()
        from engine.model.schema import Schema

        if schema is not None and not isinstance(schema, Schema):
            raise TypeError("set_schema takes an engine.define_schema(...) result or None")
        with self._committer.serialized() as commit_now:
            current = self._catalogs.current
            change = migration.plan_schema_change(current, schema)
            unchanged = (not change.dropped and not change.backfill and not change.created
                         and change.catalog.to_json() == current.catalog.to_json()
                         and _schema_json(schema) == _schema_json(current.schema))
            if unchanged:
                return None
            migration.check_existing_documents(change, current, self.latest_ts(), self.index_view, self.keys,
                                               self.validation_context())
            return self._commit_change(commit_now, change, "schema change")

    def _commit_catalog(self, change: CatalogChange, writer: str) -> Timestamp:
        with self._committer.serialized() as commit_now:
            return self._commit_change(commit_now, change, writer)

    def _commit_change(self, commit_now: Callable[[FinalTransaction], CommitOutcome], change: CatalogChange,
                       writer: str) -> Timestamp:
        current = self._catalogs.current
        final = FinalTransaction(self.latest_ts(), ReadSet(self.make_interval_set), (), writer, current.ts, change)
        outcome = commit_now(final)
        if outcome.verdict is not Verdict.COMMIT or outcome.ts is None:  # nothing else can commit meanwhile
            raise RippleError(f"catalog change did not commit: {outcome}")
        return outcome.ts

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

    # ---- inspection ------------------------------------------------------------------------------

    def log(self, from_ts: Timestamp = Timestamp(0), to_ts: Timestamp | None = None) -> Iterator[LogEntry]:
        """Commit records with ``from_ts <= ts < to_ts`` (None: through the newest), values decoded."""
        self._check_open()
        return inspection.log_entries(self._persistence, self.keys, Timestamp(from_ts), to_ts)

    def history(self, doc_id: str) -> list[Version]:
        """Every retained version of a document, oldest first (value None: deleted at that ts)."""
        self._check_open()
        return inspection.document_history(self._catalogs, self.index_view, self.keys, doc_id)

    def verify(self, max_snapshots: int = 64) -> VerifyReport:
        """Rebuild every index from the log and compare with the live store (``inspection.verify``)."""
        self._check_open()
        with self._committer.exclusive():
            return inspection.verify(self._persistence, self._index_store, self.keys, self._catalogs,
                                     self.latest_ts(), self._watermark, max_snapshots)

    def stats(self) -> dict[str, Any]:
        """Counters: commits, conflicts, too_old, retries, serialized fallbacks, failed mutations, reads;
        group-commit batches; subscription activity."""
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

    # ---- lifecycle -------------------------------------------------------------------------------

    def check_invariants(self) -> None:
        self._catalogs.check_invariants()
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
                try:
                    self._index_store.close()
                    self._persistence.close()
                finally:
                    if self._shared_env is not None:
                        self._shared_env.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _schema_json(schema: Any) -> Any:
    return schema.to_json() if schema is not None else None


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
