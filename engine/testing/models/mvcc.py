"""Executable specification of the MVCC index seam: ``MVCCModel`` (one index) and ``MVCCStoreModel``.

Who may call it: tests (differential state machines, contract expectations) and notebooks. Never engine
code. It is written to be obviously correct, not fast: every read is a linear pass over plain dicts and
lists, mirroring the visibility and gc rules stated in ``engine.index.base`` sentence by sentence.

Invariants: each key maps to a list of ``(ts, value | None)`` with distinct timestamps (None = tombstone);
the store's ``applied_ts`` is at least every version's ts.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from engine.model.types import Interval


class MVCCModel:
    """One multi-versioned index as ``dict key -> [(ts, value | None), ...]``."""

    def __init__(self) -> None:
        self.data: dict[bytes, list[tuple[int, bytes | None]]] = {}

    def apply(self, ts: int, writes: Sequence[tuple[bytes, bytes | None]]) -> None:
        """Record one commit's writes at *ts*. Two writes to one key in a commit: the last one wins."""
        for key, value in writes:
            versions = [(vts, v) for vts, v in self.data.get(key, []) if vts != ts]
            versions.append((ts, value))
            self.data[key] = versions

    def get(self, key: bytes, ts: int) -> bytes | None:
        """The version with the greatest ``vts <= ts``; None if there is none or it is a tombstone."""
        visible = [(vts, v) for vts, v in self.data.get(key, []) if vts <= ts]
        if not visible:
            return None
        return max(visible, key=lambda p: p[0])[1]

    def scan(self, interval: Interval, ts: int, reverse: bool = False, limit: int | None = None
             ) -> list[tuple[bytes, bytes]]:
        """Every live ``(key, value)`` at *ts* with ``interval.contains(key)``, in key order (reversed if
        *reverse*), the first *limit* of them if given."""
        rows = []
        for key in sorted(self.data):
            if interval.contains(key):
                value = self.get(key, ts)
                if value is not None:
                    rows.append((key, value))
        if reverse:
            rows.reverse()
        return rows if limit is None else rows[:max(limit, 0)]

    def versions(self, key: bytes) -> list[tuple[int, bytes | None]]:
        """All retained versions of *key*, newest first."""
        return sorted(self.data.get(key, []), key=lambda p: p[0], reverse=True)

    def gc(self, below_ts: int) -> int:
        """Drop, per key, every version older than the newest one with ``vts <= below_ts``, and that one
        too if it is a tombstone; forget keys left with nothing. Returns the number of versions dropped."""
        removed = 0
        for key in list(self.data):
            versions = self.data[key]
            old = [(vts, v) for vts, v in versions if vts <= below_ts]
            keep = [(vts, v) for vts, v in versions if vts > below_ts]
            if old:
                newest_old = max(old, key=lambda p: p[0])
                if newest_old[1] is not None:
                    keep.append(newest_old)
            removed += len(versions) - len(keep)
            if keep:
                self.data[key] = keep
            else:
                del self.data[key]
        return removed


class MVCCStoreModel:
    """A family of ``MVCCModel`` indexes with ``applied_ts`` and metadata, like an ``IndexStore``."""

    def __init__(self) -> None:
        self.indexes: dict[int, MVCCModel] = {}
        self.applied_ts = 0
        self.meta: dict[str, bytes] = {}

    def open_index(self, index_id: int) -> MVCCModel:
        return self.indexes.setdefault(index_id, MVCCModel())

    def drop_index(self, index_id: int) -> None:
        self.indexes.pop(index_id, None)

    def index_ids(self) -> list[int]:
        return sorted(self.indexes)

    def apply_batch(self, commits: Sequence[tuple[int, Mapping[int, Sequence[tuple[bytes, bytes | None]]]]]) -> None:
        """Raise ValueError (applying nothing) unless timestamps strictly increase above ``applied_ts``."""
        timestamps = [ts for ts, _ in commits]
        previous = [self.applied_ts] + timestamps[:-1]
        if any(ts <= prev for ts, prev in zip(timestamps, previous)):
            raise ValueError(f"timestamps {timestamps} do not strictly increase above {self.applied_ts}")
        for ts, by_index in commits:
            for index_id, writes in by_index.items():
                self.open_index(index_id).apply(ts, writes)
            self.applied_ts = ts

    def backfill(self, index_id: int, commits: Sequence[tuple[int, Sequence[tuple[bytes, bytes | None]]]]) -> None:
        """Write the past history of an empty (or missing) index; ``applied_ts`` is unchanged. ValueError,
        nothing written and no index created, unless timestamps strictly increase from >= 1 up to at most
        ``applied_ts`` and the index holds no version."""
        timestamps = [ts for ts, _ in commits]
        if any(ts <= prev for ts, prev in zip(timestamps, [0] + timestamps[:-1])):
            raise ValueError(f"backfill timestamps {timestamps} do not strictly increase from 1")
        if timestamps and timestamps[-1] > self.applied_ts:
            raise ValueError(f"backfill timestamps {timestamps} exceed applied_ts {self.applied_ts}")
        if index_id in self.indexes and self.indexes[index_id].data:
            raise ValueError(f"backfill of index {index_id}: the index is not empty")
        index = self.open_index(index_id)
        for ts, writes in commits:
            index.apply(ts, writes)

    def gc(self, below_ts: int) -> int:
        return sum(index.gc(below_ts) for index in self.indexes.values())

    def get_meta(self, key: str) -> bytes | None:
        return self.meta.get(key)

    def put_meta(self, key: str, value: bytes) -> None:
        self.meta[key] = value
