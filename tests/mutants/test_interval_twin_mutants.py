"""Mutant tests: deliberately broken interval-set / interval-map twins that the differential machines must
catch.

Role: evidence that ``tests/differential/test_interval_{set,map}_stateful.py`` have teeth against the bugs a
Cython translation is prone to (a query cache not invalidated by a mutation, an iterator fast path that
diverges from the list fast path, a half-done owner removal, a dropped unbounded branch). Each mutant
subclasses the Cython twin (the reference when the twin is not built) and breaks exactly one rule; the
unchanged state machine then drives it against the model and must fail. A mutant that survives fails here.

Who uses it: pytest only. The mutants live here, never in ``engine``.

Invariants: runs are reproducible (``derandomize=True``, no example database, no shrinking);
``report_multiple_bugs=False`` makes hypothesis re-raise the original AssertionError.
"""
from __future__ import annotations

from typing import Any, Iterable

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from engine._impl import implementations
from engine.model.types import Interval
from tests.differential.test_interval_map_stateful import make_interval_map_machine
from tests.differential.test_interval_set_stateful import make_interval_set_machine

SET_IMPLS = implementations("interval_set")
MAP_IMPLS = implementations("interval_map")
SET_TWIN = SET_IMPLS.get("cy", SET_IMPLS["py"])
MAP_TWIN = MAP_IMPLS.get("cy", MAP_IMPLS["py"])

MUTANT_SETTINGS = settings(
    max_examples=200, deadline=None, database=None, derandomize=True, print_blob=False,
    report_multiple_bugs=False, phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


# ---- IntervalSet twin mutants ----------------------------------------------------------------------


class StaleBoundaryCacheSet(SET_TWIN.IntervalSet):  # type: ignore[misc,name-defined]
    """The twin's boundary cache is built on the first query and never invalidated by ``add``."""

    def __init__(self, intervals: Iterable[Interval] = ()) -> None:
        super().__init__(intervals)
        self._cache: Any = None

    def _view(self) -> Any:
        if self._cache is None:
            self._cache = SET_TWIN.IntervalSet(self.intervals())
        return self._cache

    def contains(self, key: bytes) -> bool:
        return self._view().contains(key)

    def first_contained(self, keys: Any) -> int:
        return self._view().first_contained(keys)


class InclusiveEndFastPathSet(SET_TWIN.IntervalSet):  # type: ignore[misc,name-defined]
    """``first_contained``'s fast path treats a bounded end as inclusive (``<=`` for ``<``)."""

    def first_contained(self, keys: Any) -> int:
        ends = {e for _, e in self.debug_state()["intervals"] if e is not None}
        for pos, k in enumerate(keys):
            if self.contains(k) or k in ends:
                return pos
        return -1


class TouchingNotMergedSet(SET_TWIN.IntervalSet):  # type: ignore[misc,name-defined]
    """``add`` of an interval starting exactly at a stored end keeps both (a non-canonical pair)."""

    def __init__(self, intervals: Iterable[Interval] = ()) -> None:
        super().__init__(intervals)
        self._extra: list[Interval] = []

    def add(self, interval: Interval) -> None:
        if any(e == interval.start for _, e in self.debug_state()["intervals"]):
            self._extra.append(interval)  # "stored separately": intervals() shows the seam
            return
        super().add(interval)

    def intervals(self) -> list[Interval]:
        return sorted(super().intervals() + self._extra, key=lambda iv: iv.start)


# ---- IntervalMap twin mutants ----------------------------------------------------------------------


class IteratorDropsLastKeyMap(MAP_TWIN.IntervalMap):  # type: ignore[misc,name-defined]
    """``stab_many``'s generic (non-list) path forgets the last key, while the list fast path is right."""

    def stab_many(self, keys: Any) -> set[int]:
        if type(keys) is not list:
            keys = list(keys)[:-1]
        return super().stab_many(keys)


class HalfRemoveMap(MAP_TWIN.IntervalMap):  # type: ignore[misc,name-defined]
    """``remove_owner`` reports every interval removed but leaves all but the first in the tree."""

    def remove_owner(self, owner: int) -> int:
        held = self.debug_state()["owners"].get(owner, [])
        n = super().remove_owner(owner)
        for s, e in held[1:]:
            super().insert(owner, Interval(s, e))
        return n


class UnboundedMissedMap(MAP_TWIN.IntervalMap):  # type: ignore[misc,name-defined]
    """``stab`` never reports an owner whose only matching interval is unbounded (end None)."""

    def _bounded_hit(self, key: bytes) -> set[int]:
        return {o for o, ivs in self.debug_state()["owners"].items()
                if any(s <= key and e is not None and key < e for s, e in ivs)}

    def stab(self, key: bytes) -> set[int]:
        return super().stab(key) & self._bounded_hit(key)


class ReplaceNeverRemovesMap(MAP_TWIN.IntervalMap):  # type: ignore[misc,name-defined]
    """``replace`` inserts what is missing but leaves intervals the new read set no longer has."""

    def replace(self, owner: int, intervals: Any) -> tuple[int, int]:
        intervals = list(intervals)
        held = [Interval(s, e) for s, e in self.debug_state()["owners"].get(owner, [])]
        _removed, added = super().replace(owner, intervals + held)  # keeps every held interval
        return _diff_removed(held, intervals), added


def _diff_removed(held: list[Interval], new: list[Interval]) -> int:
    """What a correct replace would report as removed (so only the tree, not the count, is wrong)."""
    want: dict[tuple, int] = {}
    for iv in new:
        if not iv.is_empty():
            want[(iv.start, iv.end)] = want.get((iv.start, iv.end), 0) + 1
    gone = 0
    for iv in held:
        k = (iv.start, iv.end)
        if want.get(k, 0) > 0:
            want[k] -= 1
        else:
            gone += 1
    return gone


class ReplaceReinsertsAllMap(MAP_TWIN.IntervalMap):  # type: ignore[misc,name-defined]
    """``replace`` as remove-everything-then-insert: the right final tree, but not in place."""

    def replace(self, owner: int, intervals: Any) -> tuple[int, int]:
        intervals = [iv for iv in intervals if not iv.is_empty()]
        removed = self.remove_owner(owner)
        for iv in intervals:
            self.insert(owner, iv)
        return removed, len(intervals)


class ReplaceAsSetMap(MAP_TWIN.IntervalMap):  # type: ignore[misc,name-defined]
    """``replace`` collapses duplicate intervals in the new read set (a set where a multiset is due)."""

    def replace(self, owner: int, intervals: Any) -> tuple[int, int]:
        seen: dict[tuple, Interval] = {}
        for iv in intervals:
            seen.setdefault((iv.start, iv.end), iv)
        return super().replace(owner, list(seen.values()))


SET_MUTANTS = [
    pytest.param(StaleBoundaryCacheSet, id="set-stale-boundary-cache"),
    pytest.param(InclusiveEndFastPathSet, id="set-inclusive-end-fast-path"),
    pytest.param(TouchingNotMergedSet, id="set-touching-not-merged"),
]
MAP_MUTANTS = [
    pytest.param(IteratorDropsLastKeyMap, id="map-iterator-drops-last-key"),
    pytest.param(HalfRemoveMap, id="map-half-remove-owner"),
    pytest.param(UnboundedMissedMap, id="map-unbounded-missed"),
    pytest.param(ReplaceNeverRemovesMap, id="map-replace-never-removes"),
    pytest.param(ReplaceReinsertsAllMap, id="map-replace-reinserts-all"),
    pytest.param(ReplaceAsSetMap, id="map-replace-as-set"),
]


def _must_fail(machine: type[RuleBasedStateMachine]) -> None:
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)


def test_mutants_wrap_the_twin_when_built() -> None:
    assert ("cy" in SET_IMPLS) == (SET_TWIN.__name__ == "engine._native.interval_set")
    assert ("cy" in MAP_IMPLS) == (MAP_TWIN.__name__ == "engine._native.interval_map")


@pytest.mark.parametrize("mutant", SET_MUTANTS)
def test_interval_set_machine_kills_twin_mutant(mutant: type) -> None:
    _must_fail(make_interval_set_machine(mutant))


@pytest.mark.parametrize("mutant", MAP_MUTANTS)
def test_interval_map_machine_kills_twin_mutant(mutant: type) -> None:
    _must_fail(make_interval_map_machine(mutant))
