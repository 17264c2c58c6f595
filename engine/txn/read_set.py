"""A transaction's read set: for each index it read, the key intervals it actually read.

Who may call it: transactions record into it; the committer and the subscription manager check it
against written keys (through ``engine.log``); inspection shows it. The interval-set class is injected
(the reference or its Cython twin), so this module never chooses an implementation.

Invariants:
- Each index's intervals are kept merged by the interval-set kernel, so a membership test is a binary
  search.
- Indexes are keyed by *identity* (the catalog's index id, or ``engine.catalog.absent_table_key`` for a
  table that did not exist): conflicts and invalidations are decided by identity, so an index dropped
  and redefined under the same name by a schema change is a different index. Names are kept only for
  display (``intervals()``).
- Point reads (``record_point``, one per ``tx.get``) are buffered per index and merged into that index's
  interval set before anything looks at the read set (every accessor flushes first), so a read costs a
  list append and a read-only transaction whose read set nobody checks never pays for the merge. The set
  of each index is still created at its first read, so indexes keep the order of their first reads.
"""
from __future__ import annotations

from typing import Callable, Hashable

from engine.model.types import Interval


class ReadSet:
    """index identity -> interval set. Cost of ``record``: O(log n + merged)."""

    __slots__ = ("_sets", "_names", "_make", "_points")

    def __init__(self, interval_set_factory: Callable[[], object]) -> None:
        self._sets: dict[Hashable, object] = {}
        self._names: dict[Hashable, str] = {}
        self._make = interval_set_factory
        self._points: dict[Hashable, list[bytes]] = {}  # buffered point reads, see record_point

    def record_point(self, index: Hashable, key: bytes, name: str = "") -> None:
        """``record(index, Interval.point(key), name)``, buffered: O(1) now, merged at the next look."""
        points = self._points.get(index)
        if points is None:
            points = self._points[index] = []
            if index not in self._sets:
                self._sets[index] = self._make()
                self._names[index] = name or str(index)
        points.append(key)

    def _flush(self) -> None:
        """Merge the buffered point reads into their interval sets. O(p·(log n + merged))."""
        if self._points:
            points, self._points = self._points, {}
            for index, keys in points.items():
                add = self._sets[index].add  # type: ignore[attr-defined]
                for key in keys:
                    add(Interval.point(key))

    def record(self, index: Hashable, interval: Interval, name: str = "") -> None:
        """Add *interval* (empty intervals are ignored) to what was read of index *index*; *name* is its
        display name ("table.index")."""
        self._flush()
        if interval.is_empty():
            return
        s = self._sets.get(index)
        if s is None:
            s = self._sets[index] = self._make()
            self._names[index] = name or str(index)
        s.add(interval)  # type: ignore[attr-defined]

    def by_index(self) -> dict[Hashable, object]:
        """identity -> interval set, for ``WriteWindow.is_stale`` and the interval maps (do not mutate)."""
        self._flush()
        return self._sets

    def name_of(self, index: Hashable) -> str:
        return self._names.get(index, str(index))

    def intervals(self) -> dict[str, list[Interval]]:
        """Plain-data view for inspection and tests: display name -> merged intervals."""
        self._flush()
        out: dict[str, list[Interval]] = {}
        for ident, s in self._sets.items():
            out.setdefault(self._names[ident], []).extend(s.intervals())  # type: ignore[attr-defined]
        return dict(sorted(out.items()))

    def contains(self, index: Hashable, key: bytes) -> bool:
        self._flush()
        s = self._sets.get(index)
        return s is not None and s.contains(key)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        self._flush()
        return sum(len(s) for s in self._sets.values())  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"ReadSet({self.intervals()!r})"
