# cython: language_level=3
# Twin of engine/index/mem_btree.py. Names, signatures, docstrings, ABI and on-disk/wire formats must match;
# tests/parity enforces this. Change the Python reference first.
# The ported reference code below the C kernels indexes with Python semantics (``leaf[-1]``, IndexError on a
# missing key), so bounds checks and wraparound stay on for this module; the hot loops do not index Python
# objects at all (they use PyList_GET_ITEM within explicit size checks), so the directives cost them nothing.
# cython: annotation_typing=False, boundscheck=True, wraparound=True
"""Cython twin of ``engine.index.mem_btree``: the in-memory MVCC index store ``"mem-btree"``.

Same data layout as the reference (a ``SortedKeyLeaves`` of sorted leaf lists plus a directory of leaf
maxima, and a dict ``key -> [(ts, value | None), ...]`` newest first), same single ``threading.RLock`` per
store guarding every mutation and every read call. What is accelerated:

- MVCC resolution (``resolve``, ``MemBTreeIndex.get`` and the per-key step of every scan) is a C loop over
  the version list: the snapshot is converted to a C ``u64`` once per call and each version's ts with
  ``PyLong_AsUnsignedLong`` (no rich comparison), values are returned by reference.
- ``scan_forward`` / ``scan_reverse`` and ``MemBTreeIndex.scan_batch``: the leaf-directory and in-leaf
  bisects and the per-key bound tests are ``memcmp`` on the ``bytes`` buffers, leaves are walked with
  ``PyList_GET_ITEM``, the version lists are found with a borrowed dict lookup (the key objects in the
  leaves are the dict's own keys, so the cached hash and an identity check resolve it), and the whole batch
  is produced in one call - Python is entered once per batch, not per key.
- ``SortedKeyLeaves.insert``/``remove`` (the committer's path) use the same ``memcmp`` bisect.

Inputs that are not the exact types a store builds (non-``bytes`` keys or bounds, non-``int`` snapshots,
version entries that are not 2-tuples, ...) take a generic path with the reference's exact Python
comparison semantics, so the flat kernels behave identically on any input the reference accepts.
"""
from __future__ import annotations

import threading
from bisect import bisect_left
from typing import Any, Iterator, Sequence

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_CheckExact
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_CheckExact
from cpython.object cimport Py_GE, Py_LE, Py_LT, PyObject_RichCompareBool
from cpython.ref cimport PyObject
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.string cimport memcmp

from engine.model.errors import DatabaseClosedError, IndexKeyTooLargeError
from engine.index.base import SCAN_BATCH, CommitIndexWrites, IndexConfig, IndexWrite, scan_by_batches
from engine.model.types import MAX_TIMESTAMP, Interval, Timestamp

cdef extern from "Python.h":
    # Declared without an exception spec: the callers test PyErr_Occurred() themselves and fall back.
    unsigned long _as_ulong "PyLong_AsUnsignedLong" (object) noexcept
    Py_ssize_t _as_ssize "PyLong_AsSsize_t" (object) noexcept
    PyObject* PyErr_Occurred() noexcept
    void PyErr_Clear() noexcept
    PyObject* PyDict_GetItemWithError(object, object) except? NULL

ctypedef unsigned long long u64

cdef extern from *:
    Py_ssize_t PY_SSIZE_T_MAX

#: Kernel ABI shared with the Cython twin ``engine._native.mvcc``; bump on any semantic change.
ABI = "mvcc/1"

#: The kernel's public API: its Cython twin must export exactly these names (tests/parity).
__all__ = [
    "ABI",
    "DEFAULT_LEAF_CAPACITY",
    "MAX_KEY_BYTES",
    "MAX_INDEX_ID",
    "resolve",
    "scan_forward",
    "scan_reverse",
    "gc_versions",
    "validate_batch",
    "SortedKeyLeaves",
    "MemBTreeIndex",
    "MemBTreeStore",
]

#: Default number of keys per leaf. Large leaves keep the leaf directory short (few bisect steps, good
#: locality when scanning); list insert/delete inside a leaf is a memmove of <= 512 pointers, cheaper than
#: any pointer-chasing tree in Python.
DEFAULT_LEAF_CAPACITY = 512

#: Longest key any strategy accepts: LMDB's default maximum key size (511) minus the 12 bytes of framing
#: (u32 index id + u64 inverted ts) that ``lmdb_btree`` adds. Every strategy enforces the same bound so
#: that swapping strategies never changes which writes succeed. ``engine.encoding.MAX_INDEX_KEY_BYTES``
#: (the engine's own limit) must not exceed it.
MAX_KEY_BYTES = 511 - 12

#: Index ids are u32 (the LMDB layout stores them in 4 bytes); every strategy enforces the range.
MAX_INDEX_ID = (1 << 32) - 1

cdef bint _ULONG_IS_U64 = sizeof(unsigned long) == 8


# --------------------------------------------------------------------------------------------------
# C helpers.
# --------------------------------------------------------------------------------------------------

cdef inline int _bcmp(object a, object b) noexcept:
    """Three-way comparison of two exact ``bytes`` (the order of Python ``bytes``)."""
    cdef Py_ssize_t la = PyBytes_GET_SIZE(a), lb = PyBytes_GET_SIZE(b)
    cdef Py_ssize_t n = la if la < lb else lb
    cdef int c = memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), <size_t>n) if n > 0 else 0
    if c != 0:
        return c
    return (la > lb) - (la < lb)


cdef inline int _lt(object a, object b) except -1:
    """``a < b`` with Python semantics; memcmp when both are exact bytes."""
    if PyBytes_CheckExact(a) and PyBytes_CheckExact(b):
        return _bcmp(a, b) < 0
    return PyObject_RichCompareBool(a, b, Py_LT)


cdef inline int _ge(object a, object b) except -1:
    """``a >= b`` with Python semantics; memcmp when both are exact bytes."""
    if PyBytes_CheckExact(a) and PyBytes_CheckExact(b):
        return _bcmp(a, b) >= 0
    return PyObject_RichCompareBool(a, b, Py_GE)


cdef Py_ssize_t _bisect(object a, object x) except -1:
    """``bisect.bisect_left(a, x)``; a C loop with memcmp for a list of exact bytes and a bytes *x*."""
    cdef Py_ssize_t lo = 0, hi, mid
    cdef object item
    if not (PyList_CheckExact(a) and PyBytes_CheckExact(x)):
        return bisect_left(a, x)
    hi = PyList_GET_SIZE(a)
    while lo < hi:
        mid = (lo + hi) >> 1
        item = <object>PyList_GET_ITEM(a, mid)
        if PyBytes_CheckExact(item):
            if _bcmp(item, x) < 0:
                lo = mid + 1
            else:
                hi = mid
        else:
            if PyObject_RichCompareBool(item, x, Py_LT):
                lo = mid + 1
            else:
                hi = mid
            hi = hi if hi <= PyList_GET_SIZE(a) else PyList_GET_SIZE(a)
    return lo


cdef inline bint _ts_prep(object ts, u64* out) noexcept:
    """Convert a snapshot to u64 for the fast visibility test; False (fall back to ``<=``) if it is not an
    exact int in 0..2^64-1."""
    cdef unsigned long v
    if not _ULONG_IS_U64 or not PyLong_CheckExact(ts):
        return False
    v = _as_ulong(ts)
    if v == <unsigned long>-1 and PyErr_Occurred() != NULL:
        PyErr_Clear()
        return False
    out[0] = v
    return True


cdef inline int _le(object vts, object ts, u64 ts_c, bint ts_fast) except -1:
    """``vts <= ts`` with Python semantics; integer compare when both are exact ints that fit a u64."""
    cdef unsigned long v
    if ts_fast and PyLong_CheckExact(vts):
        v = _as_ulong(vts)
        if v == <unsigned long>-1 and PyErr_Occurred() != NULL:
            PyErr_Clear()
        else:
            return v <= ts_c
    return PyObject_RichCompareBool(vts, ts, Py_LE)


def _resolve_py(versions, ts):
    for vts, value in versions:
        if vts <= ts:
            return value
    return None


cdef inline object _resolve_c(object versions, object ts, u64 ts_c, bint ts_fast):
    """``resolve`` for one version list: a C loop over a list of exact 2-tuples, else the generic loop."""
    cdef Py_ssize_t i = 0
    cdef object t
    if not PyList_CheckExact(versions):
        return _resolve_py(versions, ts)
    while i < PyList_GET_SIZE(versions):
        t = <object>PyList_GET_ITEM(versions, i)
        if not (PyTuple_CheckExact(t) and PyTuple_GET_SIZE(t) == 2):
            return _resolve_py(versions, ts)
        if _le(<object>PyTuple_GET_ITEM(t, 0), ts, ts_c, ts_fast):
            return <object>PyTuple_GET_ITEM(t, 1)
        i += 1
    return None


cdef inline object _lookup(object versions, object key):
    """``versions[key]`` (borrowed fast path for an exact dict)."""
    cdef PyObject* found
    if PyDict_CheckExact(versions):
        found = PyDict_GetItemWithError(versions, key)
        if found == NULL:
            raise KeyError(key)
        return <object>found
    return versions[key]


cdef object _scan_fwd(object leaves, object maxes, object versions, object start, object end, object ts,
                      Py_ssize_t limit):
    """Body of ``scan_forward`` after the ``limit``/empty-interval checks; None means "take the generic path"
    (a leaf directory or leaf that is not a list)."""
    cdef list out = []
    cdef Py_ssize_t li, pos, j
    cdef bint has_end = end is not None, check_end
    cdef u64 ts_c = 0
    cdef bint ts_fast = _ts_prep(ts, &ts_c)
    cdef object leaf, key, value
    if not (PyList_CheckExact(leaves) and PyList_CheckExact(maxes)):
        return None
    li = _bisect(maxes, start)  # first leaf whose max >= start
    if li >= PyList_GET_SIZE(leaves):
        return out
    leaf = <object>PyList_GET_ITEM(leaves, li)
    if not PyList_CheckExact(leaf):
        return None
    pos = _bisect(leaf, start)
    while li < PyList_GET_SIZE(leaves):
        leaf = <object>PyList_GET_ITEM(leaves, li)
        if not PyList_CheckExact(leaf) or li >= PyList_GET_SIZE(maxes):
            return None
        # Only the last leaf the interval touches needs the per-key end test.
        check_end = has_end and _ge(<object>PyList_GET_ITEM(maxes, li), end)
        j = pos
        while j < PyList_GET_SIZE(leaf):
            key = <object>PyList_GET_ITEM(leaf, j)
            if check_end and _ge(key, end):
                return out
            value = _resolve_c(_lookup(versions, key), ts, ts_c, ts_fast)
            if value is not None:
                out.append((key, value))
                if PyList_GET_SIZE(out) >= limit:
                    return out
            j += 1
        li += 1
        pos = 0
    return out


cdef object _scan_rev(object leaves, object maxes, object versions, object start, object end, object ts,
                      Py_ssize_t limit):
    """Body of ``scan_reverse`` after the ``limit``/empty-interval checks; None means "take the generic
    path"."""
    cdef list out = []
    cdef Py_ssize_t nleaves, li, pos, j
    cdef u64 ts_c = 0
    cdef bint ts_fast = _ts_prep(ts, &ts_c)
    cdef object leaf, key, value
    if not (PyList_CheckExact(leaves) and PyList_CheckExact(maxes)):
        return None
    nleaves = PyList_GET_SIZE(leaves)
    if nleaves == 0:
        return out
    if end is None:
        li = nleaves - 1
        leaf = <object>PyList_GET_ITEM(leaves, li)
        if not PyList_CheckExact(leaf):
            return None
        pos = PyList_GET_SIZE(leaf)  # exclusive
    else:
        li = _bisect(maxes, end)  # first leaf whose max >= end: keys < end are left of it or in it
        if li >= PyList_GET_SIZE(leaves):
            li = PyList_GET_SIZE(leaves) - 1
            if li < 0:
                return out
            leaf = <object>PyList_GET_ITEM(leaves, li)
            if not PyList_CheckExact(leaf):
                return None
            pos = PyList_GET_SIZE(leaf)
        else:
            leaf = <object>PyList_GET_ITEM(leaves, li)
            if not PyList_CheckExact(leaf):
                return None
            pos = _bisect(leaf, end)
    while li >= 0:
        if li >= PyList_GET_SIZE(leaves):
            return None
        leaf = <object>PyList_GET_ITEM(leaves, li)
        if not PyList_CheckExact(leaf):
            return None
        j = pos - 1
        while j >= 0:
            if j < PyList_GET_SIZE(leaf):
                key = <object>PyList_GET_ITEM(leaf, j)
                if _lt(key, start):
                    return out
                value = _resolve_c(_lookup(versions, key), ts, ts_c, ts_fast)
                if value is not None:
                    out.append((key, value))
                    if PyList_GET_SIZE(out) >= limit:
                        return out
            j -= 1
        li -= 1
        if li >= 0 and li < PyList_GET_SIZE(leaves):
            leaf = <object>PyList_GET_ITEM(leaves, li)
            if not PyList_CheckExact(leaf):
                return None
            pos = PyList_GET_SIZE(leaf)
    return out


cdef inline Py_ssize_t _limit(object limit) noexcept:
    """A positive int limit as Py_ssize_t (saturating); 0 means "not an exact int": take the generic path."""
    cdef Py_ssize_t n
    if not PyLong_CheckExact(limit):
        return 0
    n = _as_ssize(limit)
    if n == -1 and PyErr_Occurred() != NULL:
        PyErr_Clear()  # an exact int too large for Py_ssize_t (the caller checked limit > 0)
        return PY_SSIZE_T_MAX
    return n


def _scan_forward_py(leaves, maxes, versions, start, end, ts, limit):
    out = []
    nleaves = len(leaves)
    li = bisect_left(maxes, start)
    if li == nleaves:
        return out
    pos = bisect_left(leaves[li], start)
    append = out.append
    while li < nleaves:
        leaf = leaves[li]
        check_end = end is not None and maxes[li] >= end
        for j in range(pos, len(leaf)):
            key = leaf[j]
            if check_end and key >= end:
                return out
            for vts, value in versions[key]:
                if vts <= ts:
                    if value is not None:
                        append((key, value))
                        if len(out) >= limit:
                            return out
                    break
        li += 1
        pos = 0
    return out


def _scan_reverse_py(leaves, maxes, versions, start, end, ts, limit):
    out = []
    nleaves = len(leaves)
    if nleaves == 0:
        return out
    if end is None:
        li = nleaves - 1
        pos = len(leaves[li])
    else:
        li = bisect_left(maxes, end)
        if li == nleaves:
            li -= 1
            pos = len(leaves[li])
        else:
            pos = bisect_left(leaves[li], end)
    append = out.append
    while li >= 0:
        leaf = leaves[li]
        for j in range(pos - 1, -1, -1):
            key = leaf[j]
            if key < start:
                return out
            for vts, value in versions[key]:
                if vts <= ts:
                    if value is not None:
                        append((key, value))
                        if len(out) >= limit:
                            return out
                    break
        li -= 1
        if li >= 0:
            pos = len(leaves[li])
    return out


# --------------------------------------------------------------------------------------------------
# Flat kernels (mirrored by the Cython twin).
# --------------------------------------------------------------------------------------------------

def resolve(versions: list, ts: int) -> bytes | None:
    """Value visible at snapshot *ts* in a newest-first version list; None for a tombstone or no version.

    Runtime: O(v) for the v versions newer than *ts* (usually 0: reads are mostly at recent snapshots).
    """
    cdef u64 ts_c = 0
    cdef bint ts_fast = _ts_prep(ts, &ts_c)
    return _resolve_c(versions, ts, ts_c, ts_fast)


def scan_forward(leaves: list, maxes: list, versions: dict, start: bytes, end: bytes | None,
                 ts: int, limit: int) -> list:
    """Up to *limit* live ``(key, value)`` pairs at *ts* with ``start <= key < end``, ascending.

    ``end=None`` is unbounded; ``start >= end`` or ``limit <= 0`` gives ``[]``. Keys with no version
    ``<= ts`` or whose visible version is a tombstone are skipped (they do not count towards *limit*).
    Runtime: O(log n + k·v) for k keys visited.
    """
    if limit <= 0 or (end is not None and _ge(start, end)):
        return []
    cdef Py_ssize_t n = _limit(limit)
    out = _scan_fwd(leaves, maxes, versions, start, end, ts, n) if n > 0 else None
    if out is None:
        return _scan_forward_py(leaves, maxes, versions, start, end, ts, limit)
    return out


def scan_reverse(leaves: list, maxes: list, versions: dict, start: bytes, end: bytes | None,
                 ts: int, limit: int) -> list:
    """Like ``scan_forward`` but descending: the *limit* greatest live keys of ``[start, end)`` at *ts*.

    Runtime: O(log n + k·v) for k keys visited.
    """
    if limit <= 0 or (end is not None and _ge(start, end)):
        return []
    cdef Py_ssize_t n = _limit(limit)
    out = _scan_rev(leaves, maxes, versions, start, end, ts, n) if n > 0 else None
    if out is None:
        return _scan_reverse_py(leaves, maxes, versions, start, end, ts, limit)
    return out


def gc_versions(versions: list, below_ts: int) -> int:
    """Truncate a newest-first version list in place to what snapshots ``>= below_ts`` can see.

    Keeps every version newer than *below_ts* and the newest one ``<= below_ts`` unless it is a tombstone;
    drops everything older. Returns the number of versions removed (the list may become empty).
    Runtime: O(v).
    """
    for j, (vts, value) in enumerate(versions):
        if vts <= below_ts:
            keep = j + 1 if value is not None else j
            removed = len(versions) - keep
            if removed:
                del versions[keep:]
            return removed
    return 0


def validate_batch(commits: Sequence[CommitIndexWrites], applied_ts: int, max_key_bytes: int) -> None:
    """Reject a batch before anything is applied: every strategy's ``apply_batch`` calls this first.

    Raises ValueError unless timestamps strictly increase, exceed *applied_ts* and fit in a u64; ValueError
    for an index id outside u32; ``IndexKeyTooLargeError`` (a ValueError) for a key longer than
    *max_key_bytes*; TypeError for keys/values that are not bytes (values may be None: a tombstone).
    Runtime: O(total writes).
    """
    prev = applied_ts
    for ts, by_index in commits:
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise TypeError(f"commit timestamp must be an int, got {ts!r}")
        if ts <= prev:
            raise ValueError(f"commit timestamps must strictly increase and exceed applied_ts: "
                             f"got {ts} after {prev} (applied_ts={applied_ts}); nothing was applied")
        if ts > MAX_TIMESTAMP:
            raise ValueError(f"commit timestamp {ts} does not fit in a u64; nothing was applied")
        for index_id, writes in by_index.items():
            if not isinstance(index_id, int) or isinstance(index_id, bool) or not 0 <= index_id <= MAX_INDEX_ID:
                raise ValueError(f"index id must be an int in 0..2^32-1, got {index_id!r}; nothing was applied")
            for key, value in writes:
                if not isinstance(key, bytes):
                    raise TypeError(f"index key must be bytes, got {type(key).__name__}")
                if len(key) > max_key_bytes:
                    raise IndexKeyTooLargeError(
                        f"index key of {len(key)} bytes exceeds the limit of {max_key_bytes} bytes "
                        f"(index {index_id}); nothing was applied")
                if value is not None and not isinstance(value, bytes):
                    raise TypeError(f"index value must be bytes or None (tombstone), got {type(value).__name__}")
        prev = ts


def _check_index_id(index_id: int) -> None:
    if not isinstance(index_id, int) or isinstance(index_id, bool) or not 0 <= index_id <= MAX_INDEX_ID:
        raise ValueError(f"index id must be an int in 0..2^32-1, got {index_id!r}")


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
    directly by the scan kernels (flat data, no method calls in the inner loop).
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
        li = _bisect(maxes, key)
        if li == len(maxes):  # greater than every key: append to the last leaf
            li -= 1
        leaf = leaves[li]
        pos = _bisect(leaf, key)
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
        li = _bisect(maxes, key)
        leaf = leaves[li]
        pos = _bisect(leaf, key)
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
        self._versions: dict[bytes, list[tuple[int, bytes | None]]] = {}
        self._keys = SortedKeyLeaves(leaf_capacity)
        self._closed = False

    # Hook for the gc kernel: gc is not hot, and tests/mutants plug a broken kernel in here.
    _gc_versions = staticmethod(gc_versions)

    # -- reads ---------------------------------------------------------------------------------------

    def get(self, key: bytes, ts: Timestamp) -> bytes | None:
        """Value of the newest version of *key* with ``vts <= ts``; None if absent or a tombstone.

        Runtime: O(1) hash lookup + O(v) for the v versions newer than *ts*.
        """
        cdef u64 ts_c = 0
        cdef PyObject* found
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise DatabaseClosedError("index store is closed")
            versions_map = self._versions
            if PyDict_CheckExact(versions_map):
                found = PyDict_GetItemWithError(versions_map, key)
                if found == NULL:
                    return None
                versions = <object>found
            else:
                versions = versions_map.get(key)
                if versions is None:
                    return None
            if not _ts_prep(ts, &ts_c):
                return _resolve_py(versions, ts)
            return _resolve_c(versions, ts, ts_c, True)
        finally:
            lock.release()

    def scan_batch(self, interval: Interval, ts: Timestamp, limit: int, reverse: bool = False) -> list[tuple[bytes, bytes]]:
        """Up to *limit* live ``(key, value)`` pairs visible at *ts* inside *interval* (start incl., end excl.),
        ascending by key, or descending if *reverse*. ``limit <= 0`` or an empty interval gives ``[]``.

        Runtime: O(log n + k·v) for k keys visited (hidden keys are visited but not returned).
        """
        cdef Py_ssize_t n
        lock = self._lock
        lock.acquire()
        try:
            if self._closed:
                raise DatabaseClosedError("index store is closed")
            keys = self._keys
            start, end = interval.start, interval.end
            n = _limit(limit)
            if n <= 0 or not PyBytes_CheckExact(start) or not (end is None or PyBytes_CheckExact(end)):
                # Unusual arguments: the flat kernels handle every case with the reference's semantics.
                if reverse:
                    return scan_reverse(keys.leaves, keys.maxes, self._versions, start, end, ts, limit)
                return scan_forward(keys.leaves, keys.maxes, self._versions, start, end, ts, limit)
            if end is not None and _bcmp(start, end) >= 0:
                return []
            if reverse:
                out = _scan_rev(keys.leaves, keys.maxes, self._versions, start, end, ts, n)
            else:
                out = _scan_fwd(keys.leaves, keys.maxes, self._versions, start, end, ts, n)
            if out is None:
                if reverse:
                    return scan_reverse(keys.leaves, keys.maxes, self._versions, start, end, ts, limit)
                return scan_forward(keys.leaves, keys.maxes, self._versions, start, end, ts, limit)
            return out
        finally:
            lock.release()

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
        li = _bisect(maxes, interval.start)
        pos = _bisect(leaves[li], interval.start) if li < len(leaves) else 0
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
        """Prepend one commit's versions. Two writes to one key in a commit: the last one wins."""
        versions_map = self._versions
        for key, value in writes:
            versions = versions_map.get(key)
            if versions is None:
                versions_map[key] = [(ts, value)]
                self._keys.insert(key)
            elif versions[0][0] == ts:
                versions[0] = (ts, value)
            else:
                versions.insert(0, (ts, value))

    def gc(self, below_ts: Timestamp) -> int:
        """Drop versions of this index no snapshot ``>= below_ts`` can see; remove keys left with none.

        Returns versions removed. Runtime: O(n·v + r·(log n + capacity)) for r keys removed.
        """
        removed = 0
        with self._lock:
            versions_map = self._versions
            emptied = []
            for key, versions in versions_map.items():
                n = self._gc_versions(versions, below_ts)
                if n:
                    removed += n
                    if not versions:
                        emptied.append(key)
            for key in emptied:
                del versions_map[key]
                self._keys.remove(key)
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

    ``leaf_capacity`` (argument, else ``config.extra["leaf_capacity"]``, else 512) sets the B-tree leaf
    size; tests use tiny values (4) to drive splits and merges. ``config.path`` is ignored.
    """

    name = "mem-btree"
    #: Contents do not survive ``close``; the database rebuilds them from the commit log.
    persistent = False
    #: The class of each index (mutant tests substitute a broken subclass).
    index_class = MemBTreeIndex

    def __init__(self, config: IndexConfig | None = None, *, leaf_capacity: int | None = None) -> None:
        config = config or IndexConfig()
        if leaf_capacity is None:
            leaf_capacity = int(config.extra.get("leaf_capacity", DEFAULT_LEAF_CAPACITY))
        SortedKeyLeaves(leaf_capacity)  # validates the capacity eagerly
        self.config = config
        self.leaf_capacity = leaf_capacity
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
        _check_index_id(index_id)
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

        Validation (``validate_batch``) runs before anything changes: ValueError (timestamps not strictly
        increasing above ``applied_ts()``, bad index id), ``IndexKeyTooLargeError``, TypeError - and then
        nothing is applied. Writing to a never-opened index id opens it. An empty batch is a no-op.
        Runtime: O(w·(log n + capacity)) for w writes (O(w) when no key is new).
        """
        with self._lock:
            self._check_open()
            validate_batch(commits, self._applied_ts, MAX_KEY_BYTES)
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
            validate_batch([(ts, {index_id: w}) for ts, w in commits], 0, MAX_KEY_BYTES)
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
                    "closed": self._closed, "meta_keys": sorted(self._meta),
                    "indexes": {i: self._indexes[i].debug_state() for i in sorted(self._indexes)}}

    def close(self) -> None:
        """Release the indexes; later calls raise ``DatabaseClosedError``. Idempotent."""
        with self._lock:
            self._closed = True
            for index in self._indexes.values():
                index._closed = True


# ``inspect.getdoc`` gives the reference's undocumented ``__init__`` methods the inherited ``object.__init__``
# docstring but cannot look through a compiled function; give the twin's the same text explicitly.
for _cls in (SortedKeyLeaves, MemBTreeIndex, MemBTreeStore):
    if _cls.__init__.__doc__ is None:
        _cls.__init__.__doc__ = object.__init__.__doc__
del _cls
