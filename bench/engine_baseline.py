"""Macro baseline of the embedded engine against raw py-lmdb, measured side by side in one run.

What it measures (medians of ``--repeat`` runs; each row carries full metadata, see bench/metadata.py):
- durable commit throughput of the "4-put shape" (log record + document + 2 index entries): raw py-lmdb
  with one commit per write transaction, raw py-lmdb with G commits per transaction, and the engine
  (an insert into a table with one user index) single-threaded, with T threads and group commit, and with
  T threads and group commit disabled (max_batch=1); commit latency percentiles;
- point reads: the MVCC layer's ``get``, ``tx.get`` inside an open read-only transaction (a fresh one per
  sample, opened outside the timed call) and a full ``db.read(tx.get)`` against a raw py-lmdb get of the
  same key in an environment holding the same data, all p50 of single timed calls;
- scans: documents/s of a full-table query (decoded documents), YCSB-E-shaped queries (seek + up to 100
  rows through a user index) per second and their p50 latency.

Usage: ``python -m bench.engine_baseline [--docs N] [--seconds S] [--threads T] [--repeat R] [--out DIR]
[--reads-only]`` (``--reads-only`` skips the commit cases).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import struct
import tempfile
import threading
import time
from typing import Any, Callable

import lmdb

import engine
from bench.metadata import collect
from engine import define_schema, define_table, v
from engine.clock.hlc import FakePhysicalClock

SCHEMA = define_schema({"items": define_table({"k": v.int64(), "body": v.string()}).index("by_k", ["k"])})
BODY = "x" * 80


def _median_of(runs: list[float]) -> float:
    return statistics.median(runs)


def _pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p * len(s)))]


# ---- raw py-lmdb baselines --------------------------------------------------------------------------

def raw_commits(path: str, seconds: float, group: int, sync: bool = True) -> float:
    """Commits/s of the 4-put shape, *group* commits per durable write transaction."""
    env = lmdb.open(path, map_size=1 << 32, max_dbs=4, sync=sync, metasync=sync)
    log, docs, idx = env.open_db(b"log"), env.open_db(b"docs"), env.open_db(b"idx")
    record = os.urandom(200)
    doc = os.urandom(120)
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        with env.begin(write=True) as txn:
            for _ in range(group):
                k = struct.pack(">Q", n)
                txn.put(k, record, db=log)
                txn.put(k + b"d" * 24, doc, db=docs)
                txn.put(b"\x01" + k + b"i" * 30, b"d" * 32, db=idx)
                txn.put(b"\x02" + k + b"j" * 30, b"d" * 32, db=idx)
                n += 1
    elapsed = time.perf_counter() - t0
    env.close()
    return n / elapsed


# ---- engine ---------------------------------------------------------------------------------------------

def open_db(path: str, **kw: Any):
    return engine.open_database(path, schema=SCHEMA, subscriptions="inline", **kw)


def engine_commits(path: str, seconds: float, threads: int, **kw: Any) -> tuple[float, list[float], dict]:
    """Commits/s and per-commit latencies (ms) of single-document inserts from *threads* threads."""
    db = open_db(path, **kw)
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def insert(tx, k):
        tx.insert("items", {"k": k, "body": BODY})

    def work(t: int) -> None:
        rng = random.Random(t)
        mine = []
        while time.perf_counter() < stop:
            s = time.perf_counter()
            db.mutate(insert, rng.randrange(1 << 30), name="insert")
            mine.append((time.perf_counter() - s) * 1000)
            counts[t] += 1
        with lock:
            latencies.extend(mine)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    stats = db.stats()
    db.close()
    return sum(counts) / elapsed, latencies, stats


def build_dataset(path: str, docs: int, seed: int):
    db = open_db(path, durability="none", physical_clock=FakePhysicalClock())
    rng = random.Random(seed)
    ids: list[str] = []
    batch = 1000
    for start in range(0, docs, batch):
        ks = [rng.randrange(docs * 10) for _ in range(min(batch, docs - start))]
        ids += db.mutate(lambda tx, ks=ks: [tx.insert("items", {"k": k, "body": BODY}) for k in ks])
    return db, ids


def time_calls(fn: Callable[[Any], Any], args: list[Any]) -> list[float]:
    """Per-call latency in microseconds."""
    out = []
    pc = time.perf_counter_ns
    for a in args:
        s = pc()
        fn(a)
        out.append((pc() - s) / 1000)
    return out


def point_reads(db, ids: list[str], tmp: str, samples: int, seed: int) -> dict[str, float]:
    id_key = db.keys.id_key
    rng = random.Random(seed)
    sample = [rng.choice(ids) for _ in range(samples)]
    table = db.catalog.table("items")
    view = db.index_view(table.indexes["by_id"].index_id)
    ts = db.latest_ts()
    keys = [id_key(i) for i in sample]
    # Raw twin: the same by_id keys and stored values in a plain LMDB environment.
    raw_env = lmdb.open(os.path.join(tmp, "raw-reads"), map_size=1 << 32, sync=False, metasync=False)
    with raw_env.begin(write=True) as txn:
        for i in ids:
            k = id_key(i)
            txn.put(k, view.get(k, ts))

    def raw_get(k):
        with raw_env.begin(buffers=False) as txn:
            return txn.get(k)

    mvcc = time_calls(lambda k: view.get(k, ts), keys)
    raw = time_calls(raw_get, keys)
    full = time_calls(lambda i: db.read(lambda tx: tx.get(i)), sample)
    in_tx = []
    pc = time.perf_counter_ns
    for i in sample:
        tx = db.begin(read_only=True)
        s = pc()
        tx.get(i)
        in_tx.append((pc() - s) / 1000)
        tx.release()
    raw_env.close()
    return {
        "mvcc_get_p50_us": _pct(mvcc, 0.5), "raw_lmdb_get_p50_us": _pct(raw, 0.5),
        "tx_get_p50_us": _pct(full, 0.5), "mvcc_over_raw": _pct(mvcc, 0.5) / _pct(raw, 0.5),
        "tx_get_in_open_tx_p50_us": _pct(in_tx, 0.5), "tx_get_in_open_tx_over_raw": _pct(in_tx, 0.5) / _pct(raw, 0.5),
    }


def scans(db, docs: int, seconds: float, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    n = len(db.read(lambda tx: tx.query("items").collect()))
    full_rate = n / (time.perf_counter() - t0)
    table = db.catalog.table("items")
    view = db.index_view(table.indexes["by_k"].index_id)
    ts = db.latest_ts()
    from engine.model.types import Interval

    t0 = time.perf_counter()
    m = sum(1 for _ in view.scan(Interval.all(), ts))
    index_rate = m / (time.perf_counter() - t0)
    rng = random.Random(seed)
    q = 0
    rows = 0
    latencies = []
    pc = time.perf_counter_ns
    stop = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < stop:
        lo = rng.randrange(docs * 10)
        s = pc()
        rows += len(db.read(lambda tx: tx.query("items").with_index("by_k", lambda r: r.gte("k", lo)).take(100)))
        latencies.append((pc() - s) / 1000)
        q += 1
    return {"full_scan_docs_per_s": full_rate, "index_scan_entries_per_s": index_rate,
            "ycsb_e_queries_per_s": q / (time.perf_counter() - t0), "ycsb_e_rows_per_query": rows / max(q, 1),
            "ycsb_e_p50_us": _pct(latencies, 0.5)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default="results/bench")
    p.add_argument("--reads-only", action="store_true", help="skip the commit cases (reads and scans only)")
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="ripple-bench-")
    rows: list[dict[str, Any]] = []
    try:
        def fresh(name: str) -> str:
            d = os.path.join(tmp, name)
            shutil.rmtree(d, ignore_errors=True)
            return d

        commit_cases: dict[str, Callable[[], tuple[float, dict]]] = {
            "raw_lmdb_g1": lambda: (raw_commits(fresh("raw1"), args.seconds, 1), {}),
            f"raw_lmdb_g{args.threads}": lambda: (raw_commits(fresh("rawg"), args.seconds, args.threads), {}),
            "engine_1_thread": lambda: _engine(fresh("e1"), args.seconds, 1),
            f"engine_{args.threads}_threads_group_commit": lambda: _engine(fresh("eg"), args.seconds, args.threads),
            f"engine_{args.threads}_threads_no_group_commit": lambda: _engine(fresh("en"), args.seconds, args.threads, group_commit_max_batch=1),
            "engine_1_thread_durability_none": lambda: _engine(fresh("e1n"), args.seconds, 1, durability="none"),
            "raw_lmdb_g1_nosync": lambda: (raw_commits(fresh("rawn"), args.seconds, 1, sync=False), {}),
        }
        results: dict[str, Any] = {}
        if args.reads_only:
            commit_cases = {}
        for name, case in commit_cases.items():
            runs, extra = [], {}
            for _ in range(args.repeat):
                rate, extra = case()
                runs.append(rate)
            results[name] = {"commits_per_s": _median_of(runs), "runs": runs, **extra}
            print(f"{name:45s} {results[name]['commits_per_s']:10.0f} commits/s", flush=True)
        if commit_cases:
            results["ratio_engine_1_thread_vs_raw_g1"] = (results["engine_1_thread"]["commits_per_s"]
                                                          / results["raw_lmdb_g1"]["commits_per_s"])
        db, ids = build_dataset(fresh("data"), args.docs, args.seed)
        reads = [point_reads(db, ids, tmp, 20_000, args.seed + r) for r in range(args.repeat)]
        results["point_reads"] = {k: _median_of([r[k] for r in reads]) for k in reads[0]}
        scan_runs = [scans(db, args.docs, args.seconds, args.seed + r) for r in range(args.repeat)]
        results["scans"] = {k: _median_of([r[k] for r in scan_runs]) for k in scan_runs[0]}
        config = db.config.to_dict()
        impl = db.implementations()
        db.close()
        meta = collect(config={**config, "docs": args.docs, "seconds": args.seconds, "threads": args.threads,
                               "repeat": args.repeat, "reads_only": args.reads_only}, seed=args.seed, impl=impl)
        rows.append({"benchmark": "engine_baseline", "results": results, "meta": meta})
        os.makedirs(args.out, exist_ok=True)
        out = os.path.join(args.out, f"engine_baseline-{time.strftime('%Y%m%dT%H%M%S')}.json")
        with open(out, "w") as f:
            json.dump(rows, f, indent=2, default=str)
        print(json.dumps({k: results[k] for k in ("point_reads", "scans", "ratio_engine_1_thread_vs_raw_g1")
                          if k in results}, indent=2))
        print(f"wrote {out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _engine(path: str, seconds: float, threads: int, **kw: Any) -> tuple[float, dict]:
    rate, lat, stats = engine_commits(path, seconds, threads, **kw)
    return rate, {"latency_ms_p50": _pct(lat, 0.5), "latency_ms_p99": _pct(lat, 0.99),
                  "conflicts": stats["conflicts"], "avg_batch": stats["batched_commits"] / max(1, stats["commit_batches"])}


if __name__ == "__main__":
    raise SystemExit(main())
