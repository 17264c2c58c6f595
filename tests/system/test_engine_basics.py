"""The embedded engine end to end, on every persistence x index combination: documents, queries,
read-your-writes, indexes, pagination, time travel, history, the log, stats, reopen."""
from __future__ import annotations

import math

import pytest

import engine
from engine import UNDEFINED, define_schema, define_table, v
from engine.conflict.base import Verdict
from tests.system.conftest import COMBOS


def insert_many(db, table, docs):
    return db.mutate(lambda tx: [tx.insert(table, d) for d in docs])


def test_insert_get_patch_replace_delete_round_trip(db):
    doc_id = db.mutate(lambda tx: tx.insert("notes", {"title": "a", "n": 1, "tags": ["x"], "blob": b"\x00\x01"}))
    doc = db.read(lambda tx: tx.get(doc_id))
    assert doc["_id"] == doc_id and doc["title"] == "a" and doc["n"] == 1 and doc["blob"] == b"\x00\x01"
    assert isinstance(doc["_creationTime"], float)
    db.mutate(lambda tx: tx.patch(doc_id, {"n": 2, "tags": UNDEFINED}))
    doc2 = db.read(lambda tx: tx.get(doc_id))
    assert doc2["n"] == 2 and "tags" not in doc2 and doc2["title"] == "a"
    assert doc2["_creationTime"] == doc["_creationTime"]
    db.mutate(lambda tx: tx.replace(doc_id, {"only": True}))
    doc3 = db.read(lambda tx: tx.get(doc_id))
    assert {k: v for k, v in doc3.items() if not k.startswith("_")} == {"only": True}
    db.mutate(lambda tx: tx.delete(doc_id))
    assert db.read(lambda tx: tx.get(doc_id)) is None
    with pytest.raises(engine.DocumentNotFoundError):
        db.mutate(lambda tx: tx.patch(doc_id, {"n": 3}))


def test_int_and_float_stay_distinct_types(db):
    doc_id = db.mutate(lambda tx: tx.insert("t", {"i": 1, "f": 1.0, "nan": math.nan, "neg0": -0.0, "big": 2**62}))
    doc = db.read(lambda tx: tx.get(doc_id))
    assert type(doc["i"]) is int and type(doc["f"]) is float
    assert math.isnan(doc["nan"]) and math.copysign(1, doc["neg0"]) == -1 and doc["big"] == 2**62


def test_transaction_reads_its_own_writes_in_gets_and_queries(db):
    keep = db.mutate(lambda tx: tx.insert("m", {"ch": "a", "n": 1}))
    gone = db.mutate(lambda tx: tx.insert("m", {"ch": "a", "n": 2}))
    moved = db.mutate(lambda tx: tx.insert("m", {"ch": "a", "n": 3}))
    db.set_schema(define_schema({"m": define_table({"ch": v.string(), "n": v.int64()}).index("by_ch", ["ch", "n"])}))

    def body(tx):
        new = tx.insert("m", {"ch": "a", "n": 0})
        tx.delete(gone)
        tx.patch(moved, {"ch": "b"})
        tx.patch(keep, {"n": 10})
        in_a = [d["n"] for d in tx.query("m").with_index("by_ch", lambda q: q.eq("ch", "a")).collect()]
        in_b = [d["n"] for d in tx.query("m").with_index("by_ch", lambda q: q.eq("ch", "b")).collect()]
        desc = [d["n"] for d in tx.query("m").with_index("by_ch", lambda q: q.eq("ch", "a")).order("desc").collect()]
        assert tx.get(new)["n"] == 0 and tx.get(gone) is None
        return in_a, in_b, desc

    in_a, in_b, desc = db.mutate(body)
    assert in_a == [0, 10] and in_b == [3] and desc == [10, 0]
    # and after commit, everyone sees the same
    assert [d["n"] for d in db.read(lambda tx: tx.query("m").with_index("by_ch", lambda q: q.eq("ch", "a")).collect())] == [0, 10]


def test_index_ranges_order_take_first_unique(db):
    db.set_schema(define_schema({"p": define_table({"x": v.int64(), "y": v.string()}).index("by_x_y", ["x", "y"])}))
    insert_many(db, "p", [{"x": x, "y": y} for x in range(5) for y in "ab"])

    rd = lambda build: db.read(build)  # noqa: E731
    got = rd(lambda tx: [(d["x"], d["y"]) for d in tx.query("p").with_index("by_x_y", lambda q: q.gte("x", 1).lt("x", 3)).collect()])
    assert got == [(1, "a"), (1, "b"), (2, "a"), (2, "b")]
    got = rd(lambda tx: [(d["x"], d["y"]) for d in tx.query("p").with_index("by_x_y", lambda q: q.gt("x", 1).lte("x", 3)).order("desc").collect()])
    assert got == [(3, "b"), (3, "a"), (2, "b"), (2, "a")]
    got = rd(lambda tx: [(d["x"], d["y"]) for d in tx.query("p").with_index("by_x_y", lambda q: q.eq("x", 4).gt("y", "a")).collect()])
    assert got == [(4, "b")]
    assert rd(lambda tx: [d["x"] for d in tx.query("p").with_index("by_x_y").take(3)]) == [0, 0, 1]
    assert rd(lambda tx: tx.query("p").with_index("by_x_y", lambda q: q.eq("x", 9)).first()) is None
    assert rd(lambda tx: tx.query("p").with_index("by_x_y", lambda q: q.eq("x", 2).eq("y", "b")).unique())["y"] == "b"
    with pytest.raises(engine.QueryError):
        rd(lambda tx: tx.query("p").with_index("by_x_y", lambda q: q.eq("x", 2)).unique())
    assert rd(lambda tx: [d["x"] for d in tx.query("p").filter(lambda d: d["y"] == "b").take(2)]) == [0, 1]
    # a plain query walks by_creation_time: insertion order
    assert rd(lambda tx: [(d["x"], d["y"]) for d in tx.query("p").collect()])[:3] == [(0, "a"), (0, "b"), (1, "a")]


def test_bad_range_expressions_are_clear_errors(db):
    db.set_schema(define_schema({"p": define_table({"x": v.int64(), "y": v.string()}).index("by_x_y", ["x", "y"])}))
    bad = [
        lambda q: q.eq("y", "a"),              # skips x
        lambda q: q.gt("x", 1).eq("y", "a"),   # eq after a range
        lambda q: q.gt("x", 1).gte("x", 2),    # two lower bounds
        lambda q: q.eq("x", 1).lt("x", 3),     # range on a field already fixed
        lambda q: None,                         # does not return the range
    ]
    for fn in bad:
        with pytest.raises(engine.QueryError):
            db.read(lambda tx: tx.query("p").with_index("by_x_y", fn).collect())
    with pytest.raises(engine.UnknownIndexError):
        db.read(lambda tx: tx.query("p").with_index("nope").collect())


def test_paginate_walks_everything_once_in_both_orders(db):
    ids = insert_many(db, "items", [{"n": i} for i in range(23)])
    for order in ("asc", "desc"):
        seen, cursor, pages = [], None, 0
        while True:
            page = db.read(lambda tx: tx.query("items").order(order).paginate(5, cursor))
            seen += [d["n"] for d in page.page]
            cursor = page.continue_cursor
            pages += 1
            if page.is_done:
                break
        assert seen == (list(range(23)) if order == "asc" else list(range(22, -1, -1)))
        assert pages in (5, 6)
    assert len(ids) == 23
    with pytest.raises(engine.QueryError):
        db.read(lambda tx: tx.query("items").order("desc").paginate(5, db.read(lambda tx: tx.query("items").paginate(5)).continue_cursor))
    with pytest.raises(engine.QueryError):
        db.read(lambda tx: tx.query("items").paginate(5, "!!not-a-cursor"))


def test_query_of_a_table_never_written_is_empty(db):
    assert db.read(lambda tx: tx.query("ghosts").collect()) == []
    assert db.read(lambda tx: tx.query("ghosts").first()) is None


def test_time_travel_history_and_log(db):
    doc_id = db.mutate(lambda tx: tx.insert("c", {"n": 0}), name="create")
    stamps = [db.latest_ts()]
    for i in range(1, 4):
        db.mutate(lambda tx, i=i: tx.patch(doc_id, {"n": i}), name="bump")
        stamps.append(db.latest_ts())
    db.mutate(lambda tx: tx.delete(doc_id), name="remove")
    for i, ts in enumerate(stamps):
        assert db.read(lambda tx: tx.get(doc_id), at=ts)["n"] == i
    assert db.read(lambda tx: tx.get(doc_id)) is None
    hist = db.history(doc_id)
    assert [h.value["n"] if h.value else None for h in hist] == [0, 1, 2, 3, None]
    assert [h.ts for h in hist[:4]] == stamps
    entries = list(db.log(stamps[0]))
    assert [e.writer for e in entries] == ["create", "bump", "bump", "bump", "remove"]
    assert entries[1].writes[0].prev_ts == stamps[0] and entries[0].writes[0].prev_ts is None
    assert entries[-1].writes[0].value is None
    assert list(db.log(stamps[1], stamps[3])) == entries[1:3]
    with pytest.raises(ValueError):
        db.read(lambda tx: tx.get(doc_id), at=db.latest_ts() + 1)


def test_creation_times_strictly_increase_within_a_transaction(db, clock):
    ids = db.mutate(lambda tx: [tx.insert("t", {"i": i}) for i in range(50)])
    times = [db.read(lambda tx, d=d: tx.get(d)["_creationTime"]) for d in ids]
    assert all(a < b for a, b in zip(times, times[1:]))
    assert times[0] >= clock.ms


def test_gc_keeps_retained_snapshots_and_refuses_older_ones(db):
    doc_id = db.mutate(lambda tx: tx.insert("c", {"n": 0}))
    stamps = [db.latest_ts()]
    for i in range(1, 5):
        db.mutate(lambda tx, i=i: tx.patch(doc_id, {"n": i}))
        stamps.append(db.latest_ts())
    removed = db.gc(stamps[2])
    assert removed >= 2
    for i in (2, 3, 4):
        assert db.read(lambda tx: tx.get(doc_id), at=stamps[i])["n"] == i
    with pytest.raises(engine.TooOldError):
        db.read(lambda tx: tx.get(doc_id), at=stamps[1])
    assert db.verify().ok


def test_stats_count_commits_conflicts_and_retries(db):
    doc_id = db.mutate(lambda tx: tx.insert("c", {"n": 0}))
    tx1 = db.begin()
    tx2 = db.begin()
    tx1.patch(doc_id, {"n": tx1.get(doc_id)["n"] + 1})
    tx2.patch(doc_id, {"n": tx2.get(doc_id)["n"] + 1})
    first = db.commit(tx1)
    second = db.commit(tx2)
    assert first.verdict is Verdict.COMMIT
    assert second.verdict is Verdict.CONFLICT
    c = second.conflict
    assert c.table == "c" and c.document_id == doc_id and c.ts == first.ts
    st = db.stats()
    assert st["commits"] == 2 and st["conflicts"] == 1


@pytest.mark.parametrize("combo", [c for c in COMBOS if c[0] != "memory"], ids=lambda c: f"{c[0]}+{c[1]}")
def test_reopen_keeps_everything_and_timestamps_move_forward(open_db, clock):
    db = open_db()
    db.set_schema(define_schema({"m": define_table({"ch": v.string()}).index("by_ch", ["ch"])}))
    ids = insert_many(db, "m", [{"ch": c} for c in "abcab"])
    before = db.latest_ts()
    db.close()
    clock.set(clock.ms - 3_600_000)  # the wall clock went back an hour across the restart
    db2 = open_db()
    assert db2.latest_ts() == before
    assert [d["ch"] for d in db2.read(lambda tx: tx.query("m").with_index("by_ch", lambda q: q.eq("ch", "a")).collect())] == ["a", "a"]
    new = db2.mutate(lambda tx: tx.insert("m", {"ch": "z"}))
    assert db2.latest_ts() > before
    assert db2.read(lambda tx: tx.get(ids[0]))["ch"] == "a" and db2.read(lambda tx: tx.get(new))["ch"] == "z"
    assert db2.verify().ok
    db2.check_invariants()


def test_adding_an_index_backfills_full_history(db):
    ids = insert_many(db, "m", [{"ch": "a"}, {"ch": "b"}])
    t_before = db.latest_ts()
    db.mutate(lambda tx: tx.patch(ids[1], {"ch": "a"}))
    db.set_schema(define_schema({"m": define_table({"ch": v.string()}).index("by_ch", ["ch"])}))
    by_ch = lambda tx: [d["_id"] for d in tx.query("m").with_index("by_ch", lambda q: q.eq("ch", "a")).collect()]  # noqa: E731
    assert db.read(by_ch) == ids
    assert db.read(by_ch, at=t_before) == ids[:1]
    assert db.verify().ok
    db.check_invariants()


def test_verify_detects_an_index_that_disagrees_with_the_log(db):
    doc_id = db.mutate(lambda tx: tx.insert("m", {"ch": "a"}))
    assert db.verify().ok
    # Corrupt the live by_creation_time index behind the engine's back: empty it.
    ix = db.catalog.table("m").indexes["by_creation_time"]
    db._index_store.drop_index(ix.index_id)
    db._views.pop(ix.index_id, None)
    report = db.verify()
    assert not report.ok and "m.by_creation_time" in report.problems[0]


def test_transaction_older_than_the_write_window_is_too_old_and_mutate_retries_it(clock):
    db = engine.open_database(None, physical_clock=clock, subscriptions="inline", write_window_ms=10)
    try:
        doc_id = db.mutate(lambda tx: tx.insert("c", {"n": 0}))
        old = db.begin()
        old.patch(doc_id, {"n": old.get(doc_id)["n"] + 1})
        for _ in range(3):  # unrelated commits, each a second later: the window forgets old history
            clock.advance(1000)
            db.mutate(lambda tx: tx.insert("other", {}))
        outcome = db.commit(old)
        assert outcome.verdict is Verdict.TOO_OLD and outcome.conflict is None
        assert db.stats()["too_old"] == 1
        # mutate() treats TOO_OLD like a conflict: it retries at a fresh snapshot and succeeds
        calls = []

        def slow_bump(tx):
            calls.append(tx.begin_ts)
            n = tx.get(doc_id)["n"]
            if len(calls) == 1:
                for _ in range(3):
                    clock.advance(1000)
                    db.mutate(lambda t: t.insert("other", {}))
            tx.patch(doc_id, {"n": n + 1})

        out = db.run_mutation(slow_bump)
        assert [a.verdict for a in out.attempts] == [Verdict.TOO_OLD, Verdict.COMMIT]
        assert db.read(lambda tx: tx.get(doc_id))["n"] == 1
    finally:
        db.close()
