"""A transaction's read set: for each index it read, the key intervals it actually read.

Who may call it: transactions record into it; the committer and the subscription manager check it
against written keys (through ``engine.log``); inspection shows it. The interval-set class is injected
(the reference or its Cython twin), so this module never chooses an implementation.

Invariant: each index's intervals are kept merged by the interval-set kernel, so a membership test is a
binary search.
"""
from __future__ import annotations

from typing import Callable

from engine.model.types import Interval


class ReadSet:
    """index full name ("table.index") -> interval set. Cost of ``record``: O(log n + merged)."""

    __slots__ = ("_sets", "_make")

    def __init__(self, interval_set_factory: Callable[[], object]) -> None:
        self._sets: dict[str, object] = {}
        self._make = interval_set_factory

    def record(self, index: str, interval: Interval) -> None:
        if interval.is_empty():
            return
        s = self._sets.get(index)
        if s is None:
            s = self._sets[index] = self._make()
        s.add(interval)  # type: ignore[attr-defined]

    def by_index(self) -> dict[str, object]:
        """The underlying mapping, for ``WriteWindow.is_stale`` (do not mutate)."""
        return self._sets

    def intervals(self) -> dict[str, list[Interval]]:
        """Plain-data view: index -> merged intervals (for inspection and tests)."""
        return {name: list(s.intervals()) for name, s in sorted(self._sets.items())}  # type: ignore[attr-defined]

    def contains(self, index: str, key: bytes) -> bool:
        s = self._sets.get(index)
        return s is not None and s.contains(key)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return sum(len(s) for s in self._sets.values())  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"ReadSet({self.intervals()!r})"
