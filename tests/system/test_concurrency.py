"""Many threads mutating at once: no lost update, exact accounting, group commit actually groups."""
from __future__ import annotations

import threading

import pytest

import engine


@pytest.mark.parametrize("persistence,index", [("memory", "mem-btree"), ("lmdb", "lmdb-btree"), ("sqlite", "mem-btree")])
def test_concurrent_increments_lose_nothing(tmp_path, persistence, index):
    path = None if persistence == "memory" else tmp_path / "db"
    db = engine.open_database(path, persistence=persistence, index=index, max_retries=200,
                              retry_backoff_ms=(0.1, 2.0), subscriptions="inline")
    try:
        counter = db.mutate(lambda tx: tx.insert("counters", {"n": 0}))
        threads, per_thread = 4, 25
        errors: list[BaseException] = []

        def bump(tx):
            tx.patch(counter, {"n": tx.get(counter)["n"] + 1})

        def work():
            try:
                for _ in range(per_thread):
                    db.mutate(bump, name="bump")
            except BaseException as exc:  # surfaced below, never swallowed
                errors.append(exc)

        ts = [threading.Thread(target=work) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors, errors[:3]
        assert db.read(lambda tx: tx.get(counter))["n"] == threads * per_thread
        stats = db.stats()
        assert stats["commits"] == threads * per_thread + 1
        assert stats["retries"] == stats["conflicts"] + stats["too_old"]
        assert len(db.history(counter)) == threads * per_thread + 1
        assert db.verify().ok
        db.check_invariants()
    finally:
        db.close()


def test_group_commit_shares_durable_writes_between_independent_transactions(tmp_path):
    """Threads inserting unrelated documents never conflict, and while one batch is being made durable
    the others queue up: fewer durable writes than commits."""
    db = engine.open_database(tmp_path / "db", subscriptions="inline")
    try:
        barrier = threading.Barrier(8)

        def work(i):
            barrier.wait()
            for j in range(20):
                db.mutate(lambda tx: tx.insert("items", {"i": i, "j": j}))

        ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        stats = db.stats()
        assert stats["commits"] == 160 and stats["conflicts"] == 0
        assert stats["commit_batches"] < stats["batched_commits"] == 160
        assert len(db.read(lambda tx: tx.query("items").collect())) == 160
    finally:
        db.close()


def test_group_commit_disabled_means_one_durable_write_per_commit(tmp_path):
    db = engine.open_database(tmp_path / "db", subscriptions="inline", group_commit_max_batch=1)
    try:
        def work(i):
            for j in range(10):
                db.mutate(lambda tx: tx.insert("items", {"i": i, "j": j}))

        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        stats = db.stats()
        assert stats["commit_batches"] == stats["batched_commits"] == 40
    finally:
        db.close()
