"""Mutants of the Cython "mvcc_lmdb" kernel (``engine._native.mvcc_lmdb``) that the differential machine
must kill.

Each mutant is the twin kernel with exactly one function broken (a thin wrapper around the twin's own
function), injected into the one ``LmdbBTreeStore`` class exactly as ``engine._impl`` injects the real
twin, and plugged into the index state machine (``tests/differential/test_index_stateful.make_machine``)
as its only subject. The machine must fail on it; a surviving mutant is a failing test here.

Mutants:
- ``newer-version-scan``: the scan kernels resolve visibility at ``ts + 1``, returning the version written
  just after the snapshot (``get`` stays correct, so only scan comparisons can catch it).
- ``strictly-older-get``: ``lmdb_get`` reads at ``ts - 1``, missing the version written exactly at the
  snapshot.
- ``tombstones-dropped``: ``lmdb_put_writes`` silently drops tombstone writes, so deleted keys stay visible.
"""
from __future__ import annotations

import pytest
from hypothesis.stateful import run_state_machine_as_test

from engine._impl import implementations
from engine.index.base import IndexConfig
from engine.index.lmdb_btree import LmdbBTreeStore
from engine.index.options import LmdbBtreeOptions
from tests.differential.test_index_stateful import make_machine
from tests.mutants.kernels import mutant_kernel
from tests.mutants.settings import INDEX_MUTANT_SETTINGS

IMPLS = implementations("mvcc_lmdb")
pytestmark = pytest.mark.skipif("cy" not in IMPLS, reason="engine._native.mvcc_lmdb is not built")


def _next_ts(inv: bytes) -> bytes:
    """The inverted ts of the snapshot one after the one *inv* encodes (inverted: one less)."""
    n = int.from_bytes(inv, "big")
    return (n - 1 if n else 0).to_bytes(8, "big")


if "cy" in IMPLS:
    CY = IMPLS["cy"]
    MUTANTS = {
        "newer-version-scan": mutant_kernel(  # BUG: sees the next commit
            CY, lmdb_scan_forward=lambda cur, lo, hi, inv, *a: CY.lmdb_scan_forward(cur, lo, hi, _next_ts(inv), *a),
            lmdb_scan_reverse=lambda cur, lo, hi, inv, *a: CY.lmdb_scan_reverse(cur, lo, hi, _next_ts(inv), *a)),
        "strictly-older-get": mutant_kernel(  # BUG: vts < ts instead of vts <= ts
            CY, lmdb_get=lambda env, db, prefix, key, ts: CY.lmdb_get(env, db, prefix, key, ts - 1)),
        "tombstones-dropped": mutant_kernel(  # BUG: a delete is not recorded at all
            CY, lmdb_put_writes=lambda txn, prefix, ts, writes: CY.lmdb_put_writes(
                txn, prefix, ts, [(k, v) for k, v in writes if v is not None])),
    }
else:  # pragma: no cover
    MUTANTS = {}

# Derandomized and without shrinking: a fixed, fast search that must find the bug every time.
MUTANT_SETTINGS = INDEX_MUTANT_SETTINGS


def _factory(kernel):
    return lambda d: LmdbBTreeStore(IndexConfig(path=d, map_size=1 << 26, options=LmdbBtreeOptions(gc_chunk=3)),
                                    kernel=kernel)


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_state_machine_kills_twin_mutant(mutant):
    machine = make_machine([(f"mutant:{mutant}", _factory(MUTANTS[mutant]))], f"LmdbMutant_{mutant}")
    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)
    assert f"mutant:{mutant}" in str(caught.value), f"failed for another reason: {caught.value}"


def test_unmutated_twin_survives_the_same_search():
    """Control: the same search over the real twin (through the same namespace) passes, so the kills
    above are the mutations'."""
    machine = make_machine([("twin", _factory(mutant_kernel(CY)))], "LmdbTwinControl")
    run_state_machine_as_test(machine, settings=MUTANT_SETTINGS)
