"""Differential state machine for the "mvcc_lmdb" kernel: the model and the one ``LmdbBTreeStore`` class
given the reference kernel and given its Cython twin, side by side, each in its own temporary directory,
plus cross-reading.

It reuses every rule of ``tests/differential/test_index_stateful.IndexMachine`` (commit batches, refused
batches, gc, drop/open, meta, reopen, get/scan/versions at snapshots on visibility edges, invariants after
every step) and adds ``swap_files``: every store is closed and the directory written by the reference is
reopened with the twin's class and vice versa, so each implementation keeps reading (and then writing)
files the other one wrote. Subjects run with gc chunks of 3 entries and with ``skip_limit`` 0 and 1 as
well as the default, so the scans' seek paths and chunked gc are reached with the small key alphabet.

``make_twin_machine(py_kernel, cy_kernel)`` builds the machine over any pair of kernels. The flat kernels
are also called directly on hand-built cursors, including wrong argument types, where the twin must raise
what the reference raises (it has no fallback path).
"""
from __future__ import annotations

import itertools

import pytest
from hypothesis import settings
from hypothesis.stateful import rule

from engine._impl import implementations
from engine.index.base import IndexConfig
from engine.index.lmdb_btree import LmdbBTreeStore
from engine.index.options import LmdbBtreeOptions
from tests.differential.test_index_stateful import IndexMachine

IMPLS = implementations("mvcc_lmdb")

#: Per-pair store configurations: (label, options).
CONFIGS = [("gc_chunk=3", LmdbBtreeOptions(gc_chunk=3)), ("skip_limit=0", LmdbBtreeOptions(skip_limit=0)),
           ("skip_limit=1", LmdbBtreeOptions(skip_limit=1))]


def _factory(kernel, options):
    return lambda d: LmdbBTreeStore(IndexConfig(path=d, map_size=1 << 26, options=options), kernel=kernel)


class TwinMachine(IndexMachine):
    """``IndexMachine`` whose subjects come in (reference, twin) pairs that can swap directories."""

    #: [(label, options)]; set by ``make_twin_machine``.
    PAIRS: list = []

    @rule()
    def swap_files(self) -> None:
        """Close every store; reopen each pair's directories with the other implementation's class."""
        for label, _options in self.PAIRS:
            a, b = f"py[{label}]", f"cy[{label}]"
            self.subjects[a].close()
            self.subjects[b].close()
            (fa, pa), (fb, pb) = self.factories[a], self.factories[b]
            # Factories (and so kernels) stay with their names; only the directories move.
            self.factories[a], self.factories[b] = (fa, pb), (fb, pa)
            self.subjects[a] = fa(pb)
            self.subjects[b] = fb(pa)


def make_twin_machine(py_kernel, cy_kernel, name: str = "LmdbTwinMachine") -> type[TwinMachine]:
    subjects = []
    for label, options in CONFIGS:
        subjects.append((f"py[{label}]", _factory(py_kernel, options)))
        subjects.append((f"cy[{label}]", _factory(cy_kernel, options)))
    return type(name, (TwinMachine,), {"SUBJECTS": subjects, "PAIRS": list(CONFIGS)})


if "cy" in IMPLS:
    LmdbTwinMachine = make_twin_machine(IMPLS["py"], IMPLS["cy"])
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


@pytest.mark.skipif("cy" not in IMPLS, reason="twin not built")
def test_flat_point_kernels_and_writes_agree(tmp_path):
    """``lmdb_put_writes`` of both twins writes identical entries; ``lmdb_get``/``lmdb_versions`` agree at
    every snapshot, including a missing key, a tombstone, an empty value and keys that are prefixes of a
    stored key's framing (index id 1 vs 1 || key)."""
    import lmdb

    py, cy = IMPLS["py"], IMPLS["cy"]
    prefix = b"\x00\x00\x00\x01"
    history = [(2, [(b"a\x00", b"x"), (b"b\x00", b"")]), (5, [(b"a\x00", None), (b"", b"e")]),
               (9, [(b"a\x00", b"y"), (b"a\x00", b"z")])]
    dumps = []
    for name, kernel in (("py", py), ("cy", cy)):
        env = lmdb.open(str(tmp_path / name), max_dbs=2, map_size=1 << 24)
        db = env.open_db(b"versions")
        with env.begin(write=True, db=db) as txn:
            for ts, writes in history:
                kernel.lmdb_put_writes(txn, prefix, ts, writes)
        with env.begin(db=db) as txn:
            dumps.append(list(txn.cursor().iternext()))
        env.close()
    assert dumps[0] == dumps[1]
    env = lmdb.open(str(tmp_path / "py"), max_dbs=2, map_size=1 << 24)
    db = env.open_db(b"versions")
    with env.begin(db=db) as txn:
        for key in (b"a\x00", b"b\x00", b"", b"c\x00", b"a"):
            assert py.lmdb_versions(txn.cursor(), prefix + key) == cy.lmdb_versions(txn.cursor(), prefix + key)
            for ts in (-1, 0, 1, 2, 4, 5, 8, 9, 10, (1 << 64) - 1, 1 << 70):
                want = py.lmdb_get(env, db, prefix, key, ts)
                assert cy.lmdb_get(env, db, prefix, key, ts) == want, (key, ts)
    assert py.lmdb_get(env, db, prefix, b"a\x00", 8) is None and py.lmdb_get(env, db, prefix, b"a\x00", 9) == b"z"
    assert py.lmdb_versions(env.begin(db=db).cursor(), prefix + b"a\x00") == [(9, b"z"), (5, None), (2, b"x")]
    env.close()


@pytest.mark.skipif("cy" not in IMPLS, reason="twin not built")
def test_twin_raises_what_the_reference_raises_on_wrong_types(tmp_path):
    """No fallback path: wrong argument types are the reference's TypeError in the twin too."""
    import lmdb

    py, cy = IMPLS["py"], IMPLS["cy"]
    env = lmdb.open(str(tmp_path), max_dbs=2, map_size=1 << 24)
    db = env.open_db(b"versions")
    with env.begin(write=True, db=db) as txn:  # one entry, so every scan reaches its comparisons
        py.lmdb_put_writes(txn, b"\x00\x00\x00\x01", 3, [(b"k\x00", b"v")])
    inv = py.inverted_ts(5)
    for kernel in (py, cy):
        for args in ((b"\x00\x00\x00\x01", "a", 5), (None, b"a", 5)):
            with pytest.raises(TypeError):
                kernel.lmdb_get(env, db, *args)
    calls = [("lmdb_scan_forward", (None, None, inv, 10)), ("lmdb_scan_reverse", ("x", None, inv, 10)),
             ("lmdb_scan_forward", (b"\x00", None, inv, "10")), ("lmdb_versions", ("k",))]
    with env.begin(db=db) as txn:
        for name, args in calls:
            for kernel in (py, cy):
                with pytest.raises(TypeError):
                    getattr(kernel, name)(txn.cursor(), *args)
    env.close()


@pytest.mark.skipif("cy" not in IMPLS, reason="twin not built")
def test_document_kernels_agree(tmp_path):
    """``lmdb_get_document`` and ``lmdb_scan_documents`` of both twins return the same documents, at every
    snapshot, in both directions, through by_id and not, with the real document codec: each equals
    ``lmdb_get``/``lmdb_scan_*`` followed by the decode (the composition the reference spells out). A row
    whose document is missing from by_id is a LookupError in both, and a value shorter than the header a
    ValueError."""
    import lmdb

    from engine import doccodec
    from engine.documents import by_id_value

    py, cy = IMPLS["py"], IMPLS["cy"]
    by_id, sec = b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"
    docs = {f"d{i}": {"_id": f"d{i}", "n": i, "s": "x" * i} for i in range(6)}

    def id_key(ref: bytes) -> bytes:
        return ref + b"\x00"

    env = lmdb.open(str(tmp_path), max_dbs=2, map_size=1 << 24)
    db = env.open_db(b"versions")
    with env.begin(write=True, db=db) as txn:
        for ts in (2, 4, 6):
            py.lmdb_put_writes(txn, by_id, ts, [(id_key(d.encode()), by_id_value(ts, doccodec.encode_document({**doc, "ts": ts})))
                                                for d, doc in docs.items() if doc["n"] % 3 != ts % 3])
            py.lmdb_put_writes(txn, sec, ts, [(b"%02d\x00" % doc["n"], d.encode()) for d, doc in docs.items()
                                              if doc["n"] % 3 != ts % 3])
        py.lmdb_put_writes(txn, by_id, 7, [(id_key(b"d1"), None), (id_key(b"short"), b"1234567")])
    dm = doccodec.decode_many
    for ts in (0, 1, 2, 3, 4, 6, 7, 1 << 70):
        inv = py.inverted_ts(ts)
        for key in [id_key(d.encode()) for d in docs] + [b"zz\x00"]:
            got = [k.lmdb_get_document(env, db, by_id, key, ts, doccodec.decode_document) for k in (py, cy)]
            value = py.lmdb_get(env, db, by_id, key, ts)
            want = None if value is None else (doccodec.decode_document(value, 8), int.from_bytes(value[:8], "big"))
            assert got == [want, want], (key, ts)
        for kernel in (py, cy):
            if ts >= 7:
                with pytest.raises(ValueError):
                    kernel.lmdb_get_document(env, db, by_id, id_key(b"short"), ts, doccodec.decode_document)
        for reverse, limit in itertools.product((False, True), (0, 1, 3, 100)):
            scan = py.lmdb_scan_reverse if reverse else py.lmdb_scan_forward
            with env.begin(db=db) as txn:
                rows = scan(txn.cursor(), sec, b"\x00\x00\x00\x03", inv, limit)
            refs = [py.lmdb_get(env, db, by_id, id_key(v), ts) for _, v in rows]
            for kernel in (py, cy):
                args = (env, db, sec, b"\x00\x00\x00\x03", inv, limit, 2, reverse)
                if any(r is None for r in refs):
                    with pytest.raises(LookupError):
                        kernel.lmdb_scan_documents(*args, by_id, id_key, dm)
                else:
                    assert kernel.lmdb_scan_documents(*args, by_id, id_key, dm) == (
                        [k for k, _ in rows], dm(refs, 8)), (kernel, ts, reverse, limit)
                with env.begin(db=db) as txn:
                    direct = scan(txn.cursor(), by_id, sec, inv, limit)
                if all(len(v) >= 8 for _, v in direct):
                    assert kernel.lmdb_scan_documents(env, db, by_id, sec, inv, limit, 2, reverse, None, id_key, dm) == (
                        [k for k, _ in direct], dm([v for _, v in direct], 8)), (kernel, ts, reverse, limit)
    env.close()
