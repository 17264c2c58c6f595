# cython: language_level=3
# Twin of engine/index/lmdb_btree.py. Names, signatures, docstrings, ABI and on-disk/wire formats must match;
# tests/parity enforces this. Change the Python reference first.
"""Cython twin of ``engine.index.lmdb_btree``: the LMDB-persisted MVCC index store ``"lmdb-btree"``.

The environment, transactions and cursors are still py-lmdb's (no new build dependency; files are
byte-for-byte the reference's layout, see the reference module docstring). What is accelerated is the
per-entry work around the cursor:

- ``lmdb_scan_forward`` / ``lmdb_scan_reverse``: the loop over ``cursor.iternext()``/``iterprev()`` runs
  in C; each raw entry is examined through its ``PyBytes`` buffer - key-run detection, the ``hi``/``lo``
  bound tests and the inverted-ts visibility test are ``memcmp`` calls, no ``raw[:len(raw) - 8]``/``raw[-8:]``
  slices are allocated, and only returned rows create new objects (``key`` and ``value`` bytes plus the
  pair). The seek strategy (step over up to ``skip_limit`` versions, then seek) is the reference's.
- ``LmdbBTreeIndex.get``: the seek key ``id || key || ~ts`` is built in one allocation, the visibility test
  is a length check plus ``memcmp``, and the py-lmdb calls are made positionally from C.
- ``versions``, ``debug_state`` and gc chunks decode entries in C as well.

Everything else (store open, apply_batch, backfill, meta, invariants) is a direct port: it is dominated by
LMDB writes, not by Python overhead.
"""
import os
import struct
import threading

import lmdb

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.string cimport memcmp, memcpy

from engine.model.errors import DatabaseClosedError, PersistenceError
from engine.index.base import SCAN_BATCH, IndexConfig, scan_by_batches
from engine.index.mem_btree import MAX_INDEX_ID, MAX_KEY_BYTES, validate_batch
from engine.model.types import MAX_TIMESTAMP, Interval, Timestamp

ctypedef unsigned long long u64
ctypedef unsigned int u32

#: On-disk format marker, stored in ``meta`` and checked at open. Bump on any layout change.
FORMAT = b"ripple.lmdb-btree/1"

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_MAX_U64 = (1 << 64) - 1
cdef u64 C_MAX_U64 = 0xFFFFFFFFFFFFFFFFULL
#: Bytes of framing around an index key: u32 index id + u64 inverted ts.
FRAMING = 12
TOMBSTONE = b"\x00"
LIVE = b"\x01"
_FF8 = b"\xff" * 8

_META_FORMAT = b"format"
_META_APPLIED = b"applied_ts"
_META_INDEX = b"index:"
_META_USER = b"user:"

#: Twin contract for the "mvcc_lmdb" kernel (engine._native.mvcc_lmdb must carry the same string).
ABI = "mvcc_lmdb/1"

#: Versions of one key a scan steps over before it seeks instead.
SKIP_LIMIT = 8


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


cdef inline bint _bad_index_id(object index_id):
    return not isinstance(index_id, int) or isinstance(index_id, bool) or not 0 <= index_id <= MAX_INDEX_ID


cdef inline void _check_index_id(object index_id) except *:
    if _bad_index_id(index_id):
        raise ValueError(f"index id must be an int in 0..2^32-1, got {index_id!r}")


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


def lmdb_scan_forward(cur, lo, hi, inv, limit, skip_limit=SKIP_LIMIT):
    """Up to *limit* live ``(key, value)`` pairs with framed key in ``[lo, hi)`` visible at inverted ts
    *inv*, ascending. *lo*/*hi* are ``index_id || bound``; ``hi=None`` means to the end of the database.

    One forward pass with LMDB's iterator. Entries of a key come newest first, so the first one with
    ``~vts >= inv`` is the visible version; the key's remaining (older) entries are stepped over. After
    *skip_limit* consecutive entries of one key have been stepped over, the kernel seeks instead: to
    ``key || inv`` while looking for the visible version, past ``key || FF8`` once it is settled.
    Runtime: O(log n + e) for e entries in range, and at most O(log n) per key with many versions.
    """
    return _scan_forward(cur, lo, hi, inv, limit, skip_limit)


def lmdb_scan_reverse(cur, lo, hi, inv, limit, skip_limit=SKIP_LIMIT):
    """Like ``lmdb_scan_forward`` but descending: the *limit* greatest live keys of ``[lo, hi)``.

    Walking backwards meets each key's versions oldest first: the visible version is the last entry with
    ``~vts >= inv`` before an entry newer than the snapshot or another key appears, so a key is emitted
    when the walk leaves it. After *skip_limit* stepped entries of one key the kernel seeks instead: to
    ``key || inv`` for its visible version, then to ``key`` and one step back to the previous key.
    Runtime: O(log n + e) for e entries in range, and at most O(log n) per key with many versions.
    """
    return _scan_reverse(cur, lo, hi, inv, limit, skip_limit)


# --------------------------------------------------------------------------------------------------
# Index handle and store.
# --------------------------------------------------------------------------------------------------

class LmdbBTreeIndex:
    """Read view of one index in an ``LmdbBTreeStore`` (an ``MVCCIndex``). Cheap; cached per store.

    After ``drop_index`` a handle reads as empty (and sees new data if the id is written again).
    """

    def __init__(self, index_id, store):
        self.index_id = index_id
        self._store = store
        self._env = store._env
        self._db = store._versions_db
        self._prefix = _U32.pack(index_id)
        self._upper = _U32.pack(index_id + 1) if index_id < MAX_INDEX_ID else None
        self._max_key = store._max_key
        self._skip_limit = store._skip_limit

    def _bounds(self, interval):
        cut = self._max_key + 1
        lo = self._prefix + interval.start[:cut]
        hi = self._upper if interval.end is None else self._prefix + interval.end[:cut]
        return lo, hi

    def _check_open(self):
        if self._store._closed:
            raise DatabaseClosedError("index store is closed")

    def get(self, key, ts):
        """Value of the newest version of *key* with ``vts <= ts``; None if absent or a tombstone.

        One read transaction and one cursor seek to ``id || key || ~ts``. Runtime: O(log n).
        """
        if self._store._closed:
            raise DatabaseClosedError("index store is closed")
        cdef bytes k = key if type(key) is bytes else bytes(key)
        cdef Py_ssize_t kn = PyBytes_GET_SIZE(k)
        if kn > <Py_ssize_t>self._max_key:
            return None
        cdef bytes seek = PyBytes_FromStringAndSize(NULL, kn + 12)
        cdef char* sp = PyBytes_AS_STRING(seek)
        memcpy(sp, PyBytes_AS_STRING(<bytes>self._prefix), 4)
        if kn:
            memcpy(sp + 4, PyBytes_AS_STRING(k), <size_t>kn)
        _put_u64(sp + 4 + kn, _inv_of(ts))
        txn = self._env.begin(self._db)
        try:
            cur = txn.cursor()
            if not cur.set_range(seek):
                return None
            item = cur.item()
        finally:
            txn.abort()
        cdef object raw = <object>PyTuple_GET_ITEM(item, 0)
        cdef object stored = <object>PyTuple_GET_ITEM(item, 1)
        if PyBytes_GET_SIZE(raw) != kn + 12 or memcmp(PyBytes_AS_STRING(raw), sp, <size_t>(kn + 4)) != 0:
            return None
        cdef const char* st_p = PyBytes_AS_STRING(stored)
        if st_p[0] == 0:
            return None
        return PyBytes_FromStringAndSize(st_p + 1, PyBytes_GET_SIZE(stored) - 1)

    def scan_batch(self, interval, ts, limit, reverse=False):
        """Up to *limit* live ``(key, value)`` pairs visible at *ts* inside *interval* (start incl., end excl.),
        ascending by key, or descending if *reverse*. ``limit <= 0`` or an empty interval gives ``[]``.

        One read transaction. Runtime: O(log n + k) typical, O(log n + k·log n) with many versions per key.
        """
        if self._store._closed:
            raise DatabaseClosedError("index store is closed")
        if limit <= 0 or interval.is_empty():
            return []
        cut = self._max_key + 1
        lo = self._prefix + interval.start[:cut]
        end = interval.end
        hi = self._upper if end is None else self._prefix + end[:cut]
        cdef bytes inv = PyBytes_FromStringAndSize(NULL, 8)
        _put_u64(PyBytes_AS_STRING(inv), _inv_of(ts))
        txn = self._env.begin(self._db)
        try:
            if reverse:
                return _scan_reverse(txn.cursor(), lo, hi, inv, limit, self._skip_limit)
            return _scan_forward(txn.cursor(), lo, hi, inv, limit, self._skip_limit)
        finally:
            txn.abort()

    def scan(self, interval, ts, reverse=False):
        """Lazily yield every live pair visible at *ts* in *interval*, in key order (see ``scan_batch``).

        Each batch of ``SCAN_BATCH`` rows uses its own read transaction; none is held between batches.
        """
        return scan_by_batches(self, interval, ts, reverse, SCAN_BATCH)

    def versions(self, key):
        """Every retained version of *key*, newest first; None values are tombstones. [] if never written.

        Runtime: O(log n + v).
        """
        self._check_open()
        if len(key) > self._max_key:
            return []
        cdef bytes kb = self._prefix + key
        cdef Py_ssize_t n = PyBytes_GET_SIZE(kb)
        cdef list out = []
        cdef const unsigned char* rp
        cdef object raw
        txn = self._env.begin(self._db)
        try:
            cur = txn.cursor()
            if cur.set_range(kb):
                for item in cur.iternext():
                    raw = <object>PyTuple_GET_ITEM(item, 0)
                    rp = <const unsigned char*>PyBytes_AS_STRING(raw)
                    if PyBytes_GET_SIZE(raw) - 8 != n or memcmp(rp, PyBytes_AS_STRING(kb), <size_t>n) != 0:
                        break
                    out.append((C_MAX_U64 - _get_u64(rp + n), decode_value(<object>PyTuple_GET_ITEM(item, 1))))
        finally:
            txn.abort()
        return out

    def raw_scan(self, interval, reverse=False, limit=None):
        """Inspection: every retained key in *interval* with all its versions (newest first), regardless of
        visibility, ascending (descending if *reverse*), at most *limit* keys. Runtime: O(log n + k·v)."""
        self._check_open()
        if interval.is_empty():
            return []
        lo, hi = self._bounds(interval)
        out = []
        with self._env.begin(db=self._db) as txn:
            cur = txn.cursor()
            ok = cur.set_range(lo)
            while ok:
                raw = cur.key()
                kb = raw[:len(raw) - 8]
                if hi is not None and kb >= hi:
                    break
                ts = _MAX_U64 - _U64.unpack_from(raw, len(raw) - 8)[0]
                if kb >= lo:
                    if out and out[len(out) - 1][0] == kb[4:]:
                        out[len(out) - 1][1].append((ts, decode_value(cur.value())))
                    else:
                        out.append((kb[4:], [(ts, decode_value(cur.value()))]))
                ok = cur.next()
        if reverse:
            out.reverse()
        if limit is not None:
            out = out[:max(limit, 0)]
        return out

    def check_invariants(self):
        """Assert this index's entries are well formed (tests only; O(n) for this index)."""
        self._store._check_entries(self.index_id)

    def debug_state(self):
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
                if raw[:len(raw) - 8] != last:
                    keys += 1
                    last = raw[:len(raw) - 8]
                ok = cur.next()
        return {"index_id": self.index_id, "keys": keys, "versions": versions, "tombstones": tombstones}


class LmdbBTreeStore:
    """The ``"lmdb-btree"`` ``IndexStore``. Opens (creating if missing) the LMDB environment at ``config.path``.

    ``config.extra`` may set ``max_readers`` (LMDB reader slots, default 126: the most threads reading at
    once), ``gc_chunk`` (entries examined per gc write transaction, default 10_000) and ``skip_limit``
    (versions of one key a scan steps over before seeking, default ``SKIP_LIMIT``; 0 = always seek).
    Raises ValueError without ``config.path`` or with an unknown durability; ``PersistenceError`` if the
    directory holds a different on-disk format.
    """

    name = "lmdb-btree"
    #: Contents survive ``close`` and reopen at the same path.
    persistent = True

    def __init__(self, config):
        if not config.path:
            raise ValueError("the lmdb-btree index strategy needs IndexConfig.path (a directory for its LMDB files)")
        if config.durability not in ("full", "none"):
            raise ValueError(f"durability must be 'full' or 'none', got {config.durability!r}")
        self.config = config
        os.makedirs(config.path, exist_ok=True)
        full = config.durability == "full"
        self._env = lmdb.open(config.path, map_size=config.map_size, max_dbs=4, subdir=True,
                              sync=full, metasync=full, max_readers=int(config.extra.get("max_readers", 126)))
        self._gc_chunk = max(1, int(config.extra.get("gc_chunk", 10_000)))
        self._skip_limit = max(0, int(config.extra.get("skip_limit", SKIP_LIMIT)))
        self._closed = False
        self._write_lock = threading.Lock()
        self._max_key = min(MAX_KEY_BYTES, self._env.max_key_size() - FRAMING)
        try:
            self._versions_db = self._env.open_db(b"versions")
            self._meta_db = self._env.open_db(b"meta")
            with self._env.begin(write=True, db=self._meta_db) as txn:
                fmt = txn.get(_META_FORMAT)
                if fmt is None:
                    txn.put(_META_FORMAT, FORMAT)
                elif fmt != FORMAT:
                    raise PersistenceError(f"{config.path} holds index format {fmt!r}, expected {FORMAT!r}")
                raw = txn.get(_META_APPLIED)
                self._applied_ts = _U64.unpack(raw)[0] if raw is not None else 0
                self._ids = set()
                cur = txn.cursor()
                ok = cur.set_range(_META_INDEX)
                while ok and cur.key().startswith(_META_INDEX):
                    self._ids.add(_U32.unpack(cur.key()[len(_META_INDEX):])[0])
                    ok = cur.next()
        except BaseException:
            self._env.close()
            raise
        self._handles = {}

    def _check_open(self):
        if self._closed:
            raise DatabaseClosedError("index store is closed")

    def open_index(self, index_id):
        """The index with this id, created empty if it does not exist (one write transaction then).

        Runtime: O(1) for an existing index.
        """
        _check_index_id(index_id)
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

    def drop_index(self, index_id):
        """Delete the index, its marker and all its versions in one write transaction (no-op if missing).

        Runtime: O(v·log n) for its v versions.
        """
        _check_index_id(index_id)
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

    def index_ids(self):
        """Ids of every existing index, ascending. Runtime: O(i log i)."""
        self._check_open()
        return sorted(self._ids)

    def apply_batch(self, commits):
        """Apply several commits' index writes in ONE write transaction, ``applied_ts`` included.

        Validation (``validate_batch``) runs first: ValueError (timestamps not strictly increasing above
        ``applied_ts()``, bad index id), ``IndexKeyTooLargeError``, TypeError - and then nothing is
        written. Writing to a never-opened index id opens it. An empty batch is a no-op. With
        ``durability="full"`` the data is on disk when this returns. Runtime: O(w·log n) for w writes.
        """
        with self._write_lock:
            self._check_open()
            validate_batch(commits, self._applied_ts, self._max_key)
            if not commits:
                return
            new_ids = set()
            with self._env.begin(write=True, db=self._versions_db) as txn:
                put = txn.put
                for ts, by_index in commits:
                    inv = _U64.pack(_MAX_U64 - ts)
                    for index_id, writes in by_index.items():
                        prefix = _U32.pack(index_id)
                        if index_id not in self._ids and index_id not in new_ids:
                            put(_META_INDEX + prefix, b"", db=self._meta_db)
                            new_ids.add(index_id)
                        for key, value in writes:
                            put(prefix + key + inv, TOMBSTONE if value is None else LIVE + value)
                last = commits[len(commits) - 1][0]
                put(_META_APPLIED, _U64.pack(last), db=self._meta_db)
            if new_ids:
                self._ids = self._ids | new_ids
            self._applied_ts = last

    def backfill(self, index_id, commits):
        """Write the history of one freshly created, still empty index (adding an index to a table with
        data), in one write transaction. Timestamps must strictly increase and be ``<= applied_ts()``;
        ``applied_ts`` is unchanged. ValueError (nothing written) if the index already holds versions or
        the order is wrong. Runtime: O(w·log n) for w writes."""
        _check_index_id(index_id)
        prefix = _U32.pack(index_id)
        with self._write_lock:
            self._check_open()
            validate_batch([(ts, {index_id: w}) for ts, w in commits], 0, self._max_key)
            if commits and commits[len(commits) - 1][0] > self._applied_ts:
                raise ValueError(f"backfill ts {commits[len(commits) - 1][0]} is above applied_ts {self._applied_ts}; nothing was written")
            # The index marker is written in the same transaction as the versions, so a refused backfill
            # (the raise below aborts the transaction) creates no index either.
            with self._env.begin(write=True, db=self._versions_db) as txn:
                cur = txn.cursor()
                if cur.set_range(prefix) and cur.key().startswith(prefix):
                    raise ValueError(f"backfill of index {index_id}: the index is not empty; nothing was written")
                if index_id not in self._ids:
                    txn.put(_META_INDEX + prefix, b"", db=self._meta_db)
                put = txn.put
                for ts, writes in commits:
                    inv = _U64.pack(_MAX_U64 - ts)
                    for key, value in writes:
                        put(prefix + key + inv, TOMBSTONE if value is None else LIVE + value)
            if index_id not in self._ids:
                self._ids = self._ids | {index_id}

    def applied_ts(self):
        """Highest commit ts applied (0 if none); persisted with each batch. Runtime: O(1)."""
        return Timestamp(self._applied_ts)

    def get_meta(self, key):
        """Metadata stored with ``put_meta`` (survives reopen); None if never set. Runtime: O(log n)."""
        self._check_open()
        with self._env.begin(db=self._meta_db) as txn:
            return txn.get(_META_USER + key.encode("utf-8"))

    def put_meta(self, key, value):
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

    def gc(self, below_ts):
        """Drop versions no snapshot ``>= below_ts`` can see, in every index; returns versions removed.

        Walks every entry in write transactions of about ``gc_chunk`` entries each, always ending a chunk
        at a key boundary (each key is collected atomically, which is all correctness needs: a chunk
        boundary between keys is invisible to readers at snapshots ``>= below_ts``). Chunking keeps the
        writer lock free for ``apply_batch`` between chunks. A chunk resumes at the next key's *framed key*
        (not its first raw entry), so a version added to it in between is still treated as its newest.
        Runtime: O(N) for N entries.
        """
        self._check_open()
        inv_below = inverted_ts(below_ts)
        removed = 0
        resume = b""
        while resume is not None:
            with self._write_lock:
                self._check_open()
                with self._env.begin(write=True, db=self._versions_db) as txn:
                    cur = txn.cursor()
                    n, resume = _gc_chunk(cur, resume, inv_below, self._gc_chunk)
                    removed += n
        return removed

    def check_invariants(self):
        """Walk every entry and the meta records and assert the layout invariants (tests only; O(n))."""
        self._check_entries(None)

    def _check_entries(self, only_index):
        with self._write_lock:
            self._check_open()
            self._check_entries_locked(only_index)

    def _check_entries_locked(self, only_index):
        with self._env.begin() as txn:
            meta = txn.cursor(db=self._meta_db)
            ids = set()
            applied = None
            for k, v in meta.iternext():
                if k == _META_FORMAT:
                    assert v == FORMAT, f"format {v!r}"
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
                index_id, key, ts = unpack_version_key(raw)
                kb = raw[:len(raw) - 8]
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

    def debug_state(self):
        """Summary: path, applied_ts, LMDB stats and each index's ``debug_state``. O(n)."""
        self._check_open()
        stat = self._env.stat()
        with self._env.begin() as txn:
            vstat = txn.stat(self._versions_db)
        return {"name": self.name, "path": self.config.path, "durability": self.config.durability,
                "applied_ts": self._applied_ts, "max_key_bytes": self._max_key,
                "entries": vstat["entries"], "depth": vstat["depth"], "env_pages": stat["leaf_pages"],
                "indexes": {i: self.open_index(i).debug_state() for i in sorted(self._ids)}}

    def close(self):
        """Close the LMDB environment; later calls raise ``DatabaseClosedError``. Idempotent."""
        with self._write_lock:
            if not self._closed:
                self._closed = True
                self._env.close()


# The reference's __init__ methods have no docstring, so inspect.getdoc finds object.__init__'s by
# inheritance; a cyfunction does not take part in that lookup, so give it the same text explicitly.
LmdbBTreeIndex.__init__.__doc__ = object.__init__.__doc__
LmdbBTreeStore.__init__.__doc__ = object.__init__.__doc__


def _gc_chunk(cur, resume, inv_below, budget):
    """Collect keys from framed key *resume* onwards until about *budget* entries were examined.

    Returns ``(versions removed, framed key to resume at or None when the end was reached)``.
    """
    cdef Py_ssize_t removed = 0
    cdef Py_ssize_t examined = 0
    cdef Py_ssize_t c_budget = budget
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


__all__ = ["ABI", "FORMAT", "SKIP_LIMIT", "LmdbBTreeIndex", "LmdbBTreeStore", "decode_value", "encode_value",
           "inverted_ts", "lmdb_scan_forward", "lmdb_scan_reverse", "pack_version_key", "unpack_version_key"]
