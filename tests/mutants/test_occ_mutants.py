"""The serializability and subscription oracles must catch a committer that ignores read sets.

Each mutant plugs a deliberately broken interval set into a real database (FoundationDB's "resolver
bug" idea): if the oracle still passes, it has no teeth and this test fails. The write window reads a read
set through ``bounds()`` (its intervals as parallel lists), so that is where the conflict-check mutants
break it.
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
    """Shows the write window no intervals for about half of the read sets. The coin is a hash of the set's
    own interval starts, not a shared random generator, so the outcome of a check never depends on how many
    ran before it (in this test or another)."""

    def bounds(self):
        starts, ends = super().bounds()
        if zlib.crc32(b"\x00".join(starts)) % 2:
            return [], []
        return starts, ends


class ExclusiveEndIsInclusive(IntervalSet):
    """Off by one at the end: a write exactly at a read interval's exclusive end counts as a conflict,
    and a point read's key is missed (the successor key is tested instead)."""

    def bounds(self):
        # [s + 0x00, e + 0x00) holds exactly the keys k with s < k <= e
        starts, ends = super().bounds()
        return [s + b"\x00" for s in starts], [None if e is None else e + b"\x00" for e in ends]


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
