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
# # OCC conflict study
#
# Where do optimistic transactions collide, and who breaks whose read set? Everything here comes from
# one run's `events.parquet` (one row per transaction attempt, with the conflict attribution the
# committer reports: index, key, document, conflicting commit timestamp and writer).
#
# Configuration (environment): `RIPPLE_NOTEBOOK_RUN` = an existing run folder (or a sweep point folder)
# to study; otherwise a small contended YCSB read-modify-write run is made now, into
# `RIPPLE_NOTEBOOK_RESULTS` (default: a temporary folder). `RIPPLE_NOTEBOOK_SCALE=small` keeps it to
# seconds (the test suite).

# %%
import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from engine.encoding import split_index_key
from experiments import config
from experiments.results import load_json, read_events
from experiments.sweep import run_experiment

SCALE = os.environ.get("RIPPLE_NOTEBOOK_SCALE", "default")
RUN = os.environ.get("RIPPLE_NOTEBOOK_RUN")
if not RUN:
    cfg = config.normalise({
        "name": "notebook_occ",
        "workload": {"kind": "ycsb", "mix": {"rmw": 1.0}, "record_count": 2000, "theta": 0.99, "scrambled": False,
                     "ops_per_txn": 2, "think_us": 300},
        "run": {"threads": 8, "ops": 600 if SCALE == "small" else 6000, "seed": 1},
        "engine": {"persistence": "memory", "durability": "none"},
    })
    RUN = run_experiment(cfg, out_root=os.environ.get("RIPPLE_NOTEBOOK_RESULTS") or tempfile.mkdtemp())
ev = read_events(os.path.join(RUN, "events.parquet"))
ev = ev[ev.target == "ripple"]
meta = load_json(os.path.join(RUN, "metadata.json"))
print(RUN)
print({k: meta[k] for k in ("git_sha", "git_dirty", "persistence", "index", "seed")}, meta["impl"])
ev.head()

# %% [markdown]
# ## Abort rates
# Per attempt of a read-write transaction: committed, or aborted with a reason (`conflict`: a write in
# `(begin_ts, commit_ts]` hit the read set; `too_old`: the snapshot left the write window).

# %%
w = ev[ev.is_write]
rates = w.verdict.value_counts(normalize=True).rename("share of attempts").to_frame()
rates

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
chains = w[w.final].attempts.value_counts().sort_index()
ax1.bar(chains.index.astype(int), chains.values)
ax1.set_xlabel("attempts per transaction")
ax1.set_ylabel("transactions")
ax1.set_yscale("log")
per_worker = w.groupby("worker").verdict.apply(lambda s: (s != "commit").mean())
ax2.bar(per_worker.index, per_worker.values)
ax2.set_xlabel("worker")
ax2.set_ylabel("abort rate")
fig.tight_layout()

# %% [markdown]
# ## Hot key ranges
# Decode the conflicting index keys (`usertable.by_k` holds the YCSB key) to see which key ranges
# abort transactions. With an unscrambled zipfian the hot keys are the smallest ones.

# %%
c = w[w.verdict == "conflict"].copy()
print(c.conflict_index.value_counts())
byk = c[c.conflict_index == "usertable.by_k"]
ks = [split_index_key(bytes(k))[0][0] for k in byk.conflict_key]
docs = c.conflict_document.value_counts()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
if ks:
    ax1.hist(ks, bins=50)
ax1.set_xlabel("YCSB key of the conflicting write (by_k)")
ax1.set_ylabel("conflicts")
share = np.cumsum(docs.values) / max(1, docs.values.sum())
ax2.plot(np.arange(1, len(share) + 1), share, drawstyle="steps-post")
ax2.set_xscale("log")
ax2.set_xlabel("documents, hottest first")
ax2.set_ylabel("cumulative share of conflicts")
fig.tight_layout()
print(f"{len(docs)} documents caused {len(c)} conflicts; the top 10 caused {docs.head(10).sum() / max(1, len(c)):.0%}")

# %% [markdown]
# ## Retry chains
# The attempts of one transaction in order: each retry re-runs the function at a newer snapshot.

# %%
multi = w[w.attempts > 2].sort_values(["txn", "attempt"])
chain_view = multi[["txn", "worker", "attempt", "verdict", "begin_ts", "commit_ts", "conflict_ts", "conflict_document"]]
chain_view.head(12)

# %% [markdown]
# ## Who invalidated whom
# A conflict names the commit timestamp of the write that broke the read set; joining it to the
# committed attempts finds the invalidating transaction. A worker runs one transaction at a time, so it
# can never invalidate itself: the diagonal must be empty.

# %%
commits = w[w.verdict == "commit"][["commit_ts", "worker", "txn", "op"]].rename(
    columns={"commit_ts": "conflict_ts", "worker": "by_worker", "txn": "by_txn", "op": "by_op"})
who = c.merge(commits, on="conflict_ts", how="left")
assert who.by_worker.notna().all(), "every conflicting write is a committed attempt of this run"
matrix = pd.crosstab(who.worker, who.by_worker)
assert all(matrix.loc[i, i] == 0 for i in matrix.index if i in matrix.columns)
fig, ax = plt.subplots(figsize=(4.5, 3.8))
im = ax.imshow(matrix.values, cmap="Reds")
ax.set_xticks(range(len(matrix.columns)), matrix.columns)
ax.set_yticks(range(len(matrix.index)), matrix.index)
ax.set_xlabel("invalidating worker")
ax.set_ylabel("aborted worker")
fig.colorbar(im)
lag = (who.conflict_ts.to_numpy(dtype="uint64") - who.begin_ts.to_numpy(dtype="uint64")) >> np.uint64(16)
print("ms between the snapshot and the invalidating commit: median", float(np.median(lag)) if len(lag) else None)
