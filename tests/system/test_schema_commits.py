"""Schema and catalog changes are commits: one log record, atomic, serialized with other commits, visible
at their timestamp; indexes are identified by id, so no interleaving of schema changes hides a conflict.

Interleavings are forced with events inside the mutation functions and the committer's named hook
points (``engine.hooks``), never with sleeps."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

import engine
from engine import define_schema, define_table, v
from engine.conflict.base import Verdict
from engine.model.errors import IndexKeyTooLargeError, UnknownIndexError

STRATEGIES = [("memory", "mem-btree"), ("lmdb", "lmdb-btree"), ("sqlite", "mem-btree")]
WAIT = 20.0


def _schema(fields):
    return define_schema({"t": define_table({"x": v.int64(), "y": v.optional(v.int64())}).index("by_x", fields)})


def _open(tmp_path, persistence, index, **kw):
    path = None if persistence == "memory" else tmp_path / "db"
    return engine.open_database(path, persistence=persistence, index=index, subscriptions="inline", **kw)


@pytest.mark.parametrize("persistence,index", STRATEGIES)
def test_redefining_an_index_between_two_insert_if_absent_mutations_keeps_them_serializable(tmp_path, persistence, index):
    """The review's history: two "insert x=1 unless one exists" mutations read through by_x, a schema
    push redefines by_x meanwhile, and both used to commit (two documents with x=1)."""
    db = _open(tmp_path, persistence, index, schema=_schema(["x"]))
    try:
        read = {"a": threading.Event(), "b": threading.Event()}
        go = {"a": threading.Event(), "b": threading.Event()}

        def insert_if_absent(tx, who):
            found = tx.query("t").with_index("by_x", lambda q: q.eq("x", 1)).first()
            read[who].set()
            assert go[who].wait(WAIT)
            if found is None:
                tx.insert("t", {"x": 1})

        results: dict[str, object] = {}

        def run(who):
            try:
                results[who] = db.run_mutation(insert_if_absent, who, name=f"writer-{who}")
            except BaseException as exc:  # reported below
                results[who] = exc

        threads = {w: threading.Thread(target=run, args=(w,)) for w in "ab"}
        for t in threads.values():
            t.start()
        assert read["a"].wait(WAIT) and read["b"].wait(WAIT)
        db.set_schema(_schema(["x", "y"]))          # same name, new definition: a new index id
        go["a"].set()
        threads["a"].join(WAIT)
        go["b"].set()
        threads["b"].join(WAIT)
        assert all(not isinstance(r, BaseException) for r in results.values()), results
        docs = db.read(lambda tx: tx.query("t").collect())
        assert [d["x"] for d in docs] == [1]
        # The first attempt of each writer ran against the old catalog and was refused.
        for who in "ab":
            first = results[who].attempts[0]
            assert first.verdict is Verdict.CONFLICT and first.conflict.table == "_catalog"
        assert db.verify().ok
        db.check_invariants()
    finally:
        db.close()


@pytest.mark.parametrize("persistence,index", STRATEGIES)
def test_dropping_an_index_conflicts_with_every_transaction_that_read_it(tmp_path, persistence, index):
    db = _open(tmp_path, persistence, index, schema=_schema(["x"]))
    try:
        other = db.mutate(lambda tx: tx.insert("t", {"x": 5}))
        tx = db.begin()
        assert tx.query("t").with_index("by_x", lambda q: q.eq("x", 1)).first() is None
        tx.patch(other, {"y": 1})
        drop_ts = db.set_schema(define_schema({"t": define_table({"x": v.int64(), "y": v.optional(v.int64())})}))
        outcome = db.commit(tx)
        assert outcome.verdict is Verdict.CONFLICT and outcome.conflict.ts == drop_ts
        assert db.read(lambda tx: tx.get(other)).get("y") is None
        with pytest.raises(UnknownIndexError):
            db.read(lambda tx: tx.query("t").with_index("by_x").collect())
    finally:
        db.close()


def test_write_window_sees_a_dropped_index_as_a_write_of_its_whole_range(tmp_path):
    """Even a transaction whose catalog check passed (it began after the drop was validated but reads the
    dropped id through an older snapshot) is caught by the window: identity, not name, decides."""
    from engine.catalog import CATALOG_TABLE
    from engine.log.write_window import WriteWindow
    from engine.conflict.interval_set import IntervalSet
    from engine.model.types import Interval, Timestamp

    w = WriteWindow()
    w.append(Timestamp(10), "schema change", [], whole=[(7, "t.by_x")])
    reads = IntervalSet()
    reads.add(Interval(b"a", b"b"))
    assert w.is_stale({7: reads}, Timestamp(5), Timestamp(20)).verdict is Verdict.CONFLICT
    assert w.is_stale({8: reads}, Timestamp(5), Timestamp(20)).ok            # another index: no conflict
    assert w.is_stale({7: reads}, Timestamp(10), Timestamp(20)).ok           # read after the drop
    assert CATALOG_TABLE == "_catalog"
    w.check_invariants()


def test_a_subscription_through_a_dropped_index_reruns_and_reports_the_error(tmp_path):
    db = _open(tmp_path, "memory", "mem-btree", schema=_schema(["x"]))
    try:
        db.mutate(lambda tx: tx.insert("t", {"x": 1}))
        sub = db.subscribe(lambda tx: len(tx.query("t").with_index("by_x", lambda q: q.eq("x", 1)).collect()))
        assert sub.result == 1
        db.set_schema(define_schema({"t": define_table({"x": v.int64(), "y": v.optional(v.int64())})}))
        assert db.wait_for_subscriptions(WAIT)
        assert isinstance(sub.error, UnknownIndexError)
    finally:
        db.close()


@pytest.mark.parametrize("persistence,index", STRATEGIES)
def test_a_failing_schema_change_changes_nothing(tmp_path, persistence, index):
    """A new index whose key would be too large for an existing document: refused before anything
    changes; the old index still answers, verify passes, and the data folder reopens."""
    db = _open(tmp_path, persistence, index, schema=define_schema({
        "t": define_table({"x": v.int64(), "s": v.string()}).index("by_x", ["x"])}))
    try:
        db.mutate(lambda tx: tx.insert("t", {"x": 1, "s": "z" * 2000}))
        before_ts, before_catalog = db.latest_ts(), db.catalog.to_json()
        bad = define_schema({"t": define_table({"x": v.int64(), "s": v.string()}).index("by_s", ["s"])})
        with pytest.raises(IndexKeyTooLargeError):
            db.set_schema(bad)
        assert db.latest_ts() == before_ts and db.catalog.to_json() == before_catalog
        assert len(db.read(lambda tx: tx.query("t").with_index("by_x", lambda q: q.eq("x", 1)).collect())) == 1
        db.mutate(lambda tx: tx.insert("fresh", {"k": 1}))      # a new table afterwards (the old failure mode)
        assert db.verify().ok
    finally:
        db.close()
    if persistence != "memory":
        with _open(tmp_path, persistence, index) as again:
            assert "by_x" in again.catalog.table("t").indexes and "by_s" not in again.catalog.table("t").indexes
            assert again.verify().ok


@pytest.mark.parametrize("persistence,index", STRATEGIES)
def test_implicit_table_creation_commits_with_its_transaction_or_not_at_all(tmp_path, persistence, index):
    db = _open(tmp_path, persistence, index)
    try:
        def create_then_fail(tx):
            tx.insert("ghost", {"a": 1})
            raise ValueError("changed my mind")

        with pytest.raises(ValueError):
            db.mutate(create_then_fail)
        assert "ghost" not in db.tables()
        tx = db.begin()
        tx.insert("ghost", {"a": 2})
        assert tx.query("ghost").collect()[0]["a"] == 2          # reads its own new table
        assert "ghost" not in db.tables()                         # nobody else sees it yet
        assert db.commit(tx).verdict is Verdict.COMMIT
        assert "ghost" in db.tables()
        entry = list(db.log())[-1]
        assert entry.catalog is not None and [w.table for w in entry.writes] == ["ghost"]
        assert db.verify().ok
    finally:
        db.close()
    if persistence != "memory":
        with _open(tmp_path, persistence, index) as again:
            assert again.tables() == ["ghost"]
            assert [d["a"] for d in again.read(lambda tx: tx.query("ghost").collect())] == [2]


def test_concurrent_first_inserts_into_one_new_table_do_not_conflict(tmp_path):
    db = _open(tmp_path, "lmdb", "lmdb-btree")
    try:
        db.mutate(lambda tx: tx.insert("other", {"k": 0}))
        a, b = db.begin(), db.begin()
        a.insert("items", {"i": 1})
        b.insert("items", {"i": 2})
        assert db.commit(a).verdict is Verdict.COMMIT
        assert db.commit(b).verdict is Verdict.COMMIT        # created the same table identically
        assert sorted(d["i"] for d in db.read(lambda tx: tx.query("items").collect())) == [1, 2]
        assert db.verify().ok
    finally:
        db.close()


def test_a_reader_of_a_missing_table_conflicts_with_its_creation(tmp_path):
    db = _open(tmp_path, "memory", "mem-btree")
    try:
        db.mutate(lambda tx: tx.insert("other", {"k": 0}))
        tx = db.begin()
        assert tx.query("items").first() is None
        tx.insert("other", {"k": 1})
        db.mutate(lambda t: t.insert("items", {"i": 1}))
        outcome = db.commit(tx)
        assert outcome.verdict is Verdict.CONFLICT
    finally:
        db.close()


@pytest.mark.parametrize("persistence,index", STRATEGIES)
def test_schema_history_is_time_travel(tmp_path, persistence, index):
    db = _open(tmp_path, persistence, index, schema=_schema(["x"]))
    try:
        t1 = db.latest_ts()
        db.mutate(lambda tx: tx.insert("t", {"x": 1}))
        t2 = db.set_schema(_schema(["x", "y"]))
        assert t2 > t1
        assert db.schema_at(t1).indexes("t")[0].fields == ("x",)
        assert db.schema_at(t2).indexes("t")[0].fields == ("x", "y")
        assert db.catalog_at(t1).catalog.index("t", "by_x").index_id != db.catalog.index("t", "by_x").index_id
        assert db.set_schema(_schema(["x", "y"])) is None          # no change: no commit
        catalogs = [e.ts for e in db.log() if e.catalog is not None]
        assert catalogs == [t1, t2]
    finally:
        db.close()
    if persistence != "memory":
        with _open(tmp_path, persistence, index) as again:
            assert again.schema_at(t1).indexes("t")[0].fields == ("x",)
            assert again.schema.indexes("t")[0].fields == ("x", "y")
            assert again.verify().ok


CRASH_CHILD = textwrap.dedent("""
    import os, sys
    import engine
    from engine import define_schema, define_table, v
    from engine.testing.hooks import HookController
    path, persistence, point = sys.argv[1], sys.argv[2], sys.argv[3]
    hooks = HookController()
    db = engine.open_database(path, persistence=persistence, hooks=hooks)
    fields = {"x": v.int64(), "y": v.optional(v.int64())}
    db.set_schema(define_schema({"t": define_table(fields).index("by_x", ["x"])}))
    for i in range(20):
        db.mutate(lambda tx, i=i: tx.insert("t", {"x": i}))
    hooks.on(point, lambda: os._exit(9))       # die at the named point of the next commit
    db.set_schema(define_schema({"t": define_table(fields).index("by_x", ["x", "y"]).index("by_neg", ["x"])}))
    print("survived", flush=True)
""")


@pytest.mark.parametrize("persistence", ["lmdb", "sqlite"])
@pytest.mark.parametrize("point,applied", [("committer.before_persist", False), ("committer.after_persist", True)])
def test_a_crash_inside_a_schema_change_leaves_all_or_nothing(tmp_path, persistence, point, applied):
    path = tmp_path / "db"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.run([sys.executable, "-c", CRASH_CHILD, str(path), persistence, point],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 9, proc.stderr
    with engine.open_database(path, persistence=persistence) as db:
        indexes = set(db.catalog.table("t").indexes)
        if applied:
            assert {"by_x", "by_neg"} <= indexes and db.catalog.index("t", "by_x").fields == ("x", "y")
            assert len(db.read(lambda tx: tx.query("t").with_index("by_neg").collect())) == 20
        else:
            assert "by_neg" not in indexes and db.catalog.index("t", "by_x").fields == ("x",)
        assert len(db.read(lambda tx: tx.query("t").with_index("by_x").collect())) == 20
        assert db.verify().ok
        db.check_invariants()


def test_a_database_from_before_catalog_commits_is_upgraded_on_open(tmp_path):
    """Milestone-1 data folders kept the catalog and schema in two persistence globals."""
    from engine import doccodec
    from engine.catalog import Catalog
    from engine.database.recovery import DOCUMENT_FORMAT_GLOBAL
    from engine.persistence.base import PersistenceConfig
    from engine.persistence.registry import open_persistence

    path = tmp_path / "db"
    with engine.open_database(path, persistence="sqlite", index="mem-btree") as db:
        doc = db.mutate(lambda tx: tx.insert("t", {"x": 1}))
        legacy = db.catalog.to_json()
        schema = db.schema
    # Rewrite the folder into the old shape: the catalog commit removed from the log, globals instead.
    import shutil

    from engine.persistence.base import CommitRecord

    store = open_persistence("sqlite", PersistenceConfig(path=str(path / "log")))
    records = list(store.load_log())
    store.close()
    shutil.rmtree(path)
    store = open_persistence("sqlite", PersistenceConfig(path=str(path / "log")))

    store.append([CommitRecord(r.ts, r.writer, tuple(w for w in r.writes if w.table != "_catalog")) for r in records])
    store.put_global("catalog", legacy)
    store.put_global("schema", b"null")
    # The documents copied above are in this version's format; say so (a milestone-1 folder also stored
    # them as JSON, which open refuses: tests/system/test_document_format.py).
    store.put_global(DOCUMENT_FORMAT_GLOBAL, doccodec.DATABASE_FORMAT)
    store.close()
    assert schema is None and Catalog.from_json(legacy).has_table("t")
    with engine.open_database(path, persistence="sqlite", index="mem-btree") as db:
        assert db.read(lambda tx: tx.get(doc))["x"] == 1
        upgrade = [e for e in db.log() if e.catalog is not None]
        assert len(upgrade) == 1 and upgrade[0].writer.startswith("upgrade")
        assert db.verify().ok
