"""Results: the run folder, the per-attempt event table (Parquet), summaries and metadata.

Who may call it: the runner, the sweep driver, notebooks and tests (``read_events``, ``load_run``).

Layout of one run folder ``results/experiments/<name>/<UTC timestamp>-<short sha>/``:

- ``metadata.json``: ``bench.metadata.collect`` (git sha and dirty flag, implementation per kernel,
  persistence and index strategies, package versions, CPU, seed, configuration) plus the experiment's
  configuration, the workload parameters, the function host and the baseline setup.
- ``summary.json``: per target (and repeat): throughput, latency percentiles, abort rate by reason,
  retries, the workload's invariant report; ratios between targets when several ran side by side.
- ``events.parquet``: one row per transaction *attempt* (schema ``EVENT_SCHEMA``).
- for sweeps: ``points/<NNN>/`` holds each point's three files, and ``sweep.parquet`` / ``sweep.json``
  one row per point and target (plus ``analytic.parquet`` when the experiment has an analytic model).

Invariants: a run folder is fresh (never reused); every summary row can be traced to its metadata.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
from typing import Any, Iterable

import numpy as np

from experiments.loop import BaselineAttempt, TxnRecord

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def _pa() -> Any:
    import pyarrow as pa

    return pa


def event_schema() -> Any:
    pa = _pa()
    interval = pa.struct([("index", pa.string()), ("start", pa.binary()), ("end", pa.binary())])
    write = pa.struct([("table", pa.string()), ("id", pa.string()), ("kind", pa.string())])
    return pa.schema([
        ("target", pa.string()), ("repeat", pa.int16()), ("txn", pa.int64()), ("worker", pa.int32()),
        ("seq", pa.int64()), ("op", pa.string()), ("is_write", pa.bool_()),
        ("attempt", pa.int16()), ("attempts", pa.int16()), ("final", pa.bool_()), ("failed", pa.bool_()),
        ("verdict", pa.string()), ("begin_ts", pa.uint64()), ("commit_ts", pa.uint64()),
        ("t_start_us", pa.float64()), ("latency_us", pa.float64()),
        ("read_intervals", pa.list_(interval)), ("written", pa.list_(write)),
        ("conflict_table", pa.string()), ("conflict_index", pa.string()), ("conflict_document", pa.string()),
        ("conflict_key", pa.binary()), ("conflict_ts", pa.uint64()), ("conflict_writer", pa.string()),
    ])


def _verdict(a: Any) -> str:
    if isinstance(a, BaselineAttempt):
        return a.verdict
    v = a.verdict
    return "error" if v is None else v.value


def event_columns(records: Iterable[TxnRecord], *, target: str, repeat: int, txn_base: int = 0) -> dict[str, list]:
    """Columns of ``EVENT_SCHEMA`` for *records* (one row per attempt). Cost O(attempts + intervals)."""
    cols: dict[str, list] = {n: [] for n in event_schema().names}
    for i, r in enumerate(records):
        n = len(r.attempts)
        for j, a in enumerate(r.attempts):
            base = isinstance(a, BaselineAttempt)
            cols["target"].append(target)
            cols["repeat"].append(repeat)
            cols["txn"].append(txn_base + i)
            cols["worker"].append(r.worker)
            cols["seq"].append(r.seq)
            cols["op"].append(r.label)
            cols["is_write"].append(r.writes)
            cols["attempt"].append(j)
            cols["attempts"].append(n)
            cols["final"].append(j == n - 1)
            cols["failed"].append(r.failed)
            cols["verdict"].append(_verdict(a))
            cols["begin_ts"].append(None if base else int(a.begin_ts))
            cols["commit_ts"].append(None if base or a.commit_ts is None else int(a.commit_ts))
            cols["t_start_us"].append(r.t_start_ns / 1000.0)
            cols["latency_us"].append(r.latency_ns / 1000.0)
            if base:
                cols["read_intervals"].append([])
                cols["written"].append([])
                c = None
            else:
                cols["read_intervals"].append([{"index": ix, "start": iv.start, "end": iv.end}
                                               for ix, ivs in a.read_set.items() for iv in ivs])
                cols["written"].append([{"table": t, "id": d, "kind": k} for k, t, d in a.write_set])
                c = a.conflict
            cols["conflict_table"].append(c.table if c else None)
            cols["conflict_index"].append(c.index if c else None)
            cols["conflict_document"].append(c.document_id if c else None)
            cols["conflict_key"].append(c.key if c else None)
            cols["conflict_ts"].append(int(c.ts) if c else None)
            cols["conflict_writer"].append(c.writer if c else None)
    return cols


def write_events(path: str, column_sets: list[dict[str, list]]) -> int:
    """Write the concatenated column sets to *path* as Parquet (zstd). Returns the row count."""
    pa = _pa()
    import pyarrow.parquet as pq

    schema = event_schema()
    merged = {n: [x for cs in column_sets for x in cs[n]] for n in schema.names}
    table = pa.Table.from_pydict(merged, schema=schema)
    pq.write_table(table, path, compression="zstd")
    return table.num_rows


def write_table(path: str, columns: dict[str, list]) -> None:
    """Write plain columns (types inferred) to Parquet."""
    pa = _pa()
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pydict(columns), path, compression="zstd")


def read_events(path: str) -> Any:
    """The event table as a pandas DataFrame. Timestamps stay exact (nullable UInt64, never float64:
    HLC timestamps exceed 2^53); binary keys stay bytes."""
    import pandas as pd
    import pyarrow.parquet as pq

    pa = _pa()
    mapping = {pa.uint64(): pd.UInt64Dtype(), pa.int64(): pd.Int64Dtype()}
    return pq.read_table(path).to_pandas(types_mapper=mapping.get)


# ---- summaries ----------------------------------------------------------------------------------------

def percentiles(samples_us: list[float] | np.ndarray) -> dict[str, float | None]:
    """p50/p90/p99/p999, mean and max of *samples_us* (None for an empty sample)."""
    a = np.asarray(samples_us, dtype=np.float64)
    if a.size == 0:
        return {**{k: None for k in PERCENTILES}, "mean": None, "max": None, "n": 0}
    out: dict[str, float | None] = {k: float(np.percentile(a, q)) for k, q in PERCENTILES.items()}
    out["mean"] = float(a.mean())
    out["max"] = float(a.max())
    out["n"] = int(a.size)
    return out


def summarize(records: list[TxnRecord], wall_s: float) -> dict[str, Any]:
    """Throughput, latency percentiles (µs), abort rate by reason and retries of one target run.

    Abort rate = aborted attempts / attempts of read-write transactions (read-only transactions never
    abort under MVCC and would dilute it); ``by_reason`` splits aborts into conflict / too_old (engine) or
    busy (SQLite). ``failed`` counts operations that gave up after the configured retries.
    """
    writes = [r for r in records if r.writes]
    reads = [r for r in records if not r.writes]
    attempts = [a for r in writes for a in r.attempts]
    reasons: dict[str, int] = {}
    for a in attempts:
        v = _verdict(a)
        if v not in ("commit",):
            reasons[v] = reasons.get(v, 0) + 1
    aborted = sum(reasons.values())
    retries = [len(r.attempts) - 1 for r in writes]
    hist: dict[str, int] = {}
    for k in retries:
        hist[str(k)] = hist.get(str(k), 0) + 1
    committed = sum(1 for r in writes if not r.failed)
    per_op: dict[str, Any] = {}
    for label in sorted({r.label for r in records}):
        rs = [r for r in records if r.label == label]
        att = [a for r in rs for a in r.attempts]
        ab = sum(1 for a in att if _verdict(a) != "commit")
        per_op[label] = {"ops": len(rs), "latency_us": percentiles([r.latency_ns / 1000.0 for r in rs]),
                         "attempts": len(att), "aborted": ab, "abort_rate": ab / len(att) if att else 0.0}
    # Mean attempt duration of write transactions: the time a read set is exposed to other commits.
    attempt_s = [r.latency_ns / 1e9 / max(1, len(r.attempts)) for r in writes]
    return {
        "ops": len(records),
        "write_txns": len(writes),
        "read_txns": len(reads),
        "wall_s": wall_s,
        "throughput_ops_s": len(records) / wall_s if wall_s > 0 else None,
        "commits_s": committed / wall_s if wall_s > 0 else None,
        "latency_us": {
            "all": percentiles([r.latency_ns / 1000.0 for r in records]),
            "commit": percentiles([r.latency_ns / 1000.0 for r in writes if not r.failed]),
            "read": percentiles([r.latency_ns / 1000.0 for r in reads]),
        },
        "write_attempts": len(attempts),
        "aborted_attempts": aborted,
        "abort_rate": aborted / len(attempts) if attempts else 0.0,
        "aborts_by_reason": reasons,
        "abort_rate_by_reason": {k: v / len(attempts) for k, v in reasons.items()} if attempts else {},
        "retries": int(sum(retries)),
        "retries_histogram": hist,
        "failed": sum(1 for r in writes if r.failed),
        "mean_write_attempt_s": float(np.mean(attempt_s)) if attempt_s else None,
        "per_op": per_op,
    }


def median_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median over repeats of the headline numbers (full per-repeat summaries are kept beside)."""
    def med(key_path: list[str]) -> float | None:
        vals = []
        for r in runs:
            node: Any = r
            for k in key_path:
                node = node.get(k) if isinstance(node, dict) else None
            if isinstance(node, (int, float)) and not (isinstance(node, float) and math.isnan(node)):
                vals.append(float(node))
        return float(np.median(vals)) if vals else None

    out = {
        "repeats": len(runs),
        "throughput_ops_s": med(["throughput_ops_s"]),
        "commits_s": med(["commits_s"]),
        "abort_rate": med(["abort_rate"]),
        "retries": med(["retries"]),
        "failed": med(["failed"]),
        "mean_write_attempt_s": med(["mean_write_attempt_s"]),
    }
    for kind in ("commit", "read", "all"):
        for p in (*PERCENTILES, "mean"):
            out[f"{kind}_latency_{p}_us"] = med(["latency_us", kind, p])
    reasons = sorted({k for r in runs for k in r.get("aborts_by_reason", {})})
    out["abort_rate_by_reason"] = {k: med(["abort_rate_by_reason", k]) or 0.0 for k in reasons}
    return out


# ---- folders and json -----------------------------------------------------------------------------------

def new_run_dir(root: str, name: str, short_sha: str, *, now: _dt.datetime | None = None) -> str:
    """Create and return a fresh ``<root>/<name>/<UTC timestamp>-<short sha>[-k]/``."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    base = os.path.join(root, name, f"{stamp}-{short_sha}")
    path, k = base, 1
    while True:
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            k += 1
            path = f"{base}-{k}"


def write_json(path: str, obj: Any) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=_json_default)
        f.write("\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, bytes):
        return o.hex()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def load_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def latest_run(root: str, name: str) -> str | None:
    """The newest run folder of experiment *name* under *root* (by folder name), or None."""
    d = os.path.join(root, name)
    if not os.path.isdir(d):
        return None
    runs = sorted(x for x in os.listdir(d) if os.path.isdir(os.path.join(d, x)))
    return os.path.join(d, runs[-1]) if runs else None
