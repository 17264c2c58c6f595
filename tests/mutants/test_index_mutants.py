"""Mutants of the mem-btree reference that the index state machine must kill (the oracle's teeth).

Each mutant is a ``MemBTreeIndex`` subclass (installed through ``MemBTreeStore.index_class``) or the
reference "mvcc" kernel with one function replaced (injected as the store's kernel), with exactly one
rule broken, plugged into the differential machine of ``tests/differential/test_index_stateful.py`` in
place of the real strategies. The machine must fail on it; a surviving mutant is a failing test here,
meaning the oracle could not see that bug. Index mutants read through public methods.

Mutants:
- ``TombstoneSkippingScanIndex``: scans treat a tombstone as "look at the older version" instead of "the key
  is absent", resurrecting deleted keys (``get`` stays correct, so only scan comparisons can catch it).
- ``StrictlyOlderGetIndex``: ``get`` compares ``vts < ts`` instead of ``vts <= ts``, missing the version
  written exactly at the snapshot.
- ``gc-drops-visible`` (a kernel mutant): ``gc_index`` also drops the newest version ``<= below_ts``, the
  one snapshots at ``below_ts`` still see.
"""
from __future__ import annotations

import pytest
from tests.mutants.settings import INDEX_MUTANT_SETTINGS
from hypothesis.stateful import run_state_machine_as_test

from engine.index import mvcc_kernel
from engine.index.base import IndexConfig
from engine.index.mem_btree import MemBTreeIndex, MemBTreeStore
from engine.index.options import MemBtreeOptions
from engine.model.types import Interval, Timestamp
from tests.differential.test_index_stateful import make_machine
from tests.mutants.kernels import gc_index_dropping_visible, mutant_kernel


class TombstoneSkippingScanIndex(MemBTreeIndex):
    def scan_batch(self, interval: Interval, ts: Timestamp, limit: int, reverse: bool = False) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
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


class StrictlyOlderGetIndex(MemBTreeIndex):
    def get(self, key: bytes, ts: Timestamp) -> bytes | None:
        for vts, value in self.versions(key):
            if vts < ts:  # BUG: should be <=
                return value
        return None


#: name -> (index class, kernel).
MUTANTS = {
    "tombstone-skipping-scan": (TombstoneSkippingScanIndex, mvcc_kernel),
    "get-strictly-older": (StrictlyOlderGetIndex, mvcc_kernel),
    "gc-drops-visible": (MemBTreeIndex, mutant_kernel(mvcc_kernel, gc_index=gc_index_dropping_visible)),
}


def _store_with(index_class: type[MemBTreeIndex], kernel=mvcc_kernel):
    store_cls = type(f"MutantStore[{index_class.__name__}]", (MemBTreeStore,), {"index_class": index_class})
    return lambda _path: store_cls(IndexConfig(options=MemBtreeOptions(leaf_capacity=4)), kernel=kernel)


# Derandomized and without shrinking: a fixed, fast search that must find the bug every time.
MUTANT_SETTINGS = INDEX_MUTANT_SETTINGS


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_state_machine_kills_mutant(mutant):
    machine = make_machine([(f"mutant:{mutant}", _store_with(*MUTANTS[mutant]))], f"Mutant_{mutant}")
    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)
    assert f"mutant:{mutant}" in str(caught.value), f"failed for another reason: {caught.value}"


def test_unmutated_reference_survives_the_same_search():
    """Control: the same search over the real reference passes, so the kills above are the mutations'."""
    machine = make_machine([("reference", _store_with(MemBTreeIndex))], "ReferenceControl")
    run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)
