"""Many threads mutating at once: no lost update, exact accounting, group commit actually groups, and a
hot document never starves a mutation (the runner's serialized fallback, ``engine.database.runner``)."""
from __future__ import annotations

import threading

import pytest

import engine


@pytest.mark.parametrize("persistence,index", [("memory", "mem-btree"), ("lmdb", "lmdb-btree"), ("sqlite", "mem-btree")])
def test_hot_counter_never_starves(tmp_path, persistence, index):
    """16 threads each increment one counter 1,000 times under the DEFAULT configuration: exactly 16,000,
    and not one ConflictError (after its optimistic attempts a mutation runs serialized)."""
    path = None if persistence == "memory" else tmp_path / "db"
    db = engine.open_database(path, persistence=persistence, index=index, subscriptions="inline")
    try:
        counter = db.mutate(lambda tx: tx.insert("counters", {"n": 0}))
        threads, per_thread = 16, 1000
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
        assert stats["failed_mutations"] == 0
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
