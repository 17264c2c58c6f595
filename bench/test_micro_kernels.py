"""Micro benchmarks of the native-core kernels, every implementation side by side.

Each benchmark is parametrized over ``engine._impl.implementations(kernel)``: the pure-Python reference
("py") always, and the Cython twin ("cy") side by side whenever it is built and its ABI matches. These are benchmarks, never tests: nothing here asserts on a timing. Targets live in
``bench/report.py`` and are judged when the table is printed.

Rows (stable ids in ``extra_info["bench"]``; ``ops_per_call`` turns a call time into ops/s):
- interval_set: ``contains`` with 16 intervals; ``first_contained`` over 10k written keys;
- write_window: ``WriteWindow.is_stale`` of one transaction with 16 read ranges over a 10k-write window,
  per write-window kernel (with the interval-set twin of the same name): the snapshot before every write
  (the stated target case), and a snapshot with only the last 64 commits concurrent as context;
- interval_map: ``stab`` / ``stab_many`` with 1k, 10k, 100k, 1M live subscription intervals (maps built once
  per size and seed and cached for the session; under --bench-quick the pure-Python 1M map, ~20 s and
  ~400 MB to build, is not run and its rows say so);
- keycodec: ``encode_key`` / ``index_key_for_document`` / ``decode_key`` of a typical index key;
- hlc ``now()``; record ``encode_record`` / ``decode_record`` of a typical commit record;
- doccodec: ``encode_document`` (validation included) / ``decode_document`` of a YCSB-sized document (10
  fields x 100 bytes plus the system fields), the binary codec's twins beside the JSON storage form of
  ``engine.model.values`` (impl "json": ``validate_document`` / ``decode_document``) that it replaced;
- mvcc (mem-btree) and mvcc_lmdb (lmdb-btree), 100k keys: point ``get`` p50 with the ratio to a raw
  py-lmdb get of the same keys measured interleaved in the same test; full scan entries/s; 100-row scans/s.

Data: every data set derives from ``--bench-seed``; keys are real index keys from the reference key codec
(the twins produce identical bytes), so comparisons see realistic lengths and shared prefixes.
"""
from __future__ import annotations

import bisect
import itertools
import os
import random
import shutil
import statistics
import tempfile
import time
from typing import Any, Sequence

import pytest

from bench.engine_baseline import time_calls
from engine import encoding
from engine._impl import implementations
from engine.ids import IdGenerator
from engine.model.types import Interval, Timestamp

#: Table number used for generated document ids.
TABLE_NUMBER = 3
#: A fixed "now" for generated ids (ids embed the day; a fixed value keeps data sets reproducible).
NOW_MS = 1_700_000_000_000.0
#: Key space of the int field of the generated index keys.
KEY_SPACE = 1 << 40

INTERVAL_MAP_SIZES = (1_000, 10_000, 100_000, 1_000_000)
#: Largest pure-Python interval map built under --bench-quick (1M takes ~20 s and ~400 MB).
PY_MAP_QUICK_LIMIT = 100_000
MVCC_KEYS = 100_000
WINDOW_WRITES = 10_000
READ_RANGES = 16
INDEX_ID = 7
INDEX_NAME = "items.by_k"


def impl_params(kernel: str) -> list:
    """One pytest param per usable implementation of *kernel* ("py", plus "cy" when built)."""
    return [pytest.param(name, id=name) for name in implementations(kernel)]


def size_label(n: int) -> str:
    """1000 -> "1k", 1000000 -> "1M"."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def describe(benchmark, *, bench: str, kernel: str, impl: str, unit: str, ops_per_call: int = 1,
             params: dict[str, Any] | None = None, **extra: Any) -> None:
    """Attach the row description the conftest metadata hook and bench/report.py read."""
    benchmark.extra_info.update(bench=bench, kernel=kernel, impl=impl, impl_per_kernel={kernel: impl},
                                unit=unit, ops_per_call=ops_per_call, params=params or {}, **extra)


# ---- data sets (plain functions: tests/unit/test_bench_smoke.py runs them at tiny sizes) --------------

def doc_ids(rng: random.Random, n: int) -> list[str]:
    """*n* real document ids from a seeded generator."""
    gen = IdGenerator(rng)
    return [gen.new_id(TABLE_NUMBER, NOW_MS) for _ in range(n)]


def written_keys(n: int, seed: int) -> list[bytes]:
    """*n* index keys ``(k, id)`` of a one-field user index, random distinct k, in generation order."""
    rng = random.Random(seed)
    ks = rng.sample(range(KEY_SPACE), n)
    return [encoding.index_key((k,), i) for k, i in zip(ks, doc_ids(rng, n))]


def key_ints(keys: Sequence[bytes]) -> set[int]:
    return {encoding.split_index_key(k)[0][0] for k in keys}


def value_range(lo: int, hi: int) -> Interval:
    """The read range of ``lo <= k < hi`` on the one-field index."""
    return Interval(encoding.encode_key((lo,)), encoding.encode_key((hi,)))


def read_ranges(count: int, seed: int, width: int, avoid: set[int] = frozenset()) -> list[Interval]:
    """*count* ranges of *width* values; none contains a value in *avoid* (so a check must scan it all)."""
    rng = random.Random(seed)
    out: list[Interval] = []
    avoid_sorted = sorted(avoid)
    while len(out) < count:
        lo = rng.randrange(KEY_SPACE - width)
        i = bisect.bisect_left(avoid_sorted, lo)
        if i < len(avoid_sorted) and avoid_sorted[i] < lo + width:
            continue
        out.append(value_range(lo, lo + width))
    return out


def build_interval_map(mod, n: int, seed: int):
    """An ``IntervalMap`` of *n* subscriptions (one owner each). Widths make a random written key fall in
    about one interval on average at every size, so the cost curve shows log(n), not a growing hit count.

    The data stream is seeded apart from the map's own treap-priority RNG (``IntervalMap(seed)``): drawn
    from one seed, priorities tracked the interval starts and the treap degenerated (depth ~100 at 50k,
    builds superlinear past ~300k)."""
    rng = random.Random(f"interval_map data {seed}")
    width = max(1, KEY_SPACE // n)
    m = mod.IntervalMap(seed=seed)
    for owner in range(n):
        lo = rng.randrange(KEY_SPACE - width)
        m.insert(owner, value_range(lo, lo + width))
    return m


def build_window(keys: Sequence[bytes], ids: Sequence[str], kernel=None):
    """A ``WriteWindow`` (write-window *kernel*; None: the reference) with one commit per key (ts
    1..len(keys)) on ``INDEX_NAME``."""
    from engine.log.write_window import KeyWrite, WriteWindow

    window = WriteWindow(kernel=kernel)
    for ts, (key, doc_id) in enumerate(zip(keys, ids), start=1):
        window.append(Timestamp(ts), "insert", (KeyWrite(INDEX_NAME, key, doc_id),))
    return window


def typical_document(doc_id: str) -> dict[str, Any]:
    return {"_id": doc_id, "_creationTime": NOW_MS, "author": "alice", "ts": 1_700_000_123, "body": "x" * 80}


def typical_record(doc_id: str):
    """One insert of a ~120-byte document: the commit record of the 4-put shape."""
    from engine.persistence.base import CommitRecord, DocumentWrite

    return CommitRecord(Timestamp(1_700_000_000_000 << 16), "insert",
                        (DocumentWrite("items", doc_id, b"v" * 120, None),))


def fill_index(store, keys: Sequence[bytes], value_size: int = 100, per_commit: int = 1000) -> int:
    """Write *keys* (one version each) into index ``INDEX_ID`` of *store*; returns the last commit ts."""
    ts = 0
    batch = []
    for start in range(0, len(keys), per_commit):
        ts += 1
        batch.append((Timestamp(ts), {INDEX_ID: [(k, k[-value_size:].rjust(value_size, b"v"))
                                                 for k in keys[start:start + per_commit]]}))
        if len(batch) == 10:
            store.apply_batch(batch)
            batch = []
    if batch:
        store.apply_batch(batch)
    return ts


# ---- interval_set ----------------------------------------------------------------------------------------

@pytest.mark.benchmark(group="interval_set")
@pytest.mark.parametrize("impl", impl_params("interval_set"))
def test_interval_set_contains(benchmark, impl, bench_opts):
    mod = implementations("interval_set")[impl]
    seed = bench_opts.seed
    s = mod.IntervalSet(read_ranges(READ_RANGES, seed, width=KEY_SPACE // 100))
    probes = written_keys(1024, seed + 1)

    def run() -> None:
        contains = s.contains
        for k in probes:
            contains(k)

    hits = sum(1 for k in probes if s.contains(k))
    describe(benchmark, bench=f"interval_set.contains[{READ_RANGES} intervals]", kernel="interval_set",
             impl=impl, unit="checks", ops_per_call=len(probes),
             params={"intervals": READ_RANGES, "probes": len(probes), "hits": hits})
    benchmark(run)


@pytest.mark.benchmark(group="interval_set")
@pytest.mark.parametrize("impl", impl_params("interval_set"))
def test_interval_set_first_contained(benchmark, impl, bench_opts, session_cache):
    mod = implementations("interval_set")[impl]
    keys = _window_keys(session_cache, bench_opts.seed)
    s = mod.IntervalSet(read_ranges(READ_RANGES, bench_opts.seed + 2, width=1000, avoid=key_ints(keys)))
    if s.first_contained(keys) != -1:  # data-set sanity, not a timing assertion
        raise RuntimeError("read ranges were built to miss every written key")
    describe(benchmark, bench=f"interval_set.first_contained[{size_label(len(keys))} keys]",
             kernel="interval_set", impl=impl, unit="checks", ops_per_call=len(keys),
             params={"intervals": READ_RANGES, "keys": len(keys), "hit": False})
    benchmark(s.first_contained, keys)


def _window_keys(cache: dict, seed: int) -> list[bytes]:
    if ("window_keys", seed) not in cache:
        cache[("window_keys", seed)] = written_keys(WINDOW_WRITES, seed + 3)
    return cache[("window_keys", seed)]


@pytest.mark.benchmark(group="write_window")
@pytest.mark.parametrize("impl", impl_params("write_window"))
@pytest.mark.parametrize("concurrent", [WINDOW_WRITES, 64], ids=["whole_window", "64_commits"])
def test_write_window_is_stale(benchmark, impl, concurrent, bench_opts, session_cache):
    """One transaction with 16 read ranges validated against a window of 10k writes. ``whole_window``:
    its snapshot predates every write, so all 10k writes are concurrent with it (the stated target case);
    ``64_commits``: only the last 64 commits are concurrent with it (the common case). The window uses the
    *impl* write-window kernel and the read set the interval-set twin of the same name."""
    from engine.conflict.base import Verdict

    mod = implementations("interval_set").get(impl, implementations("interval_set")["py"])
    keys = _window_keys(session_cache, bench_opts.seed)
    if ("window", impl, bench_opts.seed) not in session_cache:
        ids = doc_ids(random.Random(bench_opts.seed + 4), len(keys))
        session_cache[("window", impl, bench_opts.seed)] = build_window(
            keys, ids, implementations("write_window")[impl])
    window = session_cache[("window", impl, bench_opts.seed)]
    read_set = {INDEX_NAME: mod.IntervalSet(read_ranges(READ_RANGES, bench_opts.seed + 2, width=1000,
                                                        avoid=key_ints(keys)))}
    to_ts = Timestamp(len(keys))
    from_ts = Timestamp(len(keys) - concurrent)
    if window.is_stale(read_set, from_ts, to_ts).verdict is not Verdict.COMMIT:  # sanity, not timing
        raise RuntimeError("read ranges were built to miss every written key")
    label = "10k-write window" if concurrent == WINDOW_WRITES else f"{concurrent} of 10k writes"
    describe(benchmark, bench=f"write_window.is_stale[{READ_RANGES} ranges, {label}]", kernel="write_window",
             impl=impl, unit="txns", ops_per_call=1,
             params={"read_ranges": READ_RANGES, "window_writes": len(keys), "checked_writes": concurrent})
    benchmark(window.is_stale, read_set, from_ts, to_ts)


# ---- interval_map ----------------------------------------------------------------------------------------

def _interval_map(cache: dict, impl: str, n: int, seed: int) -> tuple[Any, float]:
    """The map of *n* intervals for *impl* and its build time, built once per session."""
    key = ("interval_map", impl, n, seed)
    if key not in cache:
        t0 = time.perf_counter()
        m = build_interval_map(implementations("interval_map")[impl], n, seed)
        cache[key] = (m, time.perf_counter() - t0)
    return cache[key]


@pytest.mark.benchmark(group="interval_map")
@pytest.mark.parametrize("n", INTERVAL_MAP_SIZES, ids=[size_label(n) for n in INTERVAL_MAP_SIZES])
@pytest.mark.parametrize("impl", impl_params("interval_map"))
@pytest.mark.parametrize("op", ["stab", "stab_many"])
def test_interval_map_stab(benchmark, op, impl, n, bench_opts, session_cache, not_run):
    bench = f"interval_map.{op}[n={size_label(n)}]"
    if impl == "py" and n > PY_MAP_QUICK_LIMIT and bench_opts.quick:
        not_run(bench=bench, impl=impl, reason=f"--quick: the pure-Python map takes ~20 s and ~400 MB to build "
                                              f"at {size_label(n)}; the default run includes it")
    m, build_s = _interval_map(session_cache, impl, n, bench_opts.seed)
    depth = m.debug_state()["depth"] if n <= PY_MAP_QUICK_LIMIT else None  # O(n) snapshot: small maps only
    probes = written_keys(1024, bench_opts.seed + 5)
    hits = sum(len(m.stab(k)) for k in probes)
    if op == "stab":
        def run() -> None:
            stab = m.stab
            for k in probes:
                stab(k)
    else:
        def run() -> None:
            m.stab_many(probes)
    describe(benchmark, bench=bench, kernel="interval_map", impl=impl, unit="keys", ops_per_call=len(probes),
             params={"intervals": n, "probes": len(probes), "hits_per_key": hits / len(probes),
                     "build_s": round(build_s, 3), "depth": depth})
    benchmark(run)


# ---- keycodec --------------------------------------------------------------------------------------------

@pytest.mark.benchmark(group="keycodec")
@pytest.mark.parametrize("impl", impl_params("keycodec"))
@pytest.mark.parametrize("op", ["encode_key", "index_key_for_document", "decode_key"])
def test_keycodec(benchmark, op, impl, bench_opts):
    """A typical user-index key: ``(author: str, ts: int, _id)``."""
    mod = implementations("keycodec")[impl]
    doc_id = doc_ids(random.Random(bench_opts.seed), 1)[0]
    doc = typical_document(doc_id)
    values = (doc["author"], doc["ts"], doc_id)
    key = encoding.encode_key(values)
    describe(benchmark, bench=f"keycodec.{op}", kernel="keycodec", impl=impl, unit="keys",
             params={"values": "(str, int, id)", "key_bytes": len(key)})
    if op == "encode_key":
        benchmark(mod.encode_key, values)
    elif op == "index_key_for_document":
        benchmark(mod.index_key_for_document, doc, ("author", "ts"), doc_id)
    else:
        benchmark(mod.decode_key, key)


# ---- hlc and record --------------------------------------------------------------------------------------

@pytest.mark.benchmark(group="hlc")
@pytest.mark.parametrize("impl", impl_params("hlc"))
def test_hlc_now(benchmark, impl):
    """``now()`` under a stalled physical clock: the logical-counter path of a busy committer."""
    mod = implementations("hlc")[impl]
    clock = mod.HybridLogicalClock(mod.FakePhysicalClock())
    describe(benchmark, bench="hlc.now", kernel="hlc", impl=impl, unit="timestamps",
             params={"physical_clock": "FakePhysicalClock (stalled)"})
    benchmark(clock.now)


@pytest.mark.benchmark(group="record")
@pytest.mark.parametrize("impl", impl_params("record"))
@pytest.mark.parametrize("op", ["encode_record", "decode_record"])
def test_record(benchmark, op, impl, bench_opts):
    mod = implementations("record")[impl]
    rec = typical_record(doc_ids(random.Random(bench_opts.seed), 1)[0])
    data = implementations("record")["py"].encode_record(rec)
    describe(benchmark, bench=f"record.{op}", kernel="record", impl=impl, unit="records",
             params={"writes": 1, "value_bytes": 120, "record_bytes": len(data)})
    if op == "encode_record":
        benchmark(mod.encode_record, rec)
    else:
        benchmark(mod.decode_record, data)


# ---- doccodec ---------------------------------------------------------------------------------------------

#: YCSB's record shape: 10 fields of 100 bytes each.
YCSB_FIELDS = 10
YCSB_FIELD_BYTES = 100


def ycsb_document(doc_id: str, rng: random.Random) -> dict[str, Any]:
    """A YCSB-sized stored document: the system fields and ``field0..field9`` of 100 ASCII letters."""
    doc: dict[str, Any] = {"_id": doc_id, "_creationTime": NOW_MS}
    for i in range(YCSB_FIELDS):
        doc[f"field{i}"] = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(YCSB_FIELD_BYTES))
    return doc


def _doc_codecs() -> dict[str, tuple[Any, Any]]:
    """impl -> (encode, decode): the JSON storage form, then every doccodec implementation."""
    from engine.model import values

    out = {"json": (lambda d: values.validate_document(d, allow_system_fields=True), values.decode_document)}
    for name, mod in implementations("doccodec").items():
        out[name] = (mod.encode_document, mod.decode_document)
    return out


@pytest.mark.benchmark(group="doccodec")
@pytest.mark.parametrize("impl", [pytest.param(name, id=name) for name in _doc_codecs()])
@pytest.mark.parametrize("op", ["encode_document", "decode_document"])
def test_doccodec(benchmark, op, impl, bench_opts):
    rng = random.Random(bench_opts.seed)
    doc = ycsb_document(doc_ids(rng, 1)[0], rng)
    encode, decode = _doc_codecs()[impl]
    data = encode(doc)
    describe(benchmark, bench=f"doccodec.{op}[ycsb {YCSB_FIELDS}x{YCSB_FIELD_BYTES}B]", kernel="doccodec",
             impl=impl, unit="documents", params={"fields": YCSB_FIELDS, "field_bytes": YCSB_FIELD_BYTES,
                                                  "stored_bytes": len(data)})
    if op == "encode_document":
        benchmark(encode, doc)
    else:
        benchmark(decode, data)


# ---- mvcc (mem-btree) and mvcc_lmdb (lmdb-btree) ---------------------------------------------------------

STRATEGY = {"mvcc": "mem-btree", "mvcc_lmdb": "lmdb-btree"}


def _mvcc_keys(cache: dict, seed: int) -> list[bytes]:
    if ("mvcc_keys", seed) not in cache:
        cache[("mvcc_keys", seed)] = written_keys(MVCC_KEYS, seed + 6)
    return cache[("mvcc_keys", seed)]


@pytest.fixture(scope="session")
def bench_dir(session_cache):
    """A scratch directory for LMDB files, removed (stores and environments closed first) at session end."""
    root = tempfile.mkdtemp(prefix="ripple-bench-micro-")
    yield root
    for key, value in list(session_cache.items()):
        if key[0] == "mvcc_store":
            value[2].close()
        elif key[0] == "raw_env":
            value.close()
        else:
            continue
        del session_cache[key]
    shutil.rmtree(root, ignore_errors=True)


def _mvcc_view(cache: dict, kernel: str, impl: str, seed: int, root: str) -> tuple[Any, Timestamp]:
    """(index view, snapshot ts) of a store holding ``MVCC_KEYS`` keys, built once per session."""
    key = ("mvcc_store", kernel, impl, seed)
    if key not in cache:
        from engine.index.base import IndexConfig

        from engine.index.registry import open_index_store

        mod = implementations(kernel)[impl]
        # The strategy's one store class, given this kernel, as the database opens it.
        if kernel == "mvcc":
            store = open_index_store("mem-btree", IndexConfig(), kernel=mod)
        else:
            path = os.path.join(root, f"{kernel}-{impl}")
            shutil.rmtree(path, ignore_errors=True)
            store = open_index_store("lmdb-btree", IndexConfig(path=path, durability="none", map_size=1 << 30),
                                     kernel=mod)
        ts = fill_index(store, _mvcc_keys(cache, seed))
        cache[key] = (store.open_index(INDEX_ID), Timestamp(ts), store)
    view, ts, _store = cache[key]
    return view, ts


def _raw_env(cache: dict, seed: int, root: str):
    """A plain py-lmdb environment holding the same keys and values (the raw get baseline)."""
    import lmdb

    if ("raw_env", seed) not in cache:
        path = os.path.join(root, "raw-lmdb")
        shutil.rmtree(path, ignore_errors=True)
        env = lmdb.open(path, map_size=1 << 30, sync=False, metasync=False)
        with env.begin(write=True) as txn:
            for k in _mvcc_keys(cache, seed):
                txn.put(k, k[-100:].rjust(100, b"v"))
        cache[("raw_env", seed)] = env
    return cache[("raw_env", seed)]


MVCC_PARAMS = [pytest.param(k, i, id=f"{k}-{i}") for k in ("mvcc", "mvcc_lmdb") for i in implementations(k)]


@pytest.mark.benchmark(group="mvcc")
@pytest.mark.parametrize("kernel,impl", MVCC_PARAMS)
def test_mvcc_get(benchmark, kernel, impl, bench_opts, session_cache, bench_dir):
    """Point get p50 (one timed call per round, a different random key each round), plus the ratio to a
    raw py-lmdb get of the same keys: 5 interleaved rounds of both, timed the same way, in this test."""
    view, ts = _mvcc_view(session_cache, kernel, impl, bench_opts.seed, bench_dir)
    env = _raw_env(session_cache, bench_opts.seed, bench_dir)
    keys = _mvcc_keys(session_cache, bench_opts.seed)
    rng = random.Random(bench_opts.seed + 7)
    samples = 2_000 if bench_opts.quick else 10_000

    def raw_get(k: bytes):
        with env.begin() as txn:
            return txn.get(k)

    get = view.get
    raw_p50, mvcc_p50, ratios = [], [], []
    for _ in range(max(5, bench_opts.min_rounds)):
        sample = [rng.choice(keys) for _ in range(samples // 2)]
        r = statistics.median(time_calls(raw_get, sample))
        m = statistics.median(time_calls(lambda k: get(k, ts), sample))
        raw_p50.append(r)
        mvcc_p50.append(m)
        ratios.append(m / r)
    raw_us = statistics.median(raw_p50)
    cycle = itertools.cycle([rng.choice(keys) for _ in range(4096)])
    strategy = STRATEGY[kernel]
    bench = f"{kernel}.get p50[{size_label(len(keys))} keys]"
    describe(benchmark, bench=bench, kernel=kernel, impl=impl, unit="gets",
             params={"keys": len(keys), "index": strategy, "samples": samples, "value_bytes": 100},
             latency_is_p50=True,
             companions=[{"bench": bench, "impl": f"raw lmdb (vs {impl})", "median_s": raw_us / 1e6,
                          "unit": "gets", "note": f"interleaved with {kernel}-{impl}"}],
             derived=[{"bench": f"{kernel}.get p50 / raw lmdb get p50", "impl": impl,
                       "ratio": statistics.median(ratios), "ratio_runs": ratios,
                       "mvcc_p50_us_runs": mvcc_p50, "raw_p50_us_runs": raw_p50}])
    benchmark.pedantic(get, setup=lambda: ((next(cycle), ts), {}), rounds=samples, warmup_rounds=100)


@pytest.mark.benchmark(group="mvcc")
@pytest.mark.parametrize("kernel,impl", MVCC_PARAMS)
def test_mvcc_scan(benchmark, kernel, impl, bench_opts, session_cache, bench_dir):
    """Every entry of the index through ``scan`` (batched re-seeking iterator, as queries use it)."""
    view, ts = _mvcc_view(session_cache, kernel, impl, bench_opts.seed, bench_dir)
    n = len(_mvcc_keys(session_cache, bench_opts.seed))
    everything = Interval.all()

    def run() -> int:
        c = 0
        for _ in view.scan(everything, ts):
            c += 1
        return c

    describe(benchmark, bench=f"{kernel}.scan[{size_label(n)} entries]", kernel=kernel, impl=impl,
             unit="entries", ops_per_call=n, params={"keys": n, "index": STRATEGY[kernel]})
    benchmark(run)


@pytest.mark.benchmark(group="mvcc")
@pytest.mark.parametrize("kernel,impl", MVCC_PARAMS)
def test_mvcc_scan_100(benchmark, kernel, impl, bench_opts, session_cache, bench_dir):
    """YCSB-E shape: seek to a random key, read up to 100 rows (``scan_batch``)."""
    view, ts = _mvcc_view(session_cache, kernel, impl, bench_opts.seed, bench_dir)
    keys = _mvcc_keys(session_cache, bench_opts.seed)
    rng = random.Random(bench_opts.seed + 8)
    starts = itertools.cycle([Interval(rng.choice(keys), None) for _ in range(4096)])
    scan_batch = view.scan_batch
    describe(benchmark, bench=f"{kernel}.scan_100[{size_label(len(keys))} keys]", kernel=kernel, impl=impl,
             unit="scans", params={"keys": len(keys), "rows": 100, "index": STRATEGY[kernel]})
    benchmark(lambda: scan_batch(next(starts), ts, 100))
