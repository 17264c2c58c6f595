"""The serializability and subscription oracles must catch a committer that ignores read sets.

Each mutant plugs a deliberately broken interval set into a real database (FoundationDB's "resolver
bug" idea): if the oracle still passes, it has no teeth and this test fails.
"""
from __future__ import annotations

import zlib

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.conflict.interval_set import IntervalSet
from tests.system.test_serializability import memory_db, run_one

MUTANT_SETTINGS = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                           report_multiple_bugs=False, phases=(Phase.explicit, Phase.generate),
                           suppress_health_check=list(HealthCheck))


class IgnoresReadsSometimes(IntervalSet):
    """Reports "no conflict" for about half of its checks. The coin is a hash of the written keys, not a
    shared random generator, so the outcome of a check never depends on how many ran before it (in this
    test or another)."""

    def first_contained(self, keys):
        if zlib.crc32(b"\x00".join(keys)) % 2:
            return -1
        return super().first_contained(keys)


class ExclusiveEndIsInclusive(IntervalSet):
    """Off by one at the end: a write exactly at a read interval's exclusive end counts as a conflict,
    and a point read's key is missed (the successor key is tested instead)."""

    def first_contained(self, keys):
        return super().first_contained([k + b"\x00" for k in keys])


class ForgetsRangeReads(IntervalSet):
    """Keeps point reads but drops every interval wider than one key (phantoms go unnoticed)."""

    def add(self, interval):
        if interval.end is not None and interval.end == interval.start + b"\x00":
            super().add(interval)


@pytest.mark.parametrize("mutant", [IgnoresReadsSometimes, ExclusiveEndIsInclusive, ForgetsRangeReads])
def test_serializability_oracle_catches_broken_conflict_detection(mutant):
    @MUTANT_SETTINGS
    @given(st.data())
    def oracle(data):
        run_one(data, memory_db(mutant))

    # A conflict check that is wrong in both directions (ExclusiveEndIsInclusive) may be caught by either
    # side of the oracle first.
    with pytest.raises(AssertionError, match="serializ|lost or phantom|observed|false aborts"):
        oracle()
