"""Smoke test of bench/: the modules import, the data-set builders work at tiny sizes, and the report
turns a small fake result into the table. No benchmark runs here and nothing is timed."""
from __future__ import annotations

import json
import random

from bench import __main__ as bench_main
from bench import conftest as bench_conftest
from bench import report
from bench import test_macro_engine as macro
from bench import test_micro_kernels as micro
from engine.conflict import interval_map as ref_map, interval_set as ref_set
from engine.index.base import IndexConfig
from engine.index.mem_btree import MemBTreeStore
from engine.model.types import Interval


def _fake_pytest_benchmark() -> dict:
    def bench(extra, median):
        return {"name": extra["bench"], "extra_info": extra, "stats": {"median": median}}

    return {
        "benchmarks": [
            bench({"bench": "interval_set.contains[16 intervals]", "kernel": "interval_set", "impl": "py",
                   "unit": "checks", "ops_per_call": 1000}, 2e-3),  # 0.5 M/s: misses >= 1 M/s
            bench({"bench": "interval_set.contains[16 intervals]", "kernel": "interval_set", "impl": "cy",
                   "unit": "checks", "ops_per_call": 1000}, 1e-4),  # 10 M/s: reaches >= 5 M/s
            bench({"bench": "interval_map.stab_many[n=1k]", "kernel": "interval_map", "impl": "py",
                   "unit": "keys", "ops_per_call": 1024}, 1e-3),
            bench({"bench": "interval_map.stab_many[n=100k]", "kernel": "interval_map", "impl": "py",
                   "unit": "keys", "ops_per_call": 1024}, 3e-3),
            bench({"bench": "mvcc.get p50[100k keys]", "kernel": "mvcc", "impl": "py", "unit": "gets",
                   "latency_is_p50": True,
                   "companions": [{"bench": "mvcc.get p50[100k keys]", "impl": "raw lmdb (vs py)",
                                   "median_s": 1e-6, "unit": "gets"}],
                   "derived": [{"bench": "mvcc.get p50 / raw lmdb get p50", "impl": "py", "ratio": 1.5}]}, 1.5e-6),
            bench({"bench": "commit[16 threads, group commit]", "kernel": "engine", "impl": "auto",
                   "impl_per_kernel": {"hlc": "cy", "mvcc": "py"}, "unit": "commits", "rate": 25_000.0,
                   "latency_s": 2e-3}, 1.0),
            bench({"bench": "commit[16 threads, group commit]", "kernel": "engine", "impl": "py",
                   "impl_per_kernel": {"hlc": "py", "mvcc": "py"}, "unit": "commits", "rate": 3_000.0,
                   "latency_s": 4e-3}, 1.0),  # misses the rate, meets the latency
        ],
        "ripple": {"not_run": [{"bench": "interval_map.stab[n=1M]", "impl": "py", "reason": "--quick"}]},
    }


def _fake_engine_baseline() -> list:
    return [{"benchmark": "engine_baseline", "meta": {"impl": {"hlc": "py", "mvcc": "py"}}, "results": {
        "raw_lmdb_g1": {"commits_per_s": 2000.0, "runs": [2000.0]},
        "engine_1_thread": {"commits_per_s": 1800.0, "runs": [1800.0], "latency_ms_p50": 0.5},
        "ratio_engine_1_thread_vs_raw_g1": 0.9,
        "point_reads": {"mvcc_get_p50_us": 2.0, "raw_lmdb_get_p50_us": 1.0, "tx_get_p50_us": 9.0,
                        "mvcc_over_raw": 2.0},
        "scans": {"full_scan_docs_per_s": 1e5, "index_scan_entries_per_s": 3e6, "ycsb_e_queries_per_s": 1e4,
                  "ycsb_e_rows_per_query": 100.0},
    }}]


def _cells(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("| ")]


def test_report_formats_a_fake_run(tmp_path):
    (tmp_path / "pytest-benchmark-micro.json").write_text(json.dumps(_fake_pytest_benchmark()))
    (tmp_path / "engine_baseline-x.json").write_text(json.dumps(_fake_engine_baseline()))
    (tmp_path / "failures.json").write_text(json.dumps([{"suite": "engine_baseline", "reason": "boom"}]))
    rows = report.load_run(str(tmp_path))
    table = report.format_table(rows)
    cells = _cells(table)
    assert cells[0] == list(report.COLUMNS)
    by = {(c[0], c[1]): c for c in cells[1:]}
    assert by[("interval_set.contains[16 intervals]", "py")][5] == "no"
    assert by[("interval_set.contains[16 intervals]", "cy")][5] == "yes"
    assert by[("interval_set.contains[16 intervals]", "cy")][3] == "10 M checks/s"
    assert by[("interval_map.stab[n=1M]", "py")][5] == "not run"
    assert by[("interval_map.stab_many growth 1k→100k", "py")][5] == "yes"  # 3x slower for 100x the size
    assert by[("mvcc.get p50 / raw lmdb get p50", "py")][3] == "1.5x"
    assert ("mvcc.get p50[100k keys]", "raw lmdb (vs py)") in by
    assert by[("commit[16 threads, group commit]", "auto (1/2 cy)")][5] == "yes"
    assert by[("commit[16 threads, group commit]", "py")][5] == "no; yes"
    assert by[("baseline.commit engine_1_thread / raw_lmdb_g1", "py")][5] == "yes"
    assert by[("baseline.index scan", "py")][5] == "yes"
    assert by[("engine_baseline", "-")][5] == "failed"
    assert "targets:" in table
    assert {r["reached"] for r in report.summary(rows)} >= {"yes", "no", "not run", "failed"}


def test_data_set_builders_at_tiny_sizes():
    keys = micro.written_keys(50, seed=1)
    assert keys == micro.written_keys(50, seed=1) and len(set(keys)) == 50
    ranges = micro.read_ranges(4, seed=2, width=1000, avoid=micro.key_ints(keys))
    assert ref_set.IntervalSet(ranges).first_contained(keys) == -1
    m = micro.build_interval_map(ref_map, 64, seed=3)
    assert len(m) == 64
    window = micro.build_window(keys, micro.doc_ids(random.Random(4), len(keys)))
    assert len(window) == len(keys)
    store = MemBTreeStore(IndexConfig())
    ts = micro.fill_index(store, keys, per_commit=16)
    view = store.open_index(micro.INDEX_ID)
    assert view.get(keys[0], ts) is not None
    assert len(view.scan_batch(Interval.all(), ts, 100)) == len(keys)
    assert micro.size_label(1_000_000) == "1M" and report.parse_size("100k") == 100_000


def test_runner_and_conftest_wiring():
    args = bench_main.parse_args(["--quick", "--only", "micro,baseline"])
    cmd = bench_main.pytest_command(args, "/tmp/run", "micro")
    assert "--bench-quick" in cmd and "--benchmark-json=/tmp/run/pytest-benchmark-micro.json" in cmd
    assert "bench/test_micro_kernels.py" in cmd
    assert "--out" in bench_main.baseline_command(args, "/tmp/run")
    assert "py" in macro.engine_modes()
    assert set(bench_conftest.resolved_implementations("py").values()) == {"py"}
