# cython: language_level=3
# Twin of engine/index/mvcc_lmdb_kernel.py. Names, signatures, docstrings, ABI and on-disk format must match;
# tests/parity enforces this. Change the Python reference first.
"""Cython twin of ``engine.index.mvcc_lmdb_kernel``: the per-entry loops of ``"lmdb-btree"`` in C.

Kernels only: the store (``engine.index.lmdb_btree.LmdbBTreeStore``) is shared with the reference and is
handed this module by ``engine._impl``. The environment, transactions and cursors are py-lmdb's (no new
build dependency); entries are byte-for-byte the reference's layout. What is faster here:

- ``lmdb_scan_forward`` / ``lmdb_scan_reverse``: the loop over ``cursor.iternext()``/``iterprev()`` runs
  in C; each raw entry is examined through its buffer - key-run detection, the ``hi``/``lo`` bound tests
  and the inverted-ts visibility test are ``memcmp`` calls, no slices are allocated, and only returned
  rows create new objects. The seek strategy (step over up to ``skip_limit`` versions, then seek) is the
  reference's.
- ``lmdb_get``: the seek key ``id || key || ~ts`` is built in one allocation, the visibility test is a
  length check plus ``memcmp``.
- ``lmdb_get_document`` / ``lmdb_scan_documents``: runs the compiled scan, then one by_id seek per row in the same read
  transaction (seek keys built in one allocation each), and hands the stored entries to one
  ``decode_many`` call.
- ``lmdb_versions``, ``lmdb_put_writes`` (entry keys and values built in one allocation each),
  ``lmdb_gc_chunk`` and ``validate_batch``: the same loops, compiled.

There is no second code path: an argument of the wrong type raises the reference's TypeError.
"""
import struct

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_Append, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.string cimport memcmp, memcpy

from engine.model.errors import IndexKeyTooLargeError
from engine.index.base import MAX_INDEX_ID
from engine.model.types import MAX_TIMESTAMP

ctypedef unsigned long long u64
ctypedef unsigned int u32

#: Twin contract for the "mvcc_lmdb" kernel (engine._native.mvcc_lmdb must carry the same string).
#: Bump on any semantic change of these functions or of the on-disk layout (then also bump FORMAT).
#: 2: the twin is kernels only (lmdb_get, lmdb_versions, lmdb_put_writes, lmdb_gc_chunk, validate_batch
#: added; the store classes moved out). The layout is unchanged, so FORMAT stays.
#: 3: the document read path (lmdb_get_document, lmdb_scan_documents); layout unchanged.
ABI = "mvcc_lmdb/3"

#: On-disk format marker, stored in ``meta`` and checked at open. Bump on any layout change.
FORMAT = b"ripple.lmdb-btree/1"

#: Default versions of one key a scan steps over before it seeks instead (``LmdbBtreeOptions.skip_limit``).
#: Stepping is a C-level iterator step (several times cheaper than a B-tree seek from Python), so short
#: runs of old versions are walked and only long ones (hot keys between gc passes) are skipped.
SKIP_LIMIT = 8

__all__ = ["ABI", "FORMAT", "SKIP_LIMIT", "decode_value", "encode_value", "inverted_ts", "lmdb_gc_chunk",
           "lmdb_get", "lmdb_get_document", "lmdb_put_writes", "lmdb_scan_documents", "lmdb_scan_forward", "lmdb_scan_reverse", "lmdb_versions",
           "pack_version_key", "unpack_version_key", "validate_batch"]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_MAX_U64 = (1 << 64) - 1
cdef u64 C_MAX_U64 = 0xFFFFFFFFFFFFFFFFULL
TOMBSTONE = b"\x00"
LIVE = b"\x01"
_FF8 = b"\xff" * 8

include "_validate.pxi"


# --------------------------------------------------------------------------------------------------
# C helpers.
# --------------------------------------------------------------------------------------------------

cdef inline int _cmp(const char* a, Py_ssize_t la, const char* b, Py_ssize_t lb) noexcept:
    """Byte-wise three-way comparison (the order of Python ``bytes``)."""
    cdef Py_ssize_t n = la if la < lb else lb
    cdef int c = memcmp(a, b, <size_t>n) if n > 0 else 0
    if c != 0:
        return c
    return (la > lb) - (la < lb)


cdef inline void _put_u64(char* p, u64 v) noexcept:
    cdef int i
    for i in range(7, -1, -1):
        p[i] = <char>(v & 0xFF)
        v >>= 8


cdef inline void _put_u32(char* p, u32 v) noexcept:
    p[0] = <char>((v >> 24) & 0xFF)
    p[1] = <char>((v >> 16) & 0xFF)
    p[2] = <char>((v >> 8) & 0xFF)
    p[3] = <char>(v & 0xFF)


cdef inline u64 _get_u64(const unsigned char* p) noexcept:
    cdef u64 v = 0
    cdef int i
    for i in range(8):
        v = (v << 8) | p[i]
    return v


cdef extern from "Python.h":
    bint PyMemoryView_Check(object)
    Py_buffer* PyMemoryView_GET_BUFFER(object)
    bint PyBytes_CheckExact(object)


cdef inline const char* _buf(object o, Py_ssize_t* n) except? NULL:
    """Pointer and length of a py-lmdb key/value: bytes, or a memoryview from a ``buffers=True`` txn."""
    cdef Py_buffer* b
    if PyBytes_CheckExact(o):
        n[0] = PyBytes_GET_SIZE(o)
        return PyBytes_AS_STRING(o)
    if PyMemoryView_Check(o):
        b = PyMemoryView_GET_BUFFER(o)
        n[0] = b.len
        return <const char*>b.buf
    raise TypeError(f"expected bytes or memoryview from the cursor, got {type(o).__name__}")


cdef inline u64 _inv_of(object ts) except? 0:
    """Inverted ts as a C u64, with ``inverted_ts``'s clamping."""
    if ts >= MAX_TIMESTAMP:
        return 0
    if ts <= 0:
        return C_MAX_U64
    return C_MAX_U64 - <u64>ts


cdef inline bytes _concat(bytes a, const char* b, Py_ssize_t lb):
    cdef Py_ssize_t la = PyBytes_GET_SIZE(a)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, la + lb)
    cdef char* p = PyBytes_AS_STRING(out)
    memcpy(p, PyBytes_AS_STRING(a), <size_t>la)
    if lb > 0:
        memcpy(p + la, b, <size_t>lb)
    return out


# --------------------------------------------------------------------------------------------------
# Flat codec and scan kernels.
# --------------------------------------------------------------------------------------------------

def inverted_ts(ts):
    """The 8-byte suffix for snapshot/commit *ts*: u64 BE of ``2^64-1-ts`` (clamped to the u64 range)."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 8)
    _put_u64(PyBytes_AS_STRING(out), _inv_of(ts))
    return out


def pack_version_key(index_id, key, ts):
    """``u32 BE index_id || key || u64 BE (2^64-1-ts)``. Runtime: O(len(key))."""
    return _U32.pack(index_id) + key + _U64.pack(_MAX_U64 - ts)


def unpack_version_key(raw):
    """Inverse of ``pack_version_key``: ``(index_id, key, ts)``. Runtime: O(len(raw))."""
    return _U32.unpack_from(raw)[0], raw[4:len(raw) - 8], _MAX_U64 - _U64.unpack_from(raw, len(raw) - 8)[0]


def encode_value(value):
    """``b"\\x00"`` for a tombstone (None), else ``b"\\x01" || value``."""
    return TOMBSTONE if value is None else LIVE + value


def decode_value(stored):
    """Inverse of ``encode_value``."""
    return None if stored[0] == 0 else stored[1:]


cdef bint _seek_past_key(object cur, bytes kb) except -1:
    """Position *cur* on the first entry after every version of framed key *kb*; False if none."""
    if not cur.set_range(kb + _FF8):
        return False
    cdef Py_ssize_t rn
    cdef const char* rp = _buf(cur.key(), &rn)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(kb)
    if rn - 8 == n and memcmp(rp, PyBytes_AS_STRING(kb), <size_t>n) == 0:
        return cur.next()
    return True


cdef list _scan_forward(object cur, bytes lo, object hi, bytes inv, Py_ssize_t limit, Py_ssize_t skip_limit):
    cdef list out = []
    if limit <= 0 or not cur.set_range(lo):
        return out
    cdef const char* lo_p = PyBytes_AS_STRING(lo)
    cdef Py_ssize_t lo_n = PyBytes_GET_SIZE(lo)
    cdef bint has_hi = hi is not None
    cdef bytes hi_b = hi if has_hi else b""
    cdef const char* hi_p = PyBytes_AS_STRING(hi_b)
    cdef Py_ssize_t hi_n = PyBytes_GET_SIZE(hi_b)
    cdef const char* inv_p = PyBytes_AS_STRING(inv)
    cdef Py_ssize_t inv_n = PyBytes_GET_SIZE(inv)
    cdef object last = None    # raw key of an entry of the framed key being looked at
    cdef const char* last_p = NULL
    cdef Py_ssize_t last_n = -1  # its framed length (raw length - 8)
    cdef bint settled = True
    cdef Py_ssize_t stepped = 0
    cdef Py_ssize_t n
    cdef object item, raw_o, stored_o
    cdef const char* raw_p
    cdef const char* st_p
    cdef Py_ssize_t st_n
    cdef bint broke
    cdef bytes kb
    cdef Py_ssize_t rn
    value_of = cur.value
    while True:
        broke = False
        # Keys only: the value of an entry is fetched just for the visible version of a key.
        for raw_o in cur.iternext(True, False):
            raw_p = _buf(raw_o, &rn)
            n = rn - 8
            if n != last_n or memcmp(raw_p, last_p, <size_t>n) != 0:
                if has_hi and _cmp(raw_p, n, hi_p, hi_n) >= 0:
                    return out
                last = raw_o
                last_p = raw_p
                last_n = n
                stepped = 0
                settled = _cmp(raw_p, n, lo_p, lo_n) < 0
                if settled:
                    continue
            elif settled:
                stepped += 1
                if stepped > skip_limit:
                    broke = True
                    break
                continue
            if _cmp(raw_p + n, 8, inv_p, inv_n) >= 0:
                settled = True
                stored_o = value_of()
                st_p = _buf(stored_o, &st_n)
                if st_p[0]:
                    out.append((PyBytes_FromStringAndSize(raw_p + 4, n - 4),
                                PyBytes_FromStringAndSize(st_p + 1, st_n - 1)))
                    if PyList_GET_SIZE(out) >= limit:
                        return out
            else:
                stepped += 1
                if stepped > skip_limit:
                    broke = True
                    break
        if not broke:
            return out
        stepped = 0
        kb = PyBytes_FromStringAndSize(last_p, last_n)
        if settled:
            if not _seek_past_key(cur, kb):
                return out
        elif not cur.set_range(kb + inv):
            return out
        # `last` still owns last_p; the fresh iterator yields the entry we landed on first.


cdef inline bint _emit(list out, const char* kb_p, Py_ssize_t kb_n, object candidate, Py_ssize_t limit) except -1:
    """Append (key, value) for a live candidate; True when *limit* is reached."""
    cdef Py_ssize_t st_n
    cdef const char* st_p = _buf(candidate, &st_n)
    if st_p[0]:
        out.append((PyBytes_FromStringAndSize(kb_p + 4, kb_n - 4),
                    PyBytes_FromStringAndSize(st_p + 1, st_n - 1)))
        return PyList_GET_SIZE(out) >= limit
    return False


cdef list _scan_reverse(object cur, bytes lo, object hi, bytes inv, Py_ssize_t limit, Py_ssize_t skip_limit):
    cdef list out = []
    if limit <= 0:
        return out
    cdef bint ok
    cdef bytes kb
    cdef Py_ssize_t rn
    cdef const char* rp
    if hi is None:
        ok = cur.last()
    elif cur.set_range(hi):
        rp = _buf(cur.key(), &rn)
        kb = PyBytes_FromStringAndSize(rp, rn - 8)
        if kb < hi:
            ok = _seek_past_key(cur, kb)
            ok = cur.prev() if ok else cur.last()
        else:
            ok = cur.prev()
    else:
        ok = cur.last()
    if not ok:
        return out
    cdef const char* lo_p = PyBytes_AS_STRING(lo)
    cdef Py_ssize_t lo_n = PyBytes_GET_SIZE(lo)
    cdef const char* inv_p = PyBytes_AS_STRING(inv)
    cdef Py_ssize_t inv_n = PyBytes_GET_SIZE(inv)
    cdef object last = None
    cdef const char* last_p = NULL
    cdef Py_ssize_t last_n = -1
    cdef object candidate = None
    cdef Py_ssize_t stepped = 0
    cdef Py_ssize_t n
    cdef object raw_o
    cdef const char* raw_p
    cdef bint broke
    value_of = cur.value
    while True:
        broke = False
        for raw_o in cur.iterprev(True, False):
            raw_p = _buf(raw_o, &rn)
            n = rn - 8
            if n != last_n or memcmp(raw_p, last_p, <size_t>n) != 0:
                if candidate is not None and _emit(out, last_p, last_n, candidate, limit):
                    return out
                if _cmp(raw_p, n, lo_p, lo_n) < 0:
                    return out
                last = raw_o
                last_p = raw_p
                last_n = n
                candidate = None
                stepped = 0
            else:
                stepped += 1
                if stepped > skip_limit:
                    broke = True
                    break
            if _cmp(raw_p + n, 8, inv_p, inv_n) >= 0:
                candidate = value_of()
        if not broke:
            if candidate is not None:
                _emit(out, last_p, last_n, candidate, limit)
            return out
        stepped = 0
        kb = PyBytes_FromStringAndSize(last_p, last_n)
        candidate = None
        if cur.set_range(kb + inv):
            rp = _buf(cur.key(), &rn)
            if rn - 8 == last_n and memcmp(rp, last_p, <size_t>last_n) == 0:
                candidate = cur.value()
        cur.set_range(kb)
        if not cur.prev():
            if candidate is not None:
                _emit(out, last_p, last_n, candidate, limit)
            return out


cdef Py_ssize_t _count(object n, str what) except -2:
    """An int *n* as a Py_ssize_t, saturating (a count larger than memory behaves as unbounded)."""
    if not isinstance(n, int):
        raise TypeError(f"{what} must be an int, got {type(n).__name__}")
    if n > 0x3FFFFFFFFFFFFFFF:
        return 0x3FFFFFFFFFFFFFFF
    if n < 0:
        return -1
    return n


cdef inline void _check_bounds(object lo, object hi, object inv) except *:
    if not PyBytes_CheckExact(lo) or not PyBytes_CheckExact(inv):
        raise TypeError("scan bounds and the inverted ts must be bytes")
    if hi is not None and not PyBytes_CheckExact(hi):
        raise TypeError(f"scan upper bound must be bytes or None, got {type(hi).__name__}")


def lmdb_scan_forward(cur, lo, hi, inv, limit, skip_limit=SKIP_LIMIT):
    """Up to *limit* live ``(key, value)`` pairs with framed key in ``[lo, hi)`` visible at inverted ts
    *inv*, ascending. *lo*/*hi* are ``index_id || bound``; ``hi=None`` means to the end of the database.

    One forward pass with LMDB's iterator. Entries of a key come newest first, so the first one with
    ``~vts >= inv`` is the visible version; the key's remaining (older) entries are stepped over. After
    *skip_limit* consecutive entries of one key have been stepped over, the kernel seeks instead: to
    ``key || inv`` while looking for the visible version, past ``key || FF8`` once it is settled.
    Runtime: O(log n + e) for e entries in range, and at most O(log n) per key with many versions.
    """
    _check_bounds(lo, hi, inv)
    return _scan_forward(cur, lo, hi, inv, _count(limit, "scan limit"), _count(skip_limit, "skip_limit"))


def lmdb_scan_reverse(cur, lo, hi, inv, limit, skip_limit=SKIP_LIMIT):
    """Like ``lmdb_scan_forward`` but descending: the *limit* greatest live keys of ``[lo, hi)``.

    Walking backwards meets each key's versions oldest first: the visible version is the last entry with
    ``~vts >= inv`` before an entry newer than the snapshot or another key appears, so a key is emitted
    when the walk leaves it. After *skip_limit* stepped entries of one key the kernel seeks instead: to
    ``key || inv`` for its visible version, then to ``key`` and one step back to the previous key.
    Runtime: O(log n + e) for e entries in range, and at most O(log n) per key with many versions.
    """
    _check_bounds(lo, hi, inv)
    return _scan_reverse(cur, lo, hi, inv, _count(limit, "scan limit"), _count(skip_limit, "skip_limit"))


cdef object _visible_stored(object env, object db, object prefix, object key, object ts):
    """The stored entry value (``b"\\x01" || value``) of the version of ``prefix || key`` visible at *ts*
    (one read transaction, one seek); None if absent or a tombstone."""
    if not PyBytes_Check(prefix) or not PyBytes_Check(key):
        raise TypeError(f"can't concat {type(key).__name__} to {type(prefix).__name__}")
    cdef Py_ssize_t pn = PyBytes_GET_SIZE(prefix), kn = PyBytes_GET_SIZE(key)
    cdef Py_ssize_t fn = pn + kn  # framed key length
    cdef bytes seek = PyBytes_FromStringAndSize(NULL, fn + 8)
    cdef char* sp = PyBytes_AS_STRING(seek)
    memcpy(sp, PyBytes_AS_STRING(prefix), <size_t>pn)
    if kn:
        memcpy(sp + pn, PyBytes_AS_STRING(key), <size_t>kn)
    _put_u64(sp + fn, _inv_of(ts))
    txn = env.begin(db)
    try:
        cur = txn.cursor()
        if not cur.set_range(seek):
            return None
        item = cur.item()
    finally:
        txn.abort()
    cdef Py_ssize_t rn, st_n
    cdef const char* rp = _buf(<object>PyTuple_GET_ITEM(item, 0), &rn)
    if rn != fn + 8 or memcmp(rp, sp, <size_t>fn) != 0:
        return None
    stored = <object>PyTuple_GET_ITEM(item, 1)
    cdef const char* st_p = _buf(stored, &st_n)
    if st_p[0] == 0:
        return None
    return stored


def lmdb_get(env, db, prefix, key, ts):
    """Value of the newest version of ``prefix || key`` with ``vts <= ts`` in database *db* of *env*; None
    if absent or a tombstone.

    One read transaction (begun and aborted here: a point read is the whole transaction) and one cursor
    seek to ``prefix || key || inverted_ts(ts)``: the first entry at or after it is the visible version if
    its framed key is ``prefix || key``. The caller bounds ``len(key)`` so the seek key fits LMDB's limit.
    TypeError unless *prefix* and *key* are bytes. Runtime: O(log n).
    """
    stored = _visible_stored(env, db, prefix, key, ts)
    if stored is None:
        return None
    cdef Py_ssize_t st_n
    cdef const char* st_p = _buf(stored, &st_n)
    return PyBytes_FromStringAndSize(st_p + 1, st_n - 1)


def lmdb_get_document(env, db, prefix, key, ts, decode):
    """The document value of ``prefix || key`` visible at *ts*, decoded: ``(decode(value, 8), header)``
    with *header* the value's leading u64 BE (by_id: the version's commit ts); None if absent or a
    tombstone; ValueError for a value shorter than the header. One read transaction and one seek, as
    ``lmdb_get``. Runtime: O(log n) + one decode.
    """
    stored = _visible_stored(env, db, prefix, key, ts)
    if stored is None:
        return None
    cdef Py_ssize_t st_n
    cdef const char* st_p = _buf(stored, &st_n)
    if st_n < 9:
        raise ValueError("a document value starts with an 8-byte header")
    # The reference's call exactly: decode(value, 8) on the value without its live marker.
    return decode(PyBytes_FromStringAndSize(st_p + 1, st_n - 1), 8), _get_u64(<const unsigned char*>st_p + 1)


def lmdb_scan_documents(env, db, lo, hi, inv, limit, skip_limit, reverse, id_prefix, id_key, decode_many):
    """One batch of a document scan in one read transaction: up to *limit* live rows of framed ``[lo, hi)``
    at inverted ts *inv* (as ``lmdb_scan_forward``/``lmdb_scan_reverse``), each resolved to its decoded
    document. Returns ``(keys, docs)``: the rows' index keys and documents, in scan order.

    With ``id_prefix=None`` the rows' values are document values (the scanned index is by_id). Otherwise
    each value names a document whose entry is ``id_prefix || id_key(value)`` in the same database (the
    by_id index, u32 BE id *id_prefix*), read at the same *inv* in the same transaction; a row whose
    document is missing there raises ``LookupError(value)`` (index and by_id disagree: a bug). All
    documents of the batch are decoded by one ``decode_many(values, 8)`` call.
    Runtime: O(log n + e) for the scan, plus one O(log n) seek per row through by_id, plus decoding.
    """
    _check_bounds(lo, hi, inv)
    cdef Py_ssize_t lim = _count(limit, "scan limit"), skip = _count(skip_limit, "skip_limit")
    if id_prefix is not None and not PyBytes_CheckExact(id_prefix):
        raise TypeError(f"id_prefix must be bytes or None, got {type(id_prefix).__name__}")
    cdef list rows, keys, values, seeks
    cdef Py_ssize_t i, j, n, pn = 0, kn, fn, rn, st_n
    cdef object row, ref, k, item, stored
    cdef bytes seek
    cdef char* sp
    cdef const char* rp
    cdef const char* st_p
    cdef const char* inv_p = PyBytes_AS_STRING(inv)
    cdef Py_ssize_t inv_n = PyBytes_GET_SIZE(inv)
    txn = env.begin(db)
    try:
        cur = txn.cursor()
        rows = (_scan_reverse if reverse else _scan_forward)(cur, lo, hi, inv, lim, skip)
        n = PyList_GET_SIZE(rows)
        keys = [None] * n
        values = [None] * n
        for i in range(n):
            row = <object>PyList_GET_ITEM(rows, i)
            keys[i] = <object>PyTuple_GET_ITEM(row, 0)
            values[i] = <object>PyTuple_GET_ITEM(row, 1)
        if id_prefix is None:
            return keys, decode_many(values, 8)
        pn = PyBytes_GET_SIZE(id_prefix)
        seeks = [None] * n
        for i in range(n):
            k = id_key(<object>PyList_GET_ITEM(values, i))
            if not PyBytes_CheckExact(k):
                raise TypeError(f"id_key must return bytes, got {type(k).__name__}")
            kn = PyBytes_GET_SIZE(k)
            seek = PyBytes_FromStringAndSize(NULL, pn + kn + inv_n)
            sp = PyBytes_AS_STRING(seek)
            memcpy(sp, PyBytes_AS_STRING(id_prefix), <size_t>pn)
            if kn:
                memcpy(sp + pn, PyBytes_AS_STRING(k), <size_t>kn)
            memcpy(sp + pn + kn, inv_p, <size_t>inv_n)
            seeks[i] = seek
        # Seeks in scan order (sorting them by key first measured no faster: ids follow creation order).
        set_range = cur.set_range
        cur_item = cur.item
        for j in range(n):
            seek = <bytes>PyList_GET_ITEM(seeks, j)
            fn = PyBytes_GET_SIZE(seek) - inv_n
            ref = <object>PyList_GET_ITEM(values, j)
            if not set_range(seek):
                raise LookupError(ref)
            item = cur_item()
            rp = _buf(<object>PyTuple_GET_ITEM(item, 0), &rn)
            if rn != fn + 8 or memcmp(rp, PyBytes_AS_STRING(seek), <size_t>fn) != 0:
                raise LookupError(ref)
            stored = <object>PyTuple_GET_ITEM(item, 1)
            st_p = _buf(stored, &st_n)
            if st_p[0] == 0:
                raise LookupError(ref)
            values[j] = PyBytes_FromStringAndSize(st_p + 1, st_n - 1)
    finally:
        txn.abort()
    return keys, decode_many(values, 8)


def lmdb_versions(cur, kb):
    """Every version of framed key *kb* (``prefix || key``), newest first, as ``(ts, value | None)``.

    Runtime: O(log n + v).
    """
    if not PyBytes_CheckExact(kb):
        raise TypeError(f"the framed key must be bytes, got {type(kb).__name__}")
    cdef Py_ssize_t n = PyBytes_GET_SIZE(kb), rn, st_n
    cdef list out = []
    cdef const char* rp
    cdef const char* st_p
    if not cur.set_range(kb):
        return out
    for item in cur.iternext():
        rp = _buf(<object>PyTuple_GET_ITEM(item, 0), &rn)
        if rn - 8 != n or memcmp(rp, PyBytes_AS_STRING(kb), <size_t>n) != 0:
            break
        st_p = _buf(<object>PyTuple_GET_ITEM(item, 1), &st_n)
        PyList_Append(out, (C_MAX_U64 - _get_u64(<const unsigned char*>rp + n),
                            None if st_p[0] == 0 else PyBytes_FromStringAndSize(st_p + 1, st_n - 1)))
    return out


def lmdb_put_writes(txn, prefix, ts, writes):
    """Write one commit's versions of one index (``prefix`` = u32 BE id) at *ts* through *txn*: a write
    transaction whose default database is the versions one, or a cursor on it (anything with
    ``put(key, value)``): ``prefix || key || ~ts -> encode_value(value)``. A second write to one key in the commit
    overwrites the first (same entry key). The writes must have passed ``validate_batch``.
    Runtime: O(w·log n) for w writes.
    """
    if not PyBytes_Check(prefix):
        raise TypeError(f"prefix must be bytes, got {type(prefix).__name__}")
    cdef u64 inv = C_MAX_U64 - <u64>ts
    cdef Py_ssize_t pn = PyBytes_GET_SIZE(prefix), kn, vn
    cdef bytes k, v
    cdef char* p
    put = txn.put
    for key, value in writes:
        if not PyBytes_Check(key) or not (value is None or PyBytes_Check(value)):
            raise TypeError("index keys must be bytes and values bytes or None")
        kn = PyBytes_GET_SIZE(key)
        k = PyBytes_FromStringAndSize(NULL, pn + kn + 8)
        p = PyBytes_AS_STRING(k)
        memcpy(p, PyBytes_AS_STRING(prefix), <size_t>pn)
        if kn:
            memcpy(p + pn, PyBytes_AS_STRING(key), <size_t>kn)
        _put_u64(p + pn + kn, inv)
        if value is None:
            put(k, TOMBSTONE)
        else:
            vn = PyBytes_GET_SIZE(value)
            v = PyBytes_FromStringAndSize(NULL, vn + 1)
            p = PyBytes_AS_STRING(v)
            p[0] = 1
            if vn:
                memcpy(p + 1, PyBytes_AS_STRING(value), <size_t>vn)
            put(k, v)


def lmdb_gc_chunk(cur, resume, inv_below, budget):
    """Collect keys from framed key *resume* onwards until about *budget* entries were examined, on a
    cursor of a write transaction: per key, delete every version older than the newest one with
    ``~vts >= inv_below``, and that one too if it is a tombstone. A key is never split across chunks.

    Returns ``(versions removed, framed key to resume at or None when the end was reached)``.
    Runtime: O(budget + one key's versions).
    """
    cdef Py_ssize_t removed = 0
    cdef Py_ssize_t examined = 0
    cdef Py_ssize_t c_budget = _count(budget, "budget")
    if not PyBytes_CheckExact(inv_below):
        raise TypeError(f"inv_below must be bytes, got {type(inv_below).__name__}")
    cdef bytes inv = inv_below
    if not cur.set_range(resume):
        return 0, None
    cdef bytes raw = cur.key()
    cdef bytes kb
    cdef Py_ssize_t n, rn
    cdef bint seen_visible
    while PyBytes_GET_SIZE(raw):
        rn = PyBytes_GET_SIZE(raw)
        kb = PyBytes_FromStringAndSize(PyBytes_AS_STRING(raw), rn - 8)
        n = rn - 8
        if examined >= c_budget:
            return removed, kb
        seen_visible = False
        while True:
            rn = PyBytes_GET_SIZE(raw)
            if rn == 0 or rn - 8 != n or memcmp(PyBytes_AS_STRING(raw), PyBytes_AS_STRING(kb), <size_t>n) != 0:
                break
            examined += 1
            if seen_visible:
                cur.delete()
                removed += 1
            elif _cmp(PyBytes_AS_STRING(raw) + n, 8, PyBytes_AS_STRING(inv), PyBytes_GET_SIZE(inv)) >= 0:
                seen_visible = True
                if cur.value() == TOMBSTONE:
                    cur.delete()
                    removed += 1
                else:
                    cur.next()
            else:
                cur.next()
            raw = cur.key()
    return removed, None
