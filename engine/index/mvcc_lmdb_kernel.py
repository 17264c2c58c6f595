"""The ``"mvcc_lmdb"`` kernel: the on-disk codec and the hot cursor loops of ``"lmdb-btree"``.

Role: the per-entry work around py-lmdb cursors - the version-key and value codecs, point resolution,
forward/reverse visibility scans, reading one key's versions, writing one commit's versions, one gc chunk,
and batch validation - as flat functions over cursors/transactions, bytes and ints. The one store class,
``engine.index.lmdb_btree.LmdbBTreeStore``, owns the environment, transactions, locks, metadata and
invariants, and is given this module or its Cython twin ``engine._native.mvcc_lmdb`` (``engine._impl``)
as its kernel. The twin exports exactly ``__all__`` with the same signatures, docstrings, ``ABI`` and
``FORMAT``, writes byte-identical entries (tests/parity/test_cross_read.py), and implements nothing else.

Who may call it: ``engine.index.lmdb_btree`` (the store), differential tests and benchmarks.

Layout of one ``versions`` entry (see ``engine.index.lmdb_btree`` for the whole environment)::

    key   = index_id : u32 BE || index key bytes || (2^64 - 1 - ts) : u64 BE     # newest version first
    value = b"\\x00" (a tombstone) | b"\\x01" || value bytes

Index keys are prefix-free (engine precondition), so all versions of one ``(index_id, key)`` - its *framed
key* ``index_id || key`` - are contiguous, newest first; the framed key of a raw entry is ``raw[:-8]``.

A *document value* (what ``lmdb_get_document``/``lmdb_scan_documents`` decode) is ``u64 BE header ||
encoded document``: the by_id value of ``engine.documents`` (header: the version's commit ts). The kernel
does not know the document format: it is handed the codec's ``decode``/``decode_many``.
"""
from __future__ import annotations

import struct
from typing import Callable, Sequence

import lmdb

from engine.index.base import IndexWrite
from engine.index.mvcc_kernel import validate_batch
from engine.model.types import MAX_TIMESTAMP

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
TOMBSTONE = b"\x00"
LIVE = b"\x01"
#: Inverted ts of ts=0, the largest possible suffix: ``key || FF8`` sorts after every version of key.
_FF8 = b"\xff" * 8


def inverted_ts(ts: int) -> bytes:
    """The 8-byte suffix for snapshot/commit *ts*: u64 BE of ``2^64-1-ts`` (clamped to the u64 range)."""
    if ts >= MAX_TIMESTAMP:
        return b"\x00" * 8
    if ts <= 0:
        return _FF8
    return _U64.pack(_MAX_U64 - ts)


def pack_version_key(index_id: int, key: bytes, ts: int) -> bytes:
    """``u32 BE index_id || key || u64 BE (2^64-1-ts)``. Runtime: O(len(key))."""
    return _U32.pack(index_id) + key + _U64.pack(_MAX_U64 - ts)


def unpack_version_key(raw: bytes) -> tuple[int, bytes, int]:
    """Inverse of ``pack_version_key``: ``(index_id, key, ts)``. Runtime: O(len(raw))."""
    return _U32.unpack_from(raw)[0], raw[4:-8], _MAX_U64 - _U64.unpack_from(raw, len(raw) - 8)[0]


def encode_value(value: bytes | None) -> bytes:
    """``b"\\x00"`` for a tombstone (None), else ``b"\\x01" || value``."""
    return TOMBSTONE if value is None else LIVE + value


def decode_value(stored: bytes) -> bytes | None:
    """Inverse of ``encode_value``."""
    return None if stored[0] == 0 else stored[1:]


def _seek_past_key(cur: lmdb.Cursor, kb: bytes) -> bool:
    """Position *cur* on the first entry after every version of framed key *kb* (``index_id || key``).

    Returns False if there is none. ``kb || FF8`` is the inverted ts of ts=0, which commits never use, but
    an exact hit is stepped over anyway so the kernel does not depend on that.
    """
    if not cur.set_range(kb + _FF8):
        return False
    if cur.key()[:-8] == kb:
        return cur.next()
    return True


def lmdb_scan_forward(cur: lmdb.Cursor, lo: bytes, hi: bytes | None, inv: bytes, limit: int,
                      skip_limit: int = SKIP_LIMIT) -> list:
    """Up to *limit* live ``(key, value)`` pairs with framed key in ``[lo, hi)`` visible at inverted ts
    *inv*, ascending. *lo*/*hi* are ``index_id || bound``; ``hi=None`` means to the end of the database.

    One forward pass with LMDB's iterator. Entries of a key come newest first, so the first one with
    ``~vts >= inv`` is the visible version; the key's remaining (older) entries are stepped over. After
    *skip_limit* consecutive entries of one key have been stepped over, the kernel seeks instead: to
    ``key || inv`` while looking for the visible version, past ``key || FF8`` once it is settled.
    Runtime: O(log n + e) for e entries in range, and at most O(log n) per key with many versions.
    """
    out: list = []
    if limit <= 0 or not cur.set_range(lo):
        return out
    append = out.append
    last = None      # framed key of the entry being looked at
    settled = True   # its visible version has been handled (or the key is outside the interval)
    stepped = 0      # entries of `last` stepped over since the last seek
    while True:
        for raw, stored in cur.iternext():
            kb = raw[:-8]
            if kb != last:
                if hi is not None and kb >= hi:
                    return out
                last = kb
                stepped = 0
                # A stored key that is a proper prefix of the start bound sorts at/after lo but is < start.
                settled = kb < lo
                if settled:
                    continue
            elif settled:
                stepped += 1
                if stepped > skip_limit:
                    break  # seek past the rest of this key's versions
                continue
            if raw[-8:] >= inv:  # first entry not newer than the snapshot: the visible version
                settled = True
                if stored[0]:
                    append((kb[4:], stored[1:]))
                    if len(out) >= limit:
                        return out
            else:
                stepped += 1
                if stepped > skip_limit:
                    break  # seek to the visible version
        else:
            return out  # end of the database
        stepped = 0
        if settled:
            if not _seek_past_key(cur, last):
                return out
        elif not cur.set_range(last + inv):
            return out
        # The fresh iterator of the next round yields the entry we landed on first.


def lmdb_scan_reverse(cur: lmdb.Cursor, lo: bytes, hi: bytes | None, inv: bytes, limit: int,
                      skip_limit: int = SKIP_LIMIT) -> list:
    """Like ``lmdb_scan_forward`` but descending: the *limit* greatest live keys of ``[lo, hi)``.

    Walking backwards meets each key's versions oldest first: the visible version is the last entry with
    ``~vts >= inv`` before an entry newer than the snapshot or another key appears, so a key is emitted
    when the walk leaves it. After *skip_limit* stepped entries of one key the kernel seeks instead: to
    ``key || inv`` for its visible version, then to ``key`` and one step back to the previous key.
    Runtime: O(log n + e) for e entries in range, and at most O(log n) per key with many versions.
    """
    out: list = []
    if limit <= 0:
        return out
    if hi is None:
        ok = cur.last()
    elif cur.set_range(hi):
        kb = cur.key()[:-8]
        if kb < hi:
            # A stored key that is a proper prefix of the end bound is < end but sorts at/after hi: it is
            # inside the interval, so start after its versions.
            ok = _seek_past_key(cur, kb)
            ok = cur.prev() if ok else cur.last()
        else:
            ok = cur.prev()
    else:
        ok = cur.last()
    if not ok:
        return out
    append = out.append
    last = None        # framed key being walked
    candidate = None   # stored value of its newest version seen so far with vts <= ts (None: none yet)
    stepped = 0
    while True:
        for raw, stored in cur.iterprev():
            kb = raw[:-8]
            if kb != last:
                if candidate is not None and candidate[0]:
                    append((last[4:], candidate[1:]))
                    if len(out) >= limit:
                        return out
                if kb < lo:
                    return out
                last = kb
                candidate = None
                stepped = 0
            else:
                stepped += 1
                if stepped > skip_limit:
                    break
            # Versions get newer as we walk back, so once one is newer than the snapshot all the rest of
            # this key's are too: the condition below never flips back to true for the same key.
            if raw[-8:] >= inv:
                candidate = stored
        else:
            # Start of the database: emit the last key walked.
            if candidate is not None and candidate[0]:
                append((last[4:], candidate[1:]))
            return out
        # Many versions of `last`: find its visible one directly, then continue before the key.
        stepped = 0
        candidate = cur.value() if cur.set_range(last + inv) and cur.key()[:-8] == last else None
        cur.set_range(last)
        if not cur.prev():
            if candidate is not None and candidate[0]:
                append((last[4:], candidate[1:]))
            return out
        # The next round's fresh iterator yields the previous key's oldest entry first; `last` differs
        # from it, so the candidate is emitted there.


def lmdb_get(env: lmdb.Environment, db: object, prefix: bytes, key: bytes, ts: int) -> bytes | None:
    """Value of the newest version of ``prefix || key`` with ``vts <= ts`` in database *db* of *env*; None
    if absent or a tombstone.

    One read transaction (begun and aborted here: a point read is the whole transaction) and one cursor
    seek to ``prefix || key || inverted_ts(ts)``: the first entry at or after it is the visible version if
    its framed key is ``prefix || key``. The caller bounds ``len(key)`` so the seek key fits LMDB's limit.
    TypeError unless *prefix* and *key* are bytes. Runtime: O(log n).
    """
    if not isinstance(prefix, bytes) or not isinstance(key, bytes):
        raise TypeError(f"can't concat {type(key).__name__} to {type(prefix).__name__}")
    kb = prefix + key
    seek = kb + (_U64.pack(_MAX_U64 - ts) if 0 < ts < MAX_TIMESTAMP else inverted_ts(ts))
    # Explicit begin/abort (not ``with``) and one ``item()`` call: ~10% of a point read in Python.
    txn = env.begin(db=db)
    try:
        cur = txn.cursor()
        if not cur.set_range(seek):
            return None
        raw, stored = cur.item()
    finally:
        txn.abort()
    if raw[:-8] != kb or stored[0] == 0:
        return None
    return stored[1:]


def lmdb_get_document(env: lmdb.Environment, db: object, prefix: bytes, key: bytes, ts: int,
                      decode: Callable) -> tuple | None:
    """The document value of ``prefix || key`` visible at *ts*, decoded: ``(decode(value, 8), header)``
    with *header* the value's leading u64 BE (by_id: the version's commit ts); None if absent or a
    tombstone; ValueError for a value shorter than the header. One read transaction and one seek, as
    ``lmdb_get``. Runtime: O(log n) + one decode.
    """
    value = lmdb_get(env, db, prefix, key, ts)
    if value is None:
        return None
    if len(value) < 8:
        raise ValueError("a document value starts with an 8-byte header")
    return decode(value, 8), _U64.unpack_from(value)[0]


def lmdb_scan_documents(env: lmdb.Environment, db: object, lo: bytes, hi: bytes | None, inv: bytes, limit: int,
                        skip_limit: int, reverse: bool, id_prefix: bytes | None, id_key: Callable,
                        decode_many: Callable) -> tuple:
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
    scan = lmdb_scan_reverse if reverse else lmdb_scan_forward
    txn = env.begin(db=db)
    try:
        cur = txn.cursor()
        rows = scan(cur, lo, hi, inv, limit, skip_limit)
        keys = [key for key, _ in rows]
        if id_prefix is None:
            values = [value for _, value in rows]
        else:
            values = []
            for _, ref in rows:
                kb = id_prefix + id_key(ref)
                if not cur.set_range(kb + inv):
                    raise LookupError(ref)
                raw, stored = cur.item()
                if raw[:-8] != kb or stored[0] == 0:
                    raise LookupError(ref)
                values.append(stored[1:])
    finally:
        txn.abort()
    return keys, decode_many(values, 8)


def lmdb_versions(cur: lmdb.Cursor, kb: bytes) -> list:
    """Every version of framed key *kb* (``prefix || key``), newest first, as ``(ts, value | None)``.

    Runtime: O(log n + v).
    """
    out: list = []
    ok = cur.set_range(kb)
    while ok:
        raw = cur.key()
        if raw[:-8] != kb:
            break
        out.append((_MAX_U64 - _U64.unpack_from(raw, len(raw) - 8)[0], decode_value(cur.value())))
        ok = cur.next()
    return out


def lmdb_put_writes(txn: lmdb.Transaction, prefix: bytes, ts: int, writes: Sequence[IndexWrite]) -> None:
    """Write one commit's versions of one index (``prefix`` = u32 BE id) at *ts* through *txn*: a write
    transaction whose default database is the versions one, or a cursor on it (anything with
    ``put(key, value)``): ``prefix || key || ~ts -> encode_value(value)``. A second write to one key in the commit
    overwrites the first (same entry key). The writes must have passed ``validate_batch``.
    Runtime: O(w·log n) for w writes.
    """
    inv = _U64.pack(_MAX_U64 - ts)
    put = txn.put
    for key, value in writes:
        put(prefix + key + inv, TOMBSTONE if value is None else LIVE + value)


def lmdb_gc_chunk(cur: lmdb.Cursor, resume: bytes, inv_below: bytes, budget: int) -> tuple[int, bytes | None]:
    """Collect keys from framed key *resume* onwards until about *budget* entries were examined, on a
    cursor of a write transaction: per key, delete every version older than the newest one with
    ``~vts >= inv_below``, and that one too if it is a tombstone. A key is never split across chunks.

    Returns ``(versions removed, framed key to resume at or None when the end was reached)``.
    Runtime: O(budget + one key's versions).
    """
    removed = 0
    examined = 0
    if not cur.set_range(resume):
        return 0, None
    raw = cur.key()
    while raw:
        kb = raw[:-8]
        if examined >= budget:
            return removed, kb
        seen_visible = False  # passed the newest version <= below_ts: everything after it goes
        while raw and raw[:-8] == kb:
            examined += 1
            if seen_visible:
                cur.delete()
                removed += 1
            elif raw[-8:] >= inv_below:  # the newest version with vts <= below_ts
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
