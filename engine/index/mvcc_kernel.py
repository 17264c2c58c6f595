"""The ``"mvcc"`` kernel: the hot loops of the in-memory index strategy ``"mem-btree"``, flat and readable.

Role: version resolution, forward/reverse scans over the leaf structure, the per-commit apply loop, the gc
loop and batch validation, as plain functions over plain data (lists, dicts, ints, bytes). The one store
class, ``engine.index.mem_btree.MemBTreeStore``, owns the structure, the lock and every invariant, and is
given this module or its Cython twin ``engine._native.mvcc`` (chosen by ``engine._impl``) as its kernel.
The twin exports exactly ``__all__`` with the same signatures, docstrings and ``ABI`` (tests/parity) and
implements nothing else: no store, no fallback path. An input a twin cannot handle raises the error this
reference raises (TypeError for a wrong type).

Who may call it: ``engine.index.mem_btree`` (the store), differential tests and benchmarks.

Data the functions take (built only by the store, which guarantees the preconditions):
- ``versions`` / a value of ``versions_map``: a list ``[(ts, value | None), ...]`` newest first, each ts
  an int in ``1..2^64-1``, each value bytes or None (a tombstone).
- ``versions_map``: a dict ``key -> versions`` (keys are bytes).
- ``leaves``/``maxes``: the ``SortedKeyLeaves`` lists: sorted leaf lists of bytes keys (each a key of
  ``versions_map``) and each leaf's last key.
- snapshots ``ts`` are ints (any int: below 1 nothing is visible, above 2^64-1 everything is).
- a *document value* (what ``get_document``/``scan_documents`` decode) is ``u64 BE header || encoded
  document``: the by_id value of ``engine.documents``, whose header is the version's commit ts. The
  kernel does not know the document format: it is handed the codec's ``decode``/``decode_many``.
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Callable, Sequence

from engine.model.errors import IndexKeyTooLargeError
from engine.index.base import MAX_INDEX_ID, CommitIndexWrites, IndexWrite
from engine.model.types import MAX_TIMESTAMP

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


def _check_scan_args(leaves: object, maxes: object, versions: object, start: object, end: object,
                     ts: object, limit: object) -> None:
    if not isinstance(leaves, list) or not isinstance(maxes, list):
        raise TypeError("scan leaves and maxes must be lists")
    if not isinstance(versions, dict):
        raise TypeError(f"versions must be a dict, got {type(versions).__name__}")
    if not isinstance(start, bytes):
        raise TypeError(f"scan start must be bytes, got {type(start).__name__}")
    if end is not None and not isinstance(end, bytes):
        raise TypeError(f"scan end must be bytes or None, got {type(end).__name__}")
    if not isinstance(ts, int):
        raise TypeError(f"snapshot ts must be an int, got {type(ts).__name__}")
    if not isinstance(limit, int):
        raise TypeError(f"scan limit must be an int, got {type(limit).__name__}")


def resolve(versions: list, ts: int) -> bytes | None:
    """Value visible at snapshot *ts* in a newest-first version list; None for a tombstone or no version.

    TypeError if *ts* is not an int. Runtime: O(v) for the v versions newer than *ts* (usually 0: reads
    are mostly at recent snapshots).
    """
    if not isinstance(ts, int):
        raise TypeError(f"snapshot ts must be an int, got {type(ts).__name__}")
    for vts, value in versions:
        if vts <= ts:
            return value
    return None


def resolve_key(versions_map: dict, key: bytes, ts: int) -> bytes | None:
    """Value of *key* visible at snapshot *ts*: ``resolve(versions_map[key], ts)``, None for a key never
    written. TypeError if *versions_map* is not a dict or *ts* not an int. Runtime: O(1) hash lookup + O(v)."""
    if not isinstance(versions_map, dict):
        raise TypeError(f"versions_map must be a dict, got {type(versions_map).__name__}")
    if not isinstance(ts, int):
        raise TypeError(f"snapshot ts must be an int, got {type(ts).__name__}")
    versions = versions_map.get(key)
    if versions is None:
        return None
    for vts, value in versions:
        if vts <= ts:
            return value
    return None


def scan_forward(leaves: list, maxes: list, versions: dict, start: bytes, end: bytes | None,
                 ts: int, limit: int) -> list:
    """Up to *limit* live ``(key, value)`` pairs at *ts* with ``start <= key < end``, ascending.

    ``end=None`` is unbounded; ``start >= end`` or ``limit <= 0`` gives ``[]``. Keys with no version
    ``<= ts`` or whose visible version is a tombstone are skipped (they do not count towards *limit*).
    TypeError unless *start* is bytes, *end* bytes or None, *ts* and *limit* ints.
    Runtime: O(log n + k·v) for k keys visited.
    """
    _check_scan_args(leaves, maxes, versions, start, end, ts, limit)
    out: list = []
    if limit <= 0 or (end is not None and start >= end):
        return out
    nleaves = len(leaves)
    li = bisect_left(maxes, start)  # first leaf whose max >= start
    if li == nleaves:
        return out
    pos = bisect_left(leaves[li], start)
    append = out.append
    while li < nleaves:
        leaf = leaves[li]
        # Only the last leaf the interval touches needs the per-key end test.
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


def scan_reverse(leaves: list, maxes: list, versions: dict, start: bytes, end: bytes | None,
                 ts: int, limit: int) -> list:
    """Like ``scan_forward`` but descending: the *limit* greatest live keys of ``[start, end)`` at *ts*.

    Runtime: O(log n + k·v) for k keys visited.
    """
    _check_scan_args(leaves, maxes, versions, start, end, ts, limit)
    out: list = []
    if limit <= 0 or (end is not None and start >= end):
        return out
    nleaves = len(leaves)
    if nleaves == 0:
        return out
    if end is None:
        li = nleaves - 1
        pos = len(leaves[li])  # exclusive
    else:
        li = bisect_left(maxes, end)  # first leaf whose max >= end: keys < end are left of it or in it
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


def get_document(versions_map: dict, key: bytes, ts: int, decode: Callable) -> tuple | None:
    """The document value of *key* visible at *ts*, decoded: ``(decode(value, 8), header)`` with *header*
    the value's leading u64 BE (by_id: the version's commit ts); None if absent or a tombstone.

    TypeError as ``resolve_key``; ValueError for a value shorter than the header. Runtime: O(1) hash lookup + O(v) + one decode.
    """
    value = resolve_key(versions_map, key, ts)
    if value is None:
        return None
    if len(value) < 8:
        raise ValueError("a document value starts with an 8-byte header")
    return decode(value, 8), int.from_bytes(value[:8], "big")


def scan_documents(leaves: list, maxes: list, versions: dict, start: bytes, end: bytes | None, ts: int,
                   limit: int, reverse: bool, by_id: dict | None, id_key: Callable, decode_many: Callable) -> tuple:
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
    rows = (scan_reverse if reverse else scan_forward)(leaves, maxes, versions, start, end, ts, limit)
    keys = [key for key, _ in rows]
    if by_id is None:
        values = [value for _, value in rows]
    else:
        values = []
        for _, ref in rows:
            value = resolve_key(by_id, id_key(ref), ts)
            if value is None:
                raise LookupError(ref)
            values.append(value)
    return keys, decode_many(values, 8)


def apply_writes(versions_map: dict, ts: int, writes: Sequence[IndexWrite]) -> list:
    """Prepend one commit's versions at *ts* (newer than every version present) to *versions_map*.

    Two writes to one key in a commit: the last one wins. Returns the keys that were not in the map
    before, in first-write order (the store adds them to its ordered key set). The writes must have
    passed ``validate_batch``. TypeError if *versions_map* is not a dict. Runtime: O(w) for w writes
    (plus the list shift of each prepend).
    """
    if not isinstance(versions_map, dict):
        raise TypeError(f"versions_map must be a dict, got {type(versions_map).__name__}")
    new: list = []
    for key, value in writes:
        versions = versions_map.get(key)
        if versions is None:
            versions_map[key] = [(ts, value)]
            new.append(key)
        elif versions[0][0] == ts:
            versions[0] = (ts, value)
        else:
            versions.insert(0, (ts, value))
    return new


def gc_versions(versions: list, below_ts: int) -> int:
    """Truncate a newest-first version list in place to what snapshots ``>= below_ts`` can see.

    Keeps every version newer than *below_ts* and the newest one ``<= below_ts`` unless it is a tombstone;
    drops everything older. Returns the number of versions removed (the list may become empty).
    TypeError if *below_ts* is not an int. Runtime: O(v).
    """
    if not isinstance(below_ts, int):
        raise TypeError(f"gc watermark must be an int, got {type(below_ts).__name__}")
    for j, (vts, value) in enumerate(versions):
        if vts <= below_ts:
            keep = j + 1 if value is not None else j
            removed = len(versions) - keep
            if removed:
                del versions[keep:]
            return removed
    return 0


def gc_index(versions_map: dict, below_ts: int) -> tuple[int, list]:
    """``gc_versions`` on every version list of *versions_map*; keys left with no version are deleted
    from the map. Returns ``(versions removed, deleted keys)`` (the store removes those from its key set).
    TypeError if *versions_map* is not a dict or *below_ts* not an int. Runtime: O(n + versions removed)."""
    if not isinstance(versions_map, dict):
        raise TypeError(f"versions_map must be a dict, got {type(versions_map).__name__}")
    if not isinstance(below_ts, int):
        raise TypeError(f"gc watermark must be an int, got {type(below_ts).__name__}")
    removed = 0
    emptied: list = []
    for key, versions in versions_map.items():
        n = gc_versions(versions, below_ts)
        if n:
            removed += n
            if not versions:
                emptied.append(key)
    for key in emptied:
        del versions_map[key]
    return removed, emptied


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
