"""The LMDB persistence strategy (the default): the commit log in one LMDB environment.

Who may call it: ``engine.persistence.registry`` (strategy "lmdb") and tests. One committer thread
appends; any number of threads may read concurrently (LMDB readers never block the writer or each other).

Layout of the environment in ``config.path`` (created if missing):
- sub-database ``log``: key = ts as u64 big-endian (so LMDB's bytewise order is ts order), value =
  ``engine.persistence.record.encode_record`` bytes.
- sub-database ``globals``: key = UTF-8 global name, value = the caller's bytes. Only caller data lives
  here, so no caller name can collide with an internal one.
- sub-database ``meta``: ``max_ts`` -> u64 BE high-water mark set by ``bump_max_ts``; ``format`` -> a
  format tag written at creation and checked at every open (refuses a directory holding something else).

Invariants (``check_invariants``):
- ``log`` keys are 8 bytes, strictly increasing, and each value decodes to a record with that ts.
- ``max_ts() = max(last log key, meta max_ts) >= last log key``; both parts only grow, so it never
  decreases, across reopen too.
- ``append`` is one LMDB write transaction: the order check against the stored state and every put
  happen inside it, so the batch is all-or-nothing under concurrent appenders and under a crash. With
  durability "full" the environment is opened ``sync=True, metasync=True`` and the commit fsyncs before
  ``append`` returns; with "none" both are off (a process crash keeps atomicity, an OS crash may lose
  the latest batches but, with ``writemap=False``, not corrupt the file).

Concurrency notes: py-lmdb environments are thread-safe and open read transactions with ``MDB_NOTLS``,
so reader slots (``LmdbPersistenceOptions.max_readers``, default 126) bound the
number of *simultaneous* read transactions, not threads. ``load_log`` reads in chunks
(``LmdbPersistenceOptions.load_chunk``, default 512 records) with a fresh read transaction per chunk, never
holding one across a ``yield``: a read txn left open by a slow or abandoned consumer would pin the
snapshot, stop LMDB from reusing freed pages (the file grows without bound) and hold a reader slot.
Chunking cannot tear a batch: see ``snapshot_stop`` in ``memory``.

Opening the same environment twice in one process is refused (py-lmdb raises; LMDB's fcntl locks are
per process, so a second handle would silently share and then release the first one's locks).

Shared environment (``shared_env``, an ``engine.lmdb_env.SharedLmdbEnv``): when the database wires one
environment into both this store and the ``lmdb-btree`` index store, the log keeps the same three
sub-databases inside it (the index store uses others), every write transaction here runs under the
environment's ``lock``, and ``append_staged`` lets a caller add its own writes to the append's
transaction: the log records and the index writes of a batch then commit (and fsync) together, or not at
all. ``close`` leaves the environment open for its owner to close.
"""
from __future__ import annotations

import struct
import threading
from typing import Any, Callable, Iterable, Iterator

import lmdb

from engine.lmdb_env import SharedLmdbEnv
from engine.model.errors import PersistenceError
from engine.model.types import MAX_TIMESTAMP, Timestamp
from engine.persistence.base import CommitRecord, PersistenceConfig
from engine.persistence.options import LmdbPersistenceOptions, require_options
from engine.persistence.memory import (
    OpGate, check_ts, encode_batch, global_key, global_value, log_bounds, refuse_below, require_path,
    snapshot_stop,
)
from engine.persistence import record as reference_codec

_KEY = struct.Struct(">Q")
_META_MAX_TS = b"max_ts"
_META_FORMAT = b"format"
FORMAT_TAG = b"ripple-persistence-lmdb/1"


class LmdbPersistence:
    """Strategy "lmdb". Construction opens (or creates) the environment; see the module docstring."""

    name = "lmdb"
    persistent = True

    def __init__(self, config: PersistenceConfig, codec: Any = None, shared_env: SharedLmdbEnv | None = None) -> None:
        #: The commit-record codec kernel (reference or Cython twin; same bytes either way).
        self._codec = codec or reference_codec
        options = require_options(self.name, LmdbPersistenceOptions, config.options)
        self.options = options
        self._chunk = options.load_chunk
        #: The environment shared with the index store, or None when this store owns its own.
        self.shared_env = shared_env
        if shared_env is not None:
            if shared_env.durable != (config.durability == "full"):
                raise ValueError("the shared LMDB environment's durability differs from PersistenceConfig.durability")
            path = shared_env.path
            self._env = shared_env.env
            self._wlock: Any = shared_env.lock
        else:
            path = require_path(config, self.name)
            full = config.durability == "full"
            self._wlock = threading.RLock()
            try:
                self._env = lmdb.open(
                    path, map_size=config.map_size, subdir=True, max_dbs=4,
                    max_readers=options.max_readers,
                    sync=full, metasync=full, writemap=False, lock=True,
                )
            except lmdb.Error as exc:
                raise PersistenceError(f"cannot open LMDB persistence at {path!r}: {exc}") from exc
        try:
            self._log = self._env.open_db(b"log")
            self._globals = self._env.open_db(b"globals")
            self._meta = self._env.open_db(b"meta")
            with self._wlock, self._env.begin(write=True) as txn:
                tag = txn.get(_META_FORMAT, db=self._meta)
                if tag is None:
                    txn.put(_META_FORMAT, FORMAT_TAG, db=self._meta)
                elif tag != FORMAT_TAG:
                    raise PersistenceError(f"{path!r} holds LMDB format {tag!r}, expected {FORMAT_TAG!r}")
        except BaseException as exc:
            self._release_env()
            if isinstance(exc, lmdb.Error):
                raise PersistenceError(f"cannot initialise LMDB persistence at {path!r}: {exc}") from exc
            raise
        self._path = path
        self._gate = OpGate(f"lmdb persistence at {path!r}")

    # -- reads of the stored state (caller holds a txn) ---------------------------------------------

    def _last_ts(self, txn: lmdb.Transaction) -> int:
        cur = txn.cursor(db=self._log)
        return _KEY.unpack(cur.key())[0] if cur.last() else 0

    def _floor(self, txn: lmdb.Transaction) -> int:
        """``max_ts()`` as seen by *txn*."""
        last = self._last_ts(txn)
        raw = txn.get(_META_MAX_TS, db=self._meta)
        hwm = _KEY.unpack(raw)[0] if raw is not None else 0
        return last if last > hwm else hwm

    # -- the protocol -------------------------------------------------------------------------------

    def _release_env(self) -> None:
        # A shared environment belongs to whoever opened it (the database), which closes it.
        if self.shared_env is None:
            self._env.close()

    def append(self, records: Iterable[CommitRecord]) -> None:
        """One write transaction (one fsync with durability "full"), O(total bytes + log n).

        Records are encoded before the transaction starts, to keep the writer lock short.
        """
        self._append(records, None)

    def append_staged(self, records: Iterable[CommitRecord], stage: Callable[[lmdb.Transaction], Callable[[], None]]) -> None:
        """``append`` plus the caller's own writes in the SAME write transaction (shared environment only).

        *stage(txn)* runs inside the transaction after the records were put, writes what it wants into
        *txn* (e.g. a nested transaction on its own sub-database) and returns a callback run once the
        transaction committed (to update caches of committed state). If *stage* raises, the transaction
        is aborted: neither the records nor the staged writes exist, and the exception propagates
        (``lmdb.Error`` as ``PersistenceError``). ValueError without a shared environment.
        Cost: that of ``append`` plus *stage*'s writes; one commit and one fsync either way.
        """
        if self.shared_env is None:
            raise ValueError("append_staged needs a shared LMDB environment (engine.lmdb_env.SharedLmdbEnv)")
        self._append(records, stage)

    def _append(self, records: Iterable[CommitRecord], stage: Any) -> None:
        self._gate.check_open()
        batch = encode_batch(records, self._codec)
        with self._gate:
            if not batch:
                return
            try:
                with self._wlock:
                    with self._env.begin(write=True) as txn:
                        refuse_below(batch[0][0], self._floor(txn))
                        cur = txn.cursor(db=self._log)
                        # MDB_APPEND skips the B-tree search and fills pages completely; it also refuses an
                        # out-of-order key, a second line of defence behind the explicit check above.
                        _, added = cur.putmulti([(_KEY.pack(ts), blob) for ts, blob in batch], append=True)
                        if added != len(batch):
                            raise PersistenceError("append refused: LMDB rejected an out-of-order key (nothing written)")
                        committed = stage(txn) if stage is not None else None
                    # The transaction committed (the with-block exited without an exception).
                    if committed is not None:
                        committed()
            except lmdb.Error as exc:
                raise PersistenceError(f"LMDB append failed, nothing written: {exc}") from exc

    def load_log(self, start_ts: Timestamp = Timestamp(0), end_ts: Timestamp | None = None) -> Iterator[CommitRecord]:
        """Records with ``start_ts <= ts < end_ts`` as stored when called, streamed in chunks.

        O(log n) per chunk to seek plus O(bytes) per record; memory O(chunk). Iterating after ``close``
        raises ``DatabaseClosedError`` at the next chunk boundary.
        """
        start, end = log_bounds(start_ts, end_ts)
        with self._gate:
            try:
                with self._env.begin() as txn:
                    last = self._last_ts(txn)
            except lmdb.Error as exc:
                raise PersistenceError(f"LMDB read failed: {exc}") from exc
        return self._iter_chunks(start, snapshot_stop(end, last))

    def _iter_chunks(self, lo: int, stop: int) -> Iterator[CommitRecord]:
        chunk_size = self._chunk
        while lo < stop:
            chunk: list[tuple[int, bytes]] = []
            with self._gate:
                try:
                    with self._env.begin(db=self._log) as txn:
                        cur = txn.cursor()
                        if cur.set_range(_KEY.pack(lo)):
                            for key, value in cur.iternext():
                                ts = _KEY.unpack(key)[0]
                                if ts >= stop:
                                    break
                                chunk.append((ts, value))
                                if len(chunk) == chunk_size:
                                    break
                except lmdb.Error as exc:
                    raise PersistenceError(f"LMDB read failed: {exc}") from exc
            for ts, value in chunk:
                rec = self._codec.decode_record(value)
                if rec.ts != ts:
                    raise PersistenceError(f"corrupt log: record stored under ts {ts} claims ts {rec.ts}")
                yield rec
            if len(chunk) < chunk_size:
                return
            lo = chunk[-1][0] + 1

    def get_record(self, ts: Timestamp) -> CommitRecord | None:
        """One read txn, O(log n). None for a ts not stored (including ints outside u64)."""
        if not isinstance(ts, int) or not 0 < ts <= MAX_TIMESTAMP:
            self._gate.check_open()
            return None
        with self._gate:
            try:
                with self._env.begin(db=self._log) as txn:
                    value = txn.get(_KEY.pack(ts))
            except lmdb.Error as exc:
                raise PersistenceError(f"LMDB read failed: {exc}") from exc
        if value is None:
            return None
        rec = self._codec.decode_record(value)
        if rec.ts != ts:
            raise PersistenceError(f"corrupt log: record stored under ts {ts} claims ts {rec.ts}")
        return rec

    def max_ts(self) -> Timestamp:
        """One read txn, O(log n)."""
        with self._gate:
            try:
                with self._env.begin() as txn:
                    return Timestamp(self._floor(txn))
            except lmdb.Error as exc:
                raise PersistenceError(f"LMDB read failed: {exc}") from exc

    def bump_max_ts(self, ts: Timestamp) -> None:
        """One write txn; committed (and synced) only if *ts* exceeds ``max_ts()``, else aborted for free."""
        ts = check_ts(ts, "bump_max_ts ts")
        with self._gate:
            try:
                with self._wlock:
                    self._bump_locked(ts)
            except lmdb.Error as exc:
                raise PersistenceError(f"LMDB bump_max_ts failed: {exc}") from exc

    def _bump_locked(self, ts: int) -> None:
        txn = self._env.begin(write=True)
        try:
            changed = ts > self._floor(txn)
            if changed:
                txn.put(_META_MAX_TS, _KEY.pack(ts), db=self._meta)
        except BaseException:
            txn.abort()
            raise
        # A failed commit frees the txn itself (LMDB aborts it), so no abort on that path.
        if changed:
            txn.commit()
        else:
            txn.abort()

    def get_global(self, key: str) -> bytes | None:
        """One read txn, O(log g)."""
        raw = global_key(key)
        with self._gate:
            try:
                with self._env.begin(db=self._globals) as txn:
                    return txn.get(raw)
            except lmdb.Error as exc:
                raise PersistenceError(f"LMDB read failed: {exc}") from exc

    def put_global(self, key: str, value: bytes) -> None:
        """One write txn (synced with durability "full")."""
        raw = global_key(key)
        value = global_value(value)
        with self._gate:
            try:
                with self._wlock, self._env.begin(write=True, db=self._globals) as txn:
                    txn.put(raw, value)
            except lmdb.Error as exc:
                raise PersistenceError(f"LMDB put_global failed: {exc}") from exc

    def close(self) -> None:
        """Wait for in-flight operations, then close the environment (a shared one is left to its owner); idempotent."""
        if self._gate.close():
            self._release_env()

    def check_invariants(self) -> None:
        """Assert the invariants in the module docstring in one read txn (tests only; O(total bytes))."""
        with self._gate, self._env.begin() as txn:
            prev = 0
            for key, value in txn.cursor(db=self._log):
                assert len(key) == 8, f"log key {key!r} is not a u64"
                ts = _KEY.unpack(key)[0]
                assert ts > prev, f"log keys out of order: {ts} after {prev}"
                assert self._codec.decode_record(value).ts == ts, f"record stored under ts {ts} decodes to another ts"
                prev = ts
            raw = txn.get(_META_MAX_TS, db=self._meta)
            assert raw is None or len(raw) == 8, f"meta max_ts {raw!r} is not a u64"
            floor = self._floor(txn)
            assert floor >= prev, (floor, prev)
            assert txn.get(_META_FORMAT, db=self._meta) == FORMAT_TAG
