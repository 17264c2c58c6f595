"""Run a whole experiment (one point, or a sweep over any parameters) into one fresh results folder.

Who may call it: the CLI, ``reproduce``, tests. See ``experiments.results`` for the folder layout.

A sweep is the cartesian product of the ``[sweep]`` lists (``experiments.config.points``). Each point is
run by ``experiments.runner.run_point`` and written to ``points/<NNN>/``; the sweep table gets one row per
point and target with the swept values as columns (dots in paths become ``__``) and the headline
numbers. If the config has an ``[analytic]`` table (``model = "occ"``, YCSB point-key mixes only), each
row also carries the pure and calibrated predictions of ``experiments.analytic``, and
``analytic.parquet`` holds the pure curve on a fine theta grid for every swept concurrency.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from experiments import analytic, results
from experiments.config import Point, points
from experiments.hosts import HostUnavailable
from experiments.runner import default_root, run_point, short_sha, write_point

THETA_GRID = [round(x * 0.01, 2) for x in range(0, 100)] + [0.995]


def column_name(path: str) -> str:
    return path.replace(".", "__")


def run_experiment(cfg: dict, *, out_root: str | None = None, progress: bool = False,
                   prepare_db: Callable[[Any], None] | None = None, log: Callable[[str], None] | None = None) -> str:
    """Run every point of *cfg*; return the run folder. Cost: the sum of the points' runs."""
    import time

    started = time.perf_counter()
    out = results.new_run_dir(out_root or default_root(), cfg["name"], short_sha())
    pts = list(points(cfg))
    sweep = bool(cfg.get("sweep"))
    rows: list[dict[str, Any]] = []
    first_md = None
    for pt in pts:
        if log is not None:
            log(f"[{cfg['name']}] point {pt.index + 1}/{len(pts)}: {pt.label()}")
        pdir = os.path.join(out, "points", f"{pt.index:03d}") if sweep else out
        try:
            pr = run_point(pt.config, progress=progress, prepare_db=prepare_db)
        except HostUnavailable as exc:
            if not sweep:
                raise
            # One unavailable host (e.g. no wasm toolchain here) must not sink the other points: the
            # point is recorded as unavailable, with the reason, and its row carries no numbers.
            if log is not None:
                log(f"[{cfg['name']}] point {pt.index + 1} unavailable: {exc}")
            os.makedirs(pdir, exist_ok=True)
            results.write_json(os.path.join(pdir, "unavailable.json"), {"point": pt.values, "reason": str(exc)})
            rows.append({"point": pt.index, "label": pt.label(), "target": "ripple", "unavailable": str(exc),
                         **{column_name(k): (v if not isinstance(v, dict) else "/".join(str(x) for x in v.values()))
                            for k, v in pt.values.items()}, "threads": int(pt.config["run"]["threads"])})
            continue
        summary = write_point(pr, pdir, pt.values)
        if first_md is None:
            first_md = results.load_json(os.path.join(pdir, "metadata.json"))
        rows.extend(_rows(cfg, pt, summary, pr.workload_params))
    if first_md is None:
        raise RuntimeError(f"{cfg['name']}: no point could run (see the unavailable.json files in {out})")
    if sweep:
        cols = _columns(rows)
        results.write_table(os.path.join(out, "sweep.parquet"), cols)
        results.write_json(os.path.join(out, "sweep.json"), {"sweep": cfg["sweep"], "rows": rows})
        if cfg.get("analytic"):
            results.write_table(os.path.join(out, "analytic.parquet"), _analytic_curve(cfg, pts))
        md = dict(first_md or {})
        md["sweep"] = cfg["sweep"]
        md["points"] = [{"index": p.index, "values": p.values, "dir": f"points/{p.index:03d}"} for p in pts]
        results.write_json(os.path.join(out, "metadata.json"), md)
    md = results.load_json(os.path.join(out, "metadata.json"))
    md["elapsed_s"] = time.perf_counter() - started   # wall time of the whole experiment, loads included
    results.write_json(os.path.join(out, "metadata.json"), md)
    return out


def _rows(cfg: dict, pt: Point, summary: dict, params: dict) -> list[dict[str, Any]]:
    out = []
    for target, t in summary["targets"].items():
        m = t["median"]
        row: dict[str, Any] = {"point": pt.index, "label": pt.label(), "target": target}
        for k, v in pt.values.items():
            row[column_name(k)] = v if not isinstance(v, dict) else "/".join(str(x) for x in v.values())
        row.update({
            "threads": int(pt.config["run"]["threads"]),
            "throughput_ops_s": m["throughput_ops_s"], "commits_s": m["commits_s"], "abort_rate": m["abort_rate"],
            "abort_rate_conflict": m["abort_rate_by_reason"].get("conflict", 0.0),
            "abort_rate_too_old": m["abort_rate_by_reason"].get("too_old", 0.0),
            "commit_p50_us": m["commit_latency_p50_us"], "commit_p90_us": m["commit_latency_p90_us"],
            "commit_p99_us": m["commit_latency_p99_us"], "commit_p999_us": m["commit_latency_p999_us"],
            "read_p50_us": m["read_latency_p50_us"], "read_p99_us": m["read_latency_p99_us"],
            "retries": m["retries"], "failed": m["failed"], "invariant_ok": m["invariant_ok"],
            "persistence": pt.config["engine"].get("persistence"), "index": pt.config["engine"].get("index"),
            "impl": str(pt.config["engine"].get("impl")), "repeats": m["repeats"],
        })
        for ratio, r in summary["ratios"].items():
            if target == "ripple":
                row[f"throughput_ratio_{ratio.split('/')[1]}"] = r["throughput"]
        if "delivery_latency_us" in m and isinstance(m["delivery_latency_us"], dict):
            for p in ("p50", "p90", "p99"):
                row[f"delivery_{p}_us"] = m["delivery_latency_us"][p]
        if cfg.get("analytic") and target == "ripple":
            row.update(_predictions(pt.config, params, m))
        out.append(row)
    return out


def _predictions(cfg: dict, params: dict, m: dict) -> dict[str, Any]:
    shape = analytic.TxnShape.from_ycsb(params)
    n = int(params["record_count"])
    theta = float(params["theta"])
    c = int(cfg["run"]["threads"])
    pure = analytic.predict(n, theta, shape, c)
    ov = analytic.calibrated_overlap(m["commits_s"], m["mean_write_attempt_s"], c)
    cal = analytic.predict(n, theta, shape, c, overlapping=ov) if ov is not None else None
    return {"analytic_pure": pure, "analytic_calibrated": cal, "overlapping_commits": ov}


def _analytic_curve(cfg: dict, pts: list[Point]) -> dict[str, list]:
    params = {k: v for k, v in pts[0].config["workload"].items() if k != "kind"}
    shape = analytic.TxnShape.from_ycsb(params)
    threads = sorted({int(p.config["run"]["threads"]) for p in pts})
    cols = analytic.curve(int(params["record_count"]), shape, THETA_GRID, threads)
    cols["reads"] = [shape.reads] * len(cols["theta"])
    cols["write_keys_per_commit"] = [shape.write_keys_per_commit] * len(cols["theta"])
    return cols


def _columns(rows: list[dict[str, Any]]) -> dict[str, list]:
    names: list[str] = []
    for r in rows:
        for k in r:
            if k not in names:
                names.append(k)
    return {n: [r.get(n) for r in rows] for n in names}
