"""Contract suite for ``engine.persistence``: one set of tests run against every registered strategy.

Every test takes the ``strategy`` parameter (every key of ``PERSISTENCE_STRATEGIES``). Checks about
surviving close/reopen or a killed process apply to strategies whose class says ``persistent = True``;
for the others the reopen test asserts the opposite (a reopened store is empty), and the crash test
skips with an explicit reason derived from that attribute, never silently.

Stores live in real directories under pytest's tmp dirs. Most tests open stores with
``durability="none"``: the properties they check (ordering, atomic visibility, ranges, globals) do not
depend on fsync, and a synced commit costs milliseconds on ordinary disks. The reopen and crash tests use
``durability="full"``. ``load_chunk`` (an option of the file strategies) is set to 3 so that every
``load_log`` crosses chunk boundaries (one test also covers the default chunk size).
"""
from __future__ import annotations

import threading
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from engine.model.errors import DatabaseClosedError, PersistenceError
from engine.persistence.base import CommitRecord, DocumentWrite, PersistenceConfig
from engine.persistence.registry import (DEFAULT_STRATEGY, PERSISTENCE_OPTIONS, PERSISTENCE_STRATEGIES,
                                        open_persistence)
from engine.model.types import MAX_TIMESTAMP

STRATEGIES = sorted(PERSISTENCE_STRATEGIES)
REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.parametrize("strategy", STRATEGIES)


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------

def is_persistent(strategy: str) -> bool:
    return bool(PERSISTENCE_STRATEGIES[strategy].persistent)


class Opener:
    """Opens the store of one strategy in one directory, reopens it, and closes whatever it opened."""

    def __init__(self, strategy: str, path: Path, durability: str = "none", load_chunk: int | None = 3) -> None:
        """*load_chunk*: for strategies that have the knob, records per ``load_log`` chunk (small by
        default, so chunk boundaries are crossed); None leaves the strategy's default options."""
        self.strategy = strategy
        cls = PERSISTENCE_OPTIONS[strategy]
        has_chunk = "load_chunk" in {f.name for f in fields(cls)}
        self.config = PersistenceConfig(path=str(path), durability=durability, map_size=1 << 32,
                                        options=cls(load_chunk=load_chunk) if has_chunk and load_chunk else None)
        self.opened: list = []

    def open(self):
        store = open_persistence(self.strategy, self.config)
        self.opened.append(store)
        return store

    def reopen(self, store):
        """Close *store* and open the same path again (for memory: a fresh, empty store)."""
        store.close()
        return self.open()

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture
def opener(strategy, tmp_path):
    op = Opener(strategy, tmp_path / "store")
    yield op
    op.close_all()


@pytest.fixture
def store(opener):
    return opener.open()


def rec(ts: int, writer: str = "fn", *writes: DocumentWrite) -> CommitRecord:
    return CommitRecord(ts, writer, tuple(writes))


def doc(table: str = "t", id: str = "d", value: bytes | None = b"v", prev_ts: int | None = None) -> DocumentWrite:
    return DocumentWrite(table, id, value, prev_ts)


def log_of(store) -> list[CommitRecord]:
    return list(store.load_log())


texts = st.text(max_size=10)
# Mostly small values and tombstones; about one write in 16 carries a 1 MiB value.
_large = st.integers(0, 255).map(lambda b: bytes([b]) * (1 << 20))
_small = st.one_of(st.none(), st.binary(max_size=40))
values = st.integers(0, 15).flatmap(lambda k: _large if k == 0 else _small)
writes = st.builds(DocumentWrite, table=texts, id=texts, value=values,
                   prev_ts=st.one_of(st.none(), st.integers(1, MAX_TIMESTAMP)))


@st.composite
def batches(draw, max_batches: int = 4, max_per_batch: int = 4) -> list[list[CommitRecord]]:
    """Batches (possibly empty) whose timestamps strictly increase across the whole sequence, anywhere
    in 1..2^64-1 (so the u64 top bit and MAX_TIMESTAMP get exercised)."""
    sizes = draw(st.lists(st.integers(0, max_per_batch), max_size=max_batches))
    tss = sorted(draw(st.lists(st.integers(1, MAX_TIMESTAMP), min_size=sum(sizes), max_size=sum(sizes), unique=True)))
    out, i = [], 0
    for n in sizes:
        out.append([CommitRecord(tss[i + k], draw(texts), tuple(draw(st.lists(writes, max_size=3)))) for k in range(n)])
        i += n
    return out


def fresh_opener(strategy: str, tmp_path_factory, **kw) -> Opener:
    """For hypothesis tests, which must not use function-scoped fixtures: a new directory per example."""
    return Opener(strategy, tmp_path_factory.mktemp(f"{strategy}-"), **kw)


# --------------------------------------------------------------------------------------------------
# Identity and opening
# --------------------------------------------------------------------------------------------------

def test_strategy_declares_name_and_persistence(strategy, tmp_path):
    cls = PERSISTENCE_STRATEGIES[strategy]
    assert cls.name == strategy
    assert isinstance(cls.persistent, bool)
    assert (strategy == "memory") == (not cls.persistent)
    assert DEFAULT_STRATEGY in PERSISTENCE_STRATEGIES


def test_options_are_typed_per_strategy(strategy, tmp_path):
    """No options: the strategy's defaults; options of another strategy: ValueError naming the right class."""
    cls = PERSISTENCE_OPTIONS[strategy]
    s = open_persistence(strategy, PersistenceConfig(path=str(tmp_path / "ok")))
    assert s.options == cls()
    s.close()
    other = next(c for n, c in PERSISTENCE_OPTIONS.items() if n != strategy)
    with pytest.raises(ValueError, match=cls.__name__):
        open_persistence(strategy, PersistenceConfig(path=str(tmp_path / "bad"), options=other()))


def test_registry_rejects_unknown_name_and_missing_path(strategy):
    with pytest.raises(ValueError, match="valid names: lmdb, memory, sqlite"):
        open_persistence(strategy + "-nope", PersistenceConfig())
    if is_persistent(strategy):
        with pytest.raises(ValueError, match="needs PersistenceConfig.path"):
            open_persistence(strategy, PersistenceConfig(path=None))
    else:
        s = open_persistence(strategy, PersistenceConfig(path=None))
        assert s.max_ts() == 0
        s.close()


def test_fresh_store_is_empty(strategy, store):
    assert log_of(store) == []
    assert store.max_ts() == 0
    assert store.get_record(1) is None
    assert store.get_global("anything") is None
    store.append([])  # empty batch: a no-op
    assert store.max_ts() == 0
    store.check_invariants()


# --------------------------------------------------------------------------------------------------
# Append / load
# --------------------------------------------------------------------------------------------------

@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(bs=batches())
def test_append_load_round_trip(strategy, tmp_path_factory, bs):
    op = fresh_opener(strategy, tmp_path_factory)
    try:
        store = op.open()
        expected: list[CommitRecord] = []
        for batch in bs:
            store.append(batch)
            expected.extend(batch)
            store.check_invariants()
            assert log_of(store) == expected
            assert store.max_ts() == (expected[-1].ts if expected else 0)
        for r in expected:
            assert store.get_record(r.ts) == r
        if store.persistent:
            store = op.reopen(store)
            store.check_invariants()
            assert log_of(store) == expected
            assert store.max_ts() == (expected[-1].ts if expected else 0)
    finally:
        op.close_all()


def test_large_values_and_unicode_round_trip(strategy, store):
    big = bytes(range(256)) * 4096  # 1 MiB
    r1 = rec(1, "ünïcødé 📦", doc("täble", "ïd☃", big), doc("t", "gone", None, 1))
    r2 = rec(2, "", doc("", "", b""), doc("t", "x" * 1000, big * 3, MAX_TIMESTAMP))
    store.append([r1, r2])
    store.check_invariants()
    assert log_of(store) == [r1, r2]
    assert store.get_record(2).writes[1].value == big * 3


def test_load_log_with_default_chunk_crosses_chunk_boundaries(strategy, tmp_path):
    op = Opener(strategy, tmp_path / "s", load_chunk=None)
    store = op.open()
    try:
        expected = [rec(ts, "w", doc(id=str(ts))) for ts in range(1, 1200)]
        store.append(expected[:600])
        store.append(expected[600:])
        assert log_of(store) == expected
        assert list(store.load_log(512, 1025)) == expected[511:1024]
        store.check_invariants()
    finally:
        op.close_all()


@given(tss=st.lists(st.integers(1, MAX_TIMESTAMP), max_size=12, unique=True).map(sorted), data=st.data())
def test_load_log_ranges(strategy, tmp_path_factory, tss, data):
    op = fresh_opener(strategy, tmp_path_factory)
    try:
        store = op.open()
        records = [rec(ts, f"w{ts}") for ts in tss]
        if records:
            store.append(records)
        near = sorted({max(0, t + d) for t in tss + [0, MAX_TIMESTAMP] for d in (-1, 0, 1)})
        bound = st.one_of(st.sampled_from(near), st.integers(0, MAX_TIMESTAMP + 1))
        for _ in range(8):
            start = data.draw(bound, label="start")
            end = data.draw(st.one_of(st.none(), bound), label="end")
            expected = [r for r in records if start <= r.ts and (end is None or r.ts < end)]
            assert list(store.load_log(start, end)) == expected
        # the explicit edges
        assert list(store.load_log()) == records
        assert list(store.load_log(0, 0)) == []
        assert list(store.load_log(MAX_TIMESTAMP, MAX_TIMESTAMP)) == []
        if records:
            first, last = records[0].ts, records[-1].ts
            assert list(store.load_log(first, first)) == []          # start == end: empty
            assert list(store.load_log(last, first)) == []           # start > end: empty
            assert list(store.load_log(first, first + 1)) == [records[0]]  # start inclusive
            assert list(store.load_log(0, last)) == records[:-1]     # end exclusive
            assert list(store.load_log(last)) == [records[-1]]        # end None: unbounded
            assert list(store.load_log(last + 1)) == []
        store.check_invariants()
    finally:
        op.close_all()


def test_load_log_rejects_negative_bounds(strategy, store):
    with pytest.raises(ValueError):
        store.load_log(-1)
    with pytest.raises(ValueError):
        store.load_log(0, -5)


def test_load_log_is_a_snapshot_at_call_time(strategy, store):
    store.append([rec(1), rec(2)])
    it = store.load_log()
    store.append([rec(3), rec(4)])
    assert [r.ts for r in it] == [1, 2]
    assert [r.ts for r in store.load_log()] == [1, 2, 3, 4]


def test_get_record_hit_and_miss(strategy, store):
    records = [rec(5, "a", doc()), rec(7, "b"), rec(MAX_TIMESTAMP, "c", doc(value=None, prev_ts=5))]
    store.append(records)
    for r in records:
        assert store.get_record(r.ts) == r
    for ts in (0, 1, 4, 6, 8, MAX_TIMESTAMP - 1, -1, MAX_TIMESTAMP + 1):
        assert store.get_record(ts) is None
    store.check_invariants()


# --------------------------------------------------------------------------------------------------
# Ordering and max_ts
# --------------------------------------------------------------------------------------------------

BAD_BATCHES = {
    "equal to last": [rec(20)],
    "below last": [rec(15)],
    "equal inside batch": [rec(30), rec(30)],
    "lower in the middle": [rec(30), rec(25), rec(40)],
    "last below stored": [rec(30), rec(40), rec(10)],
    "unencodable in the middle": [rec(30), rec(31, "\ud800"), rec(32)],
    "ts zero": [rec(0)],
    "ts beyond u64": [rec(30), rec(MAX_TIMESTAMP + 1)],
}


@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
def test_out_of_order_batches_are_refused_whole(strategy, store, case):
    good = [rec(10, "w", doc()), rec(20, "w", doc(id="e"))]
    store.append(good)
    with pytest.raises(PersistenceError):
        store.append(BAD_BATCHES[case])
    store.check_invariants()
    assert log_of(store) == good
    assert store.max_ts() == 20
    assert store.get_record(30) is None
    store.append([rec(21)])  # the store still works
    assert [r.ts for r in log_of(store)] == [10, 20, 21]


def test_append_must_exceed_high_water_mark(strategy, store):
    store.append([rec(10)])
    store.bump_max_ts(100)
    assert store.max_ts() == 100
    for ts in (50, 100):
        with pytest.raises(PersistenceError):
            store.append([rec(ts)])
    assert log_of(store) == [rec(10)]
    store.append([rec(101)])
    assert store.max_ts() == 101
    store.check_invariants()


def test_max_ts_is_monotone_and_lower_bump_is_a_noop(strategy, store):
    seen = [store.max_ts()]
    store.bump_max_ts(0)
    seen.append(store.max_ts())
    store.append([rec(5)])
    seen.append(store.max_ts())
    store.bump_max_ts(3)  # lower: no-op
    seen.append(store.max_ts())
    store.bump_max_ts(5)  # equal: no-op
    seen.append(store.max_ts())
    store.bump_max_ts(9)
    seen.append(store.max_ts())
    store.bump_max_ts(MAX_TIMESTAMP)
    seen.append(store.max_ts())
    store.bump_max_ts(7)
    seen.append(store.max_ts())
    assert seen == [0, 0, 5, 5, 5, 9, MAX_TIMESTAMP, MAX_TIMESTAMP]
    store.check_invariants()
    with pytest.raises(ValueError):
        store.bump_max_ts(-1)
    with pytest.raises(ValueError):
        store.bump_max_ts(MAX_TIMESTAMP + 1)


# --------------------------------------------------------------------------------------------------
# Globals
# --------------------------------------------------------------------------------------------------

def test_globals_set_overwrite_and_missing(strategy, store):
    assert store.get_global("schema") is None
    store.put_global("schema", b"v1")
    assert store.get_global("schema") == b"v1"
    store.put_global("schema", b"v2")
    assert store.get_global("schema") == b"v2"
    store.put_global("empty", b"")
    assert store.get_global("empty") == b""
    store.put_global("ünï\x00code", bytearray(b"ba"))
    assert store.get_global("ünï\x00code") == b"ba"
    assert type(store.get_global("ünï\x00code")) is bytes
    store.put_global("k" * 511, b"long name")
    assert store.get_global("k" * 511) == b"long name"
    assert store.get_global("other") is None
    # globals are the caller's namespace: a global named like an internal key changes nothing else
    store.put_global("max_ts", b"\xff" * 8)
    store.put_global("format", b"garbage")
    assert store.max_ts() == 0
    store.check_invariants()


@pytest.mark.parametrize("key, exc", [("", ValueError), ("k" * 512, ValueError), ("é" * 256, ValueError),
                                      ("\ud800", ValueError), (b"bytes", TypeError), (None, TypeError)])
def test_globals_reject_bad_names(strategy, store, key, exc):
    with pytest.raises(exc):
        store.put_global(key, b"x")
    with pytest.raises(exc):
        store.get_global(key)


def test_globals_reject_non_bytes_values(strategy, store):
    with pytest.raises(TypeError):
        store.put_global("k", "text")
    assert store.get_global("k") is None


# --------------------------------------------------------------------------------------------------
# Reopen and close
# --------------------------------------------------------------------------------------------------

def test_reopen_preserves_log_globals_and_max_ts(strategy, tmp_path):
    op = Opener(strategy, tmp_path / "s", durability="full")
    try:
        store = op.open()
        records = [rec(3, "a", doc()), rec(8, "b", doc(value=None, prev_ts=3))]
        store.append(records)
        store.bump_max_ts(50)
        store.put_global("schema", b"S")
        store = op.reopen(store)
        store.check_invariants()
        if store.persistent:
            assert log_of(store) == records
            assert store.max_ts() == 50
            assert store.get_global("schema") == b"S"
            with pytest.raises(PersistenceError):
                store.append([rec(50)])  # the high-water mark survived too
            store.append([rec(51)])
            store = op.reopen(store)
            assert [r.ts for r in log_of(store)] == [3, 8, 51]
        else:
            # not persistent: a reopened store starts empty; nothing leaks between instances
            assert log_of(store) == []
            assert store.max_ts() == 0
            assert store.get_global("schema") is None
    finally:
        op.close_all()


def test_closed_store_raises(strategy, store):
    store.append([rec(ts) for ts in range(1, 11)])
    it = store.load_log()
    assert next(it).ts == 1
    store.close()
    store.close()  # idempotent
    calls = [
        lambda: store.append([rec(20)]),
        lambda: store.append([]),
        lambda: store.load_log(),
        lambda: store.get_record(1),
        lambda: store.get_record(-1),
        lambda: store.max_ts(),
        lambda: store.bump_max_ts(99),
        lambda: store.get_global("k"),
        lambda: store.put_global("k", b"v"),
        lambda: list(it),  # an iterator from before the close
    ]
    for call in calls:
        with pytest.raises(DatabaseClosedError):
            call()


# --------------------------------------------------------------------------------------------------
# Concurrency and crashes
# --------------------------------------------------------------------------------------------------

def test_concurrent_readers_see_only_whole_batches(strategy, store):
    """A writer appends batches of two (ts 2b+1, 2b+2); readers must never see an odd-length log."""
    n_batches = 150
    done = threading.Event()
    errors: list[BaseException] = []
    reads = [0, 0, 0]

    def writer() -> None:
        try:
            for b in range(n_batches):
                store.append([rec(2 * b + 1, "w", doc(id=f"a{b}")), rec(2 * b + 2, "w", doc(id=f"b{b}"))])
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)
        finally:
            done.set()

    def reader(slot: int) -> None:
        try:
            while True:
                finished = done.is_set()
                ts = [r.ts for r in store.load_log()]
                assert len(ts) % 2 == 0 and ts == list(range(1, len(ts) + 1)), ts[-3:]
                tail = [r.ts for r in store.load_log(len(ts) - 1 if ts else 1)]
                assert len(tail) % 2 == 0, tail  # from record 1 of the last seen batch: its pair follows
                m = store.max_ts()
                assert m % 2 == 0 and m >= len(ts)
                if m:
                    assert store.get_record(m) is not None and store.get_record(m - 1) is not None
                reads[slot] += 1
                if finished:
                    assert len(ts) == 2 * n_batches
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    assert all(r >= 1 for r in reads), reads
    store.check_invariants()


_CHILD = r"""
import sys
from engine.persistence.base import CommitRecord, DocumentWrite, PersistenceConfig
from engine.persistence.registry import open_persistence

strategy, path, durability, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = open_persistence(strategy, PersistenceConfig(path=path, durability=durability, map_size=1 << 32))
ts = store.max_ts()
payload = b"p" * size
while True:
    store.append([CommitRecord(ts + k, "child", (DocumentWrite("t", str(ts + k), payload, None),)) for k in (1, 2, 3)])
    ts += 3
    print(ts, flush=True)
"""


# (durability, payload bytes per record) per round. A SIGKILL kills the process, not the OS: with
# durability "none" every acknowledged write is still in the page cache, so the same guarantees must hold.
# Those rounds matter because their child spends little time in fsync, so the kill lands at a varied
# point of the append loop (mid-transaction included) rather than almost always inside an fsync.
_CRASH_ROUNDS = [("full", 64 << 10), ("none", 1 << 10), ("none", 256 << 10), ("full", 1 << 10),
                 ("none", 16 << 10), ("none", 100)]


# --------------------------------------------------------------------------------------------------
# Model-based: random operation sequences against a plain-Python model
# --------------------------------------------------------------------------------------------------

def make_machine(strategy: str, tmp_path_factory):
    class PersistenceMachine(RuleBasedStateMachine):
        """The store must match the model after every step; ``check_invariants`` runs after each."""

        def __init__(self) -> None:
            super().__init__()
            self.opener = Opener(strategy, tmp_path_factory.mktemp(f"sm-{strategy}-"))
            self.store = self.opener.open()
            self.log: list[CommitRecord] = []
            self.hwm = 0
            self.globals: dict[str, bytes] = {}

        def model_max(self) -> int:
            return max(self.log[-1].ts if self.log else 0, self.hwm)

        @rule(gaps=st.lists(st.one_of(st.integers(1, 5), st.integers(1, 1 << 62)), max_size=3),
              ws=st.lists(writes.filter(lambda w: w.value is None or len(w.value) < 100), max_size=2))
        def append(self, gaps, ws):
            ts, batch = self.model_max(), []
            for g in gaps:
                ts += g
                batch.append(CommitRecord(ts, "m", tuple(ws)))
            if ts > MAX_TIMESTAMP:  # not representable: refused whole
                with pytest.raises(PersistenceError):
                    self.store.append(batch)
            else:
                self.store.append(batch)
                self.log.extend(batch)

        @rule(pos=st.integers(0, 2), back=st.integers(0, 3))
        def append_out_of_order(self, pos, back):
            base = self.model_max()
            tss = [base + 1, base + 2, base + 3]
            tss[pos] = max(0, (tss[pos - 1] if pos else base) - back)  # not above its predecessor
            with pytest.raises(PersistenceError):
                self.store.append([CommitRecord(t, "bad", ()) for t in tss])

        @rule(ts=st.one_of(st.integers(0, 10_000), st.integers(0, MAX_TIMESTAMP)))
        def bump(self, ts):
            before = self.store.max_ts()
            self.store.bump_max_ts(ts)
            self.hwm = max(self.hwm, ts)
            assert self.store.max_ts() >= before

        @rule(key=st.sampled_from(["a", "schema", "max_ts", "ü"]), value=st.binary(max_size=20))
        def put_global(self, key, value):
            self.store.put_global(key, value)
            self.globals[key] = value

        @precondition(lambda self: self.store.persistent)
        @rule()
        def reopen(self):
            self.store = self.opener.reopen(self.store)

        @rule(data=st.data())
        def load_range(self, data):
            pts = [0, MAX_TIMESTAMP + 1] + [r.ts + d for r in self.log for d in (-1, 0, 1)]
            start = data.draw(st.sampled_from(pts), label="start")
            end = data.draw(st.one_of(st.none(), st.sampled_from(pts)), label="end")
            expected = [r for r in self.log if start <= r.ts and (end is None or r.ts < end)]
            assert list(self.store.load_log(max(0, start), end)) == expected

        @invariant()
        def matches_model(self):
            self.store.check_invariants()
            assert self.store.max_ts() == self.model_max()
            assert log_of(self.store) == self.log
            for r in self.log[-2:]:
                assert self.store.get_record(r.ts) == r
            for k in ("a", "schema", "max_ts", "ü", "never"):
                assert self.store.get_global(k) == self.globals.get(k)

        def teardown(self):
            self.opener.close_all()

    return PersistenceMachine


def test_model_based_operation_sequences(strategy, tmp_path_factory):
    run_state_machine_as_test(make_machine(strategy, tmp_path_factory),
                              settings=settings(stateful_step_count=25,
                                                suppress_health_check=[HealthCheck.too_slow]))
