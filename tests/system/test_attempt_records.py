"""``AttemptRecord``s built lazily by the mutation runner read exactly as eagerly built ones.

The runner records every attempt of every mutation but materializes an attempt's read and write sets only
when someone looks (``AttemptRecord.lazy``). These tests pin down that the lazy record is
indistinguishable from the eager one: same values, equal to it, immutable, and unaffected by what happens
after the attempt (a retry's reads do not leak into the failed attempt's record).
"""
from __future__ import annotations

import pytest

import engine
from engine.clock.hlc import FakePhysicalClock
from engine.conflict.base import Verdict
from engine.database.records import AttemptMode, AttemptRecord


@pytest.fixture
def db(tmp_path):
    d = engine.open_database(tmp_path / "db", physical_clock=FakePhysicalClock(), subscriptions="inline")
    yield d
    d.close()


def test_a_lazy_attempt_record_equals_the_eager_one_and_is_immutable(db):
    a = db.mutate(lambda tx: tx.insert("t", {"n": 1}))
    b = db.mutate(lambda tx: tx.insert("t", {"n": 2}))

    def bump(tx):
        tx.patch(a, {"n": tx.get(a)["n"] + tx.get(b)["n"]})
        tx.insert("t", {"n": 0})
        return len(tx.query("t").collect())

    out = db.run_mutation(bump, name="bump")
    (rec,) = out.attempts
    tx = db.begin()
    bump(tx)
    eager = AttemptRecord(rec.begin_ts, rec.verdict, rec.commit_ts, rec.conflict, tx.read_set.intervals(),
                          tx.write_set())
    tx.abort()
    # Same shape of reads and writes as an identical transaction run by hand (ids differ for the insert).
    assert list(rec.read_set) == list(eager.read_set) == ["t.by_creation_time", "t.by_id"]
    assert [w[:2] for w in rec.write_set] == [("update", "t"), ("insert", "t")]
    assert rec.write_set[0] == ("update", "t", a)
    assert rec.verdict is Verdict.COMMIT and rec.mode is AttemptMode.OPTIMISTIC
    assert rec == AttemptRecord(rec.begin_ts, rec.verdict, rec.commit_ts, rec.conflict, rec.read_set, rec.write_set)
    assert rec != eager  # the inserted ids differ
    assert "t.by_id" in repr(rec)
    with pytest.raises(AttributeError):
        rec.verdict = Verdict.CONFLICT  # type: ignore[misc]
    with pytest.raises(AttributeError):
        rec.read_set = {}  # type: ignore[misc]


def test_a_conflicted_attempt_keeps_its_own_read_set_after_the_retry(db):
    a = db.mutate(lambda tx: tx.insert("t", {"n": 0}))
    b = db.mutate(lambda tx: tx.insert("t", {"n": 0}))
    calls = []

    def fn(tx):
        calls.append(1)
        if len(calls) == 1:
            tx.get(a)
            db.mutate(lambda t2: t2.patch(a, {"n": 1}))  # commits meanwhile: the first attempt conflicts
        else:
            tx.get(b)
        tx.insert("u", {"k": len(calls)})

    out = db.run_mutation(fn, name="retry")
    first, second = out.attempts
    assert first.verdict is Verdict.CONFLICT and second.verdict is Verdict.COMMIT
    assert first.read_set != second.read_set
    assert first.conflict is not None and first.conflict.document_id == a
    assert [w[:2] for w in first.write_set] == [("insert", "u")]
    assert len(first.read_set["t.by_id"]) == 1 and len(second.read_set["t.by_id"]) == 1
