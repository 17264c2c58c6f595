"""Contract of the shared LMDB environment (``engine.lmdb_env``): the "lmdb" log and the "lmdb-btree"
index store in one environment, and ``append_staged`` + ``stage_batch`` writing a batch of both in one
transaction, all or nothing. Real LMDB files; the kernels ENGINE_IMPL selects."""
from __future__ import annotations

import pytest

from engine import _impl
from engine.index.base import IndexConfig
from engine.index.lmdb_btree import LmdbBTreeStore
from engine.lmdb_env import SharedLmdbEnv
from engine.model.errors import PersistenceError
from engine.model.types import Timestamp
from engine.persistence.base import CommitRecord, DocumentWrite, PersistenceConfig
from engine.persistence.lmdb_store import LmdbPersistence


@pytest.fixture
def pair(tmp_path):
    """The two stores in one environment, with the ENGINE_IMPL kernels (reference or Cython twins)."""
    shared = SharedLmdbEnv(str(tmp_path / "env"), map_size=1 << 26, max_readers=16, durable=True)
    log = LmdbPersistence(PersistenceConfig(path=None, durability="full"), codec=_impl.resolve("record")[1],
                          shared_env=shared)
    store = LmdbBTreeStore(IndexConfig(path=shared.path), kernel=_impl.resolve("mvcc_lmdb")[1], shared_env=shared)
    yield shared, log, store
    store.close()
    log.close()
    shared.close()


def _rec(ts: int) -> CommitRecord:
    return CommitRecord(Timestamp(ts), "w", (DocumentWrite("t", f"id{ts}", b"v%d" % ts, None),))


def _reopen(tmp_path, kernel=None):
    shared = SharedLmdbEnv(str(tmp_path / "env"), map_size=1 << 26, max_readers=16, durable=True)
    return shared, LmdbPersistence(PersistenceConfig(durability="full"), shared_env=shared), \
        LmdbBTreeStore(IndexConfig(path=shared.path), kernel=kernel, shared_env=shared)


def test_a_staged_append_commits_the_log_and_the_indexes_together(pair, tmp_path):
    shared, log, store = pair
    before = shared.env.info()["last_txnid"]
    log.append_staged([_rec(1), _rec(2)], store.stage_batch([(1, {7: [(b"a", b"x")]}), (2, {7: [(b"a", None)]})]))
    assert shared.env.info()["last_txnid"] == before + 1
    assert log.max_ts() == 2 and store.applied_ts() == 2 and 7 in store.index_ids()
    assert store.open_index(7).get(b"a", Timestamp(1)) == b"x" and store.open_index(7).get(b"a", Timestamp(2)) is None
    log.check_invariants()
    store.check_invariants()
    store.close(), log.close(), shared.close()
    shared, log, store = _reopen(tmp_path, store.kernel)
    try:  # both formats and both parts survive, in their own sub-databases
        assert [r.ts for r in log.load_log()] == [1, 2] and store.applied_ts() == 2
        assert store.open_index(7).versions(b"a") == [(2, None), (1, b"x")]
        log.check_invariants()
        store.check_invariants()
    finally:
        store.close(), log.close(), shared.close()


def test_a_stage_that_fails_after_writing_aborts_the_log_records_too(pair):
    shared, log, store = pair
    log.append_staged([_rec(1)], store.stage_batch([(1, {7: [(b"a", b"x")]})]))
    real = store.stage_batch([(2, {7: [(b"a", b"y")], 8: [(b"b", b"z")]})])

    def failing(txn):
        real(txn)
        raise OSError("disk full")

    with pytest.raises(OSError):
        log.append_staged([_rec(2)], failing)
    assert log.max_ts() == 1 and [r.ts for r in log.load_log()] == [1]
    assert store.applied_ts() == 1 and store.index_ids() == [7]
    assert store.open_index(7).get(b"a", Timestamp(5)) == b"x" and store.open_index(8).get(b"b", Timestamp(5)) is None
    log.check_invariants()
    store.check_invariants()


def test_an_index_batch_the_store_refuses_writes_no_log_record(pair):
    shared, log, store = pair
    log.append_staged([_rec(3)], store.stage_batch([(3, {7: [(b"a", b"x")]})]))
    with pytest.raises(ValueError):  # index ts not above applied_ts: the store's validation refuses it
        log.append_staged([_rec(4)], store.stage_batch([(3, {7: [(b"a", b"y")]})]))
    assert log.max_ts() == 3 and store.applied_ts() == 3
    with pytest.raises(PersistenceError):  # and a log order error leaves the indexes alone
        log.append_staged([_rec(2)], store.stage_batch([(4, {7: [(b"a", b"y")]})]))
    assert log.max_ts() == 3 and store.applied_ts() == 3
    assert store.open_index(7).versions(b"a") == [(3, b"x")]


def test_the_stores_own_writes_still_work_in_the_shared_environment(pair):
    shared, log, store = pair
    store.apply_batch([(1, {7: [(b"a", b"x")]})])
    log.append([_rec(1)])
    log.append_staged([_rec(2)], store.stage_batch([(2, {7: [(b"a", b"y")]})]))
    log.put_global("g", b"1")
    log.bump_max_ts(Timestamp(9))
    store.put_meta("m", b"2")
    assert store.gc(Timestamp(2)) == 1
    store.drop_index(7)
    assert log.get_global("g") == b"1" and log.max_ts() == 9 and store.get_meta("m") == b"2"
    assert store.index_ids() == [] and store.applied_ts() == 2
    log.check_invariants()
    store.check_invariants()


def test_staging_needs_a_shared_environment(tmp_path):
    log = LmdbPersistence(PersistenceConfig(path=str(tmp_path / "log")))
    store = LmdbBTreeStore(IndexConfig(path=str(tmp_path / "ix")))
    try:
        with pytest.raises(ValueError):
            store.stage_batch([(1, {7: [(b"a", b"x")]})])
        with pytest.raises(ValueError):
            log.append_staged([_rec(1)], lambda txn: (lambda: None))
        assert log.max_ts() == 0
    finally:
        store.close()
        log.close()
