"""IntervalSet: one transaction's reads on one index, as merged key intervals (reference kernel).

Role: the OCC half of the overlap kernel. A transaction records every interval it read on an index into
one ``IntervalSet``; the write window then walks the merged intervals (``bounds()``) through its own
per-index tree of written keys. ``first_contained(keys)`` answers the same question for a list of keys.
Subscriptions keep their own structure (``interval_map``).

Who may call it: ``engine.txn`` (through an injected factory, see ``engine.txn.read_set``), the write
window (``bounds``), tests and benchmarks. Nothing here holds timestamps or policy.

Representation and invariants (checked by ``check_invariants``):
- Two parallel lists ``_starts`` (bytes) and ``_ends`` (bytes, or None = unbounded above), so ``bisect``
  works on byte strings directly. Interval ``i`` is ``[_starts[i], _ends[i])``.
- Every stored interval is non-empty: ``_ends[i] is None or _starts[i] < _ends[i]``.
- Intervals are sorted, disjoint and non-touching: ``_ends[i] < _starts[i + 1]`` (strictly), which also
  means only the last interval may be unbounded. Adding an interval merges it with every stored interval it
  overlaps or touches (``a.end == b.start``); empty intervals are ignored.
- Consequently the representation is canonical: two sets containing exactly the same keys have exactly
  the same interval lists. (Every non-empty gap ``[e, s)`` contains ``e`` itself, so a key set has a
  unique decomposition into maximal intervals.) ``__eq__`` compares the lists.
- Unbounded ends are represented by None and handled by explicit branches, never by a fake "max" key:
  no byte string is larger than every other.

A Cython twin (``engine._native.interval_set``) carries the same names, signatures, docstrings and ABI.
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Any, Iterable, Sequence

from engine.model.types import Interval

ABI = "interval_set/2"

__all__ = ["ABI", "IntervalSet"]


def _coalesce(pairs: list[tuple[bytes, bytes | None]]) -> tuple[list[bytes], list[bytes | None]]:
    """Merge non-empty ``(start, end)`` pairs sorted by start into canonical parallel lists. O(n)."""
    starts: list[bytes] = []
    ends: list[bytes | None] = []
    for s, e in pairs:
        if starts:
            last = ends[-1]
            if last is None:
                # The open tail already covers everything from its start on; s >= that start.
                continue
            if s <= last:  # overlaps or touches the previous interval
                if e is None or e > last:
                    ends[-1] = e
                continue
        starts.append(s)
        ends.append(e)
    return starts, ends


class IntervalSet:
    """Sorted, disjoint, non-touching, non-empty half-open intervals over byte-string keys.

    ``IntervalSet(intervals=())`` builds the set from any iterable of ``Interval`` (empty ones ignored).
    Runtime: O(n log n) for n intervals.
    """

    __slots__ = ("_starts", "_ends")

    def __init__(self, intervals: Iterable[Interval] = ()) -> None:
        pairs = [(iv.start, iv.end) for iv in intervals if not iv.is_empty()]
        # Sort by start only: _coalesce keeps the largest end among equal starts.
        pairs.sort(key=lambda p: p[0])
        self._starts, self._ends = _coalesce(pairs)

    # ---- mutation --------------------------------------------------------------------------------

    def add(self, interval: Interval) -> None:
        """Add *interval*, merging it with every stored interval it overlaps or touches.

        Empty intervals are ignored. Runtime: O(log n + m) comparisons for m intervals merged, plus the
        list splice (a memmove of the tail, O(n) bytes moved but no Python-level work).
        """
        s = interval.start
        e = interval.end
        if e is not None and s >= e:
            return
        starts = self._starts
        ends = self._ends
        # lo: first stored interval whose end reaches s (end >= s, or unbounded). Every interval before
        # index i = (last start <= s) ends strictly before starts[i] <= s, so only i itself can reach s.
        i = bisect_right(starts, s) - 1
        if i >= 0:
            ei = ends[i]
            lo = i if (ei is None or ei >= s) else i + 1
        else:
            lo = 0
        # hi: one past the last stored interval whose start is <= e (touching at e counts).
        hi = len(starts) if e is None else bisect_right(starts, e, lo)
        if lo >= hi:
            starts.insert(lo, s)
            ends.insert(lo, e)
            return
        new_start = starts[lo] if starts[lo] < s else s
        last_end = ends[hi - 1]
        if e is None or last_end is None:
            new_end = None
        else:
            new_end = last_end if last_end > e else e
        starts[lo:hi] = [new_start]
        ends[lo:hi] = [new_end]

    # ---- queries ---------------------------------------------------------------------------------

    def contains(self, key: bytes) -> bool:
        """True iff some stored interval contains *key* (start inclusive, end exclusive).

        Runtime: O(log n) comparisons (binary search over the starts).
        """
        i = bisect_right(self._starts, key) - 1
        if i < 0:
            return False
        e = self._ends[i]
        return e is None or key < e

    def first_contained(self, keys: Sequence[bytes]) -> int:
        """Index of the first key in *keys* that the set contains, or -1 if none (the OCC hot loop).

        *keys* need not be sorted. Runtime: O(p log n) for the p keys examined (stops at the first hit).
        """
        starts = self._starts
        if not starts:
            return -1
        ends = self._ends
        br = bisect_right
        for pos, key in enumerate(keys):
            i = br(starts, key) - 1
            if i >= 0:
                e = ends[i]
                if e is None or key < e:
                    return pos
        return -1

    def overlaps(self, interval: Interval) -> bool:
        """True iff some key lies both in *interval* and in the set (an empty interval overlaps nothing).

        Runtime: O(log n).
        """
        s = interval.start
        e = interval.end
        if e is not None and s >= e:
            return False
        starts = self._starts
        ends = self._ends
        i = bisect_right(starts, s) - 1
        if i >= 0:
            ei = ends[i]
            if ei is None or ei > s:  # the stored interval holding s (if any) contains s itself
                return True
        j = i + 1  # first stored interval starting strictly after s
        if j < len(starts):
            return e is None or starts[j] < e
        return False

    def bounds(self) -> tuple[list[bytes], list[bytes | None]]:
        """The canonical intervals as the set's own parallel lists ``(starts, ends)`` (an end of None is
        unbounded), for kernels that walk the intervals without building ``Interval`` objects (the write
        window). Read-only views: never mutate them. Runtime: O(1)."""
        return self._starts, self._ends

    def intervals(self) -> list[Interval]:
        """The canonical merged intervals, ascending (a fresh list). Runtime: O(n)."""
        return [Interval(s, e) for s, e in zip(self._starts, self._ends)]

    def union(self, other: "IntervalSet") -> "IntervalSet":
        """A new set holding every key of *self* or *other*; neither operand changes.

        *other* may be any object with ``intervals()``. Runtime: O(n + m) for already-canonical operands
        (a linear merge), O((n + m) log(n + m)) otherwise.
        """
        if isinstance(other, IntervalSet):
            o_starts, o_ends = other._starts, other._ends
        else:
            ivs = [iv for iv in other.intervals() if not iv.is_empty()]
            ivs.sort(key=lambda iv: iv.start)
            o_starts = [iv.start for iv in ivs]
            o_ends = [iv.end for iv in ivs]
        a_s, a_e = self._starts, self._ends
        pairs: list[tuple[bytes, bytes | None]] = []
        i = j = 0
        na, nb = len(a_s), len(o_starts)
        while i < na and j < nb:
            if a_s[i] <= o_starts[j]:
                pairs.append((a_s[i], a_e[i]))
                i += 1
            else:
                pairs.append((o_starts[j], o_ends[j]))
                j += 1
        pairs.extend(zip(a_s[i:], a_e[i:]))
        pairs.extend(zip(o_starts[j:], o_ends[j:]))
        result = type(self)()
        result._starts, result._ends = _coalesce(pairs)
        return result

    def __len__(self) -> int:
        """Number of merged intervals (not keys). O(1)."""
        return len(self._starts)

    def __bool__(self) -> bool:
        """True iff the set contains at least one key. O(1)."""
        return bool(self._starts)

    def __eq__(self, other: object) -> bool:
        """Same key set. Because the representation is canonical this is list equality. O(n)."""
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self._starts == other._starts and self._ends == other._ends

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"IntervalSet({self.intervals()!r})"

    # ---- testing support -------------------------------------------------------------------------

    def check_invariants(self) -> None:
        """Assert the representation invariants listed in the module docstring. O(n); tests only."""
        starts, ends = self._starts, self._ends
        assert isinstance(starts, list) and isinstance(ends, list)
        assert len(starts) == len(ends), f"parallel lists differ in length: {len(starts)} != {len(ends)}"
        n = len(starts)
        for i in range(n):
            s, e = starts[i], ends[i]
            assert isinstance(s, bytes), f"start {i} is not bytes: {s!r}"
            assert e is None or isinstance(e, bytes), f"end {i} is neither bytes nor None: {e!r}"
            assert e is None or s < e, f"interval {i} [{s!r}, {e!r}) is empty"
            if i + 1 < n:
                assert e is not None, f"interval {i} is unbounded but not last"
                assert e < starts[i + 1], (
                    f"intervals {i} and {i + 1} overlap or touch: end {e!r} >= next start {starts[i + 1]!r}"
                )

    def debug_state(self) -> dict[str, Any]:
        """Plain-data snapshot: ``{"intervals": [(start, end_or_None), ...]}``. O(n)."""
        return {"intervals": list(zip(self._starts, self._ends))}
