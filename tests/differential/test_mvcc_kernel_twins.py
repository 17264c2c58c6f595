"""The "mvcc" kernel's twins called directly, side by side, on hand-built structures.

The index state machine (``test_index_stateful``) drives both kernels through the one ``MemBTreeStore``;
this file reaches what the store never passes: every bound against a fixed multi-leaf structure, every
snapshot edge (below 1, exactly at a version, above 2^64-1), gc edges, and wrong argument types, where
the twin must raise the reference's error (a twin has no fallback path of its own).
"""
from __future__ import annotations

import copy
import itertools

import pytest

from engine._impl import implementations

IMPLS = implementations("mvcc")
pytestmark = pytest.mark.skipif("cy" not in IMPLS, reason="engine._native.mvcc is not built")

KEYS = [b"a\x00", b"ab\x00", b"b\x00", b"ba\x00", b"c\x00", b"\xff\x00"]
LEAVES = [[b"a\x00", b"ab\x00"], [b"b\x00", b"ba\x00"], [b"c\x00", b"\xff\x00"]]
MAXES = [leaf[-1] for leaf in LEAVES]
BOUNDS = [b"", b"a", b"a\x00", b"ab\x00x", b"b", b"ba\x00", b"c\x00", b"d", b"\xff\x00", b"\xff\xff", None]
SNAPSHOTS = [-3, 0, 1, 2, 3, 4, 5, 6, 9, (1 << 64) - 1, 1 << 70]


def versions_map() -> dict:
    """Each key with a different history: tombstones newest, in the middle, oldest; an empty value."""
    return {
        b"a\x00": [(5, b"a5"), (3, None), (1, b"a1")],
        b"ab\x00": [(4, None), (2, b"ab2")],
        b"b\x00": [(1, b"")],
        b"ba\x00": [(6, b"ba6")],
        b"c\x00": [(3, b"c3"), (2, None)],
        b"\xff\x00": [(2, b"f2"), (1, b"f1")],
    }


def test_resolution_and_scans_agree_everywhere():
    py, cy = IMPLS["py"], IMPLS["cy"]
    vm = versions_map()
    for key, ts in itertools.product(KEYS + [b"zz", b""], SNAPSHOTS):
        assert cy.resolve_key(vm, key, ts) == py.resolve_key(vm, key, ts), (key, ts)
        if key in vm:
            assert cy.resolve(vm[key], ts) == py.resolve(vm[key], ts), (key, ts)
    for start, end, ts, limit in itertools.product(BOUNDS[:-1], BOUNDS, SNAPSHOTS, (0, 1, 2, 100, 1 << 80)):
        for name in ("scan_forward", "scan_reverse"):
            want = getattr(py, name)(LEAVES, MAXES, vm, start, end, ts, limit)
            assert getattr(cy, name)(LEAVES, MAXES, vm, start, end, ts, limit) == want, (name, start, end, ts)


def test_apply_and_gc_agree():
    py, cy = IMPLS["py"], IMPLS["cy"]
    writes = [(b"a\x00", b"n"), (b"new\x00", None), (b"new\x00", b"last"), (b"c\x00", None)]
    a, b = versions_map(), versions_map()
    assert py.apply_writes(a, 7, writes) == cy.apply_writes(b, 7, writes) == [b"new\x00"]
    assert a == b and a[b"new\x00"] == [(7, b"last")]
    for below in (0, 1, 2, 3, 5, 7, 8, 1 << 70):
        x, y = copy.deepcopy(a), copy.deepcopy(a)
        assert py.gc_index(x, below) == cy.gc_index(y, below), below
        assert x == y, below
        for versions in a.values():
            v1, v2 = list(versions), list(versions)
            assert py.gc_versions(v1, below) == cy.gc_versions(v2, below) and v1 == v2


BAD_CALLS = [
    ("resolve_key", lambda: ([], b"k", 1)),
    ("resolve_key", lambda: (versions_map(), b"a\x00", "1")),
    ("resolve", lambda: ([(1, b"v")], 1.5)),
    ("scan_forward", lambda: (LEAVES, MAXES, versions_map(), "a", None, 5, 10)),
    ("scan_forward", lambda: (LEAVES, MAXES, versions_map(), b"a", "z", 5, 10)),
    ("scan_reverse", lambda: (LEAVES, MAXES, versions_map(), b"a", None, None, 10)),
    ("scan_reverse", lambda: (LEAVES, MAXES, versions_map(), b"a", None, 5, 1.0)),
    ("scan_forward", lambda: (tuple(LEAVES), MAXES, versions_map(), b"a", None, 5, 10)),
    ("scan_forward", lambda: (LEAVES, MAXES, list(versions_map().items()), b"a", None, 5, 10)),
    ("apply_writes", lambda: ([], 5, [(b"k", b"v")])),
    ("gc_index", lambda: (versions_map(), "3")),
    ("gc_versions", lambda: ([(1, b"v")], None)),
    ("validate_batch", lambda: ([(1, {0: [("k", b"v")]})], 0, 10)),
    ("validate_batch", lambda: ([(1, {0: [(b"k", 5)]})], 0, 10)),
]


@pytest.mark.parametrize("name,args", BAD_CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_CALLS)])
def test_twin_raises_what_the_reference_raises(name, args):
    py, cy = IMPLS["py"], IMPLS["cy"]
    with pytest.raises(TypeError):
        getattr(py, name)(*args())
    with pytest.raises(TypeError):
        getattr(cy, name)(*args())


def test_validation_errors_agree():
    py, cy = IMPLS["py"], IMPLS["cy"]
    from engine.model.errors import IndexKeyTooLargeError

    for batch, applied, err in [([(3, {0: []}), (3, {0: []})], 0, ValueError), ([(1, {-1: []})], 0, ValueError),
                                ([(1, {0: [(b"x" * 11, b"")]})], 0, IndexKeyTooLargeError),
                                ([(1 << 64, {0: []})], 0, ValueError), ([(2, {})], 2, ValueError),
                                ([(True, {})], 0, TypeError)]:
        for kernel in (py, cy):
            with pytest.raises(err):
                kernel.validate_batch(batch, applied, 10)
    for kernel in (py, cy):  # index id 0 (the engine's catalog history) and the last u32 id are valid
        kernel.validate_batch([(1, {0: [(b"k", None)]}), (2, {(1 << 32) - 1: [(b"x" * 10, b"")]})], 0, 10)


def test_document_entry_points_agree():
    """``get_document`` and ``scan_documents`` of both twins agree with each other and with the reference's
    composition (``resolve_key``/``scan_*`` then the real document codec), at every snapshot, in both
    directions, through a by_id map and not; a row whose document is missing is a LookupError in both and
    a value shorter than the header a ValueError."""
    from engine import doccodec
    from engine.documents import by_id_value

    py, cy = IMPLS["py"], IMPLS["cy"]
    ids = [b"d%d" % i for i in range(6)]
    by_id = {i + b"\x00": [(ts, by_id_value(ts, doccodec.encode_document({"_id": i.decode(), "ts": ts})))
                           for ts in (6, 4, 2) if (ts + n) % 3] + [(1, None)] for n, i in enumerate(ids)}
    by_id[b"d1\x00"].insert(0, (7, None))
    by_id[b"short\x00"] = [(7, b"1234567")]
    sec_keys = [b"%02d\x00" % n for n in range(6)]
    sec = {k: [(3, ids[n]), (1, ids[(n + 1) % 6])] for n, k in enumerate(sec_keys)}
    leaves = [sec_keys[:2], sec_keys[2:4], sec_keys[4:]]
    maxes = [leaf[-1] for leaf in leaves]

    def id_key(ref: bytes) -> bytes:
        return ref + b"\x00"

    dm = doccodec.decode_many
    for ts in SNAPSHOTS:
        for key in list(by_id) + [b"zz\x00"]:
            value = py.resolve_key(by_id, key, ts)
            if value is not None and len(value) < 8:
                for kernel in (py, cy):
                    with pytest.raises(ValueError):
                        kernel.get_document(by_id, key, ts, doccodec.decode_document)
                continue
            want = None if value is None else (doccodec.decode_document(value, 8), int.from_bytes(value[:8], "big"))
            for kernel in (py, cy):
                assert kernel.get_document(by_id, key, ts, doccodec.decode_document) == want, (kernel, key, ts)
        for reverse, start, end, limit in itertools.product((False, True), (b"", b"01\x00"), (None, b"04\x00"),
                                                           (0, 1, 3, 100)):
            rows = (py.scan_reverse if reverse else py.scan_forward)(leaves, maxes, sec, start, end, ts, limit)
            refs = [py.resolve_key(by_id, id_key(v), ts) for _, v in rows]
            for kernel in (py, cy):
                args = (leaves, maxes, sec, start, end, ts, limit, reverse, by_id, id_key, dm)
                if any(r is None for r in refs):
                    with pytest.raises(LookupError):
                        kernel.scan_documents(*args)
                else:
                    assert kernel.scan_documents(*args) == ([k for k, _ in rows], dm(refs, 8)), (kernel, ts, reverse)
        bl = [sorted(by_id)[:3], sorted(by_id)[3:]]
        bm = [leaf[-1] for leaf in bl]
        direct = py.scan_forward(bl, bm, by_id, b"", b"d9\x00", ts, 100)
        for kernel in (py, cy):
            got = kernel.scan_documents(bl, bm, by_id, b"", b"d9\x00", ts, 100, False, None, id_key, dm)
            assert got == ([k for k, _ in direct], dm([v for _, v in direct], 8)), (kernel, ts)
