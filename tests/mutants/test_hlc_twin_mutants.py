"""Mutant tests: deliberately broken HLC twins that the differential machine must catch.

Role: evidence that ``tests/differential/test_hlc_twins.py`` has teeth. Each mutant wraps the Cython twin
(the reference when the twin is not built) and breaks exactly one rule; the unchanged state machine then
drives it side by side with the reference and must fail. A mutant that survives fails here.

Who uses it: pytest only. The mutants live here, never in ``engine``.

Invariants: runs are reproducible (``derandomize=True``, no example database, no shrinking);
``report_multiple_bugs=False`` makes hypothesis re-raise the original AssertionError.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from engine._impl import implementations
from tests.differential.test_hlc_twins import make_hlc_machine

IMPLS = implementations("hlc")
TWIN = IMPLS.get("cy", IMPLS["py"])

MUTANT_SETTINGS = settings(
    max_examples=300, deadline=None, database=None, derandomize=True, print_blob=False,
    report_multiple_bugs=False, phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


class NoCarryClock:
    """The logical counter does not carry into the physical part: after (p, 0xFFFF) comes (p, 0)."""

    def __init__(self, physical_ms, last=0):
        self._inner = TWIN.HybridLogicalClock(physical_ms, last)

    def now(self):
        before = self._inner.last()
        ts = self._inner.now()
        if ts == before + 1 and before & 0xFFFF == 0xFFFF:  # the twin just carried
            return before & ~0xFFFF  # wrapped to 0 with the same physical part
        return ts

    def observe(self, remote):
        return self._inner.observe(remote)

    def last(self):
        return self._inner.last()

    def check_invariants(self):
        self._inner.check_invariants()


class LaggingWallClock:
    """Ignores the wall clock once anything was issued: keeps counting logically (never catches up)."""

    def __init__(self, physical_ms, last=0):
        self._inner = TWIN.HybridLogicalClock(physical_ms, last)
        self._physical = physical_ms

    def now(self):
        if self._inner.last() == 0:
            return self._inner.now()
        return self._inner.observe(self._inner.last() + 1) if self._inner.last() < (1 << 64) - 1 else self._inner.now()

    def observe(self, remote):
        return self._inner.observe(remote)

    def last(self):
        return self._inner.last()

    def check_invariants(self):
        self._inner.check_invariants()


def _module_with(clock_cls) -> SimpleNamespace:
    return SimpleNamespace(HybridLogicalClock=clock_cls, FakePhysicalClock=TWIN.FakePhysicalClock,
                           pack=TWIN.pack, unpack=TWIN.unpack, to_millis=TWIN.to_millis)


@pytest.mark.parametrize("mutant", [NoCarryClock, LaggingWallClock], ids=lambda c: c.__name__)
def test_differential_machine_kills_the_mutant(mutant):
    machine = make_hlc_machine({"py": IMPLS["py"], "mutant": _module_with(mutant)})
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)


def test_unbroken_wrapper_survives():
    """Control: the same wrapping without the bug passes, so the kills above are due to the bugs."""

    class Faithful(NoCarryClock):
        def now(self):
            return self._inner.now()

    machine = make_hlc_machine({"py": IMPLS["py"], "twin": _module_with(Faithful)})
    run_state_machine_as_test(machine, settings=settings(MUTANT_SETTINGS, max_examples=60))

