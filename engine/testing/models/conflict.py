"""Executable specifications of the conflict kernels: obviously correct, deliberately slow.

Role: the "model" tier for ``engine.conflict.interval_set`` and ``engine.conflict.interval_map``. The
stateful tests in ``tests/differential`` drive a model and an implementation side by side and demand
identical answers; the mutants in ``tests/mutants`` prove those tests can tell the difference.

Who may call it: tests, benchmarks and experiments only; engine code never imports ``engine.testing``.

Invariants: the models keep exactly what they were given (a plain list, nothing merged, nothing
dropped except empty intervals, which contain no key), and answer every query by a linear scan using
``Interval.contains`` / ``Interval.overlaps`` from ``engine.model.types``. There is no cleverness to get wrong.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

from engine.model.types import Interval

__all__ = ["IntervalSetModel", "IntervalMapModel", "boundaries"]


def boundaries(intervals: Iterable[Interval]) -> list[bytes]:
    """Every start and bounded end of the non-empty *intervals*, sorted and deduplicated. O(n log n).

    Membership in any union of these intervals can only change at one of these keys, so two such unions
    agree everywhere iff they agree on the boundaries of both.
    """
    out: set[bytes] = set()
    for iv in intervals:
        if iv.is_empty():
            continue
        out.add(iv.start)
        if iv.end is not None:
            out.add(iv.end)
    return sorted(out)


class IntervalSetModel:
    """A read set as a plain list of intervals. Every query is a linear scan: O(n) per key."""

    def __init__(self, intervals: Iterable[Interval] = ()) -> None:
        self.items: list[Interval] = [iv for iv in intervals if not iv.is_empty()]

    def add(self, interval: Interval) -> None:
        if not interval.is_empty():
            self.items.append(interval)

    def contains(self, key: bytes) -> bool:
        return any(iv.contains(key) for iv in self.items)

    def first_contained(self, keys: Sequence[bytes]) -> int:
        for i, k in enumerate(keys):
            if self.contains(k):
                return i
        return -1

    def overlaps(self, interval: Interval) -> bool:
        return any(iv.overlaps(interval) for iv in self.items)

    def union(self, other: "IntervalSetModel") -> "IntervalSetModel":
        return IntervalSetModel(self.items + other.items)

    def is_empty(self) -> bool:
        return not self.items

    def canonical(self) -> list[Interval]:
        """The maximal runs of contained keys, found by sweeping the boundary keys in order.

        Between consecutive boundaries membership is constant, so the set is the union of
        ``[b[i], b[i+1])`` for every boundary ``b[i]`` that is contained (the last one reaching to
        infinity); joining adjacent contained pieces yields the unique maximal decomposition.
        """
        out: list[Interval] = []
        run_start: bytes | None = None
        for b in boundaries(self.items):
            inside = self.contains(b)
            if inside and run_start is None:
                run_start = b
            elif not inside and run_start is not None:
                out.append(Interval(run_start, b))
                run_start = None
        if run_start is not None:
            out.append(Interval(run_start, None))
        return out

    def debug_state(self) -> dict[str, Any]:
        return {"items": [(iv.start, iv.end) for iv in self.items]}


class IntervalMapModel:
    """Subscribers' intervals as a plain list of ``(owner, interval)``; stabbing is a linear scan."""

    def __init__(self) -> None:
        self.items: list[tuple[int, Interval]] = []

    def insert(self, owner: int, interval: Interval) -> None:
        if not interval.is_empty():
            self.items.append((owner, interval))

    def remove_owner(self, owner: int) -> int:
        kept = [(o, iv) for o, iv in self.items if o != owner]
        removed = len(self.items) - len(kept)
        self.items = kept
        return removed

    def replace(self, owner: int, intervals: Iterable[Interval]) -> tuple[int, int]:
        """The owner's intervals become exactly *intervals* (multiset, empties dropped); returns the
        multiset difference sizes ``(removed, added)``."""
        target = Counter((iv.start, iv.end) for iv in intervals if not iv.is_empty())
        current = Counter((iv.start, iv.end) for o, iv in self.items if o == owner)
        removed = sum((current - target).values())
        added = sum((target - current).values())
        self.items = [(o, iv) for o, iv in self.items if o != owner]
        for (start, end), n in target.items():
            self.items.extend((owner, Interval(start, end)) for _ in range(n))
        return removed, added

    def stab(self, key: bytes) -> set[int]:
        return {o for o, iv in self.items if iv.contains(key)}

    def stab_many(self, keys: Iterable[bytes]) -> set[int]:
        keys = list(keys)
        return {o for o, iv in self.items if any(iv.contains(k) for k in keys)}

    def owners(self) -> set[int]:
        return {o for o, _ in self.items}

    def __len__(self) -> int:
        return len(self.items)

    def debug_state(self) -> dict[str, Any]:
        return {"items": [(o, iv.start, iv.end) for o, iv in self.items]}
