"""The in-memory persistence strategy, plus the argument rules every strategy shares.

Who may call it: ``engine.persistence.registry`` (strategy "memory") and tests. The file strategies
(``lmdb_store``, ``sqlite_store``) import the shared helpers from here: memory is the reference strategy,
so the rules for what ``append``/globals accept live next to its simplest implementation, and all three
strategies refuse exactly the same inputs with the same errors.

Memory keeps nothing across ``close``/process exit (``persistent = False``); "durable" holds trivially
for the lifetime of the object. It still stores each record *encoded* with ``engine.persistence.record``
and decodes on read. That is deliberate: experiments use it as the "no I/O" baseline, so its cost should
differ from the file strategies only by storage, not by codec work; and the contract suite then
exercises the codec through every strategy.

Invariants (``check_invariants``):
- ``_ts`` strictly increases and ``_ts[i]`` is the ts of ``decode_record(_blobs[i])``.
- ``max_ts() == max(last record ts, high-water mark) >= last record ts``.
- After ``close`` every public method except ``close`` raises ``DatabaseClosedError``; so does continuing
  to iterate a ``load_log`` iterator obtained before the close.
Thread-safety: one lock guards all state; readers copy bounds under it and then read the append-only
lists without it (entries below a snapshot's bound never change).
"""
from __future__ import annotations

import bisect
import os
import threading
from typing import Any, Iterable, Iterator

from engine.model.errors import DatabaseClosedError, PersistenceError
from engine.model.types import MAX_TIMESTAMP, Timestamp
from engine.persistence.base import CommitRecord, PersistenceConfig
from engine.persistence.options import MemoryPersistenceOptions, require_options
from engine.persistence import record as reference_codec

#: Longest global name, in UTF-8 bytes. LMDB's default key limit; enforced by every strategy so a name
#: accepted by one is accepted by all.
MAX_GLOBAL_KEY_BYTES = 511


# --------------------------------------------------------------------------------------------------
# Helpers shared by every strategy.
# --------------------------------------------------------------------------------------------------

def encode_batch(records: Iterable[CommitRecord], codec: Any = None) -> list[tuple[int, bytes]]:
    """Encode a batch for ``append`` and check that its timestamps strictly increase within it.

    Returns ``[(ts, encoded), ...]`` in input order. Cost: O(total bytes). Raises ``PersistenceError``
    naming the offending position for an unencodable record or a ts not above its predecessor; the
    comparison with what is already stored is the strategy's job (it needs the store's own view).
    """
    out: list[tuple[int, bytes]] = []
    prev = 0
    for n, rec in enumerate(records):
        blob = (codec or reference_codec).encode_record(rec)
        ts = rec.ts
        if n and ts <= prev:
            raise PersistenceError(
                f"append refused: record #{n} has ts {ts}, not above record #{n - 1} (ts {prev}); "
                "timestamps must strictly increase (nothing of this batch was written)")
        out.append((ts, blob))
        prev = ts
    return out


def refuse_below(first_ts: int, floor: int) -> None:
    """Raise ``PersistenceError`` unless the batch's first ts exceeds the store's ``max_ts()`` (*floor*)."""
    if first_ts <= floor:
        raise PersistenceError(
            f"append refused: first record has ts {first_ts}, not above the store's max_ts {floor} "
            "(nothing of this batch was written)")


def global_key(key: str) -> bytes:
    """Validate a global name and return its UTF-8 bytes.

    Raises ``TypeError`` for a non-str and ``ValueError`` for "" or a name over ``MAX_GLOBAL_KEY_BYTES``
    UTF-8 bytes (LMDB cannot store empty or longer keys; the others follow suit) or one that is not
    encodable (lone surrogates).
    """
    if not isinstance(key, str):
        raise TypeError(f"global name must be a str, got {type(key).__name__}")
    try:
        raw = key.encode("utf-8")
    except UnicodeError as exc:
        raise ValueError(f"global name {key!r} is not encodable as UTF-8") from exc
    if not 0 < len(raw) <= MAX_GLOBAL_KEY_BYTES:
        raise ValueError(f"global name must be 1..{MAX_GLOBAL_KEY_BYTES} UTF-8 bytes, got {len(raw)}")
    return raw


def global_value(value: bytes) -> bytes:
    """Validate a global value (any bytes-like) and return it as ``bytes``; ``TypeError`` otherwise."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"global value must be bytes, got {type(value).__name__}")


def check_ts(ts: int, what: str) -> int:
    """Validate a u64 timestamp argument (``bump_max_ts``); ``ValueError``/``TypeError`` otherwise."""
    if not isinstance(ts, int):
        raise TypeError(f"{what} must be an int timestamp, got {type(ts).__name__}")
    if not 0 <= ts <= MAX_TIMESTAMP:
        raise ValueError(f"{what} {ts} is not a u64 timestamp")
    return ts


def log_bounds(start_ts: int, end_ts: int | None) -> tuple[int, int | None]:
    """Validate ``load_log`` bounds. Negative bounds are a caller bug (``ValueError``); an ``end_ts`` above
    ``MAX_TIMESTAMP`` is legal and simply unbounded in effect. ``start >= end`` is the empty range."""
    if not isinstance(start_ts, int) or (end_ts is not None and not isinstance(end_ts, int)):
        raise TypeError("load_log bounds must be ints (end_ts may be None)")
    if start_ts < 0 or (end_ts is not None and end_ts < 0):
        raise ValueError(f"load_log bounds must be >= 0, got start_ts={start_ts} end_ts={end_ts}")
    return start_ts, end_ts


def snapshot_stop(end_ts: int | None, last_ts: int) -> int:
    """Exclusive upper bound of a ``load_log`` call: *end_ts* clipped to just past the last stored ts.

    Every strategy fixes this bound when ``load_log`` is called. Because the log is append-only with
    increasing timestamps, reading ``[start, stop)`` later - in however many chunks - returns exactly the
    records that were stored at call time: later batches all have ts >= stop.
    """
    stop = last_ts + 1
    return stop if end_ts is None or end_ts > stop else end_ts


def require_path(config: PersistenceConfig, strategy: str) -> str:
    """The directory of a file strategy, created if missing; ``ValueError`` if ``config.path`` is None."""
    if config.path is None:
        raise ValueError(f"persistence strategy {strategy!r} stores files and needs PersistenceConfig.path (got None)")
    if config.durability not in ("full", "none"):
        raise ValueError(f"durability must be 'full' or 'none', got {config.durability!r}")
    try:
        os.makedirs(config.path, exist_ok=True)
    except OSError as exc:
        raise PersistenceError(f"cannot create persistence directory {config.path!r}: {exc}") from exc
    return config.path


class OpGate:
    """Tracks in-flight operations so ``close`` can wait for them, and refuses new ones once closed.

    The file strategies wrap every storage access in ``with gate:``; ``close`` flips the flag and waits
    until no access is in flight before freeing handles, so a concurrent reader gets
    ``DatabaseClosedError`` instead of touching a freed environment/connection. Cost: one condition
    acquire/release on entry and exit (about a microsecond). Never hold it across a ``yield``: an
    abandoned iterator would then block ``close`` forever.
    """

    __slots__ = ("_lock", "_cond", "_active", "_closed", "_what")

    def __init__(self, what: str) -> None:
        # Entry and exit take the bare lock (a C-level context manager); only ``close`` uses the condition
        # built on it, so the hot path never runs ``threading.Condition``'s Python-level methods.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._active = 0
        self._closed = False
        self._what = what

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        """Raise ``DatabaseClosedError`` if closed (a cheap unlocked read: a hint, not a guarantee)."""
        if self._closed:
            raise DatabaseClosedError(f"{self._what} is closed")

    def __enter__(self) -> "OpGate":
        with self._lock:
            if self._closed:
                raise DatabaseClosedError(f"{self._what} is closed")
            self._active += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._active -= 1
            if self._closed and not self._active:
                self._cond.notify_all()

    def close(self) -> bool:
        """Refuse new operations and wait for in-flight ones. True the first time, False if already closed."""
        with self._cond:
            if self._closed:
                return False
            self._closed = True
            while self._active:
                self._cond.wait()
            return True


# --------------------------------------------------------------------------------------------------
# The strategy.
# --------------------------------------------------------------------------------------------------

class MemoryPersistence:
    """Strategy "memory": a list of encoded records, a dict of globals, an int high-water mark.

    ``config`` is accepted for a uniform constructor and otherwise ignored (no path, no durability knob).
    """

    name = "memory"
    persistent = False

    def __init__(self, config: PersistenceConfig | None = None, codec: Any = None) -> None:
        #: The commit-record codec kernel (reference or Cython twin; same bytes either way).
        self._codec = codec or reference_codec
        self.options = require_options(self.name, MemoryPersistenceOptions,
                                       config.options if config is not None else None)
        self._lock = threading.Lock()
        self._closed = False
        self._ts: list[int] = []
        self._blobs: list[bytes] = []
        self._globals: dict[bytes, bytes] = {}
        self._hwm = 0

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseClosedError("memory persistence is closed")

    def append(self, records: Iterable[CommitRecord]) -> None:
        """Encode outside the lock, then check order and extend under it. O(total bytes)."""
        self._check_open()
        batch = encode_batch(records, self._codec)
        with self._lock:
            self._check_open()
            if not batch:
                return
            refuse_below(batch[0][0], self._max_ts_locked())
            self._ts.extend(ts for ts, _ in batch)
            self._blobs.extend(blob for _, blob in batch)

    def _max_ts_locked(self) -> int:
        last = self._ts[-1] if self._ts else 0
        return last if last > self._hwm else self._hwm

    def load_log(self, start_ts: Timestamp = Timestamp(0), end_ts: Timestamp | None = None) -> Iterator[CommitRecord]:
        """Records with ``start_ts <= ts < end_ts`` as stored when called; lazily decoded.

        O(log n) to locate the range, then O(bytes) per record yielded.
        """
        start, end = log_bounds(start_ts, end_ts)
        with self._lock:
            self._check_open()
            stop = snapshot_stop(end, self._ts[-1] if self._ts else 0)
            lo = bisect.bisect_left(self._ts, start)
            hi = bisect.bisect_left(self._ts, stop, lo)
            blobs = self._blobs
        return self._iter(blobs, lo, hi)

    def _iter(self, blobs: list[bytes], lo: int, hi: int) -> Iterator[CommitRecord]:
        for i in range(lo, hi):
            self._check_open()
            yield self._codec.decode_record(blobs[i])

    def get_record(self, ts: Timestamp) -> CommitRecord | None:
        """O(log n) bisect; None for any ts not stored (including ints outside u64)."""
        with self._lock:
            self._check_open()
            i = bisect.bisect_left(self._ts, ts)
            if i == len(self._ts) or self._ts[i] != ts:
                return None
            blob = self._blobs[i]
        return self._codec.decode_record(blob)

    def max_ts(self) -> Timestamp:
        """O(1)."""
        with self._lock:
            self._check_open()
            return Timestamp(self._max_ts_locked())

    def bump_max_ts(self, ts: Timestamp) -> None:
        """O(1); no-op unless *ts* exceeds ``max_ts()``."""
        ts = check_ts(ts, "bump_max_ts ts")
        with self._lock:
            self._check_open()
            if ts > self._hwm:
                self._hwm = ts

    def get_global(self, key: str) -> bytes | None:
        """O(1) dict lookup."""
        raw = global_key(key)
        with self._lock:
            self._check_open()
            return self._globals.get(raw)

    def put_global(self, key: str, value: bytes) -> None:
        """O(len(value)) (a bytes copy if given a bytearray/memoryview)."""
        raw = global_key(key)
        value = global_value(value)
        with self._lock:
            self._check_open()
            self._globals[raw] = value

    def close(self) -> None:
        """Drop everything; idempotent."""
        with self._lock:
            self._closed = True
            self._ts = []
            self._blobs = []
            self._globals = {}

    def check_invariants(self) -> None:
        """Assert the invariants in the module docstring (tests only; O(total bytes))."""
        with self._lock:
            self._check_open()
            ts, blobs, hwm = list(self._ts), list(self._blobs), self._hwm
        assert len(ts) == len(blobs), (len(ts), len(blobs))
        assert all(0 < a < b for a, b in zip(ts, ts[1:])), "record timestamps must strictly increase"
        for t, blob in zip(ts, blobs):
            assert self._codec.decode_record(blob).ts == t, f"record stored under ts {t} decodes to another ts"
        last = ts[-1] if ts else 0
        assert self.max_ts() == max(last, hwm) >= last
