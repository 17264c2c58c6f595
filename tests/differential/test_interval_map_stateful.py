"""Differential tests: IntervalMap implementations against ``IntervalMapModel``.

Role: proves the stabbing index (model vs reference) and, once built, its translation (the same machine
runs against every twin from ``engine._impl.implementations("interval_map")``).

Who uses it: pytest; ``tests/mutants`` reuses ``make_interval_map_machine``.

``replace`` (the in-place read-set refresh of a re-run) is checked against the model's multiset diff,
including its ``(removed, added)`` counts, so a "remove everything and re-insert" implementation fails.

Invariants checked after every step: the subject's ``check_invariants()`` (BST and heap order, max-end
annotations, owner index); ``len`` and ``owners()`` equal the model's; and, while the map is small enough
for the linear model to keep up, ``stab`` agrees with the model on every boundary key and its successor
(stab results can only change at a boundary, so that covers every key).
"""
from __future__ import annotations

import random
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from engine._impl import implementations
from engine.model.types import Interval
from engine.testing.models.conflict import IntervalMapModel
from tests.differential.test_interval_set_stateful import (LONG_PREFIXES, _prefixed, key_lists, probe_keys,
                                                            small_intervals, small_keys)

owners_st = st.integers(0, 5)

#: Above this many stored intervals the per-step all-boundaries stab check is skipped (the linear model
#: makes it quadratic); the stab rules still compare every query they make.
FULL_PROBE_LIMIT = 80


def prefix_successors(intervals: list[Interval]) -> list[bytes]:
    """For every proper prefix ``b[:i]`` of every bound, the smallest key above all keys starting with
    ``b[:i + 1]``: keys just past a shared prefix, where a twin comparing after that prefix must switch."""
    out: set[bytes] = set()
    for iv in intervals:
        for b in (iv.start, iv.end):
            for i in range(len(b or b"")):
                if b[i] < 0xFF:
                    out.add(b[:i] + bytes([b[i] + 1]))
    return sorted(out)


def make_interval_map_machine(impl: Callable[..., Any]) -> type[RuleBasedStateMachine]:
    """A state machine driving ``impl(seed=...)`` (a class or factory) against the model."""

    class IntervalMapMachine(RuleBasedStateMachine):
        @initialize(seed=st.integers(0, 2**32 - 1))
        def build(self, seed: int) -> None:
            self.subject = impl(seed=seed)
            self.model = IntervalMapModel()

        @rule(owner=owners_st, iv=small_intervals)
        def insert(self, owner: int, iv: Interval) -> None:
            self.subject.insert(owner, iv)
            self.model.insert(owner, iv)

        @rule(owner=owners_st, ivs=st.lists(small_intervals, max_size=10))
        def insert_many(self, owner: int, ivs: list[Interval]) -> None:
            for iv in ivs:
                self.subject.insert(owner, iv)
                self.model.insert(owner, iv)

        @rule(owner=owners_st, p=st.sampled_from(LONG_PREFIXES), ivs=st.lists(small_intervals, min_size=1, max_size=4))
        def insert_under_prefix(self, owner: int, p: bytes, ivs: list[Interval]) -> None:
            """Intervals under one long prefix, as an index's keys share their tags: the map's shared prefix
            gets long, and the probes of ``stab_agrees_on_every_boundary`` include keys just above it."""
            for iv in ivs:
                self.subject.insert(owner, _prefixed(p, iv))
                self.model.insert(owner, _prefixed(p, iv))

        @rule(owner=owners_st)
        def remove_owner(self, owner: int) -> None:
            assert self.subject.remove_owner(owner) == self.model.remove_owner(owner)
            assert owner not in self.subject.owners()

        @rule(owner=owners_st, ivs=st.lists(small_intervals, max_size=8))
        def replace(self, owner: int, ivs: list[Interval]) -> None:
            assert self.subject.replace(owner, ivs) == self.model.replace(owner, ivs), ivs
            if not any(not iv.is_empty() for iv in ivs):
                assert owner not in self.subject.owners()

        @rule(owner=owners_st, data=st.data())
        def replace_overlapping(self, owner: int, data: st.DataObject) -> None:
            """A re-run's typical diff: keep some of what the owner holds, drop some, add a few."""
            held = [iv for o, iv in self.model.items if o == owner]
            keep = data.draw(st.lists(st.sampled_from(held), max_size=len(held)) if held else st.just([]))
            extra = data.draw(st.lists(small_intervals, max_size=3))
            new = data.draw(st.permutations(keep + extra))
            assert self.subject.replace(owner, new) == self.model.replace(owner, new), new

        @rule(key=small_keys)
        def stab(self, key: bytes) -> None:
            assert self.subject.stab(key) == self.model.stab(key), key

        @rule(keys=key_lists)
        def stab_many(self, keys: list[bytes]) -> None:
            assert self.subject.stab_many(keys) == self.model.stab_many(keys), keys
            assert self.subject.stab_many(iter(keys)) == self.model.stab_many(keys), "must accept iterators"

        @invariant()
        def structure_valid(self) -> None:
            self.subject.check_invariants()
            assert len(self.subject) == len(self.model)
            assert self.subject.owners() == self.model.owners()

        @invariant()
        def stab_agrees_on_every_boundary(self) -> None:
            if len(self.model) > FULL_PROBE_LIMIT:
                return
            ivs = [iv for _, iv in self.model.items]
            probes = sorted(set(probe_keys(ivs)) | set(prefix_successors(ivs)))
            for k in probes:
                assert self.subject.stab(k) == self.model.stab(k), k
            # stab_many of two keys (the twin's interleaved path) on every neighbouring pair of probes.
            for a, b in zip(probes, probes[1:]):
                assert self.subject.stab_many([a, b]) == self.model.stab(a) | self.model.stab(b), (a, b)

    IntervalMapMachine.__name__ = IntervalMapMachine.__qualname__ = (
        f"IntervalMapMachine[{getattr(impl, '__name__', impl)}]"
    )
    return IntervalMapMachine


for _name, _mod in implementations("interval_map").items():
    globals()[f"TestIntervalMapMachine_{_name}"] = make_interval_map_machine(_mod.IntervalMap).TestCase

IMPLS = [pytest.param(m.IntervalMap, id=n) for n, m in implementations("interval_map").items()]


@pytest.mark.parametrize("impl", IMPLS)
@given(
    seed=st.integers(0, 2**32 - 1),
    items=st.lists(st.tuples(owners_st, small_intervals), max_size=60),
    keys=key_lists,
)
def test_stab_equals_model_after_bulk_insert(impl: Any, seed: int, items: list[tuple[int, Interval]],
                                             keys: list[bytes]) -> None:
    m, model = impl(seed=seed), IntervalMapModel()
    for owner, iv in items:
        m.insert(owner, iv)
        model.insert(owner, iv)
    m.check_invariants()
    for k in keys + probe_keys([iv for _, iv in items]):
        assert m.stab(k) == model.stab(k), k
    assert m.stab_many(keys) == model.stab_many(keys)


@pytest.mark.parametrize("impl", IMPLS)
def test_seeded_stress_with_many_owners(impl: Any) -> None:
    """Thousands of random inserts and owner removals on a wide key space; invariants every 250 ops."""
    rng = random.Random(20240607)
    m, model = impl(seed=7), IntervalMapModel()

    def key() -> bytes:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 4)))

    for step in range(4000):
        r = rng.random()
        owner = rng.randrange(200)
        if r < 0.75:
            a, b = key(), key()
            iv = rng.choice([Interval(min(a, b), max(a, b)), Interval.point(a), Interval.prefix(a),
                             Interval(a, None), Interval(a, a)])
            m.insert(owner, iv)
            model.insert(owner, iv)
        else:
            assert m.remove_owner(owner) == model.remove_owner(owner)
        if step % 250 == 0:
            m.check_invariants()
            assert len(m) == len(model) and m.owners() == model.owners()
            for _ in range(20):
                k = key()
                assert m.stab(k) == model.stab(k), k
    m.check_invariants()
    for o in sorted(m.owners()):
        m.remove_owner(o)
    m.check_invariants()
    assert len(m) == 0 and m.owners() == set() and m.stab(b"a") == set()


@pytest.mark.parametrize("impl", IMPLS)
def test_same_seed_same_shape(impl: Any) -> None:
    ivs = [Interval(bytes([i]), bytes([i + 1])) for i in range(0, 200, 3)]
    a, b = impl(seed=3), impl(seed=3)
    for i, iv in enumerate(ivs):
        a.insert(i % 7, iv)
        b.insert(i % 7, iv)
    assert a.debug_state() == b.debug_state()


@pytest.mark.parametrize("impl", IMPLS)
def test_edges(impl: Any) -> None:
    m = impl()
    m.insert(1, Interval(b"b", b"b"))  # empty: ignored
    assert len(m) == 0 and m.owners() == set()
    m.insert(1, Interval(b"a", b"c"))
    m.insert(1, Interval(b"a", b"c"))  # duplicates are stored separately
    m.insert(2, Interval(b"c", None))
    m.insert(3, Interval.point(b"c"))
    assert len(m) == 4
    assert m.stab(b"c") == {2, 3} and m.stab(b"b\xff") == {1} and m.stab(b"") == set()
    assert m.stab(b"\xff\xff") == {2} and m.stab_many([b"a", b"c\x00"]) == {1, 2}
    # replace diffs in place: the kept interval stays, one copy goes, the new one is added.
    assert m.replace(1, [Interval(b"a", b"c"), Interval(b"x", b"y"), Interval(b"q", b"q")]) == (1, 1)
    assert len(m) == 4 and m.stab(b"x") == {1, 2} and m.replace(1, [Interval(b"x", b"y"), Interval(b"a", b"c")]) == (0, 0)
    assert m.replace(1, [Interval(b"a", b"c"), Interval(b"a", b"c")]) == (1, 1)
    assert m.remove_owner(1) == 2 and m.remove_owner(1) == 0 and m.remove_owner(99) == 0
    assert m.replace(99, []) == (0, 0) and 99 not in m.owners()
    assert m.stab(b"a") == set() and len(m) == 2
    m.check_invariants()
    state = m.debug_state()
    assert state["size"] == 2 and state["owners"] == {2: [(b"c", None)], 3: [(b"c", b"c\x00")]}


# ---- twin against twin, and long shared prefixes -------------------------------------------------



@given(seed=st.integers(0, 2**32 - 1),
       ops=st.lists(st.one_of(st.tuples(st.just("ins"), owners_st, st.sampled_from(LONG_PREFIXES), small_intervals),
                              st.tuples(st.just("rm"), owners_st),
                              st.tuples(st.just("rep"), owners_st, st.sampled_from(LONG_PREFIXES),
                                        st.lists(small_intervals, max_size=5))), max_size=60),
       keys=key_lists)
def test_twins_build_identical_trees(seed: int, ops: list[tuple], keys: list[bytes]) -> None:
    """Same seed, same operations: every implementation holds the same shape (debug_state, incl. depth
    and root max-end) after every step, and answers every stab identically, also on long shared prefixes
    (the Cython twin compares an 8-byte prefix of starts first)."""
    impls = implementations("interval_map")
    maps = {n: m.IntervalMap(seed=seed) for n, m in impls.items()}
    model = IntervalMapModel()
    for op in ops:
        if op[0] == "ins":
            _, owner, p, iv = op
            for m in maps.values():
                m.insert(owner, _prefixed(p, iv))
            model.insert(owner, _prefixed(p, iv))
        elif op[0] == "rep":
            _, owner, p, ivs = op
            ivs = [_prefixed(p, iv) for iv in ivs]
            got = {m.replace(owner, ivs) for m in maps.values()}
            assert got == {model.replace(owner, ivs)}
        else:
            got = {m.remove_owner(op[1]) for m in maps.values()}
            assert got == {model.remove_owner(op[1])}
        states = [m.debug_state() for m in maps.values()]
        assert all(s == states[0] for s in states), states
    probes = [p + k for p in LONG_PREFIXES for k in keys] + probe_keys([iv for _, iv in model.items])
    for m in maps.values():
        m.check_invariants()
        for k in probes:
            assert m.stab(k) == model.stab(k), k
        assert m.stab_many(probes) == model.stab_many(probes)


@pytest.mark.parametrize("impl", IMPLS)
def test_non_bytes_keys_and_empty_map(impl: Any) -> None:
    m = impl()
    assert m.stab("x") == set() and m.stab_many(["x"]) == set()  # nothing stored: nothing compared
    m.insert(1, Interval(b"a", None))
    with pytest.raises(TypeError):
        m.stab("x")
    with pytest.raises(TypeError):
        m.stab_many([b"a", "x"])
