"""The multi-versioned index seam: ``MVCCIndex`` (one index) and ``IndexStore`` (a family of them).

Who may call it: the committer applies commits through ``IndexStore.apply_batch``; transactions read
through ``MVCCIndex.get`` / ``scan`` / ``scan_batch`` and, for decoded documents in one native call per
batch, ``get_document`` / ``scan_documents`` (``scan_documents_by_batches``); inspection uses ``versions``. Strategies live beside
this file (``mem_btree``, ``lmdb_btree``: one store class each, given its kernel module - ``mvcc_kernel``,
``mvcc_lmdb_kernel`` or their Cython twins) and are chosen by name through ``engine.index.registry``.

Model (what every strategy must behave like; ``engine.testing.models.MVCCModel`` is the executable form):
each index is a map ``key -> [(ts, value | TOMBSTONE), ...]``. A read at snapshot ``ts`` sees, per key,
the version with the greatest ``vts <= ts``; a key whose visible version is a tombstone, or that has no
version ``<= ts``, is absent.

Preconditions the engine guarantees and strategies may rely on:
- Keys of one index are prefix-free (no key is a proper prefix of another). ``engine.encoding`` index
  keys are fixed-arity tuple encodings, hence prefix-free. The LMDB layout ``key || ~ts`` needs this.
- Keys are at most ``engine.encoding.MAX_INDEX_KEY_BYTES`` long.
- ``apply_batch`` timestamps strictly increase and exceed ``applied_ts()``.

GC: ``gc(below_ts)`` may drop any version that no snapshot ``>= below_ts`` can see: per key, every version
older than the newest one with ``vts <= below_ts``, and that one too if it is a tombstone. Reads at
snapshots ``>= below_ts`` are unchanged by gc. Enforcing "too old" for reads below the watermark is the
database's job, not the index's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Mapping, Protocol, Sequence

from engine.model.types import Interval, Timestamp, key_successor

#: One index write: (key, new value bytes) or (key, None) for a tombstone.
IndexWrite = tuple[bytes, "bytes | None"]
#: One commit's writes to several indexes, by index id.
CommitIndexWrites = tuple[Timestamp, Mapping[int, Sequence[IndexWrite]]]

Durability = Literal["full", "none"]

#: Default number of entries a scan fetches per crossing into the storage layer.
SCAN_BATCH = 256

#: Longest key any strategy accepts: LMDB's default maximum key size (511) minus the 12 bytes of framing
#: (u32 index id + u64 inverted ts) that ``lmdb_btree`` adds. Every strategy enforces the same bound so
#: that swapping strategies never changes which writes succeed. ``engine.encoding.MAX_INDEX_KEY_BYTES``
#: (the engine's own limit) must not exceed it.
MAX_KEY_BYTES = 511 - 12

#: Index ids are u32 (the LMDB layout stores them in 4 bytes); every strategy enforces the range. Id 0 is
#: valid (the engine reserves it for its own catalog history; table indexes start at 1).
MAX_INDEX_ID = (1 << 32) - 1


def check_index_id(index_id: int) -> None:
    """ValueError unless *index_id* is an int (not a bool) in ``0..MAX_INDEX_ID``. O(1)."""
    if not isinstance(index_id, int) or isinstance(index_id, bool) or not 0 <= index_id <= MAX_INDEX_ID:
        raise ValueError(f"index id must be an int in 0..2^32-1, got {index_id!r}")


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """Explicit configuration for an index strategy (recorded with experiment results).

    ``path``: directory for file-backed strategies. ``durability``: "full" syncs each ``apply_batch``;
    "none" lets the OS flush (safe against process crashes; after an OS crash the database rebuilds
    derived state from the log). ``map_size``: LMDB map size. ``options``: the strategy's typed knobs (an
    instance of ``engine.index.registry.INDEX_OPTIONS[name]``, e.g. ``LmdbBtreeOptions``); None means that
    strategy's defaults. A store given options of another strategy's type raises ValueError.
    """

    path: str | None = None
    durability: Durability = "none"
    map_size: int = 1 << 36
    options: Any = None


class MVCCIndex(Protocol):
    """Read view of one multi-versioned index."""

    index_id: int

    def get(self, key: bytes, ts: Timestamp) -> bytes | None:
        """Value of the newest version of *key* with ``vts <= ts``; None if absent or a tombstone.

        Runtime: O(log n + v) for v versions of the key newer than *ts*.
        """
        ...

    def scan_batch(self, interval: Interval, ts: Timestamp, limit: int, reverse: bool = False) -> list[tuple[bytes, bytes]]:
        """Up to *limit* live ``(key, value)`` pairs visible at *ts* inside *interval* (start incl., end excl.),
        ascending by key, or descending if *reverse*. Runtime: O(log n + k·v).
        """
        ...

    def scan(self, interval: Interval, ts: Timestamp, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Lazily yield every live pair visible at *ts* in *interval*, in key order (see ``scan_batch``).

        Safe against concurrent ``apply_batch``: each batch re-seeks after the last key returned.
        """
        ...

    def get_document(self, key: bytes, ts: Timestamp, decode: Callable) -> tuple[Any, int] | None:
        """The *document value* (``u64 BE header || encoded document``, the by_id value) of *key* at *ts*,
        decoded in the same native call: ``(decode(value, 8), header)``; None if absent or a tombstone.
        Runtime: as ``get`` plus one decode."""
        ...

    def scan_documents(self, interval: Interval, ts: Timestamp, limit: int, reverse: bool, by_id: "MVCCIndex | None",
                       id_key: Callable, decode_many: Callable) -> tuple[list[bytes], list[Any]]:
        """One batch of documents: up to *limit* live rows of *interval* at *ts* (as ``scan_batch``), each
        resolved to its decoded document in one native call. ``by_id=None``: the rows' values are document
        values. Otherwise *by_id* (an index of the same store) is read at the same *ts* for ``id_key(value)``
        of each row. Returns ``(keys, docs)``; ``RippleError`` if a row's document is missing (a bug).
        Runtime: as ``scan_batch`` plus one by_id lookup per row and the decoding."""
        ...

    def versions(self, key: bytes) -> list[tuple[Timestamp, bytes | None]]:
        """Every retained version of *key*, newest first; None values are tombstones. [] if never written."""
        ...

    def check_invariants(self) -> None:
        """Assert internal consistency (tests only; O(n))."""
        ...


class IndexStore(Protocol):
    """A family of MVCC indexes updated together, atomically per ``apply_batch``."""

    name: str

    def open_index(self, index_id: int) -> MVCCIndex:
        """The index with this id, created empty if it does not exist."""
        ...

    def drop_index(self, index_id: int) -> None:
        """Delete the index and all its versions (no-op if missing)."""
        ...

    def index_ids(self) -> list[int]:
        """Ids of every existing index, ascending."""
        ...

    def apply_batch(self, commits: Sequence[CommitIndexWrites]) -> None:
        """Apply several commits' index writes atomically; afterwards ``applied_ts()`` is the last ts.

        Timestamps must strictly increase and exceed ``applied_ts()`` (ValueError otherwise, nothing
        applied). Writing to an index id that was never opened opens it.
        """
        ...

    def backfill(self, index_id: int, commits: Sequence[tuple[Timestamp, Sequence[IndexWrite]]]) -> None:
        """Write the history of one freshly created, still empty index (an index added to a table with
        data): versions at past timestamps, strictly increasing and ``<= applied_ts()``, which it leaves
        unchanged. ValueError, nothing written, if the index is not empty or the order is wrong."""
        ...

    def applied_ts(self) -> Timestamp:
        """Highest commit ts applied (0 if none)."""
        ...

    def get_meta(self, key: str) -> bytes | None:
        """Strategy-private metadata the engine stores with the indexes (e.g. index definitions)."""
        ...

    def put_meta(self, key: str, value: bytes) -> None:
        ...

    def gc(self, below_ts: Timestamp) -> int:
        """Drop versions no snapshot ``>= below_ts`` can see, in every index. Returns versions removed."""
        ...

    def check_invariants(self) -> None:
        ...

    def close(self) -> None:
        ...


def scan_by_batches(index: MVCCIndex, interval: Interval, ts: Timestamp, reverse: bool = False,
                    batch: int = SCAN_BATCH) -> Iterator[tuple[bytes, bytes]]:
    """Generic ``scan`` built on ``scan_batch``: re-seeks after each batch, so it tolerates concurrent
    writers (each batch reflects the structure at the time it is fetched; MVCC visibility keeps the
    result a consistent snapshot at *ts*)."""
    current = interval
    while True:
        rows = index.scan_batch(current, ts, batch, reverse)
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1][0]
        if reverse:
            current = Interval(current.start, last)
        else:
            current = Interval(key_successor(last), current.end)


def scan_documents_by_batches(index: MVCCIndex, interval: Interval, ts: Timestamp, reverse: bool, by_id: MVCCIndex | None,
                              id_key: Callable, decode_many: Callable, batch: int = SCAN_BATCH,
                              first: int | None = None) -> Iterator[tuple[list[bytes], list[Any]]]:
    """``(keys, docs)`` batches of ``index.scan_documents`` over all of *interval*, re-seeking after each
    batch's last key as ``scan_by_batches`` does (so concurrent writers are tolerated and every batch is
    read at *ts*). The first batch holds at most *first* rows when given (a caller that wants only that
    many, e.g. ``take(n)``, then resolves no documents it will not use), later ones *batch*. Empty batches
    are not yielded."""
    current = interval
    if first is not None and 0 < first < batch:
        keys, docs = index.scan_documents(current, ts, first, reverse, by_id, id_key, decode_many)
        if keys:
            yield keys, docs
        if len(keys) < first:
            return
        last = keys[-1]
        current = Interval(current.start, last) if reverse else Interval(key_successor(last), current.end)
    while True:
        keys, docs = index.scan_documents(current, ts, batch, reverse, by_id, id_key, decode_many)
        if keys:
            yield keys, docs
        if len(keys) < batch:
            return
        last = keys[-1]
        current = Interval(current.start, last) if reverse else Interval(key_successor(last), current.end)
