"""Mutant tests: deliberately broken conflict kernels that the differential state machines must catch.

Role: evidence that ``tests/differential/test_interval_{set,map}_stateful.py`` have teeth (FoundationDB's
negative tests). Each mutant subclasses the reference and breaks exactly one rule; each test runs the
unchanged state machine against the mutant and requires it to fail. A mutant that survives fails here.

Who uses it: pytest only. The mutants live here, never in ``engine``.

Invariants: runs are reproducible (``derandomize=True``, no example database), and the mutants' own
randomness is seeded. With shrinking off and ``report_multiple_bugs=False`` hypothesis re-raises the
original ``AssertionError`` of the first failing run, which is what ``pytest.raises`` expects.
"""
from __future__ import annotations

import random
from typing import Iterable, Sequence

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from engine.conflict.interval_map import IntervalMap, _before, _Node
from engine.conflict.interval_set import IntervalSet
from engine.model.types import Interval
from tests.differential.test_interval_map_stateful import make_interval_map_machine
from tests.differential.test_interval_set_stateful import make_interval_set_machine

#: Shrinking is off: a kill needs one failing run, not a minimal one, and shrinking failures that depend
#: on a mutant's seeded coin flips can take minutes. ``report_multiple_bugs=False`` makes hypothesis
#: re-raise the single original AssertionError instead of an ExceptionGroup of distinct failures.
MUTANT_SETTINGS = settings(
    max_examples=200, deadline=None, database=None, derandomize=True, print_blob=False,
    report_multiple_bugs=False, phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


# ---- IntervalSet mutants ---------------------------------------------------------------------------


class InclusiveEndIntervalSet(IntervalSet):
    """(a) Off by one: ``contains`` treats the exclusive end as inclusive."""

    __slots__ = ()

    def contains(self, key: bytes) -> bool:
        ivs = self.intervals()
        for iv in ivs:
            if iv.start <= key and (iv.end is None or key <= iv.end):
                return True
        return False


class SkipsLastKeyIntervalSet(IntervalSet):
    """(b) ``first_contained`` never looks at the last key of its input."""

    __slots__ = ()

    def first_contained(self, keys: Sequence[bytes]) -> int:
        return super().first_contained(list(keys)[:-1])


class ResolverBugIntervalSet(IntervalSet):
    """(c) FoundationDB's "resolver bug": ``add`` silently drops an interval with probability p (seeded)."""

    __slots__ = ("_rng", "_p")

    def __init__(self, intervals: Iterable[Interval] = (), seed: int = 1234, p: float = 0.1) -> None:
        super().__init__(intervals)
        self._rng = random.Random(seed)
        self._p = p

    def add(self, interval: Interval) -> None:
        if self._rng.random() < self._p:
            return
        super().add(interval)


# ---- IntervalMap mutants ---------------------------------------------------------------------------


class NoUnboundedStabIntervalMap(IntervalMap):
    """(d) ``stab`` ignores intervals with an unbounded end."""

    __slots__ = ()

    def _stab_into(self, key: bytes, out: set[int]) -> None:
        stack: list[_Node] = []
        n = self._root
        while True:
            if n is not None:
                m = n.max_end
                if m is None or key < m:
                    if n.start <= key:
                        if n.end is not None and key < n.end:  # the bug: end None never matches
                            out.add(n.owner)
                        if n.left is not None:
                            stack.append(n.left)
                        n = n.right
                    else:
                        n = n.left
                    continue
            if not stack:
                return
            n = stack.pop()


class StaleMaxEndIntervalMap(IntervalMap):
    """(e) Removal unlinks nodes correctly but never refreshes any max-end annotation."""

    __slots__ = ()

    def _delete(self, target: _Node) -> None:
        path: list[_Node] = []
        cur = self._root
        while cur is not target:
            assert cur is not None
            path.append(cur)
            cur = cur.left if _before(target, cur) else cur.right
        a, b = target.left, target.right
        target.left = target.right = None
        sub_root = None
        hook = None
        hook_right = False
        while a is not None and b is not None:
            if a.prio >= b.prio:
                pick, a, nxt_right = a, a.right, True
            else:
                pick, b, nxt_right = b, b.left, False
            if hook is None:
                sub_root = pick
            elif hook_right:
                hook.right = pick
            else:
                hook.left = pick
            hook, hook_right = pick, nxt_right
        rest = a if a is not None else b
        if hook is None:
            sub_root = rest
        elif hook_right:
            hook.right = rest
        else:
            hook.left = rest
        # The bug: no _pull() on the merged spine or on the path to the root.
        if not path:
            self._root = sub_root
        elif path[-1].left is target:
            path[-1].left = sub_root
        else:
            path[-1].right = sub_root


class BlindStaleMaxEndIntervalMap(StaleMaxEndIntervalMap):
    """(e, behavioural) The same bug with ``check_invariants`` disabled: only wrong stab answers can
    reveal it (a merged subtree's new root keeps the smaller max-end of its old, smaller subtree)."""

    __slots__ = ()

    def check_invariants(self) -> None:
        pass


SET_MUTANTS = [
    pytest.param(InclusiveEndIntervalSet, id="a-inclusive-end"),
    pytest.param(SkipsLastKeyIntervalSet, id="b-first-contained-skips-last"),
    pytest.param(ResolverBugIntervalSet, id="c-resolver-drops-adds"),
]
MAP_MUTANTS = [
    pytest.param(NoUnboundedStabIntervalMap, id="d-stab-ignores-unbounded"),
    pytest.param(StaleMaxEndIntervalMap, id="e-stale-max-end-on-remove"),
    pytest.param(BlindStaleMaxEndIntervalMap, id="e-stale-max-end-seen-by-stab-alone"),
]


def _must_fail(machine: type[RuleBasedStateMachine]) -> None:
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)


@pytest.mark.parametrize("mutant", SET_MUTANTS)
def test_interval_set_machine_kills_mutant(mutant: type[IntervalSet]) -> None:
    _must_fail(make_interval_set_machine(mutant))


@pytest.mark.parametrize("mutant", MAP_MUTANTS)
def test_interval_map_machine_kills_mutant(mutant: type[IntervalMap]) -> None:
    _must_fail(make_interval_map_machine(mutant))
