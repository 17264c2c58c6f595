"""Differential state machine for the "mvcc_lmdb" kernel: the model, the reference ``LmdbBTreeStore`` and
its Cython twin side by side, each in its own temporary directory, plus cross-reading.

It reuses every rule of ``tests/differential/test_index_stateful.IndexMachine`` (commit batches, refused
batches, gc, drop/open, meta, reopen, get/scan/versions at snapshots on visibility edges, invariants after
every step) and adds ``swap_files``: every store is closed and the directory written by the reference is
reopened with the twin's class and vice versa, so each implementation keeps reading (and then writing)
files the other one wrote. Subjects run with gc chunks of 3 entries and with ``skip_limit`` 0 and 1 as
well as the default, so the scans' seek paths and chunked gc are reached with the small key alphabet.

``make_twin_machine(py_cls, cy_cls)`` builds the machine over any pair of store classes, which is how
``tests/mutants/test_mvcc_lmdb_twin_mutants.py`` plugs a broken twin in.
"""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis.stateful import rule

from engine._impl import implementations
from engine.index.base import IndexConfig
from tests.differential.test_index_stateful import IndexMachine

IMPLS = implementations("mvcc_lmdb")

#: Per-pair store configurations: (label, extra).
CONFIGS = [("gc_chunk=3", {"gc_chunk": 3}), ("skip_limit=0", {"skip_limit": 0}), ("skip_limit=1", {"skip_limit": 1})]


def _factory(store_cls, extra):
    return lambda d: store_cls(IndexConfig(path=d, map_size=1 << 26, extra=dict(extra)))


class TwinMachine(IndexMachine):
    """``IndexMachine`` whose subjects come in (reference, twin) pairs that can swap directories."""

    #: [(label, extra)] and the two store classes; set by ``make_twin_machine``.
    PAIRS: list = []

    @rule()
    def swap_files(self) -> None:
        """Close every store; reopen each pair's directories with the other implementation's class."""
        for label, _extra in self.PAIRS:
            a, b = f"py[{label}]", f"cy[{label}]"
            self.subjects[a].close()
            self.subjects[b].close()
            (fa, pa), (fb, pb) = self.factories[a], self.factories[b]
            # Factories stay with their names; only the directories move.
            self.factories[a], self.factories[b] = (fa, pb), (fb, pa)
            self.subjects[a] = fa(pb)
            self.subjects[b] = fb(pa)


def make_twin_machine(py_cls, cy_cls, name: str = "LmdbTwinMachine") -> type[TwinMachine]:
    subjects = []
    for label, extra in CONFIGS:
        subjects.append((f"py[{label}]", _factory(py_cls, extra)))
        subjects.append((f"cy[{label}]", _factory(cy_cls, extra)))
    return type(name, (TwinMachine,), {"SUBJECTS": subjects, "PAIRS": list(CONFIGS)})


if "cy" in IMPLS:
    LmdbTwinMachine = make_twin_machine(IMPLS["py"].LmdbBTreeStore, IMPLS["cy"].LmdbBTreeStore)
    TestLmdbTwinMachine = LmdbTwinMachine.TestCase
    TestLmdbTwinMachine.settings = settings(stateful_step_count=40, max_examples=60, deadline=None)
else:  # pragma: no cover - the twin is not built
    def test_lmdb_twin_machine():
        pytest.skip("engine._native.mvcc_lmdb is not built")


# --------------------------------------------------------------------------------------------------
# Flat kernels called directly, on hand-built cursors (boundaries the store never produces itself).
# --------------------------------------------------------------------------------------------------

@pytest.mark.skipif("cy" not in IMPLS, reason="twin not built")
def test_flat_codec_agrees():
    py, cy = IMPLS["py"], IMPLS["cy"]
    for ts in (-5, 0, 1, 2, 1 << 40, (1 << 64) - 2, (1 << 64) - 1, 1 << 70):
        assert py.inverted_ts(ts) == cy.inverted_ts(ts), ts
    for args in ((0, b"", 1), (0xFFFFFFFF, b"a\x00", (1 << 64) - 1), (7, b"\xff" * 20, 12345)):
        raw = py.pack_version_key(*args)
        assert raw == cy.pack_version_key(*args)
        assert py.unpack_version_key(raw) == cy.unpack_version_key(raw) == args
    for value in (None, b"", b"\x00", b"xyz"):
        enc = py.encode_value(value)
        assert enc == cy.encode_value(value)
        assert py.decode_value(enc) == cy.decode_value(enc) == value


@pytest.mark.skipif("cy" not in IMPLS, reason="twin not built")
@pytest.mark.parametrize("skip_limit", [0, 1, 8])
def test_flat_scans_agree_on_a_raw_cursor(tmp_path, skip_limit):
    """Both twins' scan kernels over one LMDB database with many versions per key, every (lo, hi, ts)."""
    import lmdb

    py, cy = IMPLS["py"], IMPLS["cy"]
    env = lmdb.open(str(tmp_path), max_dbs=2, map_size=1 << 24)
    db = env.open_db(b"versions")
    keys = [b"a\x00", b"ab\x00", b"b\x00", b"\xff\x00"]
    with env.begin(write=True, db=db) as txn:
        for i, k in enumerate(keys):
            for ts in range(1, 4 + 4 * i):
                txn.put(py.pack_version_key(1, k, ts), py.encode_value(None if ts % 5 == 0 else b"%d" % ts))
    bounds = [b"\x00\x00\x00\x01", b"\x00\x00\x00\x01a", b"\x00\x00\x00\x01a\x00", b"\x00\x00\x00\x01ab\x00x",
              b"\x00\x00\x00\x01b", b"\x00\x00\x00\x02", None]
    with env.begin(db=db) as txn:
        for lo in bounds[:-1]:
            for hi in bounds:
                for ts in range(0, 18):
                    inv = py.inverted_ts(ts)
                    for limit in (0, 1, 2, 100):
                        for name in ("lmdb_scan_forward", "lmdb_scan_reverse"):
                            want = getattr(py, name)(txn.cursor(), lo, hi, inv, limit, skip_limit)
                            got = getattr(cy, name)(txn.cursor(), lo, hi, inv, limit, skip_limit)
                            assert got == want, (name, lo, hi, ts, limit)
    env.close()
