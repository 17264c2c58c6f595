"""In-memory MVCC index strategy ``"mem-btree"``: the one store class, with its kernel injected.

Role: an ``IndexStore`` (see ``engine.index.base``) that keeps every index in process memory. It is
rebuilt from the commit log at open (it is not persistent). The hot loops (version resolution, scans, the
apply and gc loops, batch validation) are the ``"mvcc"`` kernel: ``engine.index.mvcc_kernel`` (the
reference) or its Cython twin ``engine._native.mvcc``, passed in as *kernel* by the registry (None: the
reference). This module owns the structure, the lock and the invariants; the kernel owns no state.

Who may call it: the registry (``engine.index.registry``) constructs stores; the committer calls
``apply_batch``/``gc``; transactions read through ``MemBTreeIndex.get``/``scan``/``scan_batch`` and the document read path
``get_document``/``scan_documents`` from any thread; tests and notebooks use ``versions``/``raw_scan``/``check_invariants``/``debug_state``.

Structure of one index:
- ``_versions``: dict ``key -> [(ts, value | None), ...]`` newest first (None is a tombstone). Point reads
  go straight here: a hash lookup, then a walk over the versions newer than the snapshot.
- ``_keys`` (a ``SortedKeyLeaves``): the ordered key set as a list of sorted leaf lists plus a parallel
  list of each leaf's maximum key. A seek is two bisects (leaf, then position); a scan walks leaves in
  order. Leaves split in half above ``leaf_capacity`` and are merged with a neighbour when a removal leaves
  them small, so every operation is O(log n + leaf_capacity).

Invariants (asserted by ``check_invariants``):
- ``_keys`` holds exactly the keys of ``_versions``; no leaf is empty or longer than its capacity; leaf
  contents concatenated are strictly increasing; ``maxes[i] == leaves[i][-1]``.
- Every version list is non-empty with strictly decreasing timestamps, each ``1 <= ts <= applied_ts``.
- Adjacent keys are prefix-free (the engine's precondition; checked so a caller bug surfaces here).

Thread-safety: one ``threading.RLock`` per store guards every structural mutation and every read call
(``get``, ``scan_batch``, ``versions``...). A long ``scan`` never holds it between batches: it is built on
``scan_by_batches``, which re-seeks after the last key returned, and MVCC visibility (versions newer than
the snapshot are ignored) keeps the concatenated batches a consistent snapshot even if writes land between
them. ``gc`` holds the lock for its whole walk (O(n)); it is an occasional background call and the lock
keeps the leaf structure simple - chunk it if it ever shows up in read latency.
"""
from __future__ import annotations

import threading
from bisect import bisect_left
from types import ModuleType
from typing import Any, Callable, Iterator, Sequence

from engine.model.errors import DatabaseClosedError, RippleError
from engine.index.base import (MAX_INDEX_ID, MAX_KEY_BYTES, SCAN_BATCH, CommitIndexWrites, IndexConfig,
                               IndexWrite, check_index_id, scan_by_batches)
from engine.index.options import MemBtreeOptions
from engine.model.types import Interval, Timestamp

#: Default number of keys per leaf (``MemBtreeOptions.leaf_capacity``).
DEFAULT_LEAF_CAPACITY = MemBtreeOptions().leaf_capacity


def _check_versions(key: bytes, versions: list, applied_ts: int | None) -> None:
    """Assert one key's version list is well formed (shared by check_invariants)."""
    assert isinstance(key, bytes), f"key {key!r} is not bytes"
    assert versions, f"key {key!r} has an empty version list (should have been removed)"
    prev = None
    for vts, value in versions:
        assert isinstance(vts, int) and vts >= 1, f"key {key!r}: bad ts {vts!r}"
        assert prev is None or vts < prev, f"key {key!r}: versions not strictly newest-first: {versions!r}"
        assert value is None or isinstance(value, bytes), f"key {key!r}: bad value {value!r}"
        if applied_ts is not None:
            assert vts <= applied_ts, f"key {key!r}: version ts {vts} > applied_ts {applied_ts}"
        prev = vts


# --------------------------------------------------------------------------------------------------
# The ordered key container.
# --------------------------------------------------------------------------------------------------

class SortedKeyLeaves:
    """An ordered set of byte-string keys stored as sorted leaf lists with a directory of leaf maxima.

    Not thread-safe by itself: the owning index's lock guards it. ``leaves`` and ``maxes`` are read
    directly by the scan kernels (flat data, no method calls in the inner loop). Seeks use the standard
    library's C bisect (bytes compare by memcmp), so insert/remove need no kernel of their own.
    """

    __slots__ = ("capacity", "leaves", "maxes", "_count")

    def __init__(self, capacity: int = DEFAULT_LEAF_CAPACITY) -> None:
        if not isinstance(capacity, int) or capacity < 2:
            raise ValueError(f"leaf capacity must be an int >= 2, got {capacity!r}")
        self.capacity = capacity
        self.leaves: list[list[bytes]] = []
        self.maxes: list[bytes] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[bytes]:
        for leaf in self.leaves:
            yield from leaf

    def insert(self, key: bytes) -> None:
        """Add *key*, which must not be present. Runtime: O(log n + capacity)."""
        leaves, maxes = self.leaves, self.maxes
        if not leaves:
            leaves.append([key])
            maxes.append(key)
            self._count = 1
            return
        li = bisect_left(maxes, key)
        if li == len(maxes):  # greater than every key: append to the last leaf
            li -= 1
        leaf = leaves[li]
        pos = bisect_left(leaf, key)
        leaf.insert(pos, key)
        if pos == len(leaf) - 1:
            maxes[li] = key
        self._count += 1
        if len(leaf) > self.capacity:
            half = len(leaf) // 2
            right = leaf[half:]
            del leaf[half:]
            leaves.insert(li + 1, right)
            maxes[li] = leaf[-1]
            maxes.insert(li + 1, right[-1])

    def remove(self, key: bytes) -> None:
        """Remove *key*, which must be present. Runtime: O(log n + capacity).

        An emptied leaf is dropped. A leaf left with at most a quarter of capacity is merged into a
        neighbour when the two fit in one leaf. Merging this late (rather than below half full) avoids
        split/merge ping-pong when a key is repeatedly added and removed at a boundary: a merged leaf holds
        at most ``capacity`` keys, so it needs more than one insert to split again.
        """
        leaves, maxes = self.leaves, self.maxes
        li = bisect_left(maxes, key)
        leaf = leaves[li]
        pos = bisect_left(leaf, key)
        assert pos < len(leaf) and leaf[pos] == key, f"remove of absent key {key!r}"
        del leaf[pos]
        self._count -= 1
        if not leaf:
            del leaves[li]
            del maxes[li]
            return
        if pos == len(leaf):
            maxes[li] = leaf[-1]
        if len(leaf) <= self.capacity // 4 and len(leaves) > 1:
            # Merge with the right neighbour, or the left one for the last leaf.
            left = li if li + 1 < len(leaves) else li - 1
            a, b = leaves[left], leaves[left + 1]
            if len(a) + len(b) <= self.capacity:
                a.extend(b)
                del leaves[left + 1]
                del maxes[left + 1]
                maxes[left] = a[-1]

    def check_invariants(self) -> None:
        """Assert the leaf structure is well formed. O(n)."""
        assert len(self.leaves) == len(self.maxes), "leaf directory out of sync"
        prev = None
        count = 0
        for leaf, mx in zip(self.leaves, self.maxes):
            assert leaf, "empty leaf"
            assert len(leaf) <= self.capacity, f"leaf of {len(leaf)} keys exceeds capacity {self.capacity}"
            assert leaf[-1] == mx, f"leaf max {mx!r} != last key {leaf[-1]!r}"
            for key in leaf:
                assert prev is None or prev < key, f"keys out of order: {prev!r} then {key!r}"
                assert prev is None or not key.startswith(prev), f"keys not prefix-free: {prev!r}, {key!r}"
                prev = key
            count += len(leaf)
        assert count == self._count, f"count {self._count} != {count} keys in leaves"

    def debug_state(self) -> dict[str, Any]:
        """Key count, leaf count, capacity and every leaf's size (to see splits and merges). O(leaves)."""
        return {"keys": self._count, "leaves": len(self.leaves), "capacity": self.capacity,
                "leaf_sizes": [len(leaf) for leaf in self.leaves]}


# --------------------------------------------------------------------------------------------------
# One index and the store.
# --------------------------------------------------------------------------------------------------

class MemBTreeIndex:
    """One in-memory multi-versioned index (an ``MVCCIndex``). Obtain it from ``MemBTreeStore.open_index``.

    Handles stay valid for the store's lifetime; after ``drop_index`` an old handle reads as empty.
    """

    def __init__(self, index_id: int, store: "MemBTreeStore", leaf_capacity: int) -> None:
        self.index_id = index_id
        self._store = store
        self._lock = store._lock
        # Bound acquire/release for the two hot reads: cheaper than a ``with`` block per call.
        self._acquire = store._lock.acquire
        self._release = store._lock.release
        self._versions: dict[bytes, list[tuple[int, bytes | None]]] = {}
        self._keys = SortedKeyLeaves(leaf_capacity)
        self._closed = False
        # The kernel's functions, bound once (no module attribute lookups on the read path).
        kernel = store.kernel
        self._resolve_key = kernel.resolve_key
        self._scan_forward = kernel.scan_forward
        self._scan_reverse = kernel.scan_reverse
        self._get_document = kernel.get_document
        self._scan_documents = kernel.scan_documents
        self._apply_writes = kernel.apply_writes
        self._gc_index = kernel.gc_index

    # -- reads ---------------------------------------------------------------------------------------

    def get(self, key: bytes, ts: Timestamp) -> bytes | None:
        """Value of the newest version of *key* with ``vts <= ts``; None if absent or a tombstone.

        Runtime: O(1) hash lookup + O(v) for the v versions newer than *ts*.
        """
        self._acquire()
        try:
            if self._closed:
                raise DatabaseClosedError("index store is closed")
            return self._resolve_key(self._versions, key, ts)
        finally:
            self._release()

    def scan_batch(self, interval: Interval, ts: Timestamp, limit: int, reverse: bool = False) -> list[tuple[bytes, bytes]]:
        """Up to *limit* live ``(key, value)`` pairs visible at *ts* inside *interval* (start incl., end excl.),
        ascending by key, or descending if *reverse*. ``limit <= 0`` or an empty interval gives ``[]``.

        Runtime: O(log n + k·v) for k keys visited (hidden keys are visited but not returned).
        """
        self._acquire()
        try:
            if self._closed:
                raise DatabaseClosedError("index store is closed")
            keys = self._keys
            scan = self._scan_reverse if reverse else self._scan_forward
            return scan(keys.leaves, keys.maxes, self._versions, interval.start, interval.end, ts, limit)
        finally:
            self._release()

    def get_document(self, key: bytes, ts: Timestamp, decode: Callable) -> tuple[Any, int] | None:
        """``(decode(value, 8), header)`` of the document value of *key* at *ts* (the kernel's
        ``get_document``); None if absent or a tombstone. Runtime: as ``get`` plus one decode."""
        self._acquire()
        try:
            if self._closed:
                raise DatabaseClosedError("index store is closed")
            return self._get_document(self._versions, key, ts, decode)
        finally:
            self._release()

    def scan_documents(self, interval: Interval, ts: Timestamp, limit: int, reverse: bool, by_id: "MemBTreeIndex | None",
                       id_key: Callable, decode_many: Callable) -> tuple[list[bytes], list[Any]]:
        """One batch of decoded documents (see ``engine.index.base.MVCCIndex.scan_documents``): the kernel's
        ``scan_documents`` under the store lock, so rows and their by_id documents are read together.
        *by_id* must belong to this store. Runtime: O(log n + k·v) plus one hash lookup per row, plus decoding."""
        if by_id is not None and by_id._store is not self._store:
            raise ValueError("scan_documents: the by_id index must belong to the same store")
        self._acquire()
        try:
            if self._closed:
                raise DatabaseClosedError("index store is closed")
            keys = self._keys
            try:
                return self._scan_documents(keys.leaves, keys.maxes, self._versions, interval.start, interval.end,
                                            ts, limit, reverse, None if by_id is None else by_id._versions,
                                            id_key, decode_many)
            except LookupError as e:
                raise RippleError(f"index {self.index_id} points at missing document {e.args[0]!r} at ts {ts}") from None
        finally:
            self._release()

    def scan(self, interval: Interval, ts: Timestamp, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Lazily yield every live pair visible at *ts* in *interval*, in key order (see ``scan_batch``).

        Holds the lock only inside each batch of ``SCAN_BATCH`` rows, so it is safe against concurrent
        ``apply_batch``/``gc``. Runtime: O((k/B)·log n + k·v).
        """
        return scan_by_batches(self, interval, ts, reverse, SCAN_BATCH)

    def versions(self, key: bytes) -> list[tuple[Timestamp, bytes | None]]:
        """Every retained version of *key*, newest first; None values are tombstones. [] if never written
        (or fully collected). Runtime: O(v)."""
        with self._lock:
            if self._closed:
                raise DatabaseClosedError("index store is closed")
            return list(self._versions.get(key, ()))

    def raw_scan(self, interval: Interval, reverse: bool = False, limit: int | None = None
                 ) -> list[tuple[bytes, list[tuple[Timestamp, bytes | None]]]]:
        """Inspection: every retained key in *interval* with all its versions (newest first), regardless of
        visibility, ascending (descending if *reverse*), at most *limit* keys. Runtime: O(log n + k·v)."""
        with self._lock:
            if self._closed:
                raise DatabaseClosedError("index store is closed")
            if interval.is_empty():
                return []
            keys = self._keys_in(interval)
            if reverse:
                keys.reverse()
            if limit is not None:
                keys = keys[:max(limit, 0)]
            return [(k, list(self._versions[k])) for k in keys]

    def _keys_in(self, interval: Interval) -> list[bytes]:
        out: list[bytes] = []
        leaves, maxes = self._keys.leaves, self._keys.maxes
        li = bisect_left(maxes, interval.start)
        pos = bisect_left(leaves[li], interval.start) if li < len(leaves) else 0
        end = interval.end
        while li < len(leaves):
            for key in leaves[li][pos:]:
                if end is not None and key >= end:
                    return out
                out.append(key)
            li += 1
            pos = 0
        return out

    # -- mutation (store-internal; the store holds the lock) -----------------------------------------

    def _apply(self, ts: int, writes: Sequence[IndexWrite]) -> None:
        """Prepend one commit's versions (the kernel's ``apply_writes``); new keys join the key set."""
        insert = self._keys.insert
        for key in self._apply_writes(self._versions, ts, writes):
            insert(key)

    def gc(self, below_ts: Timestamp) -> int:
        """Drop versions of this index no snapshot ``>= below_ts`` can see; remove keys left with none.

        Returns versions removed. Runtime: O(n·v + r·(log n + capacity)) for r keys removed.
        """
        with self._lock:
            removed, emptied = self._gc_index(self._versions, below_ts)
            remove = self._keys.remove
            for key in emptied:
                remove(key)
        return removed

    def _clear(self) -> None:
        self._versions.clear()
        self._keys = SortedKeyLeaves(self._keys.capacity)

    # -- diagnostics ---------------------------------------------------------------------------------

    def check_invariants(self, applied_ts: int | None = None) -> None:
        """Assert internal consistency (tests only; O(n)). With *applied_ts*, also that no version is newer."""
        with self._lock:
            self._keys.check_invariants()
            assert len(self._keys) == len(self._versions), \
                f"{len(self._keys)} keys in leaves but {len(self._versions)} version lists"
            for key in self._keys:
                assert key in self._versions, f"key {key!r} in leaves but has no versions"
                _check_versions(key, self._versions[key], applied_ts)

    def debug_state(self) -> dict[str, Any]:
        """Summary for notebooks and test failure messages. O(n)."""
        with self._lock:
            return {"index_id": self.index_id, **self._keys.debug_state(),
                    "versions": sum(len(v) for v in self._versions.values()),
                    "tombstones": sum(1 for v in self._versions.values() for _, x in v if x is None)}


class MemBTreeStore:
    """The ``"mem-btree"`` ``IndexStore``: a family of ``MemBTreeIndex`` sharing one lock.

    *kernel*: the ``"mvcc"`` kernel module (``engine.index.mvcc_kernel`` or its Cython twin; None: the
    reference). ``config.options`` is a ``MemBtreeOptions`` (None: defaults; another type: ValueError);
    its ``leaf_capacity`` sets the B-tree leaf size (tests use 4 to drive splits and merges).
    ``config.path`` is ignored.
    """

    name = "mem-btree"
    #: Contents do not survive ``close``; the database rebuilds them from the commit log.
    persistent = False
    #: The class of each index (mutant tests substitute a broken subclass).
    index_class = MemBTreeIndex

    def __init__(self, config: IndexConfig | None = None, *, kernel: ModuleType | Any = None) -> None:
        config = config or IndexConfig()
        options = config.options if config.options is not None else MemBtreeOptions()
        if not isinstance(options, MemBtreeOptions):
            raise ValueError(f"index strategy 'mem-btree' takes MemBtreeOptions, got {type(options).__name__}")
        if kernel is None:
            from engine.index import mvcc_kernel as kernel
        self.kernel = kernel
        self._validate_batch = kernel.validate_batch
        self.config = config
        self.options = options
        self.leaf_capacity = options.leaf_capacity
        self._lock = threading.RLock()
        self._indexes: dict[int, MemBTreeIndex] = {}
        self._applied_ts = 0
        self._meta: dict[str, bytes] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseClosedError("index store is closed")

    def open_index(self, index_id: int) -> MemBTreeIndex:
        """The index with this id, created empty if it does not exist. Runtime: O(1)."""
        check_index_id(index_id)
        with self._lock:
            self._check_open()
            index = self._indexes.get(index_id)
            if index is None:
                index = self._indexes[index_id] = self.index_class(index_id, self, self.leaf_capacity)
            return index

    def drop_index(self, index_id: int) -> None:
        """Delete the index and all its versions (no-op if missing). Old handles then read as empty.

        Runtime: O(1) (the structure is released to the garbage collector).
        """
        with self._lock:
            self._check_open()
            index = self._indexes.pop(index_id, None)
            if index is not None:
                index._clear()

    def index_ids(self) -> list[int]:
        """Ids of every existing index, ascending. Runtime: O(i log i)."""
        with self._lock:
            self._check_open()
            return sorted(self._indexes)

    def apply_batch(self, commits: Sequence[CommitIndexWrites]) -> None:
        """Apply several commits' index writes atomically; afterwards ``applied_ts()`` is the last ts.

        Validation (the kernel's ``validate_batch``) runs before anything changes: ValueError (timestamps
        not strictly increasing above ``applied_ts()``, bad index id), ``IndexKeyTooLargeError``, TypeError
        - and then nothing is applied. Writing to a never-opened index id opens it. An empty batch is a
        no-op. Runtime: O(w·(log n + capacity)) for w writes (O(w) when no key is new).
        """
        with self._lock:
            self._check_open()
            self._validate_batch(commits, self._applied_ts, MAX_KEY_BYTES)
            if not commits:
                return
            for ts, by_index in commits:
                for index_id, writes in by_index.items():
                    index = self._indexes.get(index_id)
                    if index is None:
                        index = self._indexes[index_id] = self.index_class(index_id, self, self.leaf_capacity)
                    index._apply(ts, writes)
            self._applied_ts = commits[-1][0]

    def backfill(self, index_id: int, commits: Sequence[tuple[int, Sequence[IndexWrite]]]) -> None:
        """Write the history of one freshly created, still empty index (adding an index to a table with
        data). Timestamps must strictly increase and be ``<= applied_ts()``; ``applied_ts`` is unchanged.
        ValueError (nothing written) if the index already holds versions or the order is wrong.
        Runtime: O(w·(log n + capacity)) for w writes."""
        with self._lock:
            self._check_open()
            self._validate_batch([(ts, {index_id: w}) for ts, w in commits], 0, MAX_KEY_BYTES)
            if commits and commits[-1][0] > self._applied_ts:
                raise ValueError(f"backfill ts {commits[-1][0]} is above applied_ts {self._applied_ts}; nothing was written")
            index = self.open_index(index_id)
            if index._versions:
                raise ValueError(f"backfill of index {index_id}: the index is not empty; nothing was written")
            for ts, writes in commits:
                index._apply(ts, writes)

    def applied_ts(self) -> Timestamp:
        """Highest commit ts applied (0 if none). Runtime: O(1)."""
        return Timestamp(self._applied_ts)

    def get_meta(self, key: str) -> bytes | None:
        """Metadata stored with ``put_meta``; None if never set. Runtime: O(1)."""
        with self._lock:
            self._check_open()
            return self._meta.get(key)

    def put_meta(self, key: str, value: bytes) -> None:
        """Set metadata *key* (a str) to *value* (bytes), replacing any previous value. Runtime: O(1)."""
        if not isinstance(key, str) or not isinstance(value, bytes):
            raise TypeError("meta keys are str and values are bytes")
        with self._lock:
            self._check_open()
            self._meta[key] = value

    def gc(self, below_ts: Timestamp) -> int:
        """Drop versions no snapshot ``>= below_ts`` can see, in every index; returns versions removed.

        Reads at snapshots ``>= below_ts`` are unchanged. Runtime: O(total versions); holds the lock.
        """
        with self._lock:
            self._check_open()
            return sum(index.gc(below_ts) for index in self._indexes.values())

    def check_invariants(self) -> None:
        """Assert every index is well formed and no version is newer than ``applied_ts``. O(n)."""
        with self._lock:
            assert isinstance(self._applied_ts, int) and self._applied_ts >= 0
            for index_id, index in self._indexes.items():
                assert index.index_id == index_id
                assert 0 <= index_id <= MAX_INDEX_ID
                index.check_invariants(self._applied_ts)

    def debug_state(self) -> dict[str, Any]:
        """Summary: applied_ts, meta keys and each index's ``debug_state``. O(n)."""
        with self._lock:
            return {"name": self.name, "applied_ts": self._applied_ts, "leaf_capacity": self.leaf_capacity,
                    "kernel": getattr(self.kernel, "__name__", repr(self.kernel)),
                    "closed": self._closed, "meta_keys": sorted(self._meta),
                    "indexes": {i: self._indexes[i].debug_state() for i in sorted(self._indexes)}}

    def close(self) -> None:
        """Release the indexes; later calls raise ``DatabaseClosedError``. Idempotent."""
        with self._lock:
            self._closed = True
            for index in self._indexes.values():
                index._closed = True
