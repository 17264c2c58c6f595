"""The batched document read path against a plain-Python model, across scan batch boundaries.

Queries read decoded documents a batch at a time (``Transaction.scan_batches`` over the index stores'
``scan_documents``; the query builder takes whole batches when it has no filter, and sizes the first batch
to its limit). These tests hold more documents than one batch (``engine.index.base.SCAN_BATCH``) and
check, for every strategy combination, that ``collect``/``take``/``first``/``paginate``, both orders,
with and without a filter, through ``by_creation_time``, ``by_id`` and a user index, return exactly what
a model computed from the documents says - also inside a transaction whose own inserts, moves (an index
key changed by a patch) and deletes must be overlaid on the snapshot - and that the recorded read
interval ends at the last key examined.
"""
from __future__ import annotations

import pytest

from engine import define_schema, define_table, v
from engine.index.base import SCAN_BATCH

N = SCAN_BATCH * 2 + 37  # three batches, the last one partial
SCHEMA = define_schema({"items": define_table({"k": v.int64(), "odd": v.boolean()}).index("by_k", ["k"])})


@pytest.fixture
def db(open_db):
    return open_db(schema=SCHEMA)


def _seed(db) -> list[str]:
    def fill(tx):
        return [tx.insert("items", {"k": (i * 7919) % N, "odd": i % 2 == 1}) for i in range(N)]
    return db.mutate(fill)


def _order(docs: list[dict], index: str, reverse: bool) -> list[dict]:
    if index == "by_id":
        key = lambda d: d["_id"]  # noqa: E731 - ids sort like their key encoding (same-length strings)
    elif index == "by_k":
        key = lambda d: (d["k"], d["_creationTime"], d["_id"])  # noqa: E731
    else:
        key = lambda d: (d["_creationTime"], d["_id"])  # noqa: E731
    return sorted(docs, key=key, reverse=reverse)


def _query(tx, index: str, reverse: bool, odd_only: bool):
    q = tx.query("items")
    if index != "by_creation_time":
        q = q.with_index(index)
    q = q.order("desc" if reverse else "asc")
    if odd_only:
        q = q.filter(lambda d: d["odd"])
    return q


CASES = [(index, reverse, odd) for index in ("by_creation_time", "by_id", "by_k")
         for reverse in (False, True) for odd in (False, True)]


@pytest.mark.parametrize("index,reverse,odd_only", CASES)
def test_queries_match_the_model_across_batches(db, index, reverse, odd_only):
    _seed(db)

    def run(tx):
        everything = [tx.get(i) for i in [d["_id"] for d in _query(tx, index, False, False).collect()]]
        want = [d for d in _order(everything, index, reverse) if d["odd"] or not odd_only]
        assert _query(tx, index, reverse, odd_only).collect() == want
        for n in (0, 1, 99, SCAN_BATCH - 1, SCAN_BATCH, SCAN_BATCH + 1, N):
            assert _query(tx, index, reverse, odd_only).take(n) == want[:n], n
        assert _query(tx, index, reverse, odd_only).first() == want[0]
        pages, cursor, done = [], None, False
        while not done:
            page = _query(tx, index, reverse, odd_only).paginate(100, cursor)
            pages += page.page
            cursor, done = page.continue_cursor, page.is_done
        assert pages == want
        return len(want)

    assert db.read(run) == (N // 2 if odd_only else N)


@pytest.mark.parametrize("index,reverse,odd_only", CASES)
def test_own_writes_are_overlaid_on_every_batch(db, index, reverse, odd_only):
    ids = _seed(db)

    def run(tx):
        for i in ids[::50]:
            tx.delete(i)
        for i in ids[7::61]:
            tx.patch(i, {"k": N + 5, "odd": True})  # moves the document to the end of by_k
        new_ids = [tx.insert("items", {"k": j * 131, "odd": j % 2 == 1}) for j in range(5)]
        every = [d for d in (tx.get(i) for i in ids + new_ids) if d is not None]
        assert len(every) == N - len(ids[::50]) + 5
        want = [d for d in _order(every, index, reverse) if d["odd"] or not odd_only]
        assert _query(tx, index, reverse, odd_only).collect() == want
        for n in (1, SCAN_BATCH, SCAN_BATCH + 3, N + 10):
            assert _query(tx, index, reverse, odd_only).take(n) == want[:n], n
        raise _Rollback()

    with pytest.raises(_Rollback):
        db.mutate(run)


class _Rollback(Exception):
    """Raised to leave a mutation without committing it."""


def test_take_records_up_to_the_last_key_examined(db):
    _seed(db)
    tx = db.begin()
    docs = tx.query("items").take(SCAN_BATCH + 1)
    ix = tx.catalog.index("items", "by_creation_time")
    last_key = tx.keys.index_key(ix, docs[-1])
    after = tx.query("items").take(SCAN_BATCH + 2)[-1]
    tx2 = db.begin()
    tx2.query("items").take(SCAN_BATCH + 1)
    assert tx2.read_set.contains(ix.index_id, last_key)
    assert not tx2.read_set.contains(ix.index_id, tx.keys.index_key(ix, after))
    tx.abort()
    tx2.abort()


@pytest.mark.parametrize("n", [1, 3, SCAN_BATCH - 1])
def test_a_short_take_records_exactly_its_rows_and_a_range_read_to_its_end_records_it_whole(db, n):
    # take(n) below one batch is served by one native call (Transaction.scan_first): the read set must
    # still end at the n-th key, and a take that runs off the end of its range must cover the whole range.
    _seed(db)
    tx = db.begin()
    ix = tx.catalog.index("items", "by_creation_time")
    docs = tx.query("items").take(n + 1)
    tx.abort()
    tx = db.begin()
    got = tx.query("items").take(n)
    assert got == docs[:n]
    assert tx.read_set.contains(ix.index_id, tx.keys.index_key(ix, got[-1]))
    assert not tx.read_set.contains(ix.index_id, tx.keys.index_key(ix, docs[n]))
    tx.abort()

    newest = db.read(lambda t: t.query("items").order("desc").take(3))[::-1]   # the three newest, ascending
    tx = db.begin()
    beyond = tx.keys.codec.index_key((newest[-1]["_creationTime"] + 1.0,), newest[0]["_id"])

    def tail(q):
        return q.gte("_creationTime", newest[0]["_creationTime"])
    assert tx.query("items").with_index("by_creation_time", tail).take(n + 3) == newest  # runs off the end
    assert tx.read_set.contains(ix.index_id, beyond)
    tx.abort()
    tx = db.begin()
    assert tx.query("items").with_index("by_creation_time", tail).take(2) == newest[:2]  # stops inside
    assert not tx.read_set.contains(ix.index_id, tx.keys.index_key(ix, newest[2]))
    assert not tx.read_set.contains(ix.index_id, beyond)
    tx.abort()
