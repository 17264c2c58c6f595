"""Waiting for progress never misses a wake-up, now that publishing skips the notification when nobody
waits (``Committer.wait_for``, the subscription worker's ``wait_idle`` / ``wait_delivered``).

Both orders are forced, not slept into: the waiter is already inside its wait when the commit publishes
(the test sees it counted among the waiters first), or the commit published before the waiter looked.
A lost wake-up shows as a waiter still asleep long after the commit: each waiter waits with a far longer
timeout (``WAIT``) than the test joins it for (``JOIN``), because a timed-out ``wait_for`` re-tests its
predicate and would then pass.
"""
from __future__ import annotations

import threading
import time

import pytest

import engine
from engine.clock.hlc import FakePhysicalClock
from engine.model.types import Timestamp
from engine.subscriptions.live import WaitOutcome

TIMEOUT = 20.0
WAIT = 600.0     # what the waiter asks for
JOIN = 10.0      # how long the test lets it take after the commit


def _until(predicate, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.001)


@pytest.fixture
def db(tmp_path):
    d = engine.open_database(tmp_path / "db", physical_clock=FakePhysicalClock(), subscriptions="thread")
    yield d
    d.close()


def test_a_waiter_already_waiting_for_delivery_is_woken_by_a_commit_with_nothing_live(db):
    worker = db.subscriptions._worker
    target = Timestamp(db.latest_ts() + 1)        # any next commit has a larger ts
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("w", db.subscriptions.wait_processed(target, WAIT)), daemon=True)
    t.start()
    _until(lambda: worker._done_waiters == 1, "the waiter to enter its wait")
    db.mutate(lambda tx: tx.insert("t", {"n": 1}))  # nothing live: the fast path of on_publish
    t.join(JOIN)
    assert not t.is_alive(), "the waiter missed its wake-up"
    assert result["w"] is WaitOutcome.DONE
    assert worker._done_waiters == 0
    assert worker.delivered_ts >= target


def test_a_waiter_arriving_after_the_commit_returns_at_once(db):
    db.mutate(lambda tx: tx.insert("t", {"n": 1}))
    assert db.subscriptions.wait_processed(db.latest_ts(), TIMEOUT) is WaitOutcome.DONE
    assert db.wait_for_subscriptions(TIMEOUT) is WaitOutcome.DONE


def test_a_waiter_for_idle_is_woken_when_a_live_query_rerun_finishes(db):
    seen = []
    sub = db.subscribe(lambda tx: len(tx.query("t").collect()), on_change=lambda result, ts: seen.append(result))
    worker = db.subscriptions._worker
    assert db.wait_for_subscriptions(TIMEOUT) is WaitOutcome.DONE
    result = {}
    gate = threading.Event()

    def waiter():
        gate.set()
        result["w"] = db.subscriptions.wait_processed(Timestamp(db.latest_ts() + 1), WAIT)

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    gate.wait(TIMEOUT)
    _until(lambda: worker._done_waiters == 1, "the waiter to enter its wait")
    db.mutate(lambda tx: tx.insert("t", {"n": 1}))  # something live: the worker re-runs, then reports
    t.join(JOIN)
    assert not t.is_alive(), "the waiter missed its wake-up"
    assert result["w"] is WaitOutcome.DONE
    assert seen and seen[-1] == 1
    sub.cancel()


def test_committer_wait_for_wakes_a_waiter_already_waiting_and_answers_a_late_one(db):
    committer = db._committer
    target = Timestamp(db.latest_ts() + 1)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("w", committer.wait_for(target, WAIT)), daemon=True)
    t.start()
    _until(lambda: committer._published_waiters == 1, "the waiter to enter its wait")
    db.mutate(lambda tx: tx.insert("t", {"n": 1}))
    t.join(JOIN)
    assert not t.is_alive(), "the waiter missed its wake-up"
    assert result["w"] is True
    assert committer._published_waiters == 0
    assert committer.wait_for(db.latest_ts(), 0.0) is True          # already there: no wait at all
    assert committer.wait_for(Timestamp(db.latest_ts() + 1), 0.05) is False  # nothing commits: times out
