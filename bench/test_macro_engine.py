"""Macro benchmark: durable commits of the 4-put shape through the engine vs raw py-lmdb, same run.

The 4-put shape is an insert into a table with one user index: log record + document + 2 index entries.
Cases (durability "full" throughout), each for every engine mode available (``py``; ``cy`` once every
kernel has a current twin; ``auto`` while only some do):
- 1 thread: the engine's commits/s and p50 latency, against raw py-lmdb doing the same 4 puts with one
  commit per durable write transaction (G=1); the ratio engine/raw is the stated target (>= 0.8x);
- 16 threads with group commit: commits/s (target >= 20k) and p50 commit latency (target <= 5 ms), against
  raw py-lmdb with 16 commits per durable write transaction (G=16).

Each of the >= 5 rounds runs the raw baseline for the same duration right before the engine round (in
pytest-benchmark's untimed ``setup``), so the two are measured interleaved, side by side, under the same
disk and CPU noise. The row reports medians over rounds. The workload functions are the ones of
``bench/engine_baseline.py`` (``raw_commits``, ``engine_commits``), so both harnesses measure the same thing.
These are benchmarks: no timing is asserted here; targets are judged by ``bench/report.py``.
"""
from __future__ import annotations

import os
import shutil
import statistics
import tempfile

import pytest

from bench.engine_baseline import engine_commits, raw_commits
from engine import _impl
from engine.config import DatabaseConfig

THREAD_CASES = [pytest.param(1, id="1_thread"), pytest.param(16, id="16_threads_group_commit")]


def engine_modes() -> list[str]:
    """``py`` always; ``cy`` when every kernel has a current twin; otherwise ``auto`` if any twin exists."""
    modes = ["py"]
    try:
        _impl.resolve_all("cy")
    except ImportError:
        if any(len(_impl.implementations(k)) > 1 for k in _impl.KERNELS):
            modes.append("auto")
    else:
        modes.append("cy")
    return modes


def engine_config(mode: str) -> dict:
    """The configuration ``engine_baseline.open_db`` opens the database with (path given: LMDB log)."""
    return DatabaseConfig(impl=mode, subscriptions="inline").to_dict()


def case_name(threads: int) -> str:
    return "1 thread" if threads == 1 else f"{threads} threads, group commit"


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p * len(s)))]


@pytest.fixture
def scratch():
    root = tempfile.mkdtemp(prefix="ripple-bench-macro-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.benchmark(group="commit")
@pytest.mark.parametrize("threads", THREAD_CASES)
@pytest.mark.parametrize("mode", engine_modes())
def test_engine_commits(benchmark, mode, threads, bench_opts, scratch):
    seconds = 0.5 if bench_opts.quick else 1.0
    group = threads  # raw baseline: as many commits per durable write txn as there are writer threads
    rounds = max(5, bench_opts.min_rounds)
    raw_rates: list[float] = []
    rates: list[float] = []
    p50s: list[float] = []
    p99s: list[float] = []
    avg_batches: list[float] = []
    conflicts: list[int] = []
    counter = iter(range(10**9))

    def fresh(name: str) -> str:
        return f"{scratch}/{name}-{next(counter)}"

    def setup():
        # Untimed by pytest-benchmark: clear the previous round's files, then the interleaved raw round.
        for entry in list(os.scandir(scratch)):
            shutil.rmtree(entry.path, ignore_errors=True)
        raw_rates.append(raw_commits(fresh("raw"), seconds, group))
        return (fresh("engine"),), {}

    def engine_round(path: str) -> None:
        rate, latencies, stats = engine_commits(path, seconds, threads, impl=mode)
        rates.append(rate)
        p50s.append(pct(latencies, 0.5))
        p99s.append(pct(latencies, 0.99))
        avg_batches.append(stats["batched_commits"] / max(1, stats["commit_batches"]))
        conflicts.append(stats["conflicts"])

    config = engine_config(mode)
    resolved = {k: name for k, (name, _mod) in _impl.resolve_all(mode).items()}
    benchmark.extra_info.update(
        bench=f"commit[{case_name(threads)}]", kernel="engine", impl=mode, impl_per_kernel=resolved,
        unit="commits", ops_per_call=1,
        params={"threads": threads, "seconds_per_round": seconds, "rounds": rounds, "raw_group": group,
                "shape": "insert, 1 user index (4 puts)", "persistence": config["persistence"],
                "index": config["index"], "durability": config["durability"], "engine_config": config},
    )
    benchmark.pedantic(engine_round, setup=setup, rounds=rounds)
    engine_rate = statistics.median(rates)
    raw_rate = statistics.median(raw_rates)
    ratio_runs = [e / r for e, r in zip(rates, raw_rates)]
    benchmark.extra_info.update(
        rate=engine_rate, rate_runs=rates, latency_s=statistics.median(p50s) / 1000,
        latency_ms_p50_runs=p50s, latency_ms_p99=statistics.median(p99s), avg_batch=statistics.median(avg_batches),
        conflicts=conflicts,
        companions=[{"bench": f"commit[{case_name(threads)}]", "impl": f"raw lmdb G={group} (vs {mode})",
                     "rate": raw_rate, "rate_runs": raw_rates, "unit": "commits",
                     "note": f"interleaved with engine-{mode}"}],
        # The ratio is the median of per-round ratios: each pair ran back to back, so a slow stretch of the
        # shared disk hits both sides of a pair instead of skewing one side's median.
        derived=[{"bench": f"commit[{case_name(threads)}] engine/raw G={group}", "impl": mode,
                  "ratio": statistics.median(ratio_runs), "ratio_runs": ratio_runs,
                  "ratio_of_medians": engine_rate / raw_rate}],
    )
