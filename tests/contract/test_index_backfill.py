"""Contract for ``IndexStore.backfill`` (adding an index to a table with data), on every strategy."""
from __future__ import annotations

import pytest

from engine.index.base import IndexConfig
from engine.index.registry import INDEX_STRATEGIES
from engine.model.types import Interval


@pytest.fixture(params=sorted(INDEX_STRATEGIES))
def store(request, tmp_path):
    s = INDEX_STRATEGIES[request.param](IndexConfig(path=str(tmp_path / "ix")))
    yield s
    s.close()


def test_backfill_writes_history_below_applied_ts_and_keeps_it(store):
    store.apply_batch([(10, {1: [(b"a\x00", b"1")]}), (20, {1: [(b"b\x00", b"2")]})])
    store.backfill(2, [(5, [(b"x\x00", b"old")]), (15, [(b"x\x00", b"new"), (b"y\x00", b"y")]), (18, [(b"y\x00", None)])])
    ix = store.open_index(2)
    assert ix.get(b"x\x00", 10) == b"old" and ix.get(b"x\x00", 20) == b"new" and ix.get(b"x\x00", 4) is None
    assert list(ix.scan(Interval.all(), 16)) == [(b"x\x00", b"new"), (b"y\x00", b"y")]
    assert list(ix.scan(Interval.all(), 20)) == [(b"x\x00", b"new")]
    assert store.applied_ts() == 20
    assert store.open_index(1).get(b"a\x00", 20) == b"1"
    store.check_invariants()


def test_backfill_refuses_a_non_empty_index_or_bad_order_and_writes_nothing(store):
    store.apply_batch([(10, {1: [(b"a\x00", b"1")]})])
    with pytest.raises(ValueError):
        store.backfill(1, [(5, [(b"z\x00", b"z")])])
    with pytest.raises(ValueError):
        store.backfill(2, [(5, [(b"z\x00", b"z")]), (5, [(b"w\x00", b"w")])])
    with pytest.raises(ValueError):
        store.backfill(2, [(11, [(b"z\x00", b"z")])])
    assert store.open_index(2).versions(b"z\x00") == [] and store.open_index(1).versions(b"z\x00") == []
    store.check_invariants()
