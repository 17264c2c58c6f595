"""Per-call overhead of the WebAssembly function hosts over the in-process reference host (not a test).

What it measures, on one in-memory database, in one run, hosts interleaved (the order rotates every
repetition so drift and noise hit every host alike):
- (a) the thin C guest: ``overhead:get_and_insert`` (two gets and one insert, as in
  shared/docs/udf-wasm.md) from ``udf_wasm/guests/c/bench`` through ``App.run`` in host ``core``
  against its Python twin (same folder, same path) in host ``reference``;
- (b) the Python guest: the same Python function built into a component (componentize-py) in host
  ``wasm`` against ``reference``; the first build takes ~13 s and is cached by content hash;
- the host-only path: ``LoadedApp.invoke`` with canned syscalls (no App, no transaction), for the core
  host (a fresh sandbox plus the guest call, with and without its three syscalls) and the reference
  host, to show where the time goes.

Each repetition times ``--calls`` calls per host back to back after a warm-up, then a tenth as many
"paced" calls with ``--pace-ms`` of idle time before each (the wasm host instantiates Python sandboxes
ahead of calls on a refill thread, ~1.5 ms each; back to back, calls outrun it), and takes p50/p90/p99;
a row reports the median over ``--repeat`` (>= 5) repetitions. The overhead of a wasm host is, per repetition, its p50
minus the reference host's p50 in that repetition; the row reports the median of those differences.
Garbage collection is paused inside timed loops (collected between them). Apps are deployed without the
scheduler by default: its live subscription makes every commit wake the subscription worker thread,
which then takes the GIL at the next point the caller releases it. The wasm hosts release the GIL on
every crossing into wasm (so that the epoch ticker can interrupt a runaway guest), so they pay that
worker's run inside their call (~150 µs on this machine), while the reference host, which never
releases it, defers it to the interpreter's 5 ms switch interval. ``--with-scheduler`` measures that
deployment shape.

Targets (shared/docs/performance.md): core ≤ 50 µs p50 overhead, wasm (Python) ≤ 0.5 ms p50 overhead.

Usage: ``python -m bench.functions_overhead [--quick] [--calls N] [--repeat R] [--skip-wasm]
[--subscriptions thread|inline] [--seed N] [--out results/bench/functions]``. Writes
``<out>/<UTC timestamp>/functions_overhead.json`` (rows + per-repetition samples + a bench.metadata
record with host and guest details) and ``table.md``, and prints the table.
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from importlib import metadata as md
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
BENCH_APP = REPO / "udf_wasm" / "guests" / "c" / "bench"
PATH = "overhead:get_and_insert"
TARGETS_US = {"core": 50.0, "wasm": 500.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.functions_overhead", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer calls per repetition (still >= 5 repetitions)")
    p.add_argument("--calls", type=int, default=None, help="timed calls per host per repetition")
    p.add_argument("--repeat", type=int, default=None, help="repetitions (>= 5)")
    p.add_argument("--skip-wasm", action="store_true", help="skip (b), the componentize-py Python guest")
    p.add_argument("--subscriptions", choices=("thread", "inline"), default="thread",
                   help="DatabaseConfig.subscriptions (thread: the default deployment shape)")
    p.add_argument("--with-scheduler", action="store_true",
                   help="deploy with the scheduler (its live subscription wakes the subscription worker on every "
                        "commit; see the module docstring)")
    p.add_argument("--pace-ms", type=float, default=5.0,
                   help="idle time before each call of the paced blocks (lets the wasm host's prewarm keep up)")
    p.add_argument("--seed", type=int, default=42, help="rotates the host order")
    p.add_argument("--cache-dir", default=None, help="FunctionsConfig.cache_dir for builds")
    p.add_argument("--out", default=str(REPO / "results" / "bench" / "functions"))
    args = p.parse_args(argv)
    args.calls = args.calls or (300 if args.quick else 2000)
    args.repeat = max(5, args.repeat or (5 if args.quick else 7))
    return args


def _pct(sorted_samples: list[float], q: float) -> float:
    return sorted_samples[min(len(sorted_samples) - 1, int(q * len(sorted_samples)))]


def time_calls(fn: Callable[[], Any], calls: int, warmup: int, pace_s: float = 0.0) -> dict[str, float]:
    """p50/p90/p99 in µs of *calls* timed calls of fn after *warmup* untimed ones, with *pace_s* seconds
    of (untimed) idle time before each timed call."""
    for _ in range(warmup):
        fn()
    gc.collect()
    gc.disable()
    samples = []
    try:
        clock = time.perf_counter_ns
        for _ in range(calls):
            if pace_s:
                time.sleep(pace_s)
            t0 = clock()
            fn()
            samples.append(clock() - t0)
    finally:
        gc.enable()
    samples.sort()
    return {"p50": _pct(samples, 0.5) / 1e3, "p90": _pct(samples, 0.9) / 1e3, "p99": _pct(samples, 0.99) / 1e3}


class CannedSyscalls:
    """The syscalls of get_and_insert answered from constants: the host-only path, no transaction. (The
    Python guest also reads the clock and the seed once per call.)"""

    def __init__(self, doc_json: str, new_id: str) -> None:
        self.doc_json = doc_json
        self.new_id = new_id
        self.calls = 0

    def get(self, doc_id: str) -> str | None:
        self.calls += 1
        return self.doc_json if doc_id.endswith("a") else None

    def insert(self, table: str, doc: str) -> str:
        self.calls += 1
        return self.new_id

    def log(self, level: str, message: str) -> None:
        self.calls += 1

    def now(self) -> int:
        return 1_700_000_000_000 << 16

    def random_seed(self) -> int:
        return 42


class ReferenceBridgeSyscalls(CannedSyscalls):
    """The reference host wraps the syscalls object it is given (``_Bridge``): the same canned answers."""

    def __getattr__(self, name: str) -> Any:
        def refuse(*_a: Any) -> Any:
            raise AssertionError(f"unexpected syscall {name}")

        return refuse


def summarize(reps: list[dict[str, Any]], key: str) -> dict[str, float]:
    return {q: statistics.median(r[key][q] for r in reps) for q in ("p50", "p90", "p99")}


def host_info(core_app: Any, wasm_app: Any | None) -> dict[str, Any]:
    info: dict[str, Any] = {"python_impl": platform.python_implementation()}
    for pkg in ("ziglang", "componentize-py", "wasmtime"):
        try:
            info[f"{pkg}_version"] = md.version(pkg)
        except md.PackageNotFoundError:
            info[f"{pkg}_version"] = None
    from udf_wasm.core import build as core_build
    from udf_wasm.core import runtime

    info["core"] = {
        "engine": core_app.loaded._engine.settings, "tick_s": runtime.TICK_S,
        "c_flags": list(core_build.C_FLAGS), "memory_limit_bytes": core_app.loaded.memory_limit,
        "modules": {b.name: {"wasm_bytes": b.wasm.stat().st_size, "key": b.key[:16]} for b in core_app.loaded.builds},
    }
    if wasm_app is not None:
        build = wasm_app.loaded.build
        info["wasm"] = {"engine": wasm_app.loaded._engine.settings, "cwasm": str(build.cwasm),
                        "cwasm_bytes": build.cwasm.stat().st_size, "key": build.key[:16],
                        "prewarm": wasm_app.config.prewarm}
    return info


def table(rows: list[dict[str, Any]]) -> str:
    head = "| benchmark | host | p50 µs | p90 µs | p99 µs | overhead p50 µs | target | reached |"
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        over = "-" if r.get("overhead_p50_us") is None else f"{r['overhead_p50_us']:.1f}"
        target = "-" if r.get("target_us") is None else f"≤ {r['target_us']:g}"
        reached = "-" if r.get("reached") is None else ("yes" if r["reached"] else "no")
        lines.append(f"| {r['bench']} | {r['host']} | {r['p50_us']:.1f} | {r['p90_us']:.1f} | {r['p99_us']:.1f} | "
                     f"{over} | {target} | {reached} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    import engine
    from bench.metadata import collect
    from engine.functions import FunctionsConfig

    cfg = FunctionsConfig(cache_dir=args.cache_dir)
    db = engine.open_database(None, persistence="memory", subscriptions=args.subscriptions)
    sched = args.with_scheduler
    apps: dict[str, Any] = {"reference": db.deploy(BENCH_APP, host="reference", config=cfg, scheduler=sched),
                            "core": db.deploy(BENCH_APP, host="core", config=cfg, scheduler=sched)}
    build_s = {"core": apps["core"].deploy_seconds}
    if not args.skip_wasm:
        print("deploying the Python app as a component (the first build takes ~13 s, cached after)...", flush=True)
        apps["wasm"] = db.deploy(BENCH_APP, host="wasm", config=cfg, scheduler=sched)
        build_s["wasm"] = apps["wasm"].deploy_seconds
    try:
        present = db.mutate(lambda tx: tx.insert("users", {"name": "ada"}))
        gone = db.mutate(lambda tx: tx.insert("users", {"name": "bob"}))
        db.mutate(lambda tx: tx.delete(gone))
        call_args = {"a": present, "b": gone}
        for name, app in apps.items():  # same result everywhere before timing anything
            doc = db.read(lambda tx, i=app.run(PATH, call_args).value: tx.get(i))
            assert doc["a"] is True and doc["b"] is False, (name, doc)

        doc_json = json.dumps({"name": "ada", "_id": present, "_creationTime": 1.0})
        raw: dict[str, Callable[[], Any]] = {}
        core_loaded, ref_loaded = apps["core"].loaded, apps["reference"].loaded
        canned, canned_ref = CannedSyscalls(doc_json, gone), ReferenceBridgeSyscalls(doc_json, gone)
        raw_args = json.dumps({"a": "xa", "b": "xb"})
        raw["core host: fresh sandbox + noop call"] = lambda: core_loaded.invoke("query", "overhead:noop", "{}", canned, 1.0)
        raw["core host: fresh sandbox + call, 3 canned syscalls"] = lambda: core_loaded.invoke(
            "mutation", PATH, raw_args, canned, 1.0)
        raw["reference host: call, 3 canned syscalls"] = lambda: ref_loaded.invoke(
            "mutation", PATH, raw_args, canned_ref, 1.0)
        raw_paced: dict[str, Callable[[], Any]] = {}
        if "wasm" in apps:
            wasm_loaded = apps["wasm"].loaded
            raw_paced[f"wasm host: prewarmed sandbox + call, 3 canned syscalls, paced {args.pace_ms:g} ms"] = (
                lambda: wasm_loaded.invoke("mutation", PATH, raw_args, canned_ref, 1.0))
        for fn in (*raw.values(), *raw_paced.values()):
            ok, out = fn()
            assert ok, out

        hosts = list(apps)
        reps: list[dict[str, Any]] = []
        warmup = max(20, args.calls // 10)
        paced_calls = max(30, args.calls // 10)
        for rep in range(args.repeat):
            shift = (args.seed + rep) % len(hosts)
            order = hosts[shift:] + hosts[:shift]
            r: dict[str, Any] = {"order": order}
            for name in order:
                app = apps[name]
                r[name] = time_calls(lambda app=app: app.run(PATH, call_args), args.calls, warmup)
            for name in order:
                app = apps[name]
                r[f"{name} paced"] = time_calls(lambda app=app: app.run(PATH, call_args), paced_calls, 5,
                                                args.pace_ms / 1e3)
            for name, fn in raw.items():
                r[name] = time_calls(fn, args.calls, warmup)
            for name, fn in raw_paced.items():
                r[name] = time_calls(fn, paced_calls, 5, args.pace_ms / 1e3)
            reps.append(r)
            print(f"repetition {rep + 1}/{args.repeat}: " + ", ".join(f"{h} p50 {r[h]['p50']:.1f} µs" for h in order),
                  flush=True)

        rows: list[dict[str, Any]] = []
        for suffix, label in (("", "back to back"), (" paced", f"paced {args.pace_ms:g} ms")):
            for name in hosts:
                key, base = name + suffix, "reference" + suffix
                s = summarize(reps, key)
                row = {"bench": f"App.run {PATH}, {label}", "host": name, "p50_us": s["p50"], "p90_us": s["p90"],
                       "p99_us": s["p99"]}
                if name != "reference":
                    diffs = [x[key]["p50"] - x[base]["p50"] for x in reps]
                    row.update(overhead_p50_us=statistics.median(diffs), overhead_p50_runs_us=diffs,
                               overhead_p90_us=statistics.median(x[key]["p90"] - x[base]["p90"] for x in reps),
                               target_us=TARGETS_US[name])
                    row["reached"] = row["overhead_p50_us"] <= row["target_us"]
                rows.append(row)
        for name in (*raw, *raw_paced):
            s = summarize(reps, name)
            rows.append({"bench": "host only", "host": name, "p50_us": s["p50"], "p90_us": s["p90"], "p99_us": s["p99"]})

        config = {"persistence": "memory", "subscriptions": args.subscriptions, "scheduler": sched, "calls": args.calls,
                  "repeat": args.repeat, "warmup": warmup, "paced_calls": paced_calls, "pace_ms": args.pace_ms, "path": PATH, "app": str(BENCH_APP.relative_to(REPO)),
                  "functions": cfg.to_dict(), "quick": args.quick, "gc_paused_while_timing": True}
        meta = collect(config=config, seed=args.seed)
        meta["hosts"] = host_info(apps["core"], apps.get("wasm"))
        meta["deploy_seconds"] = build_s
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        out_dir = Path(args.out) / stamp
        out_dir.mkdir(parents=True, exist_ok=True)
        text = table(rows)
        (out_dir / "functions_overhead.json").write_text(json.dumps(
            {"metadata": meta, "rows": rows, "repetitions": reps}, indent=2, default=str))
        (out_dir / "table.md").write_text(text + "\n")
        print()
        print(text)
        sha = (meta["git_sha"] or "unknown")[:7] + (" dirty" if meta["git_dirty"] else "")
        print(f"\n{sha}; ENGINE_IMPL={meta['engine_impl_env']}; results in {out_dir}")
        return 0
    finally:
        for app in apps.values():
            app.close()
        db.close()


if __name__ == "__main__":
    raise SystemExit(main())
