"""SQLite as a user would embed it instead of Ripple: one file, WAL, ``BEGIN IMMEDIATE`` for writers.

Who may call it: ``experiments.runner`` (the "sqlite" target). Setup recorded with every result
(``setup_record``): journal_mode=WAL; ``synchronous=FULL`` when the run's durability is "full" (an fsync per
commit, like Ripple's default) and ``OFF`` for "none"; a busy timeout so that writers queue on SQLite's
single write lock instead of failing. Read-only transactions use a deferred ``BEGIN`` (a consistent WAL
snapshot). If SQLITE_BUSY still surfaces, the transaction is retried and the attempt recorded as "busy".

Concurrency modes: ``threads`` (one connection per thread; the sqlite3 module releases the GIL inside
SQLite calls) and ``processes`` (one process per worker, spawned, each with its own connection, so the
GIL cannot distort the baseline). Each worker's op stream is the same as it would be in Ripple.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import threading
import time
from typing import Any, Callable

from experiments.loop import BaselineAttempt, TxnRecord, drive

BUSY_TIMEOUT_S = 30.0
MAX_BUSY_RETRIES = 100


def setup_record(durability: str) -> dict[str, Any]:
    return {"engine": "sqlite", "version": sqlite3.sqlite_version, "journal_mode": "wal",
            "synchronous": "FULL" if durability == "full" else "OFF", "writers": "BEGIN IMMEDIATE",
            "readers": "BEGIN (deferred)", "busy_timeout_s": BUSY_TIMEOUT_S}


def connect(path: str, durability: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the recorded pragmas."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'OFF'}")
    return conn


def run_txn(conn: sqlite3.Connection, writes: bool, body: Callable[[sqlite3.Connection], Any]) -> tuple[Any, tuple, bool]:
    """Run *body* in one transaction, retrying on SQLITE_BUSY. Returns (value, attempts, failed)."""
    attempts: list[BaselineAttempt] = []
    for _ in range(MAX_BUSY_RETRIES):
        try:
            conn.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
            try:
                value = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            attempts.append(BaselineAttempt("busy"))
            continue
        attempts.append(BaselineAttempt("commit"))
        return value, tuple(attempts), False
    return None, tuple(attempts), True


def _process_main(spec: dict, barrier: Any, queue: Any) -> None:
    """Entry point of a worker process: rebuild the workload and adapter, run, send back the records."""
    from experiments.baselines import ADAPTERS
    from experiments.workloads import make_workload

    w = spec["worker"]
    try:
        workload = make_workload(spec["kind"], spec["params"], seed=spec["seed"])
        adapter = ADAPTERS[spec["kind"]](workload)
        conn = connect(spec["path"], spec["durability"])
        stream = workload.stream(spec["seed"], w, spec["workers"])
        stop = threading.Event()
        barrier.wait()
        t0 = time.perf_counter_ns()
        if spec["duration_s"]:
            timer = threading.Timer(spec["duration_s"], stop.set)
            timer.start()
        recs = drive(stream, lambda op: adapter.execute(conn, op), worker=w, quota=spec["quota"], stop=stop, t0_ns=t0)
        if spec["duration_s"]:
            timer.cancel()
        conn.close()
        queue.put((w, recs, adapter.counters(), None))
    except BaseException as exc:  # pragma: no cover - reported by the parent
        queue.put((w, [], {}, repr(exc)))


def run_processes(adapter: Any, path: str, durability: str, *, kind: str, params: dict, seed: int, workers: int,
                  quotas: list[int | None], duration_s: float | None) -> tuple[list[list[TxnRecord]], float]:
    """One spawned process per worker (no shared GIL). Returns (records per worker, wall seconds from the
    common start to the last worker's end). Cost: one interpreter start-up per worker (not timed)."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    queue = ctx.Queue()
    procs = []
    for w in range(workers):
        spec = {"kind": kind, "params": params, "seed": seed, "worker": w, "workers": workers, "path": path,
                "durability": durability, "quota": quotas[w], "duration_s": duration_s}
        p = ctx.Process(target=_process_main, args=(spec, barrier, queue), name=f"sqlite-proc-{w}")
        p.start()
        procs.append(p)
    barrier.wait(timeout=120)
    t0 = time.perf_counter()
    results: list[list[TxnRecord]] = [[] for _ in range(workers)]
    for _ in range(workers):
        w, recs, counters, err = queue.get(timeout=3600)
        if err:
            for p in procs:
                p.terminate()
            raise RuntimeError(f"sqlite worker process {w} failed: {err}")
        results[w] = recs
        adapter.merge_counters(counters)
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=60)
    return results, wall


def fresh_path(root: str, name: str) -> str:
    path = os.path.join(root, name)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return path
