"""The hot counter: T threads each increment ONE document N times; Ripple against SQLite, same run.

``python -m bench.hot_counter [--threads 16] [--per-thread 1000] [--repeats 5] [--durability full|none]
[--out results/bench/hot_counter]``. For each persistence strategy (memory, lmdb, sqlite) and for SQLite
itself, it runs the same increments and records wall time, throughput, the engine's counters (conflicts,
retries, serialized fallbacks, failed mutations), and the final value, which must equal T×N. Prints the
median of the repeats per target and its ratio to SQLite's median; writes every repeat with full
metadata (git sha, kernels, strategies, retry policy, versions, seed, machine) as JSON.

SQLite does what an application would: one connection per thread, ``BEGIN IMMEDIATE; UPDATE counters SET
n = n + 1; COMMIT`` (its single write lock serializes the writers; a busy timeout makes them queue), WAL,
``synchronous=FULL`` for durability "full" and ``OFF`` for "none", as in ``experiments/baselines``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

import engine
from bench.metadata import collect
from experiments.baselines.sqlite_common import connect, setup_record

STRATEGIES = (("memory", "mem-btree"), ("lmdb", "lmdb-btree"), ("sqlite", "mem-btree"))


def _run_threads(threads: int, work) -> float:
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def body(t: int) -> None:
        barrier.wait()
        try:
            work(t)
        except BaseException as exc:  # reported by the caller, never swallowed
            errors.append(exc)

    ts = [threading.Thread(target=body, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} workers failed; first: {errors[0]!r}")
    return elapsed


def run_ripple(persistence: str, index: str, threads: int, per_thread: int, durability: str, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = None if persistence == "memory" else os.path.join(tmp, "db")
        db = engine.open_database(path, persistence=persistence, index=index, durability=durability,
                                  subscriptions="inline", seed=seed)
        try:
            counter = db.mutate(lambda tx: tx.insert("counters", {"n": 0}))

            def bump(tx):
                tx.patch(counter, {"n": tx.get(counter)["n"] + 1})

            def work(_t: int) -> None:
                for _ in range(per_thread):
                    db.mutate(bump, name="bump")

            elapsed = _run_threads(threads, work)
            final = db.read(lambda tx: tx.get(counter))["n"]
            stats = db.stats()
            return {"target": f"ripple-{persistence}", "elapsed_s": elapsed, "final": final,
                    "increments_per_s": threads * per_thread / elapsed,
                    "stats": {k: stats[k] for k in ("commits", "conflicts", "retries", "serialized",
                                                     "failed_mutations", "commit_batches")},
                    "meta": collect(config=db.config.to_dict(), seed=seed, impl=db.implementations())}
        finally:
            db.close()


def run_sqlite(threads: int, per_thread: int, durability: str, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "counter.db")
        conn = connect(path, durability)
        conn.execute("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        conn.execute("INSERT INTO counters (id, n) VALUES (1, 0)")

        def work(_t: int) -> None:
            c = connect(path, durability)
            try:
                for _ in range(per_thread):
                    c.execute("BEGIN IMMEDIATE")
                    c.execute("UPDATE counters SET n = n + 1 WHERE id = 1")
                    c.execute("COMMIT")
            finally:
                c.close()

        elapsed = _run_threads(threads, work)
        final = conn.execute("SELECT n FROM counters WHERE id = 1").fetchone()[0]
        conn.close()
        return {"target": "sqlite", "elapsed_s": elapsed, "final": final,
                "increments_per_s": threads * per_thread / elapsed,
                "meta": collect(config={"baseline": setup_record(durability)}, seed=seed)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hot_counter", description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--per-thread", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--durability", choices=("full", "none"), default="full")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=os.path.join("results", "bench", "hot_counter"))
    args = p.parse_args(argv)
    want = args.threads * args.per_thread
    rows: list[dict[str, Any]] = []
    for r in range(args.repeats):
        rows.append(run_sqlite(args.threads, args.per_thread, args.durability, args.seed + r))
        for persistence, index in STRATEGIES:
            rows.append(run_ripple(persistence, index, args.threads, args.per_thread, args.durability, args.seed + r))
    wrong = [row for row in rows if row["final"] != want or row.get("stats", {}).get("failed_mutations", 0)]
    by_target: dict[str, list[float]] = {}
    for row in rows:
        by_target.setdefault(row["target"], []).append(row["increments_per_s"])
    sqlite_median = statistics.median(by_target["sqlite"])
    print(f"hot counter: {args.threads} threads x {args.per_thread} increments, durability {args.durability}, "
          f"median of {args.repeats}")
    print(f"{'target':<16} {'increments/s':>14} {'vs sqlite':>10}")
    summary = {}
    for target, rates in by_target.items():
        med = statistics.median(rates)
        summary[target] = {"median_increments_per_s": med, "ratio_vs_sqlite": med / sqlite_median}
        print(f"{target:<16} {med:>14,.0f} {med / sqlite_median:>9.2f}x")
    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + ".json")
    with open(out, "w") as f:
        json.dump({"args": vars(args), "summary": summary, "rows": rows}, f, indent=1, default=str)
    print(f"written: {out}")
    if wrong:
        print(f"WRONG RESULTS in {len(wrong)} runs: {[(w['target'], w['final']) for w in wrong]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
