# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Latency
#
# Latency distributions (CDFs) and throughput against latency for Ripple and for SQLite (WAL,
# `BEGIN IMMEDIATE`), both driven by the same YCSB-A operation streams in the same run, as the closed
# loop's concurrency grows.
#
# Configuration (environment): `RIPPLE_NOTEBOOK_RUN` = a sweep folder of the `ycsb`-style harness with
# a `run.threads` sweep and both targets; otherwise a small one is run now into `RIPPLE_NOTEBOOK_RESULTS`
# (default: a temporary folder). `RIPPLE_NOTEBOOK_SCALE=small` keeps it to seconds (the test suite).

# %%
import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pyarrow.parquet as pq

from experiments import config
from experiments.results import load_json, read_events
from experiments.sweep import run_experiment

SCALE = os.environ.get("RIPPLE_NOTEBOOK_SCALE", "default")
RUN = os.environ.get("RIPPLE_NOTEBOOK_RUN")
if not RUN:
    cfg = config.normalise({
        "name": "notebook_latency",
        "workload": {"kind": "ycsb", "mix": "A", "record_count": 1000 if SCALE == "small" else 10000},
        "run": {"ops": 400 if SCALE == "small" else 10000, "seed": 1, "targets": ["ripple", "sqlite"]},
        "engine": {"persistence": "lmdb", "durability": "none"},
        "sweep": {"run.threads": [1, 4] if SCALE == "small" else [1, 2, 4, 8, 16]},
    })
    RUN = run_experiment(cfg, out_root=os.environ.get("RIPPLE_NOTEBOOK_RESULTS") or tempfile.mkdtemp())
sweep = pq.read_table(os.path.join(RUN, "sweep.parquet")).to_pandas()
meta = load_json(os.path.join(RUN, "metadata.json"))
print(RUN, meta["git_sha"][:8], "dirty" if meta["git_dirty"] else "clean", meta["cpu"])
sweep[["label", "target", "throughput_ops_s", "commit_p50_us", "commit_p99_us", "read_p50_us", "read_p99_us"]]

# %% [markdown]
# ## CDFs
# Per point, the latency of every operation (read-only and read-write separately), from the call to
# its return, retries included.

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for _, p in sweep.drop_duplicates("point").iterrows():
    ev = read_events(os.path.join(RUN, "points", f"{int(p.point):03d}", "events.parquet"))
    ev = ev[ev.final]
    for target, g in ev.groupby("target"):
        for ax, writes in zip(axes, (False, True)):
            lat = np.sort(g[g.is_write == writes].latency_us.to_numpy(dtype=float))
            if len(lat):
                ax.plot(lat, np.arange(1, len(lat) + 1) / len(lat), label=f"{target}, {int(p.threads)} threads",
                        ls="-" if target == "ripple" else "--")
for ax, title in zip(axes, ("reads", "read-modify-write updates")):
    ax.set_xscale("log")
    ax.set_xlabel("latency (µs, log)")
    ax.set_title(title)
axes[0].set_ylabel("fraction of operations")
axes[1].legend(fontsize=7)
fig.tight_layout()

# %% [markdown]
# ## Throughput against latency
# Each point is one concurrency level; moving right adds threads. Where the curve turns upward the
# system is saturated: more clients only queue.

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.6))
for target, g in sweep.groupby("target"):
    g = g.sort_values("threads")
    ax.plot(g.throughput_ops_s, g.commit_p50_us, "o-", label=f"{target} p50")
    ax.plot(g.throughput_ops_s, g.commit_p99_us, "s--", label=f"{target} p99")
    for _, r in g.iterrows():
        ax.annotate(str(int(r.threads)), (r.throughput_ops_s, r.commit_p50_us), fontsize=7)
ax.set_yscale("log")
ax.set_xlabel("throughput (operations / s)")
ax.set_ylabel("update latency (µs, log)")
ax.legend(fontsize=7)
ratios = sweep[sweep.target == "ripple"][["threads", "throughput_ratio_sqlite"]]
assert ratios.throughput_ratio_sqlite.notna().all()
ratios
