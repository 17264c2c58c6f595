"""Hybrid logical clock: monotonic whatever the physical clock does, carries the counter, survives restarts."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.clock.hlc import (LOGICAL_MASK, MAX_PHYSICAL_MS, FakePhysicalClock, HybridLogicalClock, pack,
                              to_millis, unpack)

BASE = 1_700_000_000_000

# An operation: ("now", wall clock value) or ("observe", remote ts). Wall values stall, jump back, jump ahead.
ops = st.lists(
    st.one_of(
        st.tuples(st.just("now"), st.integers(BASE - 5, BASE + 5)),
        st.tuples(st.just("observe"), st.builds(pack, st.integers(BASE - 5, BASE + 5),
                                                   st.sampled_from([0, 1, LOGICAL_MASK - 1, LOGICAL_MASK]))),
    ),
    max_size=60,
)


@given(ops)
@example([("observe", pack(BASE, LOGICAL_MASK)), ("now", BASE), ("now", BASE)])
def test_now_strictly_increases_and_exceeds_everything_observed(sequence):
    phys = FakePhysicalClock(BASE)
    clock = HybridLogicalClock(phys)
    high = 0
    for op, arg in sequence:
        if op == "now":
            phys.set(arg)
            ts = clock.now()
            assert ts > high, "now() must exceed every earlier value issued or observed"
            assert ts >= pack(arg, 0), "now() never lags the physical clock"
            high = ts
        else:
            clock.observe(arg)
            high = max(high, arg)
        clock.check_invariants()


def test_stalled_clock_counts_logically_then_carries_into_physical():
    phys = FakePhysicalClock(BASE)
    clock = HybridLogicalClock(phys)
    clock.observe(pack(BASE, LOGICAL_MASK - 1))
    assert unpack(clock.now()) == (BASE, LOGICAL_MASK)
    # the counter is full: the next tick carries into the physical part
    assert unpack(clock.now()) == (BASE + 1, 0)
    assert unpack(clock.now()) == (BASE + 1, 1)


def test_backward_wall_clock_never_moves_timestamps_back():
    phys = FakePhysicalClock(BASE + 1000)
    clock = HybridLogicalClock(phys)
    first = clock.now()
    phys.set(BASE)  # wall clock jumped back a second
    second = clock.now()
    assert second == first + 1
    phys.set(BASE + 2000)
    assert clock.now() == pack(BASE + 2000, 0)


def test_restart_observing_persisted_high_water_mark_stays_monotonic():
    phys = FakePhysicalClock(BASE)
    before = HybridLogicalClock(phys)
    issued = [before.now() for _ in range(5)]
    phys.set(BASE - 60_000)  # the machine restarts with a clock a minute behind
    after = HybridLogicalClock(phys)
    after.observe(max(issued))
    assert after.now() > max(issued)


@given(st.integers(0, MAX_PHYSICAL_MS), st.integers(0, LOGICAL_MASK))
def test_pack_unpack_round_trip_and_order(physical, logical):
    ts = pack(physical, logical)
    assert unpack(ts) == (physical, logical)
    assert to_millis(ts) >= physical
    if logical < LOGICAL_MASK:
        assert pack(physical, logical + 1) == ts + 1


@pytest.mark.parametrize("physical,logical", [(-1, 0), (MAX_PHYSICAL_MS + 1, 0), (0, LOGICAL_MASK + 1), (0, -1)])
def test_pack_rejects_out_of_range_parts(physical, logical):
    with pytest.raises(ValueError):
        pack(physical, logical)


def test_observe_rejects_non_u64():
    clock = HybridLogicalClock(FakePhysicalClock())
    with pytest.raises(ValueError):
        clock.observe(-1)
    with pytest.raises(ValueError):
        clock.observe(1 << 64)
