"""Interleavings forced at the committer's named race points (engine.hooks), with no sleeps."""
from __future__ import annotations

import threading

import pytest

import engine
from engine.clock.hlc import FakePhysicalClock
from engine.conflict.base import Verdict
from engine.testing.hooks import HookController


def test_commit_is_invisible_until_durable_and_a_racing_writer_conflicts_with_it(tmp_path):
    hooks = HookController()
    db = engine.open_database(tmp_path / "db", physical_clock=FakePhysicalClock(), hooks=hooks, subscriptions="inline")
    try:
        doc = db.mutate(lambda tx: tx.insert("c", {"n": 0}))
        before = db.latest_ts()
        racer = db.begin()                     # snapshot before the first writer commits
        racer.patch(doc, {"n": racer.get(doc)["n"] + 10})

        hooks.pause("committer.before_persist")
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("a", db.run_mutation(
            lambda tx: tx.patch(doc, {"n": tx.get(doc)["n"] + 1}), name="first")))
        t.start()
        assert hooks.wait_reached("committer.before_persist")
        # Validated but not durable: no reader may see it, and it is not acknowledged.
        assert db.latest_ts() == before
        assert db.read(lambda tx: tx.get(doc))["n"] == 0
        assert "a" not in result

        outcome = {}
        b = threading.Thread(target=lambda: outcome.setdefault("b", db.commit(racer)))
        b.start()                              # queues behind the paused leader
        hooks.release("committer.before_persist")
        t.join(10)
        b.join(10)
        first = result["a"]
        assert first.commit_ts > before and db.read(lambda tx: tx.get(doc))["n"] == 1
        second = outcome["b"]
        assert second.verdict is Verdict.CONFLICT
        assert second.conflict.ts == first.commit_ts and second.conflict.writer == "first"
        assert second.conflict.document_id == doc and second.conflict.table == "c"
    finally:
        db.close()


@pytest.mark.parametrize("index", ["lmdb-btree", "mem-btree"])
def test_failed_durable_write_acknowledges_nothing_and_forgets_the_batch(tmp_path, index):
    """With both strategies LMDB the batch is one transaction (log + indexes): the failure is raised inside
    it after the log records and the index writes were put, so the abort must drop both. With mem-btree the
    log append itself fails."""
    hooks = HookController()
    db = engine.open_database(tmp_path / "db", physical_clock=FakePhysicalClock(), hooks=hooks,
                              subscriptions="inline", index=index)
    try:
        doc = db.mutate(lambda tx: tx.insert("c", {"n": 0}))
        before = db.latest_ts()
        earlier = db.begin()                 # reads the document before the failing commit
        earlier.patch(doc, {"n": earlier.get(doc)["n"] + 5})
        if index == "lmdb-btree":
            store = db._index_store
            real_stage_batch = store.stage_batch

            def failing_stage_batch(commits):
                stage = real_stage_batch(commits)

                def failing_stage(txn):
                    stage(txn)  # the index writes are in the transaction, like the log records
                    raise OSError("disk full")
                return failing_stage

            store.stage_batch = failing_stage_batch
        else:
            real_append = db._persistence.append

            def failing_append(records):
                raise OSError("disk full")

            db._persistence.append = failing_append
        try:
            db.mutate(lambda tx: tx.patch(doc, {"n": 1}))
            raise AssertionError("the commit should have failed")
        except engine.RippleError as exc:
            assert "disk full" in str(exc)
        if index == "lmdb-btree":
            store.stage_batch = real_stage_batch
        else:
            db._persistence.append = real_append
        assert db.latest_ts() == before and db._index_store.applied_ts() == before
        assert db._persistence.max_ts() == before
        assert db.read(lambda tx: tx.get(doc))["n"] == 0
        # The failed commit left nothing in the write window: a transaction that read the document
        # before the failure commits without a false conflict.
        assert db.commit(earlier).verdict is Verdict.COMMIT
        assert db.read(lambda tx: tx.get(doc))["n"] == 5
        assert db.verify().ok
        db.check_invariants()
    finally:
        db.close()
    with engine.open_database(tmp_path / "db", index=index) as db:
        assert [w.value["n"] for e in db.log() for w in e.writes if w.table == "c"] == [0, 5]
        assert db.verify().ok


def _by_x(fields):
    from engine import define_schema, define_table, v

    return define_schema({"t": define_table({"x": v.int64(), "y": v.optional(v.int64())}).index("by_x", fields)})


def _insert_if_absent(tx):
    if tx.query("t").with_index("by_x", lambda q: q.eq("x", 1)).first() is None:
        tx.insert("t", {"x": 1})


def test_a_schema_change_between_a_mutations_run_and_its_commit_cannot_hide_a_conflict(tmp_path):
    """Held at ``runner.before_commit`` (read through by_x, insert buffered), a mutation sees another
    writer commit x=1 and a schema push redefine by_x (a new index id). Its commit must not go through
    on the strength of the old read: it conflicts, re-runs, finds the document, and inserts nothing."""
    hooks = HookController()
    db = engine.open_database(tmp_path / "db", physical_clock=FakePhysicalClock(), hooks=hooks,
                              subscriptions="inline", schema=_by_x(["x"]))
    try:
        hooks.pause("runner.before_commit")
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("a", db.run_mutation(_insert_if_absent, name="a")))
        t.start()
        assert hooks.wait_reached("runner.before_commit")
        other = db.begin(writer="b")
        _insert_if_absent(other)
        assert db.commit(other).verdict is Verdict.COMMIT
        schema_ts = db.set_schema(_by_x(["x", "y"]))
        hooks.release("runner.before_commit")
        t.join(10)
        first = result["a"].attempts[0]
        assert first.verdict is Verdict.CONFLICT and first.conflict.ts == schema_ts
        assert [d["x"] for d in db.read(lambda tx: tx.query("t").collect())] == [1]
        assert db.verify().ok
    finally:
        db.close()


def test_dropping_the_index_a_held_mutation_read_makes_its_retry_fail_cleanly(tmp_path):
    from engine import define_schema, define_table, v
    from engine.model.errors import UnknownIndexError

    hooks = HookController()
    db = engine.open_database(tmp_path / "db", physical_clock=FakePhysicalClock(), hooks=hooks,
                              subscriptions="inline", schema=_by_x(["x"]))
    try:
        hooks.pause("runner.before_commit")
        errors = []

        def run():
            try:
                db.run_mutation(_insert_if_absent, name="a")
            except UnknownIndexError as exc:
                errors.append(exc)

        t = threading.Thread(target=run)
        t.start()
        assert hooks.wait_reached("runner.before_commit")
        db.set_schema(define_schema({"t": define_table({"x": v.int64(), "y": v.optional(v.int64())})}))
        hooks.release("runner.before_commit")
        t.join(10)
        assert len(errors) == 1                       # the retry ran against the new catalog
        assert db.read(lambda tx: tx.query("t").collect()) == []
    finally:
        db.close()
