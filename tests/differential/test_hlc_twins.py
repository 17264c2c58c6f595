"""Differential tests: every hybrid-logical-clock implementation driven side by side, outputs compared.

Role: proves the Cython twin (``engine._native.hlc``) is a faithful translation of the reference
(``engine.clock.hlc``): one state machine owns one clock per implementation, each over its own
``FakePhysicalClock``, feeds them the same physical-clock readings and the same ``observe`` values, and
requires every call to give the same result - the same timestamp, or the same exception type and message.

Who uses it: pytest; ``tests/mutants/test_hlc_twin_mutants.py`` reuses ``make_hlc_machine`` with a broken
implementation to show that the machine has teeth.

Strategies aim at the kernel's internal boundaries: wall readings from a tiny alphabet around one instant
(so stalls and backward jumps are the common case), around 0 and the 48-bit physical limit (clamping);
``observe`` values whose logical part is 0, 1, 0xFFFE or 0xFFFF (so the counter carry into the physical
part happens often) and values at the very top of the u64 range (so ``OverflowError`` is reachable), plus
invalid ones (negative, 2^64) for the ``ValueError`` path. Invariants after every step: all clocks report
the same ``last()`` and pass their own ``check_invariants()``; the issued sequence strictly increases.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from engine._impl import implementations
from engine.clock.hlc import LOGICAL_MASK, MAX_PHYSICAL_MS, pack

BASE = 1_700_000_000_000
MAX_U64 = (1 << 64) - 1
TOP_PHYSICAL = MAX_PHYSICAL_MS

walls = st.one_of(
    st.integers(BASE - 3, BASE + 3),
    st.integers(BASE - 3, BASE + 3),
    st.sampled_from([-(1 << 70), -1, 0, 1, TOP_PHYSICAL - 1, TOP_PHYSICAL, TOP_PHYSICAL + 1, 1 << 70]),
)
logicals = st.sampled_from([0, 1, LOGICAL_MASK - 1, LOGICAL_MASK])
observed = st.one_of(
    st.builds(pack, st.integers(BASE - 3, BASE + 3), logicals),
    st.builds(pack, st.sampled_from([0, TOP_PHYSICAL - 1, TOP_PHYSICAL]), logicals),
    st.sampled_from([0, 1, MAX_U64 - 2, MAX_U64 - 1, MAX_U64]),
    st.sampled_from([-1, MAX_U64 + 1, 1 << 80]),  # invalid: ValueError
)
initial_last = st.one_of(st.just(0), st.builds(pack, st.integers(BASE - 3, BASE + 3), logicals),
                         st.sampled_from([MAX_U64 - 1, MAX_U64]))


def outcome(call: Callable[[], Any]) -> tuple:
    """A comparable result: ("ok", value) or ("raise", exception type name, message)."""
    try:
        return ("ok", call())
    except (ValueError, OverflowError, TypeError) as exc:
        return ("raise", type(exc).__name__, str(exc))


def make_hlc_machine(impls: Mapping[str, Any]) -> type[RuleBasedStateMachine]:
    """A state machine driving one clock per entry of *impls* (name -> module-like with
    ``HybridLogicalClock``, ``FakePhysicalClock``, ``pack``, ``unpack``, ``to_millis``)."""
    names = list(impls)

    class HlcTwins(RuleBasedStateMachine):
        @initialize(start=walls.filter(lambda w: w >= 0), last=initial_last)
        def start(self, start: int, last: int) -> None:
            self.phys = {n: impls[n].FakePhysicalClock(start) for n in names}
            self.clocks = {n: impls[n].HybridLogicalClock(self.phys[n], last) for n in names}
            self.issued: list[int] = []

        def same(self, what: str, results: dict[str, tuple]) -> tuple:
            first = results[names[0]]
            for n in names[1:]:
                assert results[n] == first, f"{what}: {names[0]} gave {first!r} but {n} gave {results[n]!r}"
            return first

        @rule(wall=walls)
        def now_at(self, wall: int) -> None:
            for n in names:
                self.phys[n].set(wall)
            got = self.same(f"now() at wall {wall}", {n: outcome(self.clocks[n].now) for n in names})
            if got[0] == "ok":
                assert not self.issued or got[1] > self.issued[-1], "now() went backwards"
                self.issued.append(got[1])

        @rule(ticks=st.integers(1, 4))
        def now_stalled(self, ticks: int) -> None:
            for _ in range(ticks):
                got = self.same("now() on a stalled clock", {n: outcome(self.clocks[n].now) for n in names})
                if got[0] == "ok":
                    assert not self.issued or got[1] > self.issued[-1], "now() went backwards"
                    self.issued.append(got[1])

        @rule(remote=observed)
        def observe(self, remote: int) -> None:
            self.same(f"observe({remote})", {n: outcome(lambda c=self.clocks[n]: c.observe(remote)) for n in names})

        @rule(ts=observed)
        def pure_functions(self, ts: int) -> None:
            self.same(f"unpack({ts})", {n: outcome(lambda m=impls[n]: m.unpack(ts)) for n in names})
            if 0 <= ts <= MAX_U64:
                self.same(f"to_millis({ts})", {n: outcome(lambda m=impls[n]: m.to_millis(ts)) for n in names})
            phys, logical = ts >> 16, ts & LOGICAL_MASK
            self.same(f"pack({phys}, {logical})", {n: outcome(lambda m=impls[n]: m.pack(phys, logical)) for n in names})

        @invariant()
        def clocks_agree(self) -> None:
            if not hasattr(self, "clocks"):
                return
            self.same("last()", {n: ("ok", self.clocks[n].last()) for n in names})
            for clock in self.clocks.values():
                clock.check_invariants()

    return HlcTwins


IMPLS = implementations("hlc")
TestHlcTwins = make_hlc_machine(IMPLS).TestCase


def test_both_twins_are_compared_when_the_native_build_exists():
    """Guards against this file silently testing the reference against itself only."""
    try:
        import engine._native.hlc  # noqa: F401
    except ImportError:
        return
    assert set(IMPLS) == {"py", "cy"}
