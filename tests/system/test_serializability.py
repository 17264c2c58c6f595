"""Stateful serializability oracle over random interleavings (see engine.testing.serializability).

Every committed history must equal a serial execution in commit-timestamp order and lose no committed
write, and no abort may be false: each aborted attempt must have had a write overlapping its read set in
its window (exact range OCC). Semantic false conflicts (a real key conflict whose write did not change what
the program saw) are counted and reported as a metric, never a failure. Each test is self-contained: it
runs its own histories and checks their totals itself.
"""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine.clock.hlc import FakePhysicalClock
from engine.testing.serializability import check_serializable, program_strategy, run_schedule, seed_database

def interleaving(programs):
    """Strategy: a permutation of [i] * (len(program_i) + 2)."""
    steps = [i for i, p in enumerate(programs) for _ in range(len(p) + 2)]
    return st.permutations(steps)


def run_one(data, db_factory):
    db = db_factory()
    try:
        slots = seed_database(db)
        seed_ts = db.latest_ts()
        programs = data.draw(st.lists(program_strategy(), min_size=2, max_size=5), label="programs")
        schedule = data.draw(interleaving(programs), label="schedule")
        runs = run_schedule(db, slots, programs, schedule)
        report = check_serializable(db, slots, runs, seed_ts)
        db.check_invariants()
        return report
    finally:
        db.close()


def memory_db(interval_set_cls=None):
    def factory():
        db = engine.open_database(None, physical_clock=FakePhysicalClock(), subscriptions="inline", seed=7)
        if interval_set_cls is not None:
            db._interval_set_cls = interval_set_cls
        return db
    return factory


def test_committed_histories_are_serial_in_commit_order_and_no_abort_is_false(record_property):
    """300 random histories on memory (each checked both ways by ``check_serializable``). The schedules
    must also produce contention (aborts), or the oracle proved nothing about OCC; the totals are recorded
    as metrics."""
    totals = {"committed": 0, "aborted": 0, "false_conflicts": 0, "false_aborts": 0, "histories": 0}

    @settings(max_examples=300)
    @given(st.data())
    def history(data):
        report = run_one(data, memory_db())
        totals["committed"] += report.committed
        totals["aborted"] += report.aborted
        totals["false_conflicts"] += report.false_conflicts
        totals["false_aborts"] += report.false_aborts
        totals["histories"] += 1

    history()
    for name, value in totals.items():
        record_property(name, value)
    assert totals["histories"] >= 100, totals
    assert totals["aborted"] > 0, totals


@settings(max_examples=60)
@given(data=st.data())
def test_serializability_on_lmdb_files(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("ser")

    def factory():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        return engine.open_database(path, physical_clock=FakePhysicalClock(), subscriptions="inline",
                                    durability="none", seed=3)

    run_one(data, factory)
