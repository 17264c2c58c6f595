# cython: language_level=3
# cython: annotation_typing=False, boundscheck=False, wraparound=False
# Twin of engine/index/mvcc_kernel.py. Names, signatures, docstrings and ABI must match; tests/parity enforces
# this. Change the Python reference first. Bounds checks are off: every list access below is inside an
# explicit PyList_GET_SIZE test, and every object is type-checked before its buffer is read.
"""Cython twin of ``engine.index.mvcc_kernel``: the hot loops of ``"mem-btree"`` in C.

Kernels only: the store (``engine.index.mem_btree.MemBTreeStore``) is shared with the reference and is
handed this module by ``engine._impl``. What is faster here:

- version resolution (``resolve``, ``resolve_key`` and the per-key step of every scan): a C loop over the
  version list, the snapshot converted to a C ``u64`` once per call, each version's ts compared as a
  ``u64``; values are returned by reference;
- ``scan_forward`` / ``scan_reverse``: leaf-directory and in-leaf bisects and the bound tests are
  ``memcmp`` on the ``bytes`` buffers, leaves are walked with ``PyList_GET_ITEM``, and version lists are
  found with a borrowed dict lookup (the leaf keys are the dict's own key objects, so the cached hash and
  an identity check resolve it) - Python is entered once per batch, not per key;
- ``get_document`` / ``scan_documents``: the compiled lookup or scan, each row's by_id version found with
  a borrowed dict lookup and resolved in C, and one ``decode_many`` call per batch;
- ``apply_writes``, ``gc_versions``, ``gc_index`` and ``validate_batch``: the same loops, compiled.

There is no second code path: an input outside the documented types raises the reference's TypeError.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Check, PyDict_DelItem, PyDict_Next, PyDict_SetItem
from cpython.list cimport PyList_Append, PyList_Check, PyList_GET_ITEM, PyList_GET_SIZE, PyList_Insert
from cpython.long cimport PyLong_AsUnsignedLongLong, PyLong_Check
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.string cimport memcmp

from engine.model.errors import IndexKeyTooLargeError
from engine.index.base import MAX_INDEX_ID
from engine.model.types import MAX_TIMESTAMP

include "_validate.pxi"

cdef extern from "Python.h":
    # Declared without an exception spec: callers test PyErr_Occurred() themselves (to clamp).
    unsigned long long _as_u64 "PyLong_AsUnsignedLongLong" (object) noexcept
    Py_ssize_t _as_ssize "PyLong_AsSsize_t" (object) noexcept
    PyObject* PyErr_Occurred() noexcept
    void PyErr_Clear() noexcept
    PyObject* PyDict_GetItemWithError(object, object) except? NULL
    Py_ssize_t PY_SSIZE_T_MAX

ctypedef unsigned long long u64

#: Kernel ABI shared with the Cython twin ``engine._native.mvcc``; bump on any semantic change.
#: 2: the twin is kernels only (resolve_key, apply_writes, gc_index added; the store classes moved out).
#: 3: the document read path (get_document, scan_documents).
ABI = "mvcc/3"

#: The kernel's public API: its Cython twin must export exactly these names (tests/parity).
__all__ = [
    "ABI",
    "resolve",
    "resolve_key",
    "scan_forward",
    "scan_reverse",
    "get_document",
    "scan_documents",
    "apply_writes",
    "gc_versions",
    "gc_index",
    "validate_batch",
]


# --------------------------------------------------------------------------------------------------
# C helpers.
# --------------------------------------------------------------------------------------------------

cdef inline int _bcmp(object a, object b) noexcept:
    """Three-way comparison of two ``bytes`` (the order of Python ``bytes``); callers checked the types."""
    cdef Py_ssize_t la = PyBytes_GET_SIZE(a), lb = PyBytes_GET_SIZE(b)
    cdef Py_ssize_t n = la if la < lb else lb
    cdef int c = memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), <size_t>n) if n > 0 else 0
    if c != 0:
        return c
    return (la > lb) - (la < lb)


cdef inline object _bytes_item(object seq, Py_ssize_t i):
    """``seq[i]`` of a list whose items must be bytes (a leaf or the maxes directory)."""
    cdef object item = <object>PyList_GET_ITEM(seq, i)
    if not PyBytes_Check(item):
        raise TypeError(f"leaf keys must be bytes, got {type(item).__name__}")
    return item


cdef Py_ssize_t _bisect(object a, object x) except -1:
    """``bisect.bisect_left(a, x)`` for a list of bytes and a bytes *x*, with memcmp."""
    cdef Py_ssize_t lo = 0, hi = PyList_GET_SIZE(a), mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if _bcmp(_bytes_item(a, mid), x) < 0:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef u64 _snap(object ts, str what) except? 0:
    """An int snapshot as a u64, clamped: below 0 is 0 (no version is visible, every ts is >= 1), above
    2^64-1 is 2^64-1 (every version is). TypeError for a non-int."""
    cdef u64 v
    if not PyLong_Check(ts):
        raise TypeError(f"{what} must be an int, got {type(ts).__name__}")
    v = _as_u64(ts)
    if v == <u64>-1 and PyErr_Occurred() != NULL:
        PyErr_Clear()
        return 0 if ts < 0 else <u64>-1
    return v


cdef inline object _resolve(object versions, u64 ts):
    """The value visible at *ts* in a newest-first version list (None: tombstone or no version)."""
    cdef Py_ssize_t i
    cdef object t
    if not PyList_Check(versions):
        raise TypeError(f"a version list must be a list, got {type(versions).__name__}")
    for i in range(PyList_GET_SIZE(versions)):
        t = <object>PyList_GET_ITEM(versions, i)
        if not (PyTuple_Check(t) and PyTuple_GET_SIZE(t) == 2):
            raise TypeError("version entries must be (ts, value) pairs")
        if PyLong_AsUnsignedLongLong(<object>PyTuple_GET_ITEM(t, 0)) <= ts:
            return <object>PyTuple_GET_ITEM(t, 1)
    return None


cdef inline object _lookup(object versions, object key):
    """``versions[key]`` (borrowed lookup; KeyError like the reference's ``versions[key]``)."""
    cdef PyObject* found = PyDict_GetItemWithError(versions, key)
    if found == NULL:
        raise KeyError(key)
    return <object>found


cdef Py_ssize_t _check_scan_args(object leaves, object maxes, object versions, object start, object end,
                                 object ts, object limit) except -2:
    """The reference's argument checks; returns *limit* as a Py_ssize_t (saturating; <= 0 means none)."""
    cdef Py_ssize_t n
    if not PyList_Check(leaves) or not PyList_Check(maxes):
        raise TypeError("scan leaves and maxes must be lists")
    if not PyDict_Check(versions):
        raise TypeError(f"versions must be a dict, got {type(versions).__name__}")
    if not PyBytes_Check(start):
        raise TypeError(f"scan start must be bytes, got {type(start).__name__}")
    if end is not None and not PyBytes_Check(end):
        raise TypeError(f"scan end must be bytes or None, got {type(end).__name__}")
    if not PyLong_Check(ts):
        raise TypeError(f"snapshot ts must be an int, got {type(ts).__name__}")
    if not PyLong_Check(limit):
        raise TypeError(f"scan limit must be an int, got {type(limit).__name__}")
    n = _as_ssize(limit)
    if n == -1 and PyErr_Occurred() != NULL:
        PyErr_Clear()
        return 0 if limit < 0 else PY_SSIZE_T_MAX
    return n


# --------------------------------------------------------------------------------------------------
# Kernels.
# --------------------------------------------------------------------------------------------------

def resolve(versions: list, ts: int) -> bytes | None:
    """Value visible at snapshot *ts* in a newest-first version list; None for a tombstone or no version.

    TypeError if *ts* is not an int. Runtime: O(v) for the v versions newer than *ts* (usually 0: reads
    are mostly at recent snapshots).
    """
    return _resolve(versions, _snap(ts, "snapshot ts"))


def resolve_key(versions_map: dict, key: bytes, ts: int) -> bytes | None:
    """Value of *key* visible at snapshot *ts*: ``resolve(versions_map[key], ts)``, None for a key never
    written. TypeError if *versions_map* is not a dict or *ts* not an int. Runtime: O(1) hash lookup + O(v)."""
    cdef PyObject* found
    if not PyDict_Check(versions_map):
        raise TypeError(f"versions_map must be a dict, got {type(versions_map).__name__}")
    cdef u64 t = _snap(ts, "snapshot ts")
    found = PyDict_GetItemWithError(versions_map, key)
    if found == NULL:
        return None
    return _resolve(<object>found, t)


def scan_forward(leaves: list, maxes: list, versions: dict, start: bytes, end: bytes | None,
                 ts: int, limit: int) -> list:
    """Up to *limit* live ``(key, value)`` pairs at *ts* with ``start <= key < end``, ascending.

    ``end=None`` is unbounded; ``start >= end`` or ``limit <= 0`` gives ``[]``. Keys with no version
    ``<= ts`` or whose visible version is a tombstone are skipped (they do not count towards *limit*).
    TypeError unless *start* is bytes, *end* bytes or None, *ts* and *limit* ints.
    Runtime: O(log n + k·v) for k keys visited.
    """
    cdef Py_ssize_t n = _check_scan_args(leaves, maxes, versions, start, end, ts, limit)
    cdef list out = []
    cdef Py_ssize_t li, pos, j, nleaves
    cdef bint has_end = end is not None, check_end
    cdef u64 t
    cdef object leaf, key, value
    if n <= 0 or (has_end and _bcmp(start, end) >= 0):
        return out
    t = _snap(ts, "snapshot ts")
    nleaves = PyList_GET_SIZE(leaves)
    if PyList_GET_SIZE(maxes) != nleaves:
        raise ValueError("leaf directory out of sync")
    li = _bisect(maxes, start)  # first leaf whose max >= start
    if li >= nleaves:
        return out
    leaf = <object>PyList_GET_ITEM(leaves, li)
    if not PyList_Check(leaf):
        raise TypeError("leaves must be lists")
    pos = _bisect(leaf, start)
    while li < nleaves:
        leaf = <object>PyList_GET_ITEM(leaves, li)
        if not PyList_Check(leaf):
            raise TypeError("leaves must be lists")
        # Only the last leaf the interval touches needs the per-key end test.
        check_end = has_end and _bcmp(_bytes_item(maxes, li), end) >= 0
        j = pos
        while j < PyList_GET_SIZE(leaf):
            key = _bytes_item(leaf, j)
            if check_end and _bcmp(key, end) >= 0:
                return out
            value = _resolve(_lookup(versions, key), t)
            if value is not None:
                PyList_Append(out, (key, value))
                if PyList_GET_SIZE(out) >= n:
                    return out
            j += 1
        li += 1
        pos = 0
    return out


def scan_reverse(leaves: list, maxes: list, versions: dict, start: bytes, end: bytes | None,
                 ts: int, limit: int) -> list:
    """Like ``scan_forward`` but descending: the *limit* greatest live keys of ``[start, end)`` at *ts*.

    Runtime: O(log n + k·v) for k keys visited.
    """
    cdef Py_ssize_t n = _check_scan_args(leaves, maxes, versions, start, end, ts, limit)
    cdef list out = []
    cdef Py_ssize_t nleaves, li, pos, j
    cdef u64 t
    cdef object leaf, key, value
    if n <= 0 or (end is not None and _bcmp(start, end) >= 0):
        return out
    t = _snap(ts, "snapshot ts")
    nleaves = PyList_GET_SIZE(leaves)
    if PyList_GET_SIZE(maxes) != nleaves:
        raise ValueError("leaf directory out of sync")
    if nleaves == 0:
        return out
    if end is None:
        li = nleaves - 1
        leaf = <object>PyList_GET_ITEM(leaves, li)
        if not PyList_Check(leaf):
            raise TypeError("leaves must be lists")
        pos = PyList_GET_SIZE(leaf)  # exclusive
    else:
        li = _bisect(maxes, end)  # first leaf whose max >= end: keys < end are left of it or in it
        if li == nleaves:
            li -= 1
            leaf = <object>PyList_GET_ITEM(leaves, li)
            if not PyList_Check(leaf):
                raise TypeError("leaves must be lists")
            pos = PyList_GET_SIZE(leaf)
        else:
            leaf = <object>PyList_GET_ITEM(leaves, li)
            if not PyList_Check(leaf):
                raise TypeError("leaves must be lists")
            pos = _bisect(leaf, end)
    while li >= 0:
        leaf = <object>PyList_GET_ITEM(leaves, li)
        if not PyList_Check(leaf):
            raise TypeError("leaves must be lists")
        j = pos - 1
        if j >= PyList_GET_SIZE(leaf):
            j = PyList_GET_SIZE(leaf) - 1
        while j >= 0:
            key = _bytes_item(leaf, j)
            if _bcmp(key, start) < 0:
                return out
            value = _resolve(_lookup(versions, key), t)
            if value is not None:
                PyList_Append(out, (key, value))
                if PyList_GET_SIZE(out) >= n:
                    return out
            j -= 1
        li -= 1
        if li >= 0:
            leaf = <object>PyList_GET_ITEM(leaves, li)
            if not PyList_Check(leaf):
                raise TypeError("leaves must be lists")
            pos = PyList_GET_SIZE(leaf)
    return out


def get_document(versions_map: dict, key: bytes, ts: int, decode) -> tuple | None:
    """The document value of *key* visible at *ts*, decoded: ``(decode(value, 8), header)`` with *header*
    the value's leading u64 BE (by_id: the version's commit ts); None if absent or a tombstone.

    TypeError as ``resolve_key``; ValueError for a value shorter than the header. Runtime: O(1) hash lookup + O(v) + one decode.
    """
    cdef PyObject* found
    if not PyDict_Check(versions_map):
        raise TypeError(f"versions_map must be a dict, got {type(versions_map).__name__}")
    cdef u64 t = _snap(ts, "snapshot ts")
    found = PyDict_GetItemWithError(versions_map, key)
    if found == NULL:
        return None
    cdef object value = _resolve(<object>found, t)
    if value is None:
        return None
    return decode(value, 8), _header(value)


cdef inline u64 _header(object value) except? 0:
    """The leading u64 BE of a document value."""
    if not PyBytes_Check(value) or PyBytes_GET_SIZE(value) < 8:
        raise ValueError("a document value starts with an 8-byte header")
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(value)
    cdef u64 v = 0
    cdef int i
    for i in range(8):
        v = (v << 8) | p[i]
    return v


def scan_documents(leaves: list, maxes: list, versions: dict, start: bytes, end: bytes | None, ts: int,
                   limit: int, reverse: bool, by_id: dict | None, id_key, decode_many) -> tuple:
    """One batch of a document scan: up to *limit* live rows of ``[start, end)`` at *ts* (as
    ``scan_forward``/``scan_reverse``), each resolved to its decoded document. Returns ``(keys, docs)``,
    two lists of equal length in scan order.

    With ``by_id=None`` the rows' values are document values (the scanned index is by_id). Otherwise each
    value names a document: ``id_key(value)`` is its key in *by_id* (that index's versions map, read at the
    same *ts* under the same lock), whose visible value is the document value; a row whose document is
    missing there raises ``LookupError(value)`` (index and by_id disagree: a bug, never a user error).
    All documents of the batch are decoded by one ``decode_many(values, 8)`` call.
    Runtime: O(log n + k·v) plus one hash lookup per row through *by_id*, plus decoding.
    """
    cdef list rows = (scan_reverse if reverse else scan_forward)(leaves, maxes, versions, start, end, ts, limit)
    cdef Py_ssize_t i, n = PyList_GET_SIZE(rows)
    cdef list keys = [None] * n
    cdef list values = [None] * n
    cdef object row, ref, value
    cdef PyObject* found
    cdef u64 t = 0
    if by_id is not None:
        if not PyDict_Check(by_id):
            raise TypeError(f"by_id must be a dict or None, got {type(by_id).__name__}")
        t = _snap(ts, "snapshot ts")
    for i in range(n):
        row = <object>PyList_GET_ITEM(rows, i)
        keys[i] = <object>PyTuple_GET_ITEM(row, 0)
        if by_id is None:
            values[i] = <object>PyTuple_GET_ITEM(row, 1)
        else:
            ref = <object>PyTuple_GET_ITEM(row, 1)
            found = PyDict_GetItemWithError(by_id, id_key(ref))
            value = None if found == NULL else _resolve(<object>found, t)
            if value is None:
                raise LookupError(ref)
            values[i] = value
    return keys, decode_many(values, 8)


def apply_writes(versions_map: dict, ts: int, writes) -> list:
    """Prepend one commit's versions at *ts* (newer than every version present) to *versions_map*.

    Two writes to one key in a commit: the last one wins. Returns the keys that were not in the map
    before, in first-write order (the store adds them to its ordered key set). The writes must have
    passed ``validate_batch``. TypeError if *versions_map* is not a dict. Runtime: O(w) for w writes
    (plus the list shift of each prepend).
    """
    cdef list new = []
    cdef PyObject* found
    cdef object versions, first
    if not PyDict_Check(versions_map):
        raise TypeError(f"versions_map must be a dict, got {type(versions_map).__name__}")
    for key, value in writes:
        found = PyDict_GetItemWithError(versions_map, key)
        if found == NULL:
            PyDict_SetItem(versions_map, key, [(ts, value)])
            PyList_Append(new, key)
            continue
        versions = <object>found
        if not PyList_Check(versions) or PyList_GET_SIZE(versions) == 0:
            raise TypeError("a version list must be a non-empty list")
        first = <object>PyList_GET_ITEM(versions, 0)
        if not (PyTuple_Check(first) and PyTuple_GET_SIZE(first) == 2):
            raise TypeError("version entries must be (ts, value) pairs")
        if <object>PyTuple_GET_ITEM(first, 0) == ts:
            versions[0] = (ts, value)
        else:
            PyList_Insert(versions, 0, (ts, value))
    return new


cdef Py_ssize_t _gc_list(object versions, u64 below) except -1:
    """``gc_versions`` with the watermark already a u64."""
    cdef Py_ssize_t j, n, keep
    cdef object t
    if not PyList_Check(versions):
        raise TypeError(f"a version list must be a list, got {type(versions).__name__}")
    n = PyList_GET_SIZE(versions)
    for j in range(n):
        t = <object>PyList_GET_ITEM(versions, j)
        if not (PyTuple_Check(t) and PyTuple_GET_SIZE(t) == 2):
            raise TypeError("version entries must be (ts, value) pairs")
        if PyLong_AsUnsignedLongLong(<object>PyTuple_GET_ITEM(t, 0)) <= below:
            keep = j + 1 if <object>PyTuple_GET_ITEM(t, 1) is not None else j
            if n > keep:
                del (<list>versions)[keep:n]
            return n - keep
    return 0


def gc_versions(versions: list, below_ts: int) -> int:
    """Truncate a newest-first version list in place to what snapshots ``>= below_ts`` can see.

    Keeps every version newer than *below_ts* and the newest one ``<= below_ts`` unless it is a tombstone;
    drops everything older. Returns the number of versions removed (the list may become empty).
    TypeError if *below_ts* is not an int. Runtime: O(v).
    """
    return _gc_list(versions, _snap(below_ts, "gc watermark"))


def gc_index(versions_map: dict, below_ts: int) -> tuple[int, list]:
    """``gc_versions`` on every version list of *versions_map*; keys left with no version are deleted
    from the map. Returns ``(versions removed, deleted keys)`` (the store removes those from its key set).
    TypeError if *versions_map* is not a dict or *below_ts* not an int. Runtime: O(n + versions removed)."""
    cdef Py_ssize_t pos = 0, removed = 0, n
    cdef PyObject* k
    cdef PyObject* v
    cdef list emptied = []
    if not PyDict_Check(versions_map):
        raise TypeError(f"versions_map must be a dict, got {type(versions_map).__name__}")
    cdef u64 below = _snap(below_ts, "gc watermark")
    while PyDict_Next(versions_map, &pos, &k, &v):
        n = _gc_list(<object>v, below)
        if n:
            removed += n
            if PyList_GET_SIZE(<object>v) == 0:
                PyList_Append(emptied, <object>k)
    for key in emptied:
        PyDict_DelItem(versions_map, key)
    return removed, emptied
