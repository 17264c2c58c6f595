"""Contract suite for the MVCC index seam, run against every entry of ``INDEX_STRATEGIES``.

One suite, parametrized over strategies and over every built twin of each strategy's kernel, each also in
a variant that reaches internal boundaries with small examples: mem-btree with leaf capacity 4 (splits and
merges) and lmdb-btree with ``skip_limit=0`` (scans seek past every second version instead of stepping).
Every store is wrapped in ``Checked``, which calls ``check_invariants()`` after every store or index call,
so each step of each test also checks the structure.

Example-based by design: each test pins one promise of ``engine.index.base`` with explicit expected
values; the randomized comparison against the model lives in ``tests/differential/test_index_stateful.py``.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

import pytest

from engine._impl import implementations
from engine.model.errors import DatabaseClosedError, IndexKeyTooLargeError
from engine.index.base import IndexConfig, scan_by_batches
from engine.index.base import MAX_KEY_BYTES
from engine.index.registry import INDEX_KERNELS, INDEX_OPTIONS, INDEX_STRATEGIES, open_index_store
from engine.model.types import MAX_TIMESTAMP, Interval

#: (strategy name, kernel implementation, options fields): every registered strategy with default options,
#: once per built twin of its kernel (``engine._impl.implementations``: "py" always, "cy" when built), the
#: twin passed through the registry (``open_index_store(..., kernel=twin)``) as the database opens it.
BOUNDARY_OPTIONS = {"mem-btree": {"leaf_capacity": 4}, "lmdb-btree": {"skip_limit": 0}}
VARIANTS = [(name, impl, fields)
            for name in sorted(INDEX_STRATEGIES)
            for impl in implementations(INDEX_KERNELS[name])
            for fields in ({}, *([BOUNDARY_OPTIONS[name]] if name in BOUNDARY_OPTIONS else []))]


class Checked:
    """Proxy that runs the store's ``check_invariants()`` after every method call (on the store or on an
    index handle obtained through it), until the store is closed through the proxy."""

    def __init__(self, target: Any, store: Any = None, state: dict | None = None) -> None:
        self._target = target
        self._store = store if store is not None else target
        self._state = state if state is not None else {"closed": False}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr) or name == "check_invariants":
            return attr

        def call(*args, **kwargs):
            if name == "close":
                self._state["closed"] = True
            result = attr(*args, **kwargs)
            if name == "open_index":
                result = Checked(result, self._store, self._state)
            if name == "scan":
                result = list(result)
            if not self._state["closed"]:
                self._store.check_invariants()
            return result
        return call


@pytest.fixture(params=VARIANTS, ids=lambda v: f"{v[0]}[{v[1]}]" + "".join(f",{k}={x}" for k, x in v[2].items()))
def opener(request, tmp_path) -> Callable[..., Any]:
    """``opener(**config_overrides)`` opens the strategy at one fixed path (so a second call reopens)."""
    name, impl, fields = request.param
    kernel = implementations(INDEX_KERNELS[name])[impl]
    options = INDEX_OPTIONS[name](**fields)
    opened = []

    def open_(**overrides):
        config = IndexConfig(**{"path": str(tmp_path / "index"), "map_size": 1 << 28, "options": options, **overrides})
        store = open_index_store(name, config, kernel)
        opened.append(store)
        return Checked(store)

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(opener):
    return opener()


KEYS = [b"a", b"b", b"c", b"d"]  # prefix-free


def fill(store, index_id: int = 0, ts: int = 10) -> None:
    """Four keys, one version each, values = key uppercased, at *ts*."""
    store.apply_batch([(ts, {index_id: [(k, k.upper()) for k in KEYS]})])


# -- basics --------------------------------------------------------------------------------------------

def test_fresh_store_is_empty(store):
    assert store.applied_ts() == 0
    assert store.index_ids() == []
    index = store.open_index(7)
    assert store.index_ids() == [7]
    assert index.index_id == 7
    assert index.get(b"a", MAX_TIMESTAMP) is None
    assert index.scan_batch(Interval.all(), MAX_TIMESTAMP, 10) == []
    assert index.scan(Interval.all(), MAX_TIMESTAMP) == []
    assert index.versions(b"a") == []
    assert store.gc(MAX_TIMESTAMP) == 0


def test_get_sees_the_newest_version_at_or_below_the_snapshot(store):
    store.apply_batch([(10, {0: [(b"k", b"v10")]}), (20, {0: [(b"k", b"v20")]})])
    store.apply_batch([(30, {0: [(b"k", b"v30")]})])
    index = store.open_index(0)
    expected = {0: None, 9: None, 10: b"v10", 15: b"v10", 19: b"v10", 20: b"v20", 29: b"v20", 30: b"v30",
                10**9: b"v30", MAX_TIMESTAMP: b"v30"}
    for ts, want in expected.items():
        assert index.get(b"k", ts) == want, ts
    assert index.get(b"other", 30) is None


def test_tombstone_hides_the_key_until_it_is_written_again(store):
    store.apply_batch([(10, {0: [(b"k", b"v1"), (b"j", b"j")]}), (20, {0: [(b"k", None)]}), (30, {0: [(b"k", b"v2")]})])
    index = store.open_index(0)
    assert [index.get(b"k", ts) for ts in (10, 19, 20, 29, 30)] == [b"v1", b"v1", None, None, b"v2"]
    assert index.scan_batch(Interval.all(), 25, 10) == [(b"j", b"j")]
    assert index.scan_batch(Interval.all(), 25, 10, reverse=True) == [(b"j", b"j")]
    assert index.scan_batch(Interval.all(), 15, 10) == [(b"j", b"j"), (b"k", b"v1")]
    assert index.versions(b"k") == [(30, b"v2"), (20, None), (10, b"v1")]


def test_empty_value_is_live_and_distinct_from_a_tombstone(store):
    store.apply_batch([(5, {0: [(b"e", b""), (b"t", None)]})])
    index = store.open_index(0)
    assert index.get(b"e", 5) == b""
    assert index.get(b"t", 5) is None
    assert index.scan_batch(Interval.all(), 5, 10) == [(b"e", b"")]
    assert index.versions(b"t") == [(5, None)]  # a tombstone for a never-written key is still a version


def test_two_writes_to_one_key_in_one_commit_keep_the_last(store):
    store.apply_batch([(5, {0: [(b"k", b"first"), (b"k", b"second")]})])
    assert store.open_index(0).versions(b"k") == [(5, b"second")]
    assert store.open_index(0).get(b"k", 5) == b"second"


def test_empty_key_is_a_valid_key_when_it_is_the_only_one(store):
    store.apply_batch([(5, {3: [(b"", b"root")]})])
    index = store.open_index(3)
    assert index.get(b"", 5) == b"root"
    assert index.scan_batch(Interval.all(), 5, 5) == [(b"", b"root")]
    assert index.scan_batch(Interval.all(), 5, 5, reverse=True) == [(b"", b"root")]
    assert index.scan_batch(Interval(b"\x00", None), 5, 5) == []


# -- scans ---------------------------------------------------------------------------------------------

SCAN_CASES = [
    (Interval.all(), [b"a", b"b", b"c", b"d"]),
    (Interval(b"b", None), [b"b", b"c", b"d"]),              # start inclusive, unbounded end
    (Interval(b"b", b"d"), [b"b", b"c"]),                    # end exclusive
    (Interval(b"a\x00", b"c\x00"), [b"b", b"c"]),            # bounds between keys
    (Interval(b"", b"a"), []),
    (Interval(b"c", b"c"), []),                              # empty: start == end
    (Interval(b"d", b"a"), []),                              # empty: start > end
    (Interval(b"e", None), []),
    (Interval.point(b"c"), [b"c"]),
    (Interval.point(b"cc"), []),
    (Interval.prefix(b"b"), [b"b"]),
    (Interval.prefix(b""), [b"a", b"b", b"c", b"d"]),
    (Interval(b"\x00", b"\xff"), [b"a", b"b", b"c", b"d"]),
]


@pytest.mark.parametrize("interval,keys", SCAN_CASES, ids=[repr(c[0]) for c in SCAN_CASES])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_respects_bounds(store, interval, keys, reverse):
    fill(store)
    index = store.open_index(0)
    want = [(k, k.upper()) for k in (reversed(keys) if reverse else keys)]
    assert index.scan_batch(interval, 10, 100, reverse) == want
    assert index.scan(interval, 10, reverse) == want
    assert index.scan_batch(interval, 9, 100, reverse) == []  # before anything was written


def test_bounds_that_extend_or_cut_a_stored_key(store):
    """Keys ``ab``/``ac`` against bounds that are proper prefixes or extensions of them (the cases where
    a ``key || ts`` layout compares differently from the key alone)."""
    store.apply_batch([(1, {0: [(b"ab", b"1"), (b"ac", b"2"), (b"b", b"3")]})])
    index = store.open_index(0)
    cases = {
        Interval.point(b"ab"): [b"ab"],
        Interval(b"ab\x00", None): [b"ac", b"b"],
        Interval(b"a", b"ab\x00"): [b"ab"],
        Interval(b"ab\xff\xff", b"ac\x00"): [b"ac"],
        Interval(b"a", b"ac"): [b"ab"],
        Interval(b"ab", b"ab\x00\x00"): [b"ab"],
        Interval.prefix(b"a"): [b"ab", b"ac"],
        Interval(b"ac\xff" * 200, None): [b"b"],  # a bound longer than any storable key
        Interval(b"", b"ab" + b"\x00" * 600): [b"ab"],
    }
    for interval, keys in cases.items():
        for reverse in (False, True):
            want = [(k, index.get(k, 1)) for k in (reversed(keys) if reverse else keys)]
            assert index.scan_batch(interval, 1, 10, reverse) == want, (interval, reverse)


def test_scan_skips_hidden_keys_without_counting_them_towards_the_limit(store):
    store.apply_batch([(1, {0: [(k, k) for k in KEYS]}), (2, {0: [(b"a", None), (b"c", None)]})])
    index = store.open_index(0)
    assert index.scan_batch(Interval.all(), 2, 1) == [(b"b", b"b")]
    assert index.scan_batch(Interval.all(), 2, 1, reverse=True) == [(b"d", b"d")]
    assert index.scan_batch(Interval.all(), 2, 2) == [(b"b", b"b"), (b"d", b"d")]
    assert index.scan_batch(Interval.all(), 1, 2) == [(b"a", b"a"), (b"b", b"b")]


@pytest.mark.parametrize("limit", [-1, 0, 1, 2, 3, 4, 5, 100])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_batch_returns_a_prefix_of_the_full_scan(store, limit, reverse):
    fill(store)
    index = store.open_index(0)
    full = index.scan_batch(Interval.all(), 10, 1000, reverse)
    assert index.scan_batch(Interval.all(), 10, limit, reverse) == full[:max(limit, 0)]


@pytest.mark.parametrize("batch", [1, 2, 3])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_by_batches_equals_the_full_scan(store, batch, reverse):
    # Interleave hidden keys so batch boundaries fall next to keys that are skipped.
    keys = [bytes([c]) for c in range(ord("a"), ord("a") + 11)]
    store.apply_batch([(1, {0: [(k, k * 2) for k in keys]}), (2, {0: [(k, None) for k in keys[::3]]}),
                       (3, {0: [(keys[4], b"new")]})])
    index = store.open_index(0)
    for interval in (Interval.all(), Interval(b"b", b"j"), Interval.point(b"e"), Interval(b"c", None),
                     Interval(b"z", None), Interval(b"c", b"c")):
        for ts in (1, 2, 3):
            full = index.scan_batch(interval, ts, 1000, reverse)
            assert list(scan_by_batches(index, interval, ts, reverse, batch)) == full, (interval, ts)
            assert index.scan(interval, ts, reverse) == full


def test_scan_at_a_snapshot_ignores_later_versions(store):
    store.apply_batch([(10, {0: [(b"a", b"a1"), (b"b", b"b1")]}), (20, {0: [(b"a", b"a2"), (b"c", b"c2")]})])
    index = store.open_index(0)
    assert index.scan_batch(Interval.all(), 10, 10) == [(b"a", b"a1"), (b"b", b"b1")]
    assert index.scan_batch(Interval.all(), 20, 10) == [(b"a", b"a2"), (b"b", b"b1"), (b"c", b"c2")]
    assert index.scan_batch(Interval.all(), 15, 10, reverse=True) == [(b"b", b"b1"), (b"a", b"a1")]


@pytest.mark.parametrize("count", [3, 4, 5, 8, 9, 511, 512, 513, 1025])
def test_key_counts_around_node_capacity(store, count):
    """Key counts at leaf capacity +-1 (4 for the small variant, 512 by default), then removal of most
    keys through tombstones + gc (driving leaf merges)."""
    keys = [b"k%05d" % i for i in range(count)]
    store.apply_batch([(1, {0: [(k, k) for k in reversed(keys)]})])
    index = store.open_index(0)
    assert index.scan_batch(Interval.all(), 1, count + 1) == [(k, k) for k in keys]
    assert index.scan_batch(Interval.all(), 1, count + 1, reverse=True) == [(k, k) for k in reversed(keys)]
    doomed = [k for i, k in enumerate(keys) if i % 4 != 1]
    store.apply_batch([(2, {0: [(k, None) for k in doomed]})])
    assert store.gc(2) == 2 * len(doomed)
    survivors = [k for i, k in enumerate(keys) if i % 4 == 1]
    assert index.scan(Interval.all(), 3) == [(k, k) for k in survivors]
    assert index.scan(Interval(keys[count // 2], None), 3, reverse=True) == \
        [(k, k) for k in reversed(survivors) if k >= keys[count // 2]]
    assert all(index.get(k, 3) == (k if k in survivors else None) for k in keys)


# -- versions, multiple indexes, ordering ---------------------------------------------------------------

def test_raw_scan_shows_every_retained_version_regardless_of_visibility(store):
    store.apply_batch([(1, {0: [(b"a", b"a1"), (b"b", b"b1"), (b"c", None)]}), (2, {0: [(b"a", None)]})])
    index = store.open_index(0)
    everything = [(b"a", [(2, None), (1, b"a1")]), (b"b", [(1, b"b1")]), (b"c", [(1, None)])]
    assert index.raw_scan(Interval.all()) == everything
    assert index.raw_scan(Interval.all(), reverse=True) == everything[::-1]
    assert index.raw_scan(Interval(b"b", None), limit=1) == everything[1:2]
    assert index.raw_scan(Interval(b"c", b"a")) == []


def test_versions_are_newest_first(store):
    store.apply_batch([(3, {0: [(b"k", b"x")]}), (7, {0: [(b"k", None)]}), (9, {0: [(b"k", b"y")]})])
    assert store.open_index(0).versions(b"k") == [(9, b"y"), (7, None), (3, b"x")]
    assert store.open_index(0).versions(b"missing") == []


def test_indexes_are_isolated_from_each_other(store):
    store.apply_batch([(1, {1: [(b"k", b"one")], 2: [(b"k", b"two")], 0xFFFFFFFF: [(b"k", b"max")],
                            0: [(b"k", b"zero"), (b"z", b"z0")]})])
    store.apply_batch([(2, {2: [(b"k", None)]})])
    assert store.index_ids() == [0, 1, 2, 0xFFFFFFFF]
    one, two, top, zero = (store.open_index(i) for i in (1, 2, 0xFFFFFFFF, 0))
    assert (one.get(b"k", 2), two.get(b"k", 2), top.get(b"k", 2), zero.get(b"k", 2)) == (b"one", None, b"max", b"zero")
    assert one.scan_batch(Interval.all(), 2, 10) == [(b"k", b"one")]
    assert one.scan_batch(Interval.all(), 2, 10, reverse=True) == [(b"k", b"one")]
    assert top.scan_batch(Interval.all(), 2, 10, reverse=True) == [(b"k", b"max")]
    assert zero.scan_batch(Interval.all(), 2, 10, reverse=True) == [(b"z", b"z0"), (b"k", b"zero")]
    assert two.scan_batch(Interval.all(), 2, 10) == []
    assert two.versions(b"k") == [(2, None), (1, b"two")]
    assert store.open_index(3).scan_batch(Interval.all(), 2, 10) == []  # between two populated ids


def test_writing_to_an_unopened_index_opens_it(store):
    store.apply_batch([(1, {5: [(b"k", b"v")], 6: []})])
    assert store.index_ids() == [5, 6]


@pytest.mark.parametrize("bad", [
    [(10, {0: [(b"x", b"x")]})],                                 # equal to applied_ts
    [(9, {0: [(b"x", b"x")]})],                                  # below applied_ts
    [(11, {0: [(b"x", b"x")]}), (11, {0: [(b"y", b"y")]})],      # equal inside the batch
    [(12, {0: [(b"x", b"x")]}), (11, {0: [(b"y", b"y")]})],      # decreasing inside the batch
    [(11, {0: [(b"x", b"x")]}), (MAX_TIMESTAMP + 1, {})],        # not a u64
    [(11, {0: [(b"x", b"x")]}), (12, {-1: [(b"y", b"y")]})],     # index id not a u32
    [(11, {0: [(b"x", b"x")]}), (12, {2**32: [(b"y", b"y")]})],
])
def test_apply_batch_refuses_bad_batches_and_applies_nothing(store, bad):
    store.apply_batch([(10, {0: [(b"k", b"v")]})])
    with pytest.raises(ValueError):
        store.apply_batch(bad)
    assert store.applied_ts() == 10
    assert store.index_ids() == [0]
    index = store.open_index(0)
    assert index.get(b"x", MAX_TIMESTAMP) is None and index.get(b"y", MAX_TIMESTAMP) is None
    assert index.scan_batch(Interval.all(), MAX_TIMESTAMP, 10) == [(b"k", b"v")]


def test_first_commit_must_exceed_zero(store):
    with pytest.raises(ValueError):
        store.apply_batch([(0, {0: [(b"k", b"v")]})])
    assert store.applied_ts() == 0


def test_oversized_key_raises_and_applies_nothing(store):
    ok = b"k" * MAX_KEY_BYTES
    store.apply_batch([(1, {0: [(ok, b"fits")]})])
    assert store.open_index(0).get(ok, 1) == b"fits"
    with pytest.raises(IndexKeyTooLargeError):
        store.apply_batch([(2, {0: [(b"a", b"a")]}), (3, {1: [(ok + b"k", b"too big")]})])
    assert store.applied_ts() == 1
    assert store.open_index(0).get(b"a", 3) is None
    assert store.open_index(0).get(ok + b"k", 3) is None  # reading an unstorable key is just absent


def test_non_bytes_keys_and_values_are_type_errors(store):
    with pytest.raises(TypeError):
        store.apply_batch([(1, {0: [("str", b"v")]})])
    with pytest.raises(TypeError):
        store.apply_batch([(1, {0: [(b"k", "str")]})])
    assert store.applied_ts() == 0


def test_applied_ts_is_the_last_commit_of_the_last_batch(store):
    store.apply_batch([(5, {0: [(b"a", b"a")]}), (8, {})])  # a commit with no index writes still counts
    assert store.applied_ts() == 8
    store.apply_batch([])
    assert store.applied_ts() == 8
    store.apply_batch([(9, {})])
    assert store.applied_ts() == 9


def test_meta_round_trips(store):
    assert store.get_meta("schema") is None
    store.put_meta("schema", b"v1")
    store.put_meta("other", b"")
    store.put_meta("schema", b"v2")
    assert (store.get_meta("schema"), store.get_meta("other"), store.get_meta("nope")) == (b"v2", b"", None)
    with pytest.raises(TypeError):
        store.put_meta("k", "not bytes")


def test_drop_index_removes_only_that_index(store):
    store.apply_batch([(1, {0: [(b"a", b"0")], 1: [(b"a", b"1"), (b"b", b"1")], 2: [(b"a", b"2")]})])
    store.drop_index(1)
    assert store.index_ids() == [0, 2]
    assert store.open_index(0).get(b"a", 1) == b"0"
    assert store.open_index(2).get(b"a", 1) == b"2"
    store.drop_index(1)  # missing: no-op
    store.drop_index(99)
    recreated = store.open_index(1)
    assert store.index_ids() == [0, 1, 2]
    assert recreated.scan_batch(Interval.all(), 1, 10) == [] and recreated.versions(b"a") == []


# -- gc ------------------------------------------------------------------------------------------------

def _history(store):
    store.apply_batch([
        (10, {0: [(b"a", b"a10"), (b"b", b"b10"), (b"c", b"c10"), (b"d", None)]}),
        (20, {0: [(b"a", b"a20"), (b"b", None)]}),
        (30, {0: [(b"a", b"a30"), (b"c", b"c30")]}),
        (40, {0: [(b"b", b"b40"), (b"c", None)]}),
    ])


def _snapshot(index, ts):
    return index.scan_batch(Interval.all(), ts, 100), [index.get(k, ts) for k in (b"a", b"b", b"c", b"d")]


@pytest.mark.parametrize("below,removed,kept", [
    (0, 0, {b"a": [30, 20, 10], b"b": [40, 20, 10], b"c": [40, 30, 10], b"d": [10]}),
    (10, 1, {b"a": [30, 20, 10], b"b": [40, 20, 10], b"c": [40, 30, 10], b"d": []}),
    (25, 4, {b"a": [30, 20], b"b": [40], b"c": [40, 30, 10], b"d": []}),
    (30, 6, {b"a": [30], b"b": [40], b"c": [40, 30], b"d": []}),
    (40, 8, {b"a": [30], b"b": [40], b"c": [], b"d": []}),
    (10**6, 8, {b"a": [30], b"b": [40], b"c": [], b"d": []}),
])
def test_gc_keeps_every_snapshot_at_or_above_the_watermark(store, below, removed, kept):
    _history(store)
    index = store.open_index(0)
    before = {ts: _snapshot(index, ts) for ts in range(below, 45)}
    assert store.gc(below) == removed
    for key, stamps in kept.items():
        assert [ts for ts, _ in index.versions(key)] == stamps, key
    for ts, snap in before.items():
        assert _snapshot(index, ts) == snap, ts
    assert store.gc(below) == 0  # idempotent


def test_gc_covers_every_index(store):
    store.apply_batch([(1, {0: [(b"k", b"1")], 1: [(b"k", b"1")]}), (2, {0: [(b"k", b"2")], 1: [(b"k", None)]})])
    assert store.gc(2) == 3
    assert store.open_index(0).versions(b"k") == [(2, b"2")]
    assert store.open_index(1).versions(b"k") == []
    assert store.index_ids() == [0, 1]  # gc never drops an index, even an emptied one


# -- lifecycle -----------------------------------------------------------------------------------------

def test_reopen_keeps_everything_iff_the_strategy_is_persistent(opener):
    store = opener()
    _history(store)
    store.open_index(9)
    store.put_meta("schema", b"s")
    before = _snapshot(store.open_index(0), 35), store.open_index(0).versions(b"c")
    persistent = store.persistent
    store.close()
    again = opener()
    if persistent:
        assert again.applied_ts() == 40
        assert again.index_ids() == [0, 9]
        assert again.get_meta("schema") == b"s"
        assert (_snapshot(again.open_index(0), 35), again.open_index(0).versions(b"c")) == before
        again.apply_batch([(41, {0: [(b"a", b"a41")]})])
        with pytest.raises(ValueError):
            again.apply_batch([(40, {0: [(b"a", b"late")]})])
    else:
        assert again.applied_ts() == 0 and again.index_ids() == [] and again.get_meta("schema") is None


def test_calls_after_close_raise_database_closed(opener):
    store = opener()
    fill(store)
    index = store.open_index(0)
    store.close()
    store.close()  # idempotent
    for call in (lambda: store.apply_batch([(11, {})]), lambda: store.open_index(0), lambda: store.gc(1),
                 lambda: store.get_meta("x"), lambda: index.get(b"a", 10),
                 lambda: index.scan_batch(Interval.all(), 10, 5), lambda: index.versions(b"a")):
        with pytest.raises(DatabaseClosedError):
            call()


def test_scans_stay_consistent_while_a_writer_applies(store):
    """Scans (in small batches) at a fixed snapshot see exactly that snapshot while a committer thread keeps
    applying new versions, tombstones and new keys (leaf splits) to the same index."""
    keys = [b"k%03d" % i for i in range(300)]
    store.apply_batch([(1, {0: [(k, b"v1") for k in keys]})])
    index = store.open_index(0)._target
    raw_store = store._target
    stop = threading.Event()
    writer_started = threading.Event()

    def writer():
        ts = 1
        while not stop.is_set():
            ts += 1
            raw_store.apply_batch([(ts, {0: [(k, None if (i + ts) % 3 == 0 else b"v%d" % ts)
                                             for i, k in enumerate(keys[ts % 7::5])] + [(b"n%06d" % ts, b"new")]})])
            writer_started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        writer_started.wait()
        for _ in range(20):
            assert list(scan_by_batches(index, Interval.all(), 1, False, 7)) == [(k, b"v1") for k in keys]
            assert list(scan_by_batches(index, Interval.all(), 1, True, 5)) == [(k, b"v1") for k in reversed(keys)]
            assert index.get(keys[150], 1) == b"v1"
    finally:
        stop.set()
        thread.join()
    assert raw_store.applied_ts() > 2
    store.check_invariants()


# -- registry ------------------------------------------------------------------------------------------

def test_unknown_strategy_names_the_valid_ones():
    with pytest.raises(ValueError, match="lmdb-btree.*mem-btree"):
        open_index_store("no-such-index", IndexConfig())


def test_lmdb_btree_requires_a_path():
    with pytest.raises(ValueError, match="path"):
        open_index_store("lmdb-btree", IndexConfig())


def test_every_strategy_reports_its_registry_name(opener):
    store = opener()
    assert store.name in INDEX_STRATEGIES
    assert isinstance(store.persistent, bool)
    assert isinstance(store.debug_state(), dict)


@pytest.mark.parametrize("durability", ["full", "none"])
def test_lmdb_btree_durability_modes_open_and_apply(tmp_path, durability):
    store = open_index_store("lmdb-btree", IndexConfig(path=str(tmp_path / durability), durability=durability,
                                                       map_size=1 << 24))
    try:
        store.apply_batch([(1, {0: [(b"k", b"v")]})])
        assert store.open_index(0).get(b"k", 1) == b"v"
        store.check_invariants()
    finally:
        store.close()
    with pytest.raises(ValueError, match="durability"):
        open_index_store("lmdb-btree", IndexConfig(path=str(tmp_path / "x"), durability="sometimes"))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(INDEX_STRATEGIES))
def test_options_of_another_strategy_are_refused_at_open(name, tmp_path):
    other = next(cls for n, cls in INDEX_OPTIONS.items() if n != name)
    with pytest.raises(ValueError, match=INDEX_OPTIONS[name].__name__):
        open_index_store(name, IndexConfig(path=str(tmp_path / "i"), options=other()))


@pytest.mark.parametrize("name", sorted(INDEX_STRATEGIES))
def test_no_options_means_the_strategy_defaults(name, tmp_path):
    store = open_index_store(name, IndexConfig(path=str(tmp_path / "i")))
    try:
        assert store.options == INDEX_OPTIONS[name]()
    finally:
        store.close()
