"""A database written with one set of twins is read by the other: same on-disk formats.

Writes with every kernel on the Python reference, reopens with every built Cython twin (and the reverse),
and checks documents, index scans, history, the log and ``verify()`` agree.
"""
from __future__ import annotations

import pytest

import engine
from engine import _impl, define_schema, define_table, v
from engine.clock.hlc import FakePhysicalClock

BUILT = sorted(k for k in _impl.KERNELS if "cy" in _impl.implementations(k))
ALL_PY = {k: "py" for k in _impl.KERNELS}
TWINS = {**ALL_PY, **{k: "cy" for k in BUILT}}

SCHEMA = define_schema({"m": define_table({"ch": v.string(), "n": v.int64(), "f": v.optional(v.float64())})
                        .index("by_ch_n", ["ch", "n"])})


def fill(db):
    ids = db.mutate(lambda tx: [tx.insert("m", {"ch": c, "n": i, "f": i / 3}) for i, c in enumerate("abcabcab")])
    db.mutate(lambda tx: tx.patch(ids[0], {"n": 100}))
    db.mutate(lambda tx: tx.delete(ids[1]))
    return ids


def observe(db, ids):
    rows = db.read(lambda tx: [(d["ch"], d["n"]) for d in tx.query("m").with_index("by_ch_n", lambda q: q.eq("ch", "a")).collect()])
    everything = db.read(lambda tx: tx.query("m").order("desc").collect())
    hist = [(h.ts, h.value) for h in db.history(ids[0])]
    log = [(e.ts, e.writer, [(w.table, w.id, w.value, w.prev_ts) for w in e.writes]) for e in db.log()]
    return rows, everything, hist, log


@pytest.mark.skipif(not BUILT, reason="no Cython twin is built (ext/ has no sources): nothing to cross-read")
@pytest.mark.parametrize("persistence,index", [("lmdb", "lmdb-btree"), ("sqlite", "lmdb-btree")])
@pytest.mark.parametrize("writer,reader", [(ALL_PY, TWINS), (TWINS, ALL_PY)], ids=["py-then-cy", "cy-then-py"])
def test_files_written_by_one_twin_are_read_by_the_other(tmp_path, persistence, index, writer, reader):
    clock = FakePhysicalClock()
    with engine.open_database(tmp_path, persistence=persistence, index=index, impl=writer, schema=SCHEMA,
                              physical_clock=clock, subscriptions="inline") as db:
        ids = fill(db)
        before = observe(db, ids)
    with engine.open_database(tmp_path, persistence=persistence, index=index, impl=reader,
                              physical_clock=clock, subscriptions="inline") as db:
        assert db.implementations() == {k: reader[k] for k in _impl.KERNELS}
        assert observe(db, ids) == before
        assert db.verify().ok
        db.mutate(lambda tx: tx.insert("m", {"ch": "z", "n": 1}))
