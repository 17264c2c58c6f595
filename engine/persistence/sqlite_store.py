"""The SQLite persistence strategy: the commit log in one WAL-mode SQLite file (stdlib ``sqlite3``).

Who may call it: ``engine.persistence.registry`` (strategy "sqlite") and tests. It exists as an
alternative to LMDB for experiments and for platforms where LMDB is awkward. One committer thread
appends; other threads read concurrently (WAL readers see the last committed state and never block the
writer).

Schema of ``<config.path>/ripple.sqlite3``::

    log(ts INTEGER PRIMARY KEY, record BLOB)        -- record = engine.persistence.record bytes
    globals(name TEXT PRIMARY KEY, value BLOB)      -- caller globals only
    meta(name TEXT PRIMARY KEY, value BLOB)         -- 'max_ts' (u64 BE), 'format' (format tag)

Timestamp storage: SQLite integers are *signed* 64-bit, timestamps are u64. ``log.ts`` stores
``ts - 2**63``, a monotone bijection u64 -> i64, so SQL ordering and ``max(ts)`` stay correct for the full
range while ``ts`` remains the rowid (the fastest key SQLite has: no separate index, O(log n) seeks and
an O(log n) ``max``). An 8-byte big-endian BLOB key would also order correctly but needs a
``WITHOUT ROWID`` table or a second index. The price is that raw stored values look odd (negative); only
this module reads them.

Invariants (``check_invariants``):
- ``log`` ts strictly increase (the primary key) and each record decodes to its row's ts.
- ``max_ts() = max(last ts, meta max_ts) >= last ts``; it never decreases, across reopen too.
- ``append`` is one ``BEGIN IMMEDIATE ... COMMIT`` transaction that re-reads the stored max inside the
  write lock, so the order check and the inserts are atomic. Durability "full" is ``synchronous=FULL``
  (in WAL mode: the WAL is fsynced at every commit); "none" is ``synchronous=OFF`` (a process crash keeps
  atomicity through the WAL, an OS crash may lose recent commits).

Threads and connections: a ``sqlite3.Connection`` must not be used by two threads at once. Writes go
through one writer connection under a lock (a Python lock rather than SQLite's busy-wait, which polls).
Reads borrow a connection from a small pool and return it, so the number of connections tracks the
peak number of *simultaneous* readers, not the number of threads that ever read. Connections are made
with ``check_same_thread=False`` because a pooled one moves between threads (never concurrently).
``load_log`` takes one pooled connection per chunk (``SqlitePersistenceOptions.load_chunk``, default 512) and
never keeps a read transaction open across a ``yield``: an open WAL read transaction stops checkpoints
from completing, letting the WAL grow without bound.
"""
from __future__ import annotations

import os
import sqlite3
import struct
import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from engine.model.errors import PersistenceError
from engine.model.types import MAX_TIMESTAMP, Timestamp
from engine.persistence.base import CommitRecord, PersistenceConfig
from engine.persistence.options import SqlitePersistenceOptions, require_options
from engine.persistence.memory import (
    OpGate, check_ts, encode_batch, global_key, global_value, log_bounds, refuse_below, require_path,
    snapshot_stop,
)
from engine.persistence import record as reference_codec

FILENAME = "ripple.sqlite3"
FORMAT_TAG = b"ripple-persistence-sqlite/1"

#: Stored ts = ts - _OFFSET (u64 -> i64, order-preserving).
_OFFSET = 1 << 63
_U64 = struct.Struct(">Q")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS log(ts INTEGER PRIMARY KEY, record BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS globals(name TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value BLOB NOT NULL)",
)
# One statement, hence one read snapshot, for both halves of max_ts().
_FLOOR_SQL = "SELECT (SELECT max(ts) FROM log), (SELECT value FROM meta WHERE name = 'max_ts')"


def _floor_of(row: tuple) -> int:
    last = row[0] + _OFFSET if row[0] is not None else 0
    hwm = _U64.unpack(row[1])[0] if row[1] is not None else 0
    return last if last > hwm else hwm


class SqlitePersistence:
    """Strategy "sqlite". Construction opens (or creates) the file; see the module docstring."""

    name = "sqlite"
    persistent = True

    def __init__(self, config: PersistenceConfig, codec: Any = None) -> None:
        #: The commit-record codec kernel (reference or Cython twin; same bytes either way).
        self._codec = codec or reference_codec
        path = require_path(config, self.name)
        self._file = os.path.join(path, FILENAME)
        self._synchronous = "FULL" if config.durability == "full" else "OFF"
        options = require_options(self.name, SqlitePersistenceOptions, config.options)
        self.options = options
        self._chunk = options.load_chunk
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._write_lock = threading.Lock()
        try:
            self._writer = self._connect()
            mode = self._writer.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise PersistenceError(f"{self._file!r}: SQLite refused WAL mode (got {mode!r})")
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _SCHEMA:
                    self._writer.execute(stmt)
                row = self._writer.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
                if row is None:
                    self._writer.execute("INSERT INTO meta(name, value) VALUES ('format', ?)", (FORMAT_TAG,))
                elif row[0] != FORMAT_TAG:
                    raise PersistenceError(f"{self._file!r} holds format {row[0]!r}, expected {FORMAT_TAG!r}")
                self._writer.execute("COMMIT")
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
        except BaseException as exc:
            for conn in self._all:
                conn.close()
            if isinstance(exc, sqlite3.Error):
                raise PersistenceError(f"cannot open SQLite persistence at {self._file!r}: {exc}") from exc
            raise
        self._gate = OpGate(f"sqlite persistence at {self._file!r}")

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; we issue BEGIN/COMMIT ourselves.
        conn = sqlite3.connect(self._file, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        self._all.append(conn)
        return conn

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """Borrow a pooled read connection (inside the gate); errors become ``PersistenceError``."""
        with self._gate:
            with self._pool_lock:
                conn = self._pool.pop() if self._pool else None
                if conn is None:
                    try:
                        conn = self._connect()
                    except sqlite3.Error as exc:
                        raise PersistenceError(f"SQLite connect failed: {exc}") from exc
            try:
                yield conn
            except sqlite3.Error as exc:
                raise PersistenceError(f"SQLite read failed: {exc}") from exc
            finally:
                with self._pool_lock:
                    self._pool.append(conn)

    @contextmanager
    def _write_txn(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` on the writer connection; COMMIT on success, ROLLBACK on any exception."""
        with self._gate, self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise PersistenceError(f"SQLite write failed, nothing written: {exc}") from exc

    # -- the protocol -------------------------------------------------------------------------------

    def append(self, records: Iterable[CommitRecord]) -> None:
        """One ``BEGIN IMMEDIATE`` transaction (one WAL fsync with durability "full"), O(total bytes + k log n)."""
        self._gate.check_open()
        batch = encode_batch(records, self._codec)
        if not batch:
            with self._gate:
                return
        with self._write_txn() as conn:
            refuse_below(batch[0][0], _floor_of(conn.execute(_FLOOR_SQL).fetchone()))
            conn.executemany("INSERT INTO log(ts, record) VALUES (?, ?)",
                             [(ts - _OFFSET, blob) for ts, blob in batch])

    def load_log(self, start_ts: Timestamp = Timestamp(0), end_ts: Timestamp | None = None) -> Iterator[CommitRecord]:
        """Records with ``start_ts <= ts < end_ts`` as stored when called, streamed in chunks.

        O(log n) per chunk to seek plus O(bytes) per record; memory O(chunk). Iterating after ``close``
        raises ``DatabaseClosedError`` at the next chunk boundary.
        """
        start, end = log_bounds(start_ts, end_ts)
        with self._reader() as conn:
            row = conn.execute("SELECT max(ts) FROM log").fetchone()
        last = row[0] + _OFFSET if row[0] is not None else 0
        return self._iter_chunks(start, snapshot_stop(end, last))

    def _iter_chunks(self, lo: int, stop: int) -> Iterator[CommitRecord]:
        chunk_size = self._chunk
        while lo < stop:
            with self._reader() as conn:
                rows = conn.execute(
                    # Inclusive upper bound: ``stop`` may be 2**64, whose offset form overflows i64.
                    "SELECT ts, record FROM log WHERE ts >= ? AND ts <= ? ORDER BY ts LIMIT ?",
                    (lo - _OFFSET, stop - 1 - _OFFSET, chunk_size)).fetchall()
            for stored, blob in rows:
                rec = self._codec.decode_record(blob)
                if rec.ts != stored + _OFFSET:
                    raise PersistenceError(f"corrupt log: record stored under ts {stored + _OFFSET} claims ts {rec.ts}")
                yield rec
            if len(rows) < chunk_size:
                return
            lo = rows[-1][0] + _OFFSET + 1

    def get_record(self, ts: Timestamp) -> CommitRecord | None:
        """One indexed SELECT, O(log n). None for a ts not stored (including ints outside u64)."""
        if not isinstance(ts, int) or not 0 < ts <= MAX_TIMESTAMP:
            self._gate.check_open()
            return None
        with self._reader() as conn:
            row = conn.execute("SELECT record FROM log WHERE ts = ?", (ts - _OFFSET,)).fetchone()
        if row is None:
            return None
        rec = self._codec.decode_record(row[0])
        if rec.ts != ts:
            raise PersistenceError(f"corrupt log: record stored under ts {ts} claims ts {rec.ts}")
        return rec

    def max_ts(self) -> Timestamp:
        """One SELECT, O(log n)."""
        with self._reader() as conn:
            return Timestamp(_floor_of(conn.execute(_FLOOR_SQL).fetchone()))

    def bump_max_ts(self, ts: Timestamp) -> None:
        """One write transaction if *ts* exceeds ``max_ts()``; a read-only check (no sync) otherwise."""
        ts = check_ts(ts, "bump_max_ts ts")
        # Cheap pre-check on a reader: the common no-op case then costs no write lock and no fsync.
        if ts <= self.max_ts():
            return
        with self._write_txn() as conn:
            if ts > _floor_of(conn.execute(_FLOOR_SQL).fetchone()):
                conn.execute("INSERT INTO meta(name, value) VALUES ('max_ts', ?) "
                             "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (_U64.pack(ts),))

    def get_global(self, key: str) -> bytes | None:
        """One indexed SELECT, O(log g)."""
        name = global_key(key).decode("utf-8")
        with self._reader() as conn:
            row = conn.execute("SELECT value FROM globals WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def put_global(self, key: str, value: bytes) -> None:
        """One write transaction (synced with durability "full")."""
        name = global_key(key).decode("utf-8")
        value = global_value(value)
        with self._write_txn() as conn:
            conn.execute("INSERT INTO globals(name, value) VALUES (?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (name, value))

    def close(self) -> None:
        """Wait for in-flight operations, then close every connection; idempotent."""
        if self._gate.close():
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._pool.clear()

    def check_invariants(self) -> None:
        """Assert the invariants in the module docstring in one read transaction (tests only; O(total bytes))."""
        with self._reader() as conn:
            conn.execute("BEGIN")
            try:
                prev = None
                for stored, blob in conn.execute("SELECT ts, record FROM log ORDER BY ts"):
                    assert isinstance(stored, int), f"log ts {stored!r} is not an integer"
                    assert prev is None or stored > prev, f"log out of order: {stored} after {prev}"
                    assert self._codec.decode_record(blob).ts == stored + _OFFSET, f"record under ts {stored + _OFFSET} decodes to another ts"
                    prev = stored
                row = conn.execute(_FLOOR_SQL).fetchone()
                assert row[1] is None or len(row[1]) == 8, f"meta max_ts {row[1]!r} is not a u64"
                last = prev + _OFFSET if prev is not None else 0
                assert _floor_of(row) >= last, (row, last)
                tag = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
                assert tag is not None and tag[0] == FORMAT_TAG, tag
            finally:
                conn.execute("COMMIT")
