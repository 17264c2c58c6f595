"""Persistent MVCC index strategy ``"lmdb-btree"``: every index of a store in one LMDB environment.

Role: an ``IndexStore`` (``engine.index.base``) whose indexes survive restarts, so the database does not
rebuild them from the commit log at open. Who may call it: the registry constructs it; the committer calls
``apply_batch``/``gc``/``drop_index``/``put_meta`` (one writer at a time; an internal lock serialises them
in-process and LMDB's writer lock across processes); transactions read through ``LmdbBTreeIndex`` from any
thread. This is the one store class of the strategy; the per-entry loops (codec, get, scans, versions,
commit writes, gc chunks, validation) are the ``"mvcc_lmdb"`` kernel - ``engine.index.mvcc_lmdb_kernel``
or its Cython twin ``engine._native.mvcc_lmdb`` - passed in as *kernel* (None: the reference). Both
kernels write the same bytes, so a directory written with one is read with the other.

On-disk layout (environment directory ``config.path``, two named sub-databases, LMDB's default
byte-wise key order):

``versions`` - one entry per retained version::

    key   = index_id : u32 big-endian (4 bytes)
            || index key bytes (0..MAX_KEY_BYTES bytes)
            || (2^64 - 1 - ts) : u64 big-endian (8 bytes)      # "inverted ts": newest version first
    value = b"\\x00"                  a tombstone
          | b"\\x01" || value bytes   a live value (possibly empty)

  Because index keys are prefix-free (engine precondition), all versions of one ``(index_id, key)`` are
  contiguous, ordered newest first, and key order equals ``(index_id, key, inverted ts)`` order. The index
  key of a raw entry is ``raw[4:-8]`` (length ``len(raw) - 12``).

``meta``::

    b"format"               -> the kernel's FORMAT (b"ripple.lmdb-btree/1"); checked at open
    b"applied_ts"           -> u64 big-endian, the last applied commit ts (absent = 0)
    b"index:" || u32 BE id  -> b"" marker: the index exists (possibly empty); ascending id order
    b"user:" || utf-8 key   -> user metadata bytes (``put_meta``/``get_meta``)

Invariants (``check_invariants``): every entry decodes; its index id has a marker; versions of a key are
strictly newest-first and ``1 <= ts <= applied_ts``; adjacent keys of an index are prefix-free; the stored
``applied_ts`` equals the cached one.

Durability: ``config.durability="full"`` opens LMDB with ``sync=True, metasync=True``: ``apply_batch``
returns after fsync. ``"none"`` uses ``sync=False, metasync=False``: commits reach the OS page cache, so the
store is safe against *process* crashes; after an OS crash or power loss the last transactions may be lost
(LMDB stays consistent) and the database rebuilds derived state from its log. Each ``apply_batch`` is one
write transaction, including the ``applied_ts`` update, so the indexes and ``applied_ts`` never disagree.

Shared environment (``shared_env``, an ``engine.lmdb_env.SharedLmdbEnv``): when the persistence is LMDB
too, the database hands both stores one environment. The two sub-databases are then named
``ix.versions`` and ``ix.meta`` (the log owns ``log``, ``globals`` and ``meta``), every write transaction
here runs under the environment's ``lock`` (which replaces this store's own write lock), the
environment's durability (the log's) applies to this store's own transactions, and ``stage_batch`` gives
the log's append a callable that writes a batch's index writes into the append's transaction (a nested
transaction on ``ix.versions``): log records, index writes and ``applied_ts`` commit together.

Reads: each ``get``/``scan_batch``/``versions``/``get_document``/``scan_documents`` call opens its own read
transaction (``buffers=False``, so returned bytes outlive it); ``scan_documents`` reads a batch's rows and
their by_id documents in that one. No read transaction is held across a ``scan`` batch boundary: a long-lived
reader would pin old pages and grow the file; ``scan_by_batches`` re-seeks instead, and MVCC visibility
keeps the batches a consistent snapshot.
"""
from __future__ import annotations

import os
import struct
import threading
from typing import Any, Callable, Iterator, Sequence

import lmdb

from engine.lmdb_env import SharedLmdbEnv
from engine.model.errors import DatabaseClosedError, PersistenceError, RippleError
from engine.index.base import (MAX_INDEX_ID, MAX_KEY_BYTES, SCAN_BATCH, CommitIndexWrites, IndexConfig,
                               check_index_id, scan_by_batches)
from engine.index.options import LmdbBtreeOptions
from engine.model.types import Interval, Timestamp

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
#: Bytes of framing around an index key: u32 index id + u64 inverted ts.
FRAMING = 12
TOMBSTONE = b"\x00"
LIVE = b"\x01"

_META_FORMAT = b"format"
_META_APPLIED = b"applied_ts"
_META_INDEX = b"index:"
_META_USER = b"user:"


# --------------------------------------------------------------------------------------------------
# Index handle and store.
# --------------------------------------------------------------------------------------------------

class LmdbBTreeIndex:
    """Read view of one index in an ``LmdbBTreeStore`` (an ``MVCCIndex``). Cheap; cached per store.

    After ``drop_index`` a handle reads as empty (and sees new data if the id is written again).
    """

    def __init__(self, index_id: int, store: "LmdbBTreeStore") -> None:
        self.index_id = index_id
        self._store = store
        self._env = store._env
        self._db = store._versions_db
        self._prefix = _U32.pack(index_id)
        # Exclusive upper bound of this index's range (None for the last possible id: end of database).
        self._upper = _U32.pack(index_id + 1) if index_id < MAX_INDEX_ID else None
        self._max_key = store._max_key
        self._skip_limit = store._skip_limit
        # The kernel's functions, bound once (no module attribute lookups on the read path).
        kernel = store.kernel
        self._get = kernel.lmdb_get
        self._scan_forward = kernel.lmdb_scan_forward
        self._scan_reverse = kernel.lmdb_scan_reverse
        self._get_document = kernel.lmdb_get_document
        self._scan_documents = kernel.lmdb_scan_documents
        self._inverted_ts = kernel.inverted_ts

    def _bounds(self, interval: Interval) -> tuple[bytes, bytes | None]:
        """Framed ``[lo, hi)`` for *interval*. Bounds longer than any storable key are cut to
        ``max_key + 1`` bytes: for keys of at most ``max_key`` bytes, comparing with the cut bound gives the
        same answer as with the full one, and the cut keeps seeks inside LMDB's key size limit."""
        cut = self._max_key + 1
        lo = self._prefix + interval.start[:cut]
        hi = self._upper if interval.end is None else self._prefix + interval.end[:cut]
        return lo, hi

    def _check_open(self) -> None:
        if self._store._closed:
            raise DatabaseClosedError("index store is closed")

    def get(self, key: bytes, ts: Timestamp) -> bytes | None:
        """Value of the newest version of *key* with ``vts <= ts``; None if absent or a tombstone.

        One read transaction and one cursor seek to ``id || key || ~ts``. Runtime: O(log n).
        """
        if self._store._closed:
            raise DatabaseClosedError("index store is closed")
        if len(key) > self._max_key:  # cannot be stored; seeking with it would exceed LMDB's key limit
            return None
        return self._get(self._env, self._db, self._prefix, key, ts)

    def scan_batch(self, interval: Interval, ts: Timestamp, limit: int, reverse: bool = False) -> list[tuple[bytes, bytes]]:
        """Up to *limit* live ``(key, value)`` pairs visible at *ts* inside *interval* (start incl., end excl.),
        ascending by key, or descending if *reverse*. ``limit <= 0`` or an empty interval gives ``[]``.

        One read transaction. Runtime: O(log n + k) typical, O(log n + k·log n) with many versions per key.
        """
        self._check_open()
        if limit <= 0 or interval.is_empty():
            return []
        lo, hi = self._bounds(interval)
        inv = self._inverted_ts(ts)
        scan = self._scan_reverse if reverse else self._scan_forward
        txn = self._env.begin(db=self._db)
        try:
            return scan(txn.cursor(), lo, hi, inv, limit, self._skip_limit)
        finally:
            txn.abort()

    def get_document(self, key: bytes, ts: Timestamp, decode: Callable) -> tuple[Any, int] | None:
        """``(decode(value, 8), header)`` of the document value of *key* at *ts* (the kernel's
        ``lmdb_get_document``: one read transaction, one seek, the decode); None if absent or a tombstone.
        Runtime: O(log n) plus one decode."""
        if self._store._closed:
            raise DatabaseClosedError("index store is closed")
        if len(key) > self._max_key:
            return None
        return self._get_document(self._env, self._db, self._prefix, key, ts, decode)

    def scan_documents(self, interval: Interval, ts: Timestamp, limit: int, reverse: bool, by_id: "LmdbBTreeIndex | None",
                       id_key: Callable, decode_many: Callable) -> tuple[list[bytes], list[Any]]:
        """One batch of decoded documents (see ``engine.index.base.MVCCIndex.scan_documents``) in one read
        transaction: the rows and, through *by_id* (an index of this store), their documents, all at *ts*.
        Runtime: O(log n + k) plus one O(log n) seek per row through by_id, plus decoding."""
        self._check_open()
        if by_id is not None and by_id._store is not self._store:
            raise ValueError("scan_documents: the by_id index must belong to the same store")
        if limit <= 0 or interval.is_empty():
            return [], []
        lo, hi = self._bounds(interval)
        try:
            return self._scan_documents(self._env, self._db, lo, hi, self._inverted_ts(ts), limit, self._skip_limit,
                                        reverse, None if by_id is None else by_id._prefix, id_key, decode_many)
        except LookupError as e:
            raise RippleError(f"index {self.index_id} points at missing document {e.args[0]!r} at ts {ts}") from None

    def scan(self, interval: Interval, ts: Timestamp, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Lazily yield every live pair visible at *ts* in *interval*, in key order (see ``scan_batch``).

        Each batch of ``SCAN_BATCH`` rows uses its own read transaction; none is held between batches.
        """
        return scan_by_batches(self, interval, ts, reverse, SCAN_BATCH)

    def versions(self, key: bytes) -> list[tuple[Timestamp, bytes | None]]:
        """Every retained version of *key*, newest first; None values are tombstones. [] if never written.

        Runtime: O(log n + v).
        """
        self._check_open()
        if len(key) > self._max_key:
            return []
        with self._env.begin(db=self._db) as txn:
            return self._store.kernel.lmdb_versions(txn.cursor(), self._prefix + key)

    def raw_scan(self, interval: Interval, reverse: bool = False, limit: int | None = None
                 ) -> list[tuple[bytes, list[tuple[Timestamp, bytes | None]]]]:
        """Inspection: every retained key in *interval* with all its versions (newest first), regardless of
        visibility, ascending (descending if *reverse*), at most *limit* keys. Runtime: O(log n + k·v)."""
        self._check_open()
        if interval.is_empty():
            return []
        lo, hi = self._bounds(interval)
        unpack, decode = self._store.kernel.unpack_version_key, self._store.kernel.decode_value
        out: list = []
        with self._env.begin(db=self._db) as txn:
            cur = txn.cursor()
            ok = cur.set_range(lo)
            while ok:
                raw = cur.key()
                kb = raw[:-8]
                if hi is not None and kb >= hi:
                    break
                ts = unpack(raw)[2]
                if kb >= lo:  # skip a key that is a proper prefix of the start bound
                    if out and out[-1][0] == kb[4:]:
                        out[-1][1].append((ts, decode(cur.value())))
                    else:
                        out.append((kb[4:], [(ts, decode(cur.value()))]))
                ok = cur.next()
        if reverse:
            out.reverse()
        if limit is not None:
            out = out[:max(limit, 0)]
        return out

    def check_invariants(self) -> None:
        """Assert this index's entries are well formed (tests only; O(n) for this index)."""
        self._store._check_entries(self.index_id)

    def debug_state(self) -> dict[str, Any]:
        """Counts of keys, versions and tombstones of this index. O(n)."""
        keys = versions = tombstones = 0
        with self._env.begin(db=self._db) as txn:
            cur = txn.cursor()
            ok = cur.set_range(self._prefix)
            last = None
            while ok:
                raw = cur.key()
                if not raw.startswith(self._prefix):
                    break
                versions += 1
                tombstones += cur.value() == TOMBSTONE
                if raw[:-8] != last:
                    keys += 1
                    last = raw[:-8]
                ok = cur.next()
        return {"index_id": self.index_id, "keys": keys, "versions": versions, "tombstones": tombstones}


class LmdbBTreeStore:
    """The ``"lmdb-btree"`` ``IndexStore``. Opens (creating if missing) the LMDB environment at ``config.path``.

    *kernel*: the ``"mvcc_lmdb"`` kernel module (``engine.index.mvcc_lmdb_kernel`` or its Cython twin;
    None: the reference). ``config.options`` is a ``LmdbBtreeOptions`` (None: defaults): ``max_readers``,
    ``gc_chunk`` and ``skip_limit``. Raises ValueError without ``config.path``, with an unknown
    durability or with options of another type; ``PersistenceError`` if the directory holds a different
    on-disk format.
    """

    name = "lmdb-btree"
    #: Contents survive ``close`` and reopen at the same path.
    persistent = True

    def __init__(self, config: IndexConfig, *, kernel: Any = None, shared_env: SharedLmdbEnv | None = None) -> None:
        if not config.path and shared_env is None:
            raise ValueError("the lmdb-btree index strategy needs IndexConfig.path (a directory for its LMDB files)")
        if config.durability not in ("full", "none"):
            raise ValueError(f"durability must be 'full' or 'none', got {config.durability!r}")
        options = config.options if config.options is not None else LmdbBtreeOptions()
        if not isinstance(options, LmdbBtreeOptions):
            raise ValueError(f"index strategy 'lmdb-btree' takes LmdbBtreeOptions, got {type(options).__name__}")
        if kernel is None:
            from engine.index import mvcc_lmdb_kernel as kernel
        self.kernel = kernel
        self.options = options
        self._format = kernel.FORMAT
        self.config = config
        #: The environment shared with the LMDB persistence, or None when this store owns its own.
        self.shared_env = shared_env
        if shared_env is not None:
            self._env = shared_env.env
            self._write_lock: Any = shared_env.lock
            names = (b"ix.versions", b"ix.meta")
        else:
            os.makedirs(config.path, exist_ok=True)
            full = config.durability == "full"
            self._env = lmdb.open(config.path, map_size=config.map_size, max_dbs=4, subdir=True,
                                  sync=full, metasync=full, max_readers=options.max_readers)
            self._write_lock = threading.RLock()
            names = (b"versions", b"meta")
        self._gc_chunk = options.gc_chunk
        self._skip_limit = options.skip_limit
        self._closed = False
        # The whole key must fit LMDB's limit, framing included; never more than the cross-strategy bound.
        self._max_key = min(MAX_KEY_BYTES, self._env.max_key_size() - FRAMING)
        try:
            self._versions_db = self._env.open_db(names[0])
            self._meta_db = self._env.open_db(names[1])
            with self._write_lock, self._env.begin(write=True, db=self._meta_db) as txn:
                fmt = txn.get(_META_FORMAT)
                if fmt is None:
                    txn.put(_META_FORMAT, self._format)
                elif fmt != self._format:
                    raise PersistenceError(f"{config.path} holds index format {fmt!r}, expected {self._format!r}")
                raw = txn.get(_META_APPLIED)
                self._applied_ts = _U64.unpack(raw)[0] if raw is not None else 0
                self._ids: set[int] = set()
                cur = txn.cursor()
                ok = cur.set_range(_META_INDEX)
                while ok and cur.key().startswith(_META_INDEX):
                    self._ids.add(_U32.unpack(cur.key()[len(_META_INDEX):])[0])
                    ok = cur.next()
        except BaseException:
            self._release_env()
            raise
        self._handles: dict[int, LmdbBTreeIndex] = {}

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseClosedError("index store is closed")

    def _release_env(self) -> None:
        # A shared environment belongs to whoever opened it (the database), which closes it.
        if self.shared_env is None:
            self._env.close()

    def open_index(self, index_id: int) -> LmdbBTreeIndex:
        """The index with this id, created empty if it does not exist (one write transaction then).

        Runtime: O(1) for an existing index.
        """
        check_index_id(index_id)
        self._check_open()
        if index_id not in self._ids:
            with self._write_lock:
                self._check_open()
                if index_id not in self._ids:
                    with self._env.begin(write=True, db=self._meta_db) as txn:
                        txn.put(_META_INDEX + _U32.pack(index_id), b"")
                    self._ids = self._ids | {index_id}
        handle = self._handles.get(index_id)
        if handle is None:
            handle = self._handles.setdefault(index_id, LmdbBTreeIndex(index_id, self))
        return handle

    def drop_index(self, index_id: int) -> None:
        """Delete the index, its marker and all its versions in one write transaction (no-op if missing).

        Runtime: O(v·log n) for its v versions.
        """
        check_index_id(index_id)
        prefix = _U32.pack(index_id)
        with self._write_lock:
            self._check_open()
            with self._env.begin(write=True) as txn:
                txn.delete(_META_INDEX + prefix, db=self._meta_db)
                cur = txn.cursor(db=self._versions_db)
                ok = cur.set_range(prefix)
                while ok and cur.key().startswith(prefix):
                    cur.delete()
                    ok = bool(cur.key())
            self._ids = self._ids - {index_id}

    def index_ids(self) -> list[int]:
        """Ids of every existing index, ascending. Runtime: O(i log i)."""
        self._check_open()
        return sorted(self._ids)

    def apply_batch(self, commits: Sequence[CommitIndexWrites]) -> None:
        """Apply several commits' index writes in ONE write transaction, ``applied_ts`` included.

        Validation (the kernel's ``validate_batch``) runs first: ValueError (timestamps not strictly increasing above
        ``applied_ts()``, bad index id), ``IndexKeyTooLargeError``, TypeError - and then nothing is
        written. Writing to a never-opened index id opens it. An empty batch is a no-op. With
        ``durability="full"`` the data is on disk when this returns. Runtime: O(w·log n) for w writes.
        """
        with self._write_lock:
            self._check_open()
            self.kernel.validate_batch(commits, self._applied_ts, self._max_key)
            if not commits:
                return
            with self._env.begin(write=True, db=self._versions_db) as txn:
                new_ids = self._put_batch(txn, commits)
            self._committed(commits[-1][0], new_ids)

    def stage_batch(self, commits: Sequence[CommitIndexWrites]) -> Any:
        """``apply_batch`` as a stage of the shared environment's log append (``LmdbPersistence.append_staged``).

        Returns ``stage(txn)``: run by the append inside its write transaction (which holds the shared
        ``lock``), it validates like ``apply_batch`` (raising, so the whole transaction aborts and nothing
        is written, log records included), writes the commits' versions (through a cursor on the versions
        database: no nested transaction is needed, since a failure aborts the outer one) and ``applied_ts``
        into that same transaction, and returns the callback that updates this store's caches once
        the outer transaction committed. *commits* must not be empty. ValueError without a shared
        environment. Cost: O(w·log n) for w writes, inside the one commit.
        """
        if self.shared_env is None:
            raise ValueError("stage_batch needs a shared LMDB environment (engine.lmdb_env.SharedLmdbEnv)")
        if not commits:
            raise ValueError("stage_batch needs at least one commit")

        def stage(txn: lmdb.Transaction) -> Any:
            with self._write_lock:
                self._check_open()
                self.kernel.validate_batch(commits, self._applied_ts, self._max_key)
                new_ids = self._put_batch(txn, commits, txn.cursor(db=self._versions_db))
            return lambda: self._committed(commits[-1][0], new_ids)

        return stage

    def _put_batch(self, txn: lmdb.Transaction, commits: Sequence[CommitIndexWrites],
                   versions: lmdb.Cursor | None = None) -> set[int]:
        """Write validated *commits* with ``applied_ts`` into *txn*: the versions through *versions* (a
        cursor on the versions database), or through *txn* itself when its default database is the
        versions one. Returns the ids of indexes first written here (their markers are written too)."""
        put_writes = self.kernel.lmdb_put_writes
        target = txn if versions is None else versions
        new_ids: set[int] = set()
        ids = self._ids
        for ts, by_index in commits:
            for index_id, writes in by_index.items():
                prefix = _U32.pack(index_id)
                if index_id not in ids and index_id not in new_ids:
                    txn.put(_META_INDEX + prefix, b"", db=self._meta_db)
                    new_ids.add(index_id)
                put_writes(target, prefix, ts, writes)
        txn.put(_META_APPLIED, _U64.pack(commits[-1][0]), db=self._meta_db)
        return new_ids

    def _committed(self, last: int, new_ids: set[int]) -> None:
        # Caches change only after the transaction committed. The id set is replaced, never mutated,
        # so concurrent readers of index_ids() iterate a stable set without taking the lock.
        with self._write_lock:
            if new_ids:
                self._ids = self._ids | new_ids
            self._applied_ts = last

    def backfill(self, index_id: int, commits: Sequence[tuple[int, Sequence]]) -> None:
        """Write the history of one freshly created, still empty index (adding an index to a table with
        data), in one write transaction. Timestamps must strictly increase and be ``<= applied_ts()``;
        ``applied_ts`` is unchanged. ValueError (nothing written) if the index already holds versions or
        the order is wrong. Runtime: O(w·log n) for w writes."""
        check_index_id(index_id)
        prefix = _U32.pack(index_id)
        with self._write_lock:
            self._check_open()
            self.kernel.validate_batch([(ts, {index_id: w}) for ts, w in commits], 0, self._max_key)
            if commits and commits[-1][0] > self._applied_ts:
                raise ValueError(f"backfill ts {commits[-1][0]} is above applied_ts {self._applied_ts}; nothing was written")
            # The index marker is written in the same transaction as the versions, so a refused backfill
            # (the raise below aborts the transaction) creates no index either.
            with self._env.begin(write=True, db=self._versions_db) as txn:
                cur = txn.cursor()
                if cur.set_range(prefix) and cur.key().startswith(prefix):
                    raise ValueError(f"backfill of index {index_id}: the index is not empty; nothing was written")
                if index_id not in self._ids:
                    txn.put(_META_INDEX + prefix, b"", db=self._meta_db)
                put_writes = self.kernel.lmdb_put_writes
                for ts, writes in commits:
                    put_writes(txn, prefix, ts, writes)
            if index_id not in self._ids:
                self._ids = self._ids | {index_id}

    def applied_ts(self) -> Timestamp:
        """Highest commit ts applied (0 if none); persisted with each batch. Runtime: O(1)."""
        return Timestamp(self._applied_ts)

    def get_meta(self, key: str) -> bytes | None:
        """Metadata stored with ``put_meta`` (survives reopen); None if never set. Runtime: O(log n)."""
        self._check_open()
        with self._env.begin(db=self._meta_db) as txn:
            return txn.get(_META_USER + key.encode("utf-8"))

    def put_meta(self, key: str, value: bytes) -> None:
        """Set metadata *key* (a str) to *value* (bytes) in its own write transaction. Runtime: O(log n)."""
        if not isinstance(key, str) or not isinstance(value, bytes):
            raise TypeError("meta keys are str and values are bytes")
        k = _META_USER + key.encode("utf-8")
        if len(k) > self._env.max_key_size():
            raise ValueError(f"meta key {key!r} is too long for LMDB")
        with self._write_lock:
            self._check_open()
            with self._env.begin(write=True, db=self._meta_db) as txn:
                txn.put(k, value)

    def gc(self, below_ts: Timestamp) -> int:
        """Drop versions no snapshot ``>= below_ts`` can see, in every index; returns versions removed.

        Walks every entry in write transactions of about ``gc_chunk`` entries each, always ending a chunk
        at a key boundary (each key is collected atomically, which is all correctness needs: a chunk
        boundary between keys is invisible to readers at snapshots ``>= below_ts``). Chunking keeps the
        writer lock free for ``apply_batch`` between chunks. A chunk resumes at the next key's *framed key*
        (not its first raw entry), so a version added to it in between is still treated as its newest.
        Runtime: O(N) for N entries.
        """
        self._check_open()
        inv_below = self.kernel.inverted_ts(below_ts)
        gc_chunk = self.kernel.lmdb_gc_chunk
        removed = 0
        resume: bytes | None = b""
        while resume is not None:
            with self._write_lock:
                self._check_open()
                with self._env.begin(write=True, db=self._versions_db) as txn:
                    cur = txn.cursor()
                    n, resume = gc_chunk(cur, resume, inv_below, self._gc_chunk)
                    removed += n
        return removed

    def check_invariants(self) -> None:
        """Walk every entry and the meta records and assert the layout invariants (tests only; O(n))."""
        self._check_entries(None)

    def _check_entries(self, only_index: int | None) -> None:
        # The write lock makes the cached applied_ts/ids and the read snapshot agree (tests only).
        with self._write_lock:
            self._check_open()
            self._check_entries_locked(only_index)

    def _check_entries_locked(self, only_index: int | None) -> None:
        with self._env.begin() as txn:
            meta = txn.cursor(db=self._meta_db)
            ids = set()
            applied = None
            for k, v in meta.iternext():
                if k == _META_FORMAT:
                    assert v == self._format, f"format {v!r}"
                elif k == _META_APPLIED:
                    applied = _U64.unpack(v)[0]
                elif k.startswith(_META_INDEX):
                    assert len(k) == len(_META_INDEX) + 4 and v == b"", f"bad index marker {k!r}={v!r}"
                    ids.add(_U32.unpack(k[len(_META_INDEX):])[0])
                else:
                    assert k.startswith(_META_USER), f"unknown meta key {k!r}"
            assert (applied or 0) == self._applied_ts, f"stored applied_ts {applied} != cached {self._applied_ts}"
            assert ids == self._ids, f"stored index ids {sorted(ids)} != cached {sorted(self._ids)}"
            cur = txn.cursor(db=self._versions_db)
            ok = cur.set_range(_U32.pack(only_index)) if only_index is not None else cur.first()
            prev_kb = prev_ts = None
            while ok:
                raw = cur.key()
                if only_index is not None and not raw.startswith(_U32.pack(only_index)):
                    break
                assert len(raw) >= FRAMING, f"entry key {raw!r} shorter than its framing"
                index_id, key, ts = self.kernel.unpack_version_key(raw)
                kb = raw[:-8]
                assert index_id in self._ids, f"entry of index {index_id} without an index marker"
                assert len(key) <= self._max_key, f"key of {len(key)} bytes exceeds {self._max_key}"
                assert 1 <= ts <= self._applied_ts, f"{raw!r}: ts {ts} outside 1..applied_ts={self._applied_ts}"
                stored = cur.value()
                assert stored == TOMBSTONE or stored[:1] == LIVE, f"{raw!r}: bad value encoding {stored!r}"
                if kb == prev_kb:
                    assert ts < prev_ts, f"{raw!r}: versions of a key not strictly newest-first"
                else:
                    if prev_kb is not None and prev_kb[:4] == kb[:4]:
                        assert prev_kb < kb, f"keys out of order: {prev_kb!r}, {kb!r}"
                        assert not kb.startswith(prev_kb), f"keys not prefix-free: {prev_kb[4:]!r}, {key!r}"
                    prev_kb = kb
                prev_ts = ts
                ok = cur.next()

    def debug_state(self) -> dict[str, Any]:
        """Summary: path, applied_ts, LMDB stats and each index's ``debug_state``. O(n)."""
        self._check_open()
        stat = self._env.stat()
        with self._env.begin() as txn:
            vstat = txn.stat(self._versions_db)
        return {"name": self.name, "path": self.config.path, "durability": self.config.durability,
                "kernel": getattr(self.kernel, "__name__", repr(self.kernel)), "options": self.options,
                "applied_ts": self._applied_ts, "max_key_bytes": self._max_key,
                "entries": vstat["entries"], "depth": vstat["depth"], "env_pages": stat["leaf_pages"],
                "indexes": {i: self.open_index(i).debug_state() for i in sorted(self._ids)}}

    def close(self) -> None:
        """Close the LMDB environment (a shared one is left to its owner); later calls raise ``DatabaseClosedError``.
        Idempotent."""
        with self._write_lock:
            if not self._closed:
                self._closed = True
                self._release_env()
