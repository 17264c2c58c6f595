"""Mutants of the Cython twin of mem-btree (``engine._native.mvcc``) that the differential machine must kill.

Each mutant is a subclass of the twin's ``MemBTreeIndex`` with exactly one rule broken, installed through the
twin's ``MemBTreeStore.index_class`` hook and plugged into the index state machine
(``tests/differential/test_index_stateful.make_machine``) as its only subject, once with leaf capacity 4 (so
leaf boundaries are crossed) and once with the default capacity. The machine must fail on it; a surviving
mutant is a failing test here.

Mutants:
- ``strictly-older-get``: ``get`` reads at ``ts - 1`` - visibility with ``vts < ts`` instead of ``vts <= ts``,
  missing the version written exactly at the snapshot.
- ``strictly-older-scan``: ``scan_batch`` resolves at ``ts - 1`` (``vts < ts``), so a scan at the snapshot
  of the latest commit misses what it wrote (``get`` stays correct, so only scan comparisons catch it).
- ``tombstone-resurrecting-scan``: ``scan_batch`` treats a visible tombstone as "look at the older version"
  instead of "the key is absent", so deleted keys come back in scans.
- ``gc-drops-visible``: gc (through the twin's ``_gc_versions`` hook) also drops the newest version
  ``<= below_ts``, which snapshots at ``below_ts`` still see.
"""
from __future__ import annotations

import pytest
from tests.mutants.settings import INDEX_MUTANT_SETTINGS
from hypothesis.stateful import run_state_machine_as_test

from engine._impl import implementations
from engine.index.base import IndexConfig
from tests.differential.test_index_stateful import make_machine

IMPLS = implementations("mvcc")
pytestmark = pytest.mark.skipif("cy" not in IMPLS, reason="engine._native.mvcc is not built")

if "cy" in IMPLS:
    CY = IMPLS["cy"]

    class StrictlyOlderGetIndex(CY.MemBTreeIndex):
        def get(self, key, ts):
            return super().get(key, ts - 1)  # BUG: vts < ts instead of vts <= ts

    class StrictlyOlderScanIndex(CY.MemBTreeIndex):
        def scan_batch(self, interval, ts, limit, reverse=False):
            return super().scan_batch(interval, ts - 1, limit, reverse)  # BUG: vts < ts instead of vts <= ts

    class TombstoneResurrectingScanIndex(CY.MemBTreeIndex):
        def scan_batch(self, interval, ts, limit, reverse=False):
            out = []
            if limit <= 0:
                return out
            for key, versions in self.raw_scan(interval, reverse):
                for vts, value in versions:
                    if vts <= ts and value is not None:  # BUG: a visible tombstone must hide the key
                        out.append((key, value))
                        break
                if len(out) >= limit:
                    break
            return out

    def _gc_versions_dropping_visible(versions, below_ts):
        for j, (vts, _value) in enumerate(versions):
            if vts <= below_ts:
                removed = len(versions) - j  # BUG: also drops versions[j], still visible at below_ts
                del versions[j:]
                return removed
        return 0

    class GcDropsVisibleIndex(CY.MemBTreeIndex):
        _gc_versions = staticmethod(_gc_versions_dropping_visible)

    MUTANTS = {
        "strictly-older-get": StrictlyOlderGetIndex,
        "strictly-older-scan": StrictlyOlderScanIndex,
        "tombstone-resurrecting-scan": TombstoneResurrectingScanIndex,
        "gc-drops-visible": GcDropsVisibleIndex,
    }
else:  # pragma: no cover
    MUTANTS = {}

# Derandomized and without shrinking: a fixed, fast search that must find the bug every time.
MUTANT_SETTINGS = INDEX_MUTANT_SETTINGS

CAPACITIES = [4, None]


def _factory(index_class, capacity):
    store_cls = type(f"MutantStore[{index_class.__name__}]", (CY.MemBTreeStore,), {"index_class": index_class})
    return lambda _path: store_cls(IndexConfig(), leaf_capacity=capacity)


@pytest.mark.parametrize("capacity", CAPACITIES, ids=lambda c: f"cap={c or 'default'}")
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_state_machine_kills_twin_mutant(mutant, capacity):
    machine = make_machine([(f"mutant:{mutant}", _factory(MUTANTS[mutant], capacity))], f"MvccMutant_{mutant}")
    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)
    assert f"mutant:{mutant}" in str(caught.value), f"failed for another reason: {caught.value}"


@pytest.mark.parametrize("capacity", CAPACITIES, ids=lambda c: f"cap={c or 'default'}")
def test_unmutated_twin_survives_the_same_search(capacity):
    """Control: the same search over the real twin passes, so the kills above are the mutations'."""
    machine = make_machine([("twin", _factory(CY.MemBTreeIndex, capacity))], "MvccTwinControl")
    run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)
