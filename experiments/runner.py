"""Run one experiment point: every target (Ripple, SQLite) x repeat, side by side, and write its results.

Who may call it: the CLI (``python -m experiments run``), the sweep driver, ``reproduce``, tests.

What one point is: a complete configuration (``experiments.config``). For ``repeat`` in 1..repeats and
each target in ``run.targets`` (interleaved, so targets share the same machine noise), a fresh workload
instance is built from the config, a fresh database is opened in a scratch directory (never in the
results folder), loaded, and driven by ``run.threads`` closed-loop workers for ``run.ops`` operations in
total (or ``run.duration_s`` seconds). Then the workload's invariant is checked and the database closed
and deleted.

Targets:
- ``ripple``: the embedded engine (``engine.open_database`` with the point's ``[engine]`` table), ops
  run through the configured function host (``experiments.hosts``). Always threads in one process: the
  engine is embedded, and a database is one process's object. ``run.mode = "processes"`` applies to
  baselines only, and the summary records what each target used.
- ``sqlite``: ``experiments.baselines`` (WAL, ``BEGIN IMMEDIATE``), threads or processes.

Injection for tests: ``prepare_db(db)`` runs right after the database opens (e.g. to plug in a broken
conflict checker); the measuring clock and sleep are the runtime's.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from experiments import config as cfgmod
from experiments import results
from experiments.loop import Progress, TxnRecord, drive
from experiments.workloads import make_workload
from experiments.workloads.base import InvariantReport

TARGETS = ("ripple", "sqlite")


@dataclass
class TargetRun:
    target: str
    repeat: int
    records: list[TxnRecord]
    wall_s: float
    invariant: InvariantReport
    concurrency: str
    info: dict[str, Any] = field(default_factory=dict)
    extra_summary: dict[str, Any] = field(default_factory=dict)
    extra_tables: dict[str, dict[str, list]] = field(default_factory=dict)


@dataclass
class PointResult:
    config: dict
    runs: list[TargetRun]
    workload_params: dict
    impl: dict[str, str] | None
    engine_config: dict

    def summary(self) -> dict[str, Any]:
        """Per target: median headline numbers over repeats, every repeat's full summary, invariant
        reports; and side-by-side ratios (Ripple / baseline) per repeat and their median."""
        out: dict[str, Any] = {"targets": {}, "ratios": {}}
        for target in dict.fromkeys(r.target for r in self.runs):
            runs = [r for r in self.runs if r.target == target]
            per = []
            for r in runs:
                s = results.summarize(r.records, r.wall_s)
                s["invariant"] = r.invariant.to_dict()
                s["concurrency"] = r.concurrency
                s.update(r.extra_summary)
                s["info"] = r.info
                per.append(s)
            med = results.median_summary(per)
            med["invariant_ok"] = all(r.invariant.ok for r in runs)
            for k in ("delivery_latency_us", "deliveries"):
                if k in per[0]:
                    med[k] = per[0][k] if len(per) == 1 else [p[k] for p in per]
            out["targets"][target] = {"median": med, "repeats": per}
        if "ripple" in out["targets"]:
            for other in out["targets"]:
                if other == "ripple":
                    continue
                out["ratios"][f"ripple/{other}"] = _ratios(out["targets"]["ripple"]["repeats"],
                                                           out["targets"][other]["repeats"])
        out["invariant_ok"] = all(r.invariant.ok for r in self.runs)
        return out


def _ratios(a: list[dict], b: list[dict]) -> dict[str, Any]:
    import numpy as np

    def ratio_list(get: Callable[[dict], Any]) -> list[float]:
        out = []
        for x, y in zip(a, b):
            vx, vy = get(x), get(y)
            if vx is not None and vy:
                out.append(vx / vy)
        return out

    thr = ratio_list(lambda s: s["throughput_ops_s"])
    p50 = ratio_list(lambda s: s["latency_us"]["commit"]["p50"])
    p99 = ratio_list(lambda s: s["latency_us"]["commit"]["p99"])
    return {"throughput": float(np.median(thr)) if thr else None, "throughput_per_repeat": thr,
            "commit_p50": float(np.median(p50)) if p50 else None,
            "commit_p99": float(np.median(p99)) if p99 else None}


# ---- workers -------------------------------------------------------------------------------------------

def _quotas(total: int | None, workers: int) -> list[int | None]:
    if total is None:
        return [None] * workers
    return [total // workers + (1 if w < total % workers else 0) for w in range(workers)]


def _drive_threads(workers: int, setup: Callable[[int], tuple[Any, Callable, Callable[[], None]]],
                   quotas: list[int | None], duration_s: float | None, bar: Any) -> tuple[list[TxnRecord], float]:
    """Start *workers* threads; each calls ``setup(w) -> (stream, execute, cleanup)`` in its own thread,
    waits at a common barrier, then drives its stream. Returns all records and the wall time from the
    barrier to the last worker's end."""
    out: list[list[TxnRecord]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers + 1)
    stop = threading.Event()
    progress = Progress()
    t0 = [0]

    def work(w: int) -> None:
        cleanup = None
        try:
            stream, execute, cleanup = setup(w)
            barrier.wait()
            out[w] = drive(stream, execute, worker=w, quota=quotas[w], stop=stop, t0_ns=t0[0], progress=progress)
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:
            errors.append(exc)
            stop.set()
            barrier.abort()
        finally:
            if cleanup is not None:
                cleanup()

    threads = [threading.Thread(target=work, args=(w,), name=f"worker-{w}", daemon=True) for w in range(workers)]
    for t in threads:
        t.start()
    t0[0] = time.perf_counter_ns()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    start = time.perf_counter()
    shown = 0
    while True:
        alive = [t for t in threads if t.is_alive()]
        if not alive:
            break
        alive[0].join(timeout=0.2)
        elapsed = time.perf_counter() - start
        if duration_s and elapsed >= duration_s:
            stop.set()
        if bar is not None:
            now = int(elapsed) if duration_s else progress.total
            if now > shown:
                bar.update(now - shown)
                shown = now
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    return [r for rs in out for r in rs], wall


def _bar(total: float, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)


# ---- targets ---------------------------------------------------------------------------------------

def _run_ripple(cfg: dict, repeat: int, scratch: str, progress: bool,
                prepare_db: Callable[[Any], None] | None) -> tuple[TargetRun, dict, dict]:
    import engine
    from experiments.hosts import make_host

    run = cfg["run"]
    seed = int(run["seed"])
    workload = make_workload(cfg["workload"]["kind"], _params(cfg), seed=seed)
    ecfg = cfgmod.engine_config(cfg)
    path = None if ecfg.persistence == "memory" else tempfile.mkdtemp(prefix="ripple-", dir=scratch)
    db = engine.open_database(path, ecfg, schema=workload.schema())
    try:
        if prepare_db is not None:
            prepare_db(db)
        workload.load_engine(db)
        if hasattr(workload, "attach"):
            workload.attach(db)
        host = make_host(run["host"], db, workload)
        try:
            threads = int(run["threads"])
            if run["warmup_ops"]:
                warm = workload.stream(seed + 7919, 0, 1)
                for _ in range(int(run["warmup_ops"])):
                    host.run(next(warm), 0)
            duration = float(run["duration_s"]) or None
            quotas = _quotas(None if duration else int(run["ops"]), threads)
            bar = _bar(duration or int(run["ops"]), f"{cfg['name']} ripple r{repeat}", progress)

            def setup(w: int) -> tuple[Any, Callable, Callable[[], None]]:
                def execute(op: Any) -> tuple:
                    o = host.run(op, w)
                    return o.value, o.commit_ts, o.attempts, o.failed
                return workload.stream(seed, w, threads), execute, lambda: None

            records, wall = _drive_threads(threads, setup, quotas, duration, bar)
            if bar is not None:
                bar.close()
            if hasattr(workload, "detach"):
                workload.detach(db)
            invariant = workload.check_engine(db)
            info = {"engine_stats": db.stats(), "host": host.name, "path_kind": ecfg.persistence}
        finally:
            host.close()
        impl = db.implementations()
        extra_summary = workload.extra_summary() if hasattr(workload, "extra_summary") else {}
        extra_tables = workload.extra_tables() if hasattr(workload, "extra_tables") else {}
    finally:
        db.close()
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
    tr = TargetRun("ripple", repeat, records, wall, invariant, "threads", info, extra_summary, extra_tables)
    return tr, impl, workload.params()


def _run_sqlite(cfg: dict, repeat: int, scratch: str, progress: bool) -> TargetRun:
    from experiments.baselines import ADAPTERS
    from experiments.baselines.sqlite_common import connect, fresh_path, run_processes, setup_record

    run = cfg["run"]
    kind = cfg["workload"]["kind"]
    if kind not in ADAPTERS:
        raise ValueError(f"no SQLite baseline for workload {kind!r} (have: {sorted(ADAPTERS)})")
    seed = int(run["seed"])
    durability = cfg["engine"].get("durability", "full")
    workload = make_workload(kind, _params(cfg), seed=seed)
    adapter = ADAPTERS[kind](workload)
    path = fresh_path(scratch, f"sqlite-{repeat}.db")
    conn = connect(path, durability)
    adapter.load(conn)
    conn.close()
    threads = int(run["threads"])
    duration = float(run["duration_s"]) or None
    quotas = _quotas(None if duration else int(run["ops"]), threads)
    if run["mode"] == "processes":
        per_worker, wall = run_processes(adapter, path, durability, kind=kind, params=_params(cfg), seed=seed,
                                         workers=threads, quotas=quotas, duration_s=duration)
        records = [r for rs in per_worker for r in rs]
    else:
        bar = _bar(duration or int(run["ops"]), f"{cfg['name']} sqlite r{repeat}", progress)

        def setup(w: int) -> tuple[Any, Callable, Callable[[], None]]:
            c = connect(path, durability)
            return workload.stream(seed, w, threads), (lambda op: adapter.execute(c, op)), c.close

        records, wall = _drive_threads(threads, setup, quotas, duration, bar)
        if bar is not None:
            bar.close()
    conn = connect(path, durability)
    invariant = adapter.check(conn)
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return TargetRun("sqlite", repeat, records, wall, invariant, run["mode"], {"setup": setup_record(durability)})


def _params(cfg: dict) -> dict:
    return {k: v for k, v in cfg["workload"].items() if k != "kind"}


def run_point(cfg: dict, *, progress: bool = False, prepare_db: Callable[[Any], None] | None = None,
              scratch: str | None = None) -> PointResult:
    """Run every target x repeat of one complete configuration. Cost: the runs themselves."""
    targets = list(cfg["run"]["targets"])
    bad = set(targets) - set(TARGETS)
    if bad:
        raise ValueError(f"unknown targets {sorted(bad)}; valid: {list(TARGETS)}")
    own = scratch is None
    scratch = scratch or tempfile.mkdtemp(prefix="ripple-exp-")
    runs: list[TargetRun] = []
    impl = None
    params: dict = {}
    try:
        for repeat in range(int(cfg["run"]["repeats"])):
            for target in targets:
                if target == "ripple":
                    tr, impl, params = _run_ripple(cfg, repeat, scratch, progress, prepare_db)
                else:
                    tr = _run_sqlite(cfg, repeat, scratch, progress)
                runs.append(tr)
    finally:
        if own:
            shutil.rmtree(scratch, ignore_errors=True)
    if not params:
        params = make_workload(cfg["workload"]["kind"], _params(cfg), seed=int(cfg["run"]["seed"])).params()
    return PointResult(cfg, runs, params, impl, cfgmod.engine_config(cfg).to_dict())


# ---- writing ----------------------------------------------------------------------------------------

def point_metadata(pr: PointResult, values: dict | None = None) -> dict[str, Any]:
    """``bench.metadata.collect`` for the point's engine configuration, plus everything else that made it."""
    import sqlite3

    from bench.metadata import _version, collect

    cfg = pr.config
    md = collect(config=pr.engine_config, seed=int(cfg["run"]["seed"]), impl=pr.impl)
    md["experiment"] = {"name": cfg["name"], "title": cfg.get("title"), "mode": cfg.get("mode")}
    md["point"] = values or {}
    md["experiment_config"] = cfg
    md["workload"] = {"kind": cfg["workload"]["kind"], "params": pr.workload_params}
    md["run"] = cfg["run"]
    md["host"] = cfg["run"]["host"]
    md["targets"] = {r.target: {"concurrency": r.concurrency, **({"setup": r.info["setup"]} if "setup" in r.info else {})}
                     for r in pr.runs}
    md["versions"].update({"sqlite": sqlite3.sqlite_version, "pyarrow": _version("pyarrow"),
                           "pandas": _version("pandas"), "matplotlib": _version("matplotlib")})
    return md


def write_point(pr: PointResult, out_dir: str, values: dict | None = None) -> dict[str, Any]:
    """Write summary.json, events.parquet, metadata.json (and extra tables) into *out_dir*."""
    os.makedirs(out_dir, exist_ok=True)
    summary = pr.summary()
    summary["point"] = values or {}
    cols = []
    base = 0
    for r in pr.runs:
        cols.append(results.event_columns(r.records, target=r.target, repeat=r.repeat, txn_base=base))
        base += len(r.records)
    summary["events_rows"] = results.write_events(os.path.join(out_dir, "events.parquet"), cols)
    for r in pr.runs:
        for name, table in r.extra_tables.items():
            p = os.path.join(out_dir, f"{name}.parquet")
            merged = {"target": [r.target] * len(next(iter(table.values()), [])),
                      "repeat": [r.repeat] * len(next(iter(table.values()), [])), **table}
            if os.path.exists(p):
                import pyarrow.parquet as pq

                old = pq.read_table(p).to_pydict()
                merged = {k: old[k] + merged[k] for k in merged}
            results.write_table(p, merged)
    results.write_json(os.path.join(out_dir, "summary.json"), summary)
    results.write_json(os.path.join(out_dir, "metadata.json"), point_metadata(pr, values))
    return summary


def short_sha() -> str:
    from bench.metadata import _git

    sha = _git("rev-parse", "--short", "HEAD")
    return sha if sha and sha != "unknown" else "nogit"


def default_root() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results", "experiments")
