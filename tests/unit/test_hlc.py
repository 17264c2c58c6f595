"""Hybrid logical clock: monotonic whatever the physical clock does, carries the counter, survives restarts.

Every test runs once per implementation (``engine._impl.implementations("hlc")``): the reference and, when
built, its Cython twin. Side-by-side equivalence of the two is tests/differential/test_hlc_twins.py.
"""
from __future__ import annotations

import threading

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine._impl import implementations
from engine.clock.hlc import LOGICAL_MASK, MAX_PHYSICAL_MS, pack

IMPLS = implementations("hlc")
#: Every test runs once per implementation: the reference and, when built, its Cython twin.
pytestmark = pytest.mark.parametrize("hlc", list(IMPLS.values()), ids=list(IMPLS))

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
def test_now_strictly_increases_and_exceeds_everything_observed(hlc, sequence):
    phys = hlc.FakePhysicalClock(BASE)
    clock = hlc.HybridLogicalClock(phys)
    high = 0
    for op, arg in sequence:
        if op == "now":
            phys.set(arg)
            ts = clock.now()
            assert ts > high, "now() must exceed every earlier value issued or observed"
            assert ts >= hlc.pack(arg, 0), "now() never lags the physical clock"
            high = ts
        else:
            clock.observe(arg)
            high = max(high, arg)
        clock.check_invariants()


def test_stalled_clock_counts_logically_then_carries_into_physical(hlc):
    phys = hlc.FakePhysicalClock(BASE)
    clock = hlc.HybridLogicalClock(phys)
    clock.observe(hlc.pack(BASE, LOGICAL_MASK - 1))
    assert hlc.unpack(clock.now()) == (BASE, LOGICAL_MASK)
    # the counter is full: the next tick carries into the physical part
    assert hlc.unpack(clock.now()) == (BASE + 1, 0)
    assert hlc.unpack(clock.now()) == (BASE + 1, 1)


def test_backward_wall_clock_never_moves_timestamps_back(hlc):
    phys = hlc.FakePhysicalClock(BASE + 1000)
    clock = hlc.HybridLogicalClock(phys)
    first = clock.now()
    phys.set(BASE)  # wall clock jumped back a second
    second = clock.now()
    assert second == first + 1
    phys.set(BASE + 2000)
    assert clock.now() == hlc.pack(BASE + 2000, 0)


def test_restart_observing_persisted_high_water_mark_stays_monotonic(hlc):
    phys = hlc.FakePhysicalClock(BASE)
    before = hlc.HybridLogicalClock(phys)
    issued = [before.now() for _ in range(5)]
    phys.set(BASE - 60_000)  # the machine restarts with a clock a minute behind
    after = hlc.HybridLogicalClock(phys)
    after.observe(max(issued))
    assert after.now() > max(issued)


@given(st.integers(0, MAX_PHYSICAL_MS), st.integers(0, LOGICAL_MASK))
def test_pack_unpack_round_trip_and_order(hlc, physical, logical):
    ts = hlc.pack(physical, logical)
    assert hlc.unpack(ts) == (physical, logical)
    assert hlc.to_millis(ts) >= physical
    if logical < LOGICAL_MASK:
        assert hlc.pack(physical, logical + 1) == ts + 1


@pytest.mark.parametrize("physical,logical", [(-1, 0), (MAX_PHYSICAL_MS + 1, 0), (0, LOGICAL_MASK + 1), (0, -1)])
def test_pack_rejects_out_of_range_parts(hlc, physical, logical):
    with pytest.raises(ValueError):
        hlc.pack(physical, logical)


def test_observe_rejects_non_u64(hlc):
    clock = hlc.HybridLogicalClock(hlc.FakePhysicalClock())
    with pytest.raises(ValueError):
        clock.observe(-1)
    with pytest.raises(ValueError):
        clock.observe(1 << 64)


def test_exhausting_the_u64_range_raises_overflow_and_keeps_the_last_value(hlc):
    phys = hlc.FakePhysicalClock(0)
    clock = hlc.HybridLogicalClock(phys)
    top = (1 << 64) - 1
    assert clock.observe(top - 1) == top - 1
    assert clock.now() == top
    with pytest.raises(OverflowError, match="exhausted the u64 range"):
        clock.now()
    assert clock.last() == top
    clock.check_invariants()


@pytest.mark.parametrize("wall", [-5, 0, MAX_PHYSICAL_MS, MAX_PHYSICAL_MS + 1, 1 << 70])
def test_physical_clock_readings_are_clamped_to_the_48_bit_range(hlc, wall):
    clock = hlc.HybridLogicalClock(lambda: wall)
    first = clock.now()
    # with last == 0, a wall reading clamped to 0 gives candidate 0, which is not above last: a +1 tick
    assert first == max(pack(min(max(wall, 0), MAX_PHYSICAL_MS), 0), 1)
    assert clock.now() == first + 1  # the wall clock is stalled from now on


@pytest.mark.parametrize("call, message", [
    (lambda m: m.pack(-1, 0), "physical part -1 out of range 0..2^48-1"),
    (lambda m: m.pack(0, 65536), "logical part 65536 out of range 0..65535"),
    (lambda m: m.unpack(-1), "timestamp -1 is not a u64"),
    (lambda m: m.unpack(1 << 64), f"timestamp {1 << 64} is not a u64"),
    (lambda m: m.HybridLogicalClock(m.FakePhysicalClock()).observe(1 << 64), f"timestamp {1 << 64} is not a u64"),
])
def test_value_error_messages(hlc, call, message):
    with pytest.raises(ValueError) as info:
        call(hlc)
    assert str(info.value) == message


@pytest.mark.parametrize("ts", [0, 1, 65535, 65536, pack(BASE, 12345), (1 << 64) - 1])
def test_to_millis_matches_the_reference_exactly(hlc, ts):
    assert hlc.to_millis(ts) == IMPLS["py"].to_millis(ts)


def test_fake_physical_clock(hlc):
    phys = hlc.FakePhysicalClock()
    assert phys() == 1_700_000_000_000
    phys.advance()
    phys.advance(9)
    assert phys() == phys.ms == 1_700_000_000_010
    phys.set(3)
    assert phys() == 3


def test_concurrent_now_and_observe_never_issue_a_duplicate(hlc):
    """now() from several threads (a stalled clock, so every tick is a +1) while another thread observes."""
    phys = hlc.FakePhysicalClock(BASE)
    clock = hlc.HybridLogicalClock(phys)
    per_thread, results, errors = 5000, [], []

    def issue():
        try:
            mine = [clock.now() for _ in range(per_thread)]
            assert mine == sorted(mine) and len(set(mine)) == len(mine)
            results.append(mine)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def observe():
        for k in range(per_thread):
            clock.observe(pack(BASE, k % LOGICAL_MASK))

    threads = [threading.Thread(target=issue) for _ in range(4)] + [threading.Thread(target=observe)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    issued = [ts for mine in results for ts in mine]
    assert len(set(issued)) == len(issued) == 4 * per_thread
    assert clock.last() == max(issued)
    clock.check_invariants()
