"""Subscriptions against a model: after every commit, every subscription whose result changed was called
exactly once with exactly the re-run result, and no other subscription was called."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.model import values
from engine.clock.hlc import FakePhysicalClock
from engine.subscriptions import WaitOutcome
from engine.testing.hooks import HookController
from engine.testing.serializability import INDEX, TABLE, TxnRun, program_strategy, run_op_real, seed_database

QUERIES = {
    "get_slot0": lambda slots: (lambda tx: (lambda d: None if d is None else [d["k"], d["v"]])(tx.get(slots[0]))),
    "range_0_2": lambda slots: (lambda tx: [[d["k"], d["v"]] for d in tx.query(TABLE).with_index(INDEX, lambda q: q.gte("k", 0).lt("k", 2)).collect()]),
    "top_desc": lambda slots: (lambda tx: [[d["k"], d["v"]] for d in tx.query(TABLE).with_index(INDEX).order("desc").take(1)]),
    "count": lambda slots: (lambda tx: len(tx.query(TABLE).collect())),
    "v_over_5": lambda slots: (lambda tx: sorted(d["v"] for d in tx.query(TABLE).filter(lambda d: d["v"] > 5).collect())),
    "k3_first": lambda slots: (lambda tx: (lambda d: None if d is None else d["v"])(tx.query(TABLE).with_index(INDEX, lambda q: q.eq("k", 3)).first())),
}


def check_model(data, mode):
    db = engine.open_database(None, physical_clock=FakePhysicalClock(), subscriptions=mode, seed=11)
    try:
        slots = seed_database(db)
        calls = {name: [] for name in QUERIES}
        handles = {}
        last = {}
        for name, make in QUERIES.items():
            fn = make(slots)
            handles[name] = db.subscribe(fn, on_change=lambda r, ts, name=name: calls[name].append((r, ts)))
            last[name] = handles[name].result
            assert values.values_equal(last[name], db.read(fn))
        programs = data.draw(st.lists(program_strategy(), min_size=1, max_size=8), label="commits")
        cancel_at = data.draw(st.integers(0, len(programs)), label="cancel_at")
        for step, program in enumerate(programs):
            if step == cancel_at:
                handles["count"].cancel()
            run = TxnRun(program)
            db.mutate(lambda tx: run_op_real_all(tx, program, slots, run), name=f"c{step}")
            assert db.wait_for_subscriptions()
            latest = db.latest_ts()
            for name, make in QUERIES.items():
                got, calls[name] = calls[name], []
                if name == "count" and step >= cancel_at:
                    assert got == [], "a cancelled subscription was called"
                    continue
                want = db.read(make(slots))
                if values.values_equal(want, last[name]):
                    assert got == [], f"{name} called although its result did not change: {got}"
                else:
                    assert len(got) == 1, f"{name} changed to {want!r} but was called {len(got)} times: {got}"
                    assert values.values_equal(got[0][0], want) and got[0][1] == latest
                    assert values.values_equal(handles[name].result, want)
                    last[name] = want
            db.subscriptions.check_invariants()
        assert db.subscriptions.errors == []
    finally:
        db.close()


def run_op_real_all(tx, program, slots, run):
    run.observations.clear()
    run.insert_ids.clear()
    for op in program:
        run_op_real(tx, op, slots, run)


@settings(max_examples=150)
@given(st.data())
def test_subscriptions_fire_exactly_when_results_change_inline(data):
    check_model(data, "inline")


@settings(max_examples=40)
@given(st.data())
def test_subscriptions_fire_exactly_when_results_change_on_worker_thread(data):
    check_model(data, "thread")


def test_write_outside_read_set_never_reruns_the_query():
    db = engine.open_database(None, physical_clock=FakePhysicalClock(), subscriptions="inline")
    try:
        slots = seed_database(db)
        h = db.subscribe(lambda tx: tx.get(slots[0])["v"])
        db.mutate(lambda tx: tx.patch(slots[1], {"v": 50}))
        db.wait_for_subscriptions()
        assert db.subscriptions.stats.reruns == 0 and db.subscriptions.stats.invalidated == 0
        db.mutate(lambda tx: tx.patch(slots[0], {"v": 51}))
        db.wait_for_subscriptions()
        assert db.subscriptions.stats.invalidated == 1 and h.result == 51
    finally:
        db.close()


def test_subscription_registered_after_a_racing_commit_still_sees_it():
    """A query that ran at snapshot T registers after a commit at T' > T was already processed (forced at
    the hook point between run and registration): the write window check at registration must queue it
    for a re-run, and the re-run delivers the commit's value."""
    hooks = HookController()
    db = engine.open_database(None, physical_clock=FakePhysicalClock(), subscriptions="inline", hooks=hooks)
    try:
        slots = seed_database(db)
        seen, calls = [], []

        def commit_between_run_and_register():
            if not seen:  # first registration only
                seen.append(True)
                db.mutate(lambda tx: tx.patch(slots[0], {"v": 77}))
                db.wait_for_subscriptions()

        hooks.on("subscriptions.before_register", commit_between_run_and_register)
        h = db.subscribe(lambda tx: tx.get(slots[0])["v"], on_change=lambda r, ts: calls.append((r, ts)))
        assert seen and h.result != 77  # it ran before the commit
        assert db.wait_for_subscriptions()
        assert h.result == 77 and calls == [(77, db.latest_ts())]
        db.subscriptions.check_invariants()
    finally:
        db.close()


def test_rerun_refreshes_the_read_set_in_place():
    """A re-run whose read set did not move changes no interval in the maps; one that moved changes only
    the difference."""
    db = engine.open_database(None, physical_clock=FakePhysicalClock(), subscriptions="inline")
    try:
        slots = seed_database(db)
        h = db.subscribe(lambda tx: [tx.get(slots[0])["v"], tx.get(slots[1])["v"]])
        stats = db.subscriptions.stats
        db.mutate(lambda tx: tx.patch(slots[0], {"v": 60}))
        assert db.wait_for_subscriptions()
        assert h.result[0] == 60 and stats.reruns == 1
        assert (stats.intervals_added, stats.intervals_removed) == (0, 0)
        db.subscriptions.check_invariants()
        flip = db.subscribe(lambda tx: tx.get(slots[0] if tx.get(slots[0])["v"] < 100 else slots[2])["v"])
        db.mutate(lambda tx: tx.patch(slots[0], {"v": 150}))
        assert db.wait_for_subscriptions()
        assert flip.result == db.read(lambda tx: tx.get(slots[2])["v"])
        assert stats.intervals_added == 1 and stats.intervals_removed == 0  # slots[0] still read, plus slots[2]
        db.subscriptions.check_invariants()
    finally:
        db.close()


def test_one_batch_reruns_each_invalidated_query_once_at_the_commit_snapshot():
    hooks = HookController()
    db = engine.open_database(None, physical_clock=FakePhysicalClock(), subscriptions="inline", hooks=hooks)
    try:
        slots = seed_database(db)
        seen = []
        subs = [db.subscribe(lambda tx, i=i: tx.get(slots[0])["v"] + i, on_change=lambda r, ts: seen.append(ts))
                for i in range(3)]
        batches = []
        hooks.on("subscriptions.after_rerun", lambda: batches.append(db.subscriptions.delivered_ts))
        db.mutate(lambda tx: tx.patch(slots[0], {"v": 1000}))
        ts = db.latest_ts()
        assert db.wait_for_subscriptions()
        assert [s.result for s in subs] == [1000, 1001, 1002]
        assert seen == [ts, ts, ts] and batches == [ts] and db.subscriptions.stats.reruns == 3
    finally:
        db.close()


def test_a_query_that_starts_failing_keeps_its_result_reports_and_recovers():
    db = engine.open_database(None, physical_clock=FakePhysicalClock(), subscriptions="inline")
    try:
        slots = seed_database(db)
        calls = []

        def ratio(tx):
            d = tx.get(slots[0])
            return 100 // d["v"]  # raises ZeroDivisionError when v == 0

        db.mutate(lambda tx: tx.patch(slots[0], {"v": 4}))
        h = db.subscribe(ratio, on_change=lambda r, ts: calls.append(r))
        assert h.result == 25
        db.mutate(lambda tx: tx.patch(slots[0], {"v": 0}))
        assert db.wait_for_subscriptions()
        assert isinstance(h.error, ZeroDivisionError) and h.result == 25 and calls == []
        db.mutate(lambda tx: tx.patch(slots[1], {"v": 9}))  # unrelated: no re-run
        assert db.wait_for_subscriptions()
        runs_before = db.subscriptions.stats.reruns
        db.mutate(lambda tx: tx.patch(slots[0], {"v": 5}))
        assert db.wait_for_subscriptions()
        assert h.error is None and h.result == 20 and calls == [20]
        assert db.subscriptions.stats.reruns == runs_before + 1
        assert len(db.subscriptions.errors) == 1
        db.subscriptions.check_invariants()
    finally:
        db.close()


def test_wait_processed_reports_a_timeout_and_done():
    db = engine.open_database(None, physical_clock=FakePhysicalClock(), subscriptions="thread")
    try:
        slots = seed_database(db)
        db.subscribe(lambda tx: tx.get(slots[0])["v"])
        far = db.latest_ts() + (3_600_000 << 16)
        assert db.subscriptions.wait_processed(far, timeout=0.05) is WaitOutcome.TIMED_OUT
        db.mutate(lambda tx: tx.patch(slots[0], {"v": 3}))
        assert db.subscriptions.wait_processed(db.latest_ts(), timeout=10) is WaitOutcome.DONE
        assert db.subscriptions.delivered_ts == db.latest_ts()
    finally:
        db.close()
    assert db.subscriptions.wait_processed(far, timeout=0.05) is WaitOutcome.STOPPED


def test_cancel_while_the_worker_holds_a_batch_means_no_callback():
    hooks = HookController()
    db = engine.open_database(None, physical_clock=FakePhysicalClock(), subscriptions="thread", hooks=hooks)
    try:
        slots = seed_database(db)
        calls = []
        h = db.subscribe(lambda tx: tx.get(slots[0])["v"], on_change=lambda r, ts: calls.append(r))
        hooks.pause("subscriptions.after_match")
        db.mutate(lambda tx: tx.patch(slots[0], {"v": 41}))
        assert hooks.wait_reached("subscriptions.after_match")  # matched, not yet re-run
        h.cancel()
        hooks.release("subscriptions.after_match")
        assert db.wait_for_subscriptions()
        assert calls == [] and not h.active and db.subscriptions.live() == 0
        db.subscriptions.check_invariants()
    finally:
        hooks.release("subscriptions.after_match")
        db.close()


def test_a_commit_during_a_rerun_is_matched_against_the_refreshed_read_set():
    """While a batch is held between matching and re-running, another commit changes the document the
    query will read next: the next batch must stab the read set the re-run registered, and deliver."""
    hooks = HookController()
    db = engine.open_database(None, physical_clock=FakePhysicalClock(), subscriptions="thread", hooks=hooks)
    try:
        slots = seed_database(db)
        calls = []
        # Reads slots[0]; when its v is 100 it also reads slots[1] (the read set grows on the re-run).
        h = db.subscribe(lambda tx: (lambda a: a if a != 100 else a + tx.get(slots[1])["v"])(tx.get(slots[0])["v"]),
                         on_change=lambda r, ts: calls.append((r, ts)))
        hooks.pause("subscriptions.after_match")
        db.mutate(lambda tx: tx.patch(slots[0], {"v": 100}))
        t1 = db.latest_ts()
        assert hooks.wait_reached("subscriptions.after_match")
        db.mutate(lambda tx: tx.patch(slots[1], {"v": 5}))  # not in the old read set; in the new one
        t2 = db.latest_ts()
        hooks.release("subscriptions.after_match")
        assert db.wait_for_subscriptions()
        # The first batch re-ran at t1 (before the second commit): 100 + slots[1]'s old v; the second
        # batch saw the write through the refreshed read set.
        assert calls[0][1] == t1 and calls[-1] == (105, t2) and h.result == 105
        db.subscriptions.check_invariants()
    finally:
        hooks.release("subscriptions.after_match")
        db.close()
