"""Mutants of the Cython "mvcc" kernel (``engine._native.mvcc``) that the differential machine must kill.

Each mutant is the twin kernel with exactly one function broken (a thin wrapper around the twin's own
function, or, for gc, a broken loop in its slot), injected into the one ``MemBTreeStore`` class exactly as
``engine._impl`` injects the real twin, and plugged into the index state machine
(``tests/differential/test_index_stateful.make_machine``) as its only subject, once with leaf capacity 4
(so leaf boundaries are crossed) and once with the default capacity. The machine must fail on it; a
surviving mutant is a failing test here.

Mutants:
- ``strictly-older-get``: ``resolve_key`` reads at ``ts - 1`` - visibility with ``vts < ts`` instead of
  ``vts <= ts``, missing the version written exactly at the snapshot.
- ``strictly-older-scan``: the scan kernels resolve at ``ts - 1`` (``vts < ts``), so a scan at the snapshot
  of the latest commit misses what it wrote (``get`` stays correct, so only scan comparisons catch it).
- ``tombstone-resurrecting-scan``: the scan kernels see version lists without their tombstones, i.e. a
  visible tombstone means "look at the older version" instead of "the key is absent".
- ``gc-drops-visible``: ``gc_index`` also drops the newest version ``<= below_ts``, which snapshots at
  ``below_ts`` still see.
"""
from __future__ import annotations

import pytest
from hypothesis.stateful import run_state_machine_as_test

from engine._impl import implementations
from engine.index.base import IndexConfig
from engine.index.mem_btree import MemBTreeStore
from engine.index.options import MemBtreeOptions
from tests.differential.test_index_stateful import make_machine
from tests.mutants.kernels import gc_index_dropping_visible, mutant_kernel, without_tombstones
from tests.mutants.settings import INDEX_MUTANT_SETTINGS

IMPLS = implementations("mvcc")
pytestmark = pytest.mark.skipif("cy" not in IMPLS, reason="engine._native.mvcc is not built")


if "cy" in IMPLS:
    CY = IMPLS["cy"]
    MUTANTS = {
        "strictly-older-get": mutant_kernel(
            CY, resolve_key=lambda m, key, ts: CY.resolve_key(m, key, ts - 1)),  # BUG: vts < ts
        "strictly-older-scan": mutant_kernel(
            CY, scan_forward=lambda lv, mx, vm, s, e, ts, n: CY.scan_forward(lv, mx, vm, s, e, ts - 1, n),
            scan_reverse=lambda lv, mx, vm, s, e, ts, n: CY.scan_reverse(lv, mx, vm, s, e, ts - 1, n)),
        "tombstone-resurrecting-scan": mutant_kernel(
            CY, scan_forward=lambda lv, mx, vm, *a: CY.scan_forward(lv, mx, without_tombstones(vm), *a),
            scan_reverse=lambda lv, mx, vm, *a: CY.scan_reverse(lv, mx, without_tombstones(vm), *a)),
        "gc-drops-visible": mutant_kernel(CY, gc_index=gc_index_dropping_visible),
    }
else:  # pragma: no cover
    MUTANTS = {}

# Derandomized and without shrinking: a fixed, fast search that must find the bug every time.
MUTANT_SETTINGS = INDEX_MUTANT_SETTINGS

CAPACITIES = [4, None]


def _factory(kernel, capacity):
    options = MemBtreeOptions(leaf_capacity=capacity) if capacity else MemBtreeOptions()
    return lambda _path: MemBTreeStore(IndexConfig(options=options), kernel=kernel)


@pytest.mark.parametrize("capacity", CAPACITIES, ids=lambda c: f"cap={c or 'default'}")
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_state_machine_kills_twin_mutant(mutant, capacity):
    machine = make_machine([(f"mutant:{mutant}", _factory(MUTANTS[mutant], capacity))], f"MvccMutant_{mutant}")
    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)
    assert f"mutant:{mutant}" in str(caught.value), f"failed for another reason: {caught.value}"


@pytest.mark.parametrize("capacity", CAPACITIES, ids=lambda c: f"cap={c or 'default'}")
def test_unmutated_twin_survives_the_same_search(capacity):
    """Control: the same search over the real twin (through the same namespace) passes, so the kills
    above are the mutations'."""
    machine = make_machine([("twin", _factory(mutant_kernel(CY), capacity))], "MvccTwinControl")
    run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)
