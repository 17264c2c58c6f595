"""Interleavings forced at the committer's named race points (engine.hooks), with no sleeps."""
from __future__ import annotations

import threading

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


def test_failed_durable_write_acknowledges_nothing_and_forgets_the_batch(tmp_path):
    hooks = HookController()
    db = engine.open_database(tmp_path / "db", physical_clock=FakePhysicalClock(), hooks=hooks, subscriptions="inline")
    try:
        doc = db.mutate(lambda tx: tx.insert("c", {"n": 0}))
        earlier = db.begin()                 # reads the document before the failing commit
        earlier.patch(doc, {"n": earlier.get(doc)["n"] + 5})
        real_append = db._persistence.append

        def failing_append(records):
            raise OSError("disk full")

        db._persistence.append = failing_append
        try:
            db.mutate(lambda tx: tx.patch(doc, {"n": 1}))
            raise AssertionError("the commit should have failed")
        except engine.RippleError as exc:
            assert "disk full" in str(exc)
        db._persistence.append = real_append
        assert db.read(lambda tx: tx.get(doc))["n"] == 0
        # The failed commit left nothing in the write window: a transaction that read the document
        # before the failure commits without a false conflict.
        assert db.commit(earlier).verdict is Verdict.COMMIT
        assert db.read(lambda tx: tx.get(doc))["n"] == 5
        assert db.verify().ok
    finally:
        db.close()
