"""Results carry complete metadata, and a two-point sweep runs end to end (Parquet written and read back).

The required metadata fields are the ones ``../shared/docs/performance.md`` lists for every result row:
git sha and dirty flag, the implementation actually used per kernel, persistence and index strategies,
package versions (Python, Cython, lmdb, wasmtime), CPU model, seed and the configuration.
"""
from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from engine import _impl
from experiments import config
from experiments.__main__ import main
from experiments.hosts import HostUnavailable, make_host
from experiments.results import event_schema, load_json, read_events
from experiments.sweep import run_experiment
from tests.experiments.helpers import bank_config

REQUIRED = ["git_sha", "git_dirty", "impl", "persistence", "index", "versions", "cpu", "seed", "config"]
VERSIONS = ["python", "cython", "lmdb", "wasmtime"]


def check_metadata(md: dict) -> None:
    for k in REQUIRED:
        assert k in md, k
    for k in VERSIONS:
        assert k in md["versions"], k
    assert set(md["impl"]) == set(_impl.KERNELS)
    assert set(md["impl"].values()) <= {"py", "cy"}
    assert md["persistence"] in ("memory", "lmdb", "sqlite")
    assert md["index"] in ("mem-btree", "lmdb-btree")
    assert isinstance(md["git_dirty"], bool) and md["git_sha"]
    assert md["workload"]["kind"] and md["workload"]["params"]
    assert md["experiment_config"]["run"]["seed"] == md["seed"]
    assert md["cpu"] and md["cores"]


def ycsb_sweep_config() -> dict:
    return config.normalise({
        "name": "test_sweep",
        "workload": {"kind": "ycsb", "mix": {"rmw": 1.0}, "record_count": 200, "ops_per_txn": 2, "think_us": 200},
        "run": {"threads": 4, "ops": 240, "seed": 5, "targets": ["ripple", "sqlite"]},
        "engine": {"persistence": "memory", "durability": "none"},
        "analytic": {"model": "occ"},
        "sweep": {"workload.theta": [0.0, 0.99]},
    })


def test_two_point_sweep_end_to_end(tmp_path):
    out = run_experiment(ycsb_sweep_config(), out_root=str(tmp_path))
    assert os.path.basename(os.path.dirname(out)) == "test_sweep"
    sweep = pq.read_table(os.path.join(out, "sweep.parquet")).to_pandas()
    assert len(sweep) == 4 and set(sweep.target) == {"ripple", "sqlite"}
    assert sorted(sweep.workload__theta.unique()) == [0.0, 0.99]
    rip = sweep[sweep.target == "ripple"].sort_values("workload__theta")
    assert rip.analytic_pure.notna().all() and rip.throughput_ratio_sqlite.notna().all()
    # the model and the measurement agree that skew raises the abort rate
    assert rip.analytic_pure.iloc[1] > rip.analytic_pure.iloc[0]
    assert rip.abort_rate.iloc[1] > rip.abort_rate.iloc[0]
    curve = pq.read_table(os.path.join(out, "analytic.parquet")).to_pandas()
    assert set(curve.threads) == {4} and curve.abort_pure.is_monotonic_increasing
    check_metadata(load_json(os.path.join(out, "metadata.json")))
    for i in range(2):
        pdir = os.path.join(out, "points", f"{i:03d}")
        check_metadata(load_json(os.path.join(pdir, "metadata.json")))
        summary = load_json(os.path.join(pdir, "summary.json"))
        ev = read_events(os.path.join(pdir, "events.parquet"))
        assert list(ev.columns) == event_schema().names
        assert summary["events_rows"] == len(ev)
        for target in ("ripple", "sqlite"):
            s = summary["targets"][target]["repeats"][0]
            assert s["ops"] == 240 and len(ev[(ev.target == target) & ev.final]) == 240
            assert s["write_attempts"] == len(ev[ev.target == target])
            for p in ("p50", "p90", "p99", "p999"):
                assert s["latency_us"]["commit"][p] > 0
        r = ev[ev.target == "ripple"]
        assert (r.read_intervals.map(len) > 0).all() and (r.begin_ts > 0).all()
        committed = r[r.verdict == "commit"]
        assert (committed.commit_ts > committed.begin_ts).all()
        assert committed.written.map(len).min() >= 1
        conflicts = r[r.verdict == "conflict"]
        assert len(conflicts) == summary["targets"]["ripple"]["repeats"][0]["aborts_by_reason"].get("conflict", 0)
        if len(conflicts):
            assert (conflicts.conflict_ts > conflicts.begin_ts).all()
            assert conflicts.conflict_table.eq("usertable").all() and conflicts.conflict_key.notna().all()
            # the invalidating writer is a committed transaction of the same run
            assert set(conflicts.conflict_ts) <= set(committed.commit_ts)


def test_plain_run_writes_three_files_with_complete_metadata(tmp_path):
    out = run_experiment(bank_config(persistence="lmdb", ops=100), out_root=str(tmp_path))
    assert sorted(os.listdir(out)) == ["events.parquet", "metadata.json", "summary.json"]
    md = load_json(os.path.join(out, "metadata.json"))
    check_metadata(md)
    assert md["persistence"] == "lmdb" and md["index"] == "lmdb-btree"
    assert md["config"]["durability"] == "none"
    s = load_json(os.path.join(out, "summary.json"))
    assert s["invariant_ok"] is True
    assert s["targets"]["ripple"]["median"]["throughput_ops_s"] > 0


def test_cli_applies_the_quick_overlay(tmp_path, capsys):
    toml = tmp_path / "config.toml"
    toml.write_text('[workload]\nkind = "bank"\naccounts = 5\n[run]\nops = 100000\n[quick.run]\nops = 50\n')
    assert main(["run", str(toml), "--quick", "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    out = capsys.readouterr().out.strip()
    s = load_json(os.path.join(out, "summary.json"))
    assert s["targets"]["ripple"]["repeats"][0]["ops"] == 50
    assert load_json(os.path.join(out, "metadata.json"))["experiment"]["mode"] == "quick"


def test_sweep_expansion_and_overlays():
    cfg = config.normalise({
        "workload": {"kind": "ycsb"}, "engine": {"persistence": "lmdb"},
        "sweep": {"engine": [{"persistence": "memory"}, {"index": "mem-btree"}], "run.threads": [1, 2]},
        "quick": {"run": {"ops": 7}, "sweep": {"run.threads": [3]}},
    }, mode="quick")
    pts = list(config.points(cfg))
    assert [p.values["run.threads"] for p in pts] == [3, 3]
    assert pts[0].config["engine"]["persistence"] == "memory"
    assert pts[1].config["engine"] == {**config.ENGINE_DEFAULTS, "persistence": "lmdb", "index": "mem-btree"}
    assert all(p.config["run"]["ops"] == 7 and "sweep" not in p.config for p in pts)
    with pytest.raises(ValueError, match="unknown top-level"):
        config.normalise({"workload": {"kind": "ycsb"}, "sweeep": {}})
    with pytest.raises(ValueError, match="unknown \\[engine\\] fields"):
        config.engine_config(config.normalise({"workload": {"kind": "ycsb"}, "engine": {"persistance": "x"}}))


def test_strategy_options_come_from_toml_tables_and_are_recorded(tmp_path):
    """``[engine.index_options]`` / ``[engine.persistence_options]`` become the typed options of the
    strategies the point resolves to, reach the stores, and are recorded by ``to_dict``; a field of
    another strategy is a clear error, and so are options of the wrong type passed directly."""
    import engine
    from engine.config import DatabaseConfig
    from engine.index.options import LmdbBtreeOptions, MemBtreeOptions
    from engine.persistence.options import LmdbPersistenceOptions

    toml = tmp_path / "exp" / "config.toml"
    toml.parent.mkdir()
    toml.write_text('[workload]\nkind = "ycsb"\n[engine]\npersistence = "lmdb"\n'
                    '[engine.index_options]\nskip_limit = 0\ngc_chunk = 7\n'
                    '[engine.persistence_options]\nload_chunk = 3\n'
                    '[sweep]\n"engine.index_options.max_readers" = [5, 9]\n')
    points = list(config.points(config.load(str(toml))))
    ecfgs = [config.engine_config(p.config) for p in points]
    assert [c.index_options for c in ecfgs] == [LmdbBtreeOptions(max_readers=m, gc_chunk=7, skip_limit=0)
                                                for m in (5, 9)]
    assert ecfgs[0].persistence_options == LmdbPersistenceOptions(load_chunk=3)
    recorded = ecfgs[1].to_dict()
    assert recorded["index"] == "lmdb-btree"
    assert recorded["index_options"] == {"max_readers": 9, "gc_chunk": 7, "skip_limit": 0}
    assert recorded["persistence_options"] == {"max_readers": 126, "load_chunk": 3}
    # No options: the defaults of the chosen strategies are what gets recorded.
    assert DatabaseConfig(persistence="memory").to_dict()["index_options"] == {"leaf_capacity": 512}

    with engine.open_database(tmp_path / "db", **{k: getattr(ecfgs[0], k) for k in
                                                  ("persistence", "index_options", "persistence_options")}) as db:
        assert db._index_store.options == ecfgs[0].index_options
        assert db._persistence.options == ecfgs[0].persistence_options

    with pytest.raises(ValueError, match="no fields \\['leaf_capacity'\\]"):
        config.engine_config(config.normalise({"workload": {"kind": "ycsb"}, "engine": {
            "persistence": "lmdb", "index_options": {"leaf_capacity": 4}}}))
    with pytest.raises(ValueError, match="MemBtreeOptions"):
        config.engine_config(config.normalise({"workload": {"kind": "ycsb"}, "engine": {
            "persistence": "memory", "index_options": {"skip_limit": 4}}}))
    with pytest.raises(ValueError, match="takes LmdbBtreeOptions"):
        engine.open_database(tmp_path / "db2", persistence="lmdb", index_options=MemBtreeOptions())
    with pytest.raises(ValueError, match="takes LmdbPersistenceOptions"):
        engine.open_database(tmp_path / "db3", persistence="lmdb", persistence_options=MemBtreeOptions())


def test_hosts_fail_clearly():
    class NoApp:
        name = "chat"

        def app_dir(self):
            return None

    with pytest.raises(ValueError, match="unknown function host"):
        make_host("v8", None, NoApp())
    with pytest.raises(HostUnavailable, match="no function app"):
        make_host("reference", None, NoApp())


def test_an_unavailable_host_is_recorded_not_fatal_in_a_sweep(tmp_path):
    cfg = config.normalise({"name": "hosts", "workload": {"kind": "chat", "subscribers": 2},
                            "run": {"ops": 20}, "sweep": {"run.host": ["direct", "reference"]}})
    out = run_experiment(cfg, out_root=str(tmp_path))
    sweep = pq.read_table(os.path.join(out, "sweep.parquet")).to_pandas().set_index("run__host")
    assert sweep.loc["direct", "throughput_ops_s"] > 0 and sweep.loc["direct", "invariant_ok"]
    assert "no function app" in sweep.loc["reference", "unavailable"]
    assert "no function app" in load_json(os.path.join(out, "points", "001", "unavailable.json"))["reason"]
