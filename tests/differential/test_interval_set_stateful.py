"""Differential tests: IntervalSet implementations against ``IntervalSetModel``.

Role: proves the interval-set algorithm (model vs reference) and, once built, its translation (the same
machine runs against every twin from ``engine._impl.implementations("interval_set")``).

Who uses it: pytest; ``tests/mutants`` reuses ``make_interval_set_machine`` and the strategies below, and
``test_interval_map_stateful`` reuses the strategies.

Invariants checked after every step: the subject's own ``check_invariants()``; its ``intervals()`` equal
the model's canonical decomposition (a complete check of the key set, since the representation is
canonical); ``contains`` and ``first_contained`` agree with the model on every boundary key of both
sides and on each boundary's successor (membership can only change at a boundary, so this covers every
key).
"""
from __future__ import annotations

from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine._impl import implementations
from engine.model.types import Interval, key_successor
from engine.testing.models.conflict import IntervalSetModel, boundaries

# ---- strategies (small alphabet so overlaps and touching ends are common) ------------------------

KEY_ALPHABET = [b"\x00", b"a", b"b", b"\xff"]
small_keys = st.lists(st.sampled_from(KEY_ALPHABET), max_size=3).map(b"".join)
nonempty_small_keys = st.lists(st.sampled_from(KEY_ALPHABET), min_size=1, max_size=3).map(b"".join)


def _ordered(a: bytes, b: bytes) -> Interval:
    return Interval(min(a, b), max(a, b))  # empty only when a == b


# Bounded shapes dominate: an unbounded tail or Interval.all() swallows every later interval, which
# would hide dropped or mis-merged ones, so those (and explicit empties) come from one rarer branch.
# (Hypothesis draws b"" often, and Interval.prefix(b"") is Interval.all(), hence non-empty prefixes.)
small_intervals = st.one_of(
    small_keys.map(Interval.point),
    nonempty_small_keys.map(Interval.prefix),  # unbounded for all-0xff prefixes
    st.builds(_ordered, small_keys, small_keys),
    st.builds(_ordered, small_keys, small_keys),
    st.one_of(
        st.builds(Interval, small_keys, st.one_of(st.none(), small_keys)),  # arbitrary, often empty
        small_keys.map(lambda k: Interval(k, k)),  # explicitly empty
        small_keys.map(lambda k: Interval(k, None)),  # unbounded tail
        st.just(Interval.all()),
    ),
)

key_lists = st.lists(small_keys, max_size=6)
interval_lists = st.lists(small_intervals, max_size=8)


def probe_keys(*interval_lists_: list[Interval]) -> list[bytes]:
    """Every boundary of the given intervals plus each boundary's successor (sorted)."""
    bs = boundaries(iv for ivs in interval_lists_ for iv in ivs)
    return sorted(set(bs) | {key_successor(b) for b in bs} | {b""})


# ---- the state machine, parameterised by implementation -------------------------------------------


def make_interval_set_machine(impl: Callable[..., Any]) -> type[RuleBasedStateMachine]:
    """A state machine driving ``impl(intervals=())`` (a class or factory) against the model."""

    class IntervalSetMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model = IntervalSetModel()
            self.subject = impl()

        @rule(iv=small_intervals)
        def add(self, iv: Interval) -> None:
            self.subject.add(iv)
            self.model.add(iv)

        @rule(ivs=interval_lists)
        def add_many(self, ivs: list[Interval]) -> None:
            for iv in ivs:
                self.subject.add(iv)
                self.model.add(iv)

        @rule(keys=st.lists(small_keys, unique=True, max_size=8))
        def add_points(self, keys: list[bytes]) -> None:
            # Distinct points rarely cover one another, so a lost or mis-merged add stays visible.
            for k in keys:
                self.subject.add(Interval.point(k))
                self.model.add(Interval.point(k))

        @rule()
        def clear(self) -> None:
            # A fresh set (a new transaction's reads): also exercises the constructor's empty case.
            self.subject = impl()
            self.model = IntervalSetModel()

        @rule(ivs=interval_lists)
        def union(self, ivs: list[Interval]) -> None:
            other = impl(ivs)
            other.check_invariants()
            before_other = other.intervals()
            before_self = self.subject.intervals()
            result = self.subject.union(other)
            assert other.intervals() == before_other, "union mutated its argument"
            assert self.subject.intervals() == before_self, "union mutated its receiver"
            self.subject = result
            self.model = self.model.union(IntervalSetModel(ivs))

        @rule(key=small_keys)
        def contains(self, key: bytes) -> None:
            assert self.subject.contains(key) == self.model.contains(key), key

        @rule(keys=key_lists)
        def first_contained(self, keys: list[bytes]) -> None:
            assert self.subject.first_contained(keys) == self.model.first_contained(keys), keys

        @rule(iv=small_intervals)
        def overlaps(self, iv: Interval) -> None:
            assert self.subject.overlaps(iv) == self.model.overlaps(iv), iv

        @precondition(lambda self: bool(self.model.items))
        @rule()
        def rebuild_is_equal(self) -> None:
            rebuilt = impl(self.subject.intervals())
            rebuilt.check_invariants()
            assert rebuilt == self.subject
            assert impl(self.model.canonical()) == self.subject

        @invariant()
        def representation_is_canonical(self) -> None:
            self.subject.check_invariants()
            want = self.model.canonical()
            got = self.subject.intervals()
            assert got == want, (got, want)
            assert len(self.subject) == len(want)
            assert bool(self.subject) == (not self.model.is_empty())
            starts, ends = self.subject.bounds()  # what the write window walks
            assert [Interval(s, e) for s, e in zip(starts, ends)] == want and len(starts) == len(ends)

        @invariant()
        def membership_agrees_on_every_boundary(self) -> None:
            probes = probe_keys(self.model.items, self.subject.intervals())
            for k in probes:
                want = self.model.contains(k)
                assert self.subject.contains(k) == want, k
                assert self.subject.first_contained([k]) == (0 if want else -1), k
            assert self.subject.first_contained(probes) == self.model.first_contained(probes)

    IntervalSetMachine.__name__ = IntervalSetMachine.__qualname__ = (
        f"IntervalSetMachine[{getattr(impl, '__name__', impl)}]"
    )
    return IntervalSetMachine


for _name, _mod in implementations("interval_set").items():
    globals()[f"TestIntervalSetMachine_{_name}"] = make_interval_set_machine(_mod.IntervalSet).TestCase

IMPLS = [pytest.param(m.IntervalSet, id=n) for n, m in implementations("interval_set").items()]


# ---- plain properties ----------------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
@given(ivs=interval_lists, keys=key_lists)
def test_contains_equals_model(impl: Any, ivs: list[Interval], keys: list[bytes]) -> None:
    s = impl(ivs)
    s.check_invariants()
    m = IntervalSetModel(ivs)
    for k in keys + probe_keys(ivs):
        assert s.contains(k) == m.contains(k), k
    assert s.first_contained(keys) == m.first_contained(keys)


@pytest.mark.parametrize("impl", IMPLS)
@given(data=st.data(), ivs=interval_lists)
def test_representation_independent_of_insertion_order(impl: Any, data: st.DataObject,
                                                       ivs: list[Interval]) -> None:
    shuffled = data.draw(st.permutations(ivs))
    a = impl()
    for iv in ivs:
        a.add(iv)
    b = impl()
    for iv in shuffled:
        b.add(iv)
    c = impl(shuffled)
    for x in (a, b, c):
        x.check_invariants()
    assert a == b == c
    assert a.intervals() == b.intervals() == c.intervals() == IntervalSetModel(ivs).canonical()


@pytest.mark.parametrize("impl", IMPLS)
@given(a_ivs=interval_lists, b_ivs=interval_lists)
def test_equal_iff_same_key_set(impl: Any, a_ivs: list[Interval], b_ivs: list[Interval]) -> None:
    # Canonical equality holds exactly: membership can only change at a boundary, so agreeing on all
    # boundaries of both sides means the same key set, and then the interval lists must be identical.
    ma, mb = IntervalSetModel(a_ivs), IntervalSetModel(b_ivs)
    same_keys = all(ma.contains(k) == mb.contains(k) for k in probe_keys(a_ivs, b_ivs))
    assert (impl(a_ivs) == impl(b_ivs)) == same_keys


@pytest.mark.parametrize("impl", IMPLS)
@given(data=st.data(), ivs=interval_lists)
def test_splitting_intervals_gives_an_equal_set(impl: Any, data: st.DataObject, ivs: list[Interval]) -> None:
    pieces: list[Interval] = []
    for iv in ivs:
        cut = data.draw(small_keys)
        if iv.contains(cut):  # [s, e) == [s, cut) + [cut, e): touching pieces must re-merge
            pieces += [Interval(iv.start, cut), Interval(cut, iv.end)]
        else:
            pieces.append(iv)
    assert impl(pieces) == impl(ivs)
    assert impl(pieces).intervals() == impl(ivs).intervals()


@pytest.mark.parametrize("impl", IMPLS)
@given(a_ivs=interval_lists, b_ivs=interval_lists, iv=small_intervals)
def test_union_and_overlaps_equal_model(impl: Any, a_ivs: list[Interval], b_ivs: list[Interval],
                                        iv: Interval) -> None:
    u = impl(a_ivs).union(impl(b_ivs))
    u.check_invariants()
    assert u.intervals() == IntervalSetModel(a_ivs + b_ivs).canonical()
    assert u.overlaps(iv) == IntervalSetModel(a_ivs + b_ivs).overlaps(iv)


# ---- examples at the edges -----------------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
def test_touching_intervals_merge(impl: Any) -> None:
    s = impl()
    s.add(Interval(b"a", b"b"))
    s.add(Interval(b"b", b"c"))
    assert s.intervals() == [Interval(b"a", b"c")]
    s.add(Interval.point(b"c"))
    assert s.intervals() == [Interval(b"a", b"c\x00")]
    s.add(Interval(b"c\x00", None))
    assert s.intervals() == [Interval(b"a", None)]
    s.check_invariants()


@pytest.mark.parametrize("impl", IMPLS)
def test_empty_intervals_are_ignored(impl: Any) -> None:
    s = impl([Interval(b"b", b"a"), Interval(b"a", b"a")])
    s.add(Interval(b"x", b"x"))
    assert not s and len(s) == 0 and s.intervals() == []
    assert s.first_contained([b"", b"a", b"x"]) == -1
    assert not s.overlaps(Interval.all())
    assert not s.contains(b"")


@pytest.mark.parametrize("impl", IMPLS)
def test_end_is_exclusive_and_unbounded_is_last(impl: Any) -> None:
    s = impl([Interval(b"a", b"c"), Interval(b"x", None)])
    assert s.contains(b"a") and s.contains(b"b\xff\xff") and not s.contains(b"c")
    assert not s.contains(b"w\xff") and s.contains(b"x") and s.contains(b"\xff" * 10)
    assert s.first_contained([b"c", b"\x00", b"zz"]) == 2
    assert s.overlaps(Interval(b"c", None)) and not s.overlaps(Interval(b"c", b"x"))
    assert s.overlaps(Interval.point(b"b")) and not s.overlaps(Interval.point(b"c"))
    s.add(Interval(b"c", b"x"))
    assert s.intervals() == [Interval(b"a", None)]
    s.check_invariants()
    assert s.debug_state() == {"intervals": [(b"a", None)]}


# ---- long shared prefixes (the Cython twin compares an 8-byte big-endian prefix first) --------------

#: Prepending a fixed prefix is order- and successor-preserving, so the model's answers carry over; the
#: prefixes straddle the twin's 8-byte fast-compare window (shorter, exactly 8, longer, NUL-padded).
LONG_PREFIXES = [b"", b"\x01tbl", b"\x01table_", b"\x01table_x", b"\x01table_xy\x00", b"\x00" * 9]


def _prefixed(p: bytes, iv: Interval) -> Interval:
    return Interval(p + iv.start, None if iv.end is None else p + iv.end)


@pytest.mark.parametrize("impl", IMPLS)
@given(data=st.data(), ivs=interval_lists, keys=key_lists)
def test_long_shared_prefixes_equal_model(impl: Any, data: st.DataObject, ivs: list[Interval],
                                          keys: list[bytes]) -> None:
    p = data.draw(st.sampled_from(LONG_PREFIXES))
    pivs = [_prefixed(p, iv) for iv in ivs]
    s, m = impl(), IntervalSetModel(pivs)
    for iv in pivs:
        s.add(iv)
    s.check_invariants()
    assert s.intervals() == m.canonical()
    probes = [p + k for k in keys] + probe_keys(pivs) + [p[:-1], p + b"\xff" * 9]
    for k in probes:
        assert s.contains(k) == m.contains(k), k
    assert s.first_contained(probes) == m.first_contained(probes)
    assert s.first_contained(tuple(probes)) == m.first_contained(probes)
    assert s.first_contained(iter(probes)) == m.first_contained(probes), "must accept any iterable"
    s.check_invariants()


@pytest.mark.parametrize("impl", IMPLS)
def test_first_contained_rejects_non_bytes_like_the_reference(impl: Any) -> None:
    s = impl([Interval(b"a", b"b")])
    with pytest.raises(TypeError):
        s.first_contained([b"z", "a"])
    assert impl().first_contained(["a"]) == -1  # nothing stored: nothing compared
    with pytest.raises(TypeError):
        hash(s)


@given(ops=st.lists(st.tuples(st.sampled_from(LONG_PREFIXES), small_intervals), max_size=30),
       keys=key_lists)
def test_twins_agree_step_by_step(ops: list[tuple[bytes, Interval]], keys: list[bytes]) -> None:
    """Every implementation reaches the same debug_state after every add (not only at the end)."""
    impls = implementations("interval_set")
    sets = {n: m.IntervalSet() for n, m in impls.items()}
    for p, iv in ops:
        states = set()
        for s in sets.values():
            s.add(_prefixed(p, iv))
            states.add(repr(s.debug_state()))
        assert len(states) == 1, states
    answers = {n: s.first_contained([p + k for p in LONG_PREFIXES for k in keys]) for n, s in sets.items()}
    assert len(set(answers.values())) == 1, answers
