"""The data folder's storage layout: with both strategies LMDB the log and the indexes share one LMDB
environment and a commit batch is one write transaction; a folder in the older two-environment layout
(``<path>/log`` + ``<path>/indexes``) still opens; switching strategies on one folder keeps it correct."""
from __future__ import annotations

import os

import pytest

import engine
from engine import define_schema, define_table, v
from engine.database.recovery import IndexMaintainer
from engine.documents import REFERENCE_KEYS
from engine.index.base import IndexConfig
from engine.index.lmdb_btree import LmdbBTreeStore
from engine.persistence.base import PersistenceConfig
from engine.persistence.lmdb_store import LmdbPersistence

FIELDS = {"k": v.int64(), "tag": v.optional(v.string())}
SCHEMA_1 = define_schema({"items": define_table(FIELDS).index("by_k", ["k"])})
SCHEMA_2 = define_schema({"items": define_table(FIELDS).index("by_k", ["k"]).index("by_tag", ["tag", "k"])})


def _fill(db, start: int, n: int) -> list[str]:
    ids = [db.mutate(lambda tx, k=k: tx.insert("items", {"k": k, "tag": f"t{k % 3}"})) for k in range(start, start + n)]
    db.mutate(lambda tx: tx.patch(ids[0], {"k": -start}))
    db.mutate(lambda tx: tx.delete(ids[1]))
    return ids


def _contents(db) -> tuple[list, list]:
    by_k = db.read(lambda tx: [(d["k"], d.get("tag")) for d in tx.query("items").with_index("by_k").collect()])
    by_id = db.read(lambda tx: sorted((d["_id"], d["k"]) for d in tx.query("items").collect()))
    return by_k, by_id


def _txn_id(db) -> int:
    return db._persistence._env.info()["last_txnid"]


def test_both_strategies_lmdb_share_one_environment_and_a_commit_is_one_write_transaction(tmp_path):
    with engine.open_database(tmp_path / "db", schema=SCHEMA_1) as db:
        assert sorted(os.listdir(tmp_path / "db")) == ["log"]
        assert db._index_store.shared_env is db._persistence.shared_env is not None
        before = _txn_id(db)
        db.mutate(lambda tx: tx.insert("items", {"k": 1}))
        assert _txn_id(db) == before + 1
        assert db._index_store.applied_ts() == db._persistence.max_ts() == db.latest_ts()
        db.check_invariants()


def test_lmdb_log_with_memory_indexes_writes_the_log_alone(tmp_path):
    """The two-step path: no shared environment, one log transaction per commit, indexes in memory."""
    with engine.open_database(tmp_path / "db", schema=SCHEMA_1, index="mem-btree") as db:
        assert db._persistence.shared_env is None
        before = _txn_id(db)
        db.mutate(lambda tx: tx.insert("items", {"k": 1}))
        assert _txn_id(db) == before + 1
        assert db.verify().ok


def _write_old_layout(path) -> tuple[list, list, int]:
    """A folder as older versions left it: the log in ``log``, the indexes in their own environment in
    ``indexes``, brought up to the log by the same recovery the older open ran."""
    with engine.open_database(path, schema=SCHEMA_1, index="mem-btree") as db:
        _fill(db, 0, 12)
        db.set_schema(SCHEMA_2)  # a catalog change with a backfill, in the middle of the log
        _fill(db, 100, 5)
        expected = _contents(db)
        last = db.latest_ts()
    log = LmdbPersistence(PersistenceConfig(path=str(path / "log")))
    store = LmdbBTreeStore(IndexConfig(path=str(path / "indexes")))
    try:
        IndexMaintainer(log, store, REFERENCE_KEYS).recover()
        assert store.applied_ts() == last and len(store.index_ids()) >= 3
    finally:
        store.close()
        log.close()
    return expected[0], expected[1], last


def test_a_folder_in_the_two_environment_layout_opens_and_moves_its_indexes_into_the_log_environment(tmp_path):
    path = tmp_path / "db"
    by_k, by_id, last = _write_old_layout(path)
    assert sorted(os.listdir(path)) == ["indexes", "log"]
    with engine.open_database(path) as db:
        assert sorted(os.listdir(path)) == ["log"]
        assert db._index_store.shared_env is not None
        assert db.latest_ts() == last and db._index_store.applied_ts() == last
        assert _contents(db) == (by_k, by_id)
        assert db.read(lambda tx: len(tx.query("items").with_index("by_tag", lambda q: q.eq("tag", "t1")).collect())) > 0
        report = db.verify()
        assert report.ok, report.problems
        db.check_invariants()
        db.mutate(lambda tx: tx.insert("items", {"k": 1000}))
        grown = _contents(db)
    with engine.open_database(path) as db:  # and the new layout reopens as it was left
        assert _contents(db) == grown
        assert db.verify().ok


@pytest.mark.parametrize("middle", ["mem-btree", "lmdb-btree"])
def test_switching_the_index_strategy_on_one_folder_catches_the_indexes_up_from_the_log(tmp_path, middle):
    """lmdb-btree leaves its indexes in the log's environment; a session with another index strategy
    extends the log (a schema change included) without them; the next lmdb-btree open replays the gap."""
    path = tmp_path / "db"
    with engine.open_database(path, schema=SCHEMA_1) as db:
        _fill(db, 0, 6)
    with engine.open_database(path, index=middle) as db:
        _fill(db, 50, 6)
        db.set_schema(SCHEMA_2)
        _fill(db, 80, 4)
        expected = _contents(db)
        last = db.latest_ts()
    with engine.open_database(path) as db:
        assert db.latest_ts() == last
        assert _contents(db) == expected
        report = db.verify()
        assert report.ok, report.problems
        db.check_invariants()


@pytest.mark.parametrize("persistence,index", [
    ("memory", "mem-btree"), ("memory", "lmdb-btree"), ("lmdb", "mem-btree"), ("lmdb", "lmdb-btree"),
    ("sqlite", "mem-btree"), ("sqlite", "lmdb-btree"),
])
def test_every_strategy_pair_commits_groups_and_recovers(tmp_path, persistence, index):
    """A group-committed batch with a schema change after it, then a reopen (memory: the same session's
    state, since nothing survives)."""
    import threading

    path = tmp_path / "db"
    db = engine.open_database(path, persistence=persistence, index=index, schema=SCHEMA_1)
    try:
        barrier = threading.Barrier(4)

        def work(t: int) -> None:
            barrier.wait()
            for i in range(10):
                db.mutate(lambda tx, k=t * 100 + i: tx.insert("items", {"k": k, "tag": "g"}))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        db.set_schema(SCHEMA_2)
        _fill(db, 1000, 3)
        expected = _contents(db)
        assert len(expected[1]) == 40 + 2
        assert db.verify().ok
        db.check_invariants()
    finally:
        db.close()
    if persistence == "memory":
        return
    with engine.open_database(path, persistence=persistence, index=index) as db:
        assert _contents(db) == expected
        assert db.verify().ok
        db.check_invariants()
