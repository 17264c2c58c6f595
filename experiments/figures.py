"""Figures and headline numbers from experiment result folders (matplotlib, Agg backend, PNG and SVG).

Who may call it: ``experiments.reproduce`` and the notebooks. Each ``fig_*`` function reads one run
folder (``experiments.results`` layout), draws one figure into *fig_dir* as ``<name>.png`` and
``<name>.svg``, and returns the numbers it drew, keyed for ``paper/numbers.json``. Nothing here runs an
experiment; nothing is typed by hand.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from experiments import results

TARGET_COLORS = {"ripple": "#1f77b4", "sqlite": "#ff7f0e"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3,
                         "svg.hashsalt": "ripple", "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _save(fig: Any, fig_dir: str, name: str) -> list[str]:
    os.makedirs(fig_dir, exist_ok=True)
    out = []
    for ext in ("png", "svg"):
        p = os.path.join(fig_dir, f"{name}.{ext}")
        fig.savefig(p, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else {"Software": None})
        out.append(p)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return out


def sweep_table(run_dir: str) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(os.path.join(run_dir, "sweep.parquet")).to_pandas()


# ---- OCC abort rate vs theta x concurrency -------------------------------------------------------------

def fig_occ_abort(run_dir: str, fig_dir: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    plt = _plt()
    d = sweep_table(run_dir)
    d = d[d.target == "ripple"]
    curve = pq.read_table(os.path.join(run_dir, "analytic.parquet")).to_pandas()
    threads = sorted(d.threads.unique())
    cmap = plt.get_cmap("viridis")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, c in enumerate(threads):
        col = cmap(i / max(1, len(threads) - 1))
        m = d[d.threads == c].sort_values("workload__theta")
        a = curve[curve.threads == c].sort_values("theta")
        ax1.plot(a.theta, a.abort_pure, color=col, lw=1.2, alpha=0.8)
        ax1.plot(m.workload__theta, m.abort_rate, "o", color=col, ms=4, label=f"{c} threads")
    ax1.set_xlabel("zipfian θ")
    ax1.set_ylabel("aborted attempts / write attempts")
    ax1.set_title("abort rate: measured (points), analytic (lines)")
    ax1.legend(fontsize=7, ncol=2)
    top = d[d.workload__theta == d.workload__theta.max()].sort_values("threads")
    ax2.plot(top.threads, top.abort_rate, "o-", label="measured")
    ax2.plot(top.threads, top.analytic_pure, "s--", label="analytic (c-1 overlapping commits)")
    ax2.plot(top.threads, top.analytic_calibrated, "^:", label="analytic (Little's law, measured X·L)")
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("threads (closed loop)")
    ax2.set_ylabel("abort rate")
    ax2.set_title(f"θ = {d.workload__theta.max()}")
    ax2.legend(fontsize=7)
    _save(fig, fig_dir, "occ_abort")
    nums: dict[str, Any] = {}
    for _, r in d.iterrows():
        key = f"t{_thetakey(r.workload__theta)}_c{int(r.threads)}"
        nums[f"measured_{key}"] = float(r.abort_rate)
        nums[f"analytic_{key}"] = float(r.analytic_pure)
        if r.analytic_calibrated is not None and not np.isnan(r.analytic_calibrated):
            nums[f"calibrated_{key}"] = float(r.analytic_calibrated)
    err = (d.abort_rate - d.analytic_pure).abs()
    nums["mean_abs_error_pure"] = float(err.mean())
    nums["max_abs_error_pure"] = float(err.max())
    cal = d.dropna(subset=["analytic_calibrated"])
    nums["mean_abs_error_calibrated"] = float((cal.abort_rate - cal.analytic_calibrated).abs().mean())
    nums["points"] = int(len(d))
    nums["table"] = _occ_table(d)
    # Which side of the measurement each model falls on at the most contended point (words for the paper).
    hot = d[(d.workload__theta == d.workload__theta.max()) & (d.threads == d.threads.max())].iloc[0]
    nums["pure_side"] = "above" if hot.analytic_pure > hot.abort_rate else "below"
    nums["calibrated_side"] = ("above" if hot.analytic_calibrated > hot.abort_rate else "below") \
        if _f(hot.analytic_calibrated) is not None else "n/a"
    return nums


def _thetakey(t: float) -> str:
    return f"{float(t):.2f}".replace(".", "")


def _occ_table(d: Any) -> str:
    thetas = sorted(d.workload__theta.unique())
    threads = sorted(d.threads.unique())
    head = "| threads | " + " | ".join(f"θ={t:g}" for t in thetas) + " |"
    sep = "|---:|" + "---:|" * len(thetas)
    rows = [head, sep]
    for c in threads:
        cells = []
        for t in thetas:
            r = d[(d.threads == c) & (d.workload__theta == t)].iloc[0]
            cells.append(f"{r.abort_rate:.3f} / {r.analytic_pure:.3f}")
        rows.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


# ---- YCSB Ripple vs SQLite ---------------------------------------------------------------------------

def fig_ycsb(run_dir: str, fig_dir: str) -> dict[str, Any]:
    plt = _plt()
    d = sweep_table(run_dir)
    mixes = sorted(d.workload__mix.unique())
    x = np.arange(len(mixes))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for j, target in enumerate(["ripple", "sqlite"]):
        vals = [float(d[(d.workload__mix == m) & (d.target == target)].throughput_ops_s.iloc[0]) for m in mixes]
        ax1.bar(x + (j - 0.5) * 0.38, vals, 0.38, label=target, color=TARGET_COLORS[target])
    rip = d[d.target == "ripple"].set_index("workload__mix")
    ratios = [float(rip.loc[m, "throughput_ratio_sqlite"]) for m in mixes]
    for xi, r in zip(x, ratios):
        ax1.annotate(f"{r:.2f}x", (xi, 0), xytext=(0, -22), textcoords="offset points", ha="center", fontsize=7)
    ax1.set_xticks(x, [f"YCSB-{m}" for m in mixes])
    ax1.set_ylabel("operations / s")
    ax1.set_title("throughput (Ripple/SQLite ratio under each pair)")
    ax1.legend()
    _latency_cdf(ax2, os.path.join(run_dir, "points", f"{mixes.index('A'):03d}" if "A" in mixes else "000", "events.parquet"))
    ax2.set_title("YCSB-A: latency CDF of read-write operations")
    _save(fig, fig_dir, "ycsb")
    nums: dict[str, Any] = {f"ratio_{m}": r for m, r in zip(mixes, ratios)}
    for m in mixes:
        for target in ("ripple", "sqlite"):
            r = d[(d.workload__mix == m) & (d.target == target)].iloc[0]
            nums[f"{target}_{m}_ops_s"] = float(r.throughput_ops_s)
            nums[f"{target}_{m}_read_p50_us"] = _f(r.read_p50_us)
            nums[f"{target}_{m}_commit_p50_us"] = _f(r.commit_p50_us)
    rows = ["| mix | Ripple ops/s | SQLite ops/s | ratio | Ripple read p50 µs | SQLite read p50 µs | Ripple write p50 µs | SQLite write p50 µs |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in mixes:
        rows.append(f"| {m} | {nums[f'ripple_{m}_ops_s']:.0f} | {nums[f'sqlite_{m}_ops_s']:.0f} | {nums[f'ratio_{m}']:.2f} | "
                    f"{_cell(nums[f'ripple_{m}_read_p50_us'])} | {_cell(nums[f'sqlite_{m}_read_p50_us'])} | "
                    f"{_cell(nums[f'ripple_{m}_commit_p50_us'])} | {_cell(nums[f'sqlite_{m}_commit_p50_us'])} |")
    nums["table"] = "\n".join(rows)
    nums["lowest_ratio_mix"] = min(mixes, key=lambda m: nums[f"ratio_{m}"])
    nums["highest_ratio_mix"] = max(mixes, key=lambda m: nums[f"ratio_{m}"])
    faster = [m for m in mixes if nums[f"ratio_{m}"] > 1]
    slower = [m for m in mixes if nums[f"ratio_{m}"] <= 1]
    if not faster:
        nums["verdict"] = f"SQLite has the higher throughput on all {len(mixes)} mixes"
    elif not slower:
        nums["verdict"] = f"Ripple has the higher throughput on all {len(mixes)} mixes"
    else:
        nums["verdict"] = (f"Ripple has the higher throughput on {', '.join(faster)} and SQLite on "
                           f"{', '.join(slower)}")
    return nums


def _f(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(v) else v


def _cell(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f}"


def _latency_cdf(ax: Any, events_path: str, *, writes_only: bool = True) -> None:
    ev = results.read_events(events_path)
    ev = ev[ev.final]
    if writes_only:
        ev = ev[ev.is_write]
    for target, g in ev.groupby("target"):
        lat = np.sort(g.latency_us.to_numpy(dtype=float))
        ax.plot(lat, np.arange(1, len(lat) + 1) / len(lat), label=target, color=TARGET_COLORS.get(str(target)))
    ax.set_xscale("log")
    ax.set_xlabel("latency (µs, log)")
    ax.set_ylabel("fraction of operations")
    ax.legend()


# ---- bank ------------------------------------------------------------------------------------------

def fig_bank(run_dir: str, fig_dir: str) -> dict[str, Any]:
    plt = _plt()
    d = sweep_table(run_dir)
    accts = sorted(d.workload__accounts.unique())
    x = np.arange(len(accts))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    for j, target in enumerate(["ripple", "sqlite"]):
        g = d[d.target == target].set_index("workload__accounts")
        ax1.bar(x + (j - 0.5) * 0.38, [g.loc[a, "throughput_ops_s"] for a in accts], 0.38, label=target,
                color=TARGET_COLORS[target])
        ax2.bar(x + (j - 0.5) * 0.38, [g.loc[a, "commit_p99_us"] / 1000 for a in accts], 0.38, label=target,
                color=TARGET_COLORS[target])
    ax1.set_xticks(x, [f"{a} accounts" for a in accts])
    ax2.set_xticks(x, [f"{a} accounts" for a in accts])
    ax1.set_ylabel("transfers / s")
    ax2.set_ylabel("p99 transfer latency (ms)")
    ax1.legend()
    _save(fig, fig_dir, "bank")
    ok = bool(d.invariant_ok.all())
    nums: dict[str, Any] = {"invariant_ok_all": ok,
                            "invariant_words": "held in every run" if ok else "was VIOLATED in at least one run"}
    for _, r in d.iterrows():
        k = f"{r.target}_{int(r.workload__accounts)}"
        nums[f"{k}_ops_s"] = float(r.throughput_ops_s)
        nums[f"{k}_abort_rate"] = float(r.abort_rate)
        nums[f"{k}_p99_ms"] = float(r.commit_p99_us) / 1000
        nums[f"{k}_failed"] = float(r.failed)
        if r.target == "ripple":
            nums[f"ratio_{int(r.workload__accounts)}"] = float(r.throughput_ratio_sqlite)
    nums["sqlite_max_abort_rate"] = float(d[d.target == "sqlite"].abort_rate.max())
    return nums


# ---- strategies ------------------------------------------------------------------------------------

def fig_strategies(run_dir: str, fig_dir: str) -> dict[str, Any]:
    plt = _plt()
    d = sweep_table(run_dir)
    d = d.assign(strategy=d.persistence + "/" + d["index"])
    strategies = list(dict.fromkeys(d.strategy))
    mixes = sorted(d.workload__mix.unique())
    fig, axes = plt.subplots(1, len(mixes), figsize=(5 * len(mixes), 3.6))
    axes = np.atleast_1d(axes)
    x = np.arange(len(strategies))
    nums: dict[str, Any] = {}
    for ax, m in zip(axes, mixes):
        for j, impl in enumerate(["py", "cy"]):
            g = d[(d.workload__mix == m) & (d.impl == impl)].set_index("strategy")
            if g.empty:
                continue
            vals = [float(g.loc[s, "throughput_ops_s"]) for s in strategies]
            ax.bar(x + (j - 0.5) * 0.38, vals, 0.38, label=impl)
            for s, v in zip(strategies, vals):
                nums[f"{m}_{s.replace('/', '_').replace('-', '_')}_{impl}_ops_s"] = v
        ax.set_xticks(x, strategies, rotation=15, fontsize=7)
        ax.set_title(f"YCSB-{m}")
        ax.set_ylabel("operations / s")
        ax.legend(title="kernels")
    _save(fig, fig_dir, "strategies")
    rows = ["| mix | strategy | py ops/s | cy ops/s | cy/py |", "|---|---|---:|---:|---:|"]
    speedups = []
    for m in mixes:
        for s in strategies:
            k = f"{m}_{s.replace('/', '_').replace('-', '_')}"
            py, cy = nums.get(f"{k}_py_ops_s"), nums.get(f"{k}_cy_ops_s")
            if py and cy:
                speedups.append(cy / py)
                rows.append(f"| {m} | {s} | {py:.0f} | {cy:.0f} | {cy / py:.2f} |")
    nums["table"] = "\n".join(rows)
    if speedups:
        nums["cy_speedup_min"] = float(min(speedups))
        nums["cy_speedup_max"] = float(max(speedups))
        nums["cy_speedup_median"] = float(np.median(speedups))
    return nums


# ---- chat ------------------------------------------------------------------------------------------

def fig_chat(run_dir: str, fig_dir: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    plt = _plt()
    d = sweep_table(run_dir)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    nums: dict[str, Any] = {}
    for _, r in d.iterrows():
        p = os.path.join(run_dir, "points", f"{int(r.point):03d}", "deliveries.parquet")
        if not os.path.exists(p):
            continue
        lat = np.sort(pq.read_table(p).column("latency_us").to_numpy())
        if len(lat) == 0:
            continue
        ax.plot(lat / 1000, np.arange(1, len(lat) + 1) / len(lat), label=r.label.replace("workload__", ""))
        k = f"s{int(r.workload__subscribers)}_{r.impl}"
        nums[f"{k}_p50_ms"] = float(np.percentile(lat, 50)) / 1000
        nums[f"{k}_p99_ms"] = float(np.percentile(lat, 99)) / 1000
        nums[f"{k}_sends_s"] = float(r.throughput_ops_s)
    ax.set_xscale("log")
    ax.set_xlabel("send → notification latency (ms, log)")
    ax.set_ylabel("fraction of deliveries")
    ax.legend(fontsize=7)
    _save(fig, fig_dir, "chat")
    nums["invariant_ok_all"] = bool(d.invariant_ok.all())
    subs = sorted(int(x) for x in d.workload__subscribers.unique())
    nums["min_subscribers"], nums["max_subscribers"] = subs[0], subs[-1]
    for which, n in (("min", subs[0]), ("max", subs[-1])):
        for impl in ("py", "cy"):
            for q in ("p50_ms", "p99_ms", "sends_s"):
                if f"s{n}_{impl}_{q}" in nums:
                    nums[f"{which}_{impl}_{q}"] = nums[f"s{n}_{impl}_{q}"]
    return nums


# ---- function hosts ---------------------------------------------------------------------------------

def fig_function_hosts(run_dir: str, fig_dir: str) -> dict[str, Any]:
    plt = _plt()
    d = sweep_table(run_dir)
    if "unavailable" in d.columns:
        d = d[d.unavailable.isna()]
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    hosts = list(d.run__host)
    ax.bar(hosts, d.commit_p50_us / 1000)
    ax.set_ylabel("p50 transfer latency (ms)")
    ax.set_yscale("log")
    _save(fig, fig_dir, "function_hosts")
    nums: dict[str, Any] = {f"{h}_{q}": None for h in ("direct", "reference", "wasm")
                            for q in ("ops_s", "p50_us", "overhead_p50_us")}
    for _, r in d.iterrows():
        nums[f"{r.run__host}_ops_s"] = float(r.throughput_ops_s)
        nums[f"{r.run__host}_p50_us"] = float(r.commit_p50_us)
    if nums["direct_p50_us"] is not None:
        for h in ("reference", "wasm"):
            if nums[f"{h}_p50_us"] is not None:
                nums[f"{h}_overhead_p50_us"] = nums[f"{h}_p50_us"] - nums["direct_p50_us"]
    return nums


FIGURES = {
    "occ_abort": fig_occ_abort,
    "ycsb": fig_ycsb,
    "bank": fig_bank,
    "strategies": fig_strategies,
    "chat": fig_chat,
    "function_hosts": fig_function_hosts,
}
