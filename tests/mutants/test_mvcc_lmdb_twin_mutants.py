"""Mutants of the Cython twin of lmdb-btree (``engine._native.mvcc_lmdb``) that the differential machine must kill.

Each mutant is a subclass of the twin's ``LmdbBTreeIndex`` or ``LmdbBTreeStore`` with exactly one rule
broken, plugged into the index state machine (``tests/differential/test_index_stateful.make_machine``) as
its only subject. The machine must fail on it; a surviving mutant is a failing test here.

Mutants:
- ``newer-version-scan``: ``scan_batch`` resolves visibility at ``ts + 1``, returning the version written
  just after the snapshot (``get`` stays correct, so only scan comparisons can catch it).
- ``strictly-older-get``: ``get`` reads at ``ts - 1``, missing the version written exactly at the snapshot.
- ``tombstones-dropped``: ``apply_batch`` silently drops tombstone writes, so deleted keys stay visible.
"""
from __future__ import annotations

import pytest
from tests.mutants.settings import INDEX_MUTANT_SETTINGS
from hypothesis.stateful import run_state_machine_as_test

from engine._impl import implementations
from engine.index.base import IndexConfig
from tests.differential.test_index_stateful import make_machine

IMPLS = implementations("mvcc_lmdb")
pytestmark = pytest.mark.skipif("cy" not in IMPLS, reason="engine._native.mvcc_lmdb is not built")

if "cy" in IMPLS:
    CY = IMPLS["cy"]

    class NewerVersionScanIndex(CY.LmdbBTreeIndex):
        def scan_batch(self, interval, ts, limit, reverse=False):
            return super().scan_batch(interval, ts + 1, limit, reverse)  # BUG: sees the next commit

    class StrictlyOlderGetIndex(CY.LmdbBTreeIndex):
        def get(self, key, ts):
            return super().get(key, ts - 1)  # BUG: vts < ts instead of vts <= ts

    def _store_class(index_class=None, drop_tombstones=False):
        class MutantStore(CY.LmdbBTreeStore):
            def open_index(self, index_id):
                handle = super().open_index(index_id)
                if index_class is not None and type(handle) is not index_class:
                    handle = self._handles[index_id] = index_class(index_id, self)
                return handle

            def apply_batch(self, commits):
                if drop_tombstones:  # BUG: a delete is not recorded at all
                    commits = [(ts, {i: [(k, v) for k, v in ws if v is not None] for i, ws in by.items()})
                               for ts, by in commits]
                return super().apply_batch(commits)

        return MutantStore

    MUTANTS = {
        "newer-version-scan": _store_class(NewerVersionScanIndex),
        "strictly-older-get": _store_class(StrictlyOlderGetIndex),
        "tombstones-dropped": _store_class(drop_tombstones=True),
    }
else:  # pragma: no cover
    MUTANTS = {}

# Derandomized and without shrinking: a fixed, fast search that must find the bug every time.
MUTANT_SETTINGS = INDEX_MUTANT_SETTINGS


def _factory(store_cls):
    return lambda d: store_cls(IndexConfig(path=d, map_size=1 << 26, extra={"gc_chunk": 3}))


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_state_machine_kills_twin_mutant(mutant):
    machine = make_machine([(f"mutant:{mutant}", _factory(MUTANTS[mutant]))], f"LmdbMutant_{mutant}")
    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)
    assert f"mutant:{mutant}" in str(caught.value), f"failed for another reason: {caught.value}"


def test_unmutated_twin_survives_the_same_search():
    """Control: the same search over the real twin passes, so the kills above are the mutations'."""
    machine = make_machine([("twin", _factory(CY.LmdbBTreeStore))], "LmdbTwinControl")
    run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)
