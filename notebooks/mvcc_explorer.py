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
# # MVCC explorer
#
# Look inside Ripple's multi-versioned storage with the embedded engine: one document's versions across
# commit timestamps, snapshot reads at any of them (time travel), what garbage collection removes, and a
# query's read set drawn as key intervals — the same intervals OCC validates against and subscriptions
# are invalidated by.
#
# Configuration: `RIPPLE_NOTEBOOK_SCALE=small` (the test suite) or `default`. Everything is in memory
# and deterministic (a fake physical clock that advances one millisecond per reading, a fixed seed).

# %%
import itertools
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

import engine
from engine import define_schema, define_table, v
from engine.clock.hlc import unpack

SCALE = os.environ.get("RIPPLE_NOTEBOOK_SCALE", "default")
DOCS = 12 if SCALE == "small" else 60
EDITS = 5 if SCALE == "small" else 12
clock = itertools.count(1_700_000_000_000).__next__   # injected physical clock: 1 ms per reading

schema = define_schema({"items": define_table({"k": v.int64(), "color": v.string(), "rev": v.int64()})
                        .index("by_k", ["k"])})
db = engine.open_database(None, schema=schema, physical_clock=clock, seed=7, subscriptions="inline")
colors = ["red", "green", "blue"]
ids = db.mutate(lambda tx: [tx.insert("items", {"k": k, "color": colors[k % 3], "rev": 0}) for k in range(DOCS)])
db.implementations()

# %% [markdown]
# ## One document across time
# Each edit is one commit; `db.history(id)` lists every retained version with its commit timestamp
# (a hybrid logical clock value: physical milliseconds in the high 48 bits, a logical counter below).

# %%
target = ids[3]
for i in range(1, EDITS + 1):
    db.mutate(lambda tx, i=i: tx.patch(target, {"rev": i, "color": colors[i % 3]}))
history = pd.DataFrame([{"ts": ver.ts, "physical_ms": unpack(ver.ts)[0], "logical": unpack(ver.ts)[1],
                         "rev": ver.value["rev"] if ver.value else None,
                         "color": ver.value["color"] if ver.value else None} for ver in db.history(target)])
history

# %% [markdown]
# ## Snapshot reads (time travel)
# `db.read(fn, at=ts)` reads the whole database as of `ts`: every document at its newest version `<= ts`.

# %%
snap = pd.DataFrame([{"at": ts, "rev seen": db.read(lambda tx: tx.get(target)["rev"], at=ts),
                      "docs with rev>0": db.read(lambda tx: sum(1 for d in tx.query("items").collect() if d["rev"] > 0), at=ts)}
                     for ts in history.ts])
assert list(snap["rev seen"]) == list(history.rev)
snap

# %% [markdown]
# ## What garbage collection removes
# `db.gc(below)` raises the retention watermark: versions that no snapshot `>= below` can see are
# dropped. The newest version below the watermark survives (it is what a snapshot at the watermark
# sees). Reading below the watermark is refused with `TooOldError`.

# %%
cut = int(history.ts.iloc[len(history) // 2])
before = len(db.history(target))
removed = db.gc(cut)
after = db.history(target)
print(f"gc below {cut}: removed {removed} index versions; {target} kept {len(after)} of {before} versions")
print("oldest kept:", after[0].ts, "<= watermark", db.retention_watermark())
try:
    db.read(lambda tx: tx.get(target), at=int(history.ts.iloc[0]))
except engine.TooOldError as exc:
    print("snapshot below the watermark:", type(exc).__name__, exc)
assert after[0].ts <= cut and len(after) < before

# %% [markdown]
# ## A query's read set, drawn as intervals
# A read-only "mutation" returns its attempt record: the key intervals it read in each index. Points
# are single keys (`get`), ranges are what a query scanned (so a later insert inside a range conflicts:
# no phantoms). Below, the x axis is the rank of each document's `by_k` key.

# %%
lo, hi = DOCS // 4, DOCS // 2


def reads(tx):
    rng = tx.query("items").with_index("by_k", lambda q: q.gte("k", lo).lt("k", hi)).collect()
    first_red = tx.query("items").with_index("by_k").filter(lambda d: d["color"] == "red").first()
    return len(rng), tx.get(ids[-1])["k"], first_red["k"]


out = db.run_mutation(reads)
attempt = out.attempts[0]
intervals = attempt.read_set
{ix: [(iv.start.hex()[:16], iv.end.hex()[:16] if iv.end else None) for iv in ivs] for ix, ivs in intervals.items()}

# %%
by_k = intervals.get("items.by_k", [])
ix = db.catalog.index("items", "by_k")
docs = db.read(lambda tx: tx.query("items").with_index("by_k").collect())
all_keys = sorted(db.keys.index_key(ix, d) for d in docs)   # each document's key in items.by_k


def rank(b):
    """Position of key bound *b* among the documents' keys (None: past the last)."""
    import bisect

    return len(all_keys) if b is None else bisect.bisect_left(all_keys, b)


fig, ax = plt.subplots(figsize=(8, 1.8))
ax.scatter(range(len(all_keys)), [0] * len(all_keys), s=12, color="grey", label="documents (by_k order)")
for i, iv in enumerate(by_k):
    a, b = rank(iv.start), rank(iv.end)
    ax.plot([a - 0.4, max(a, b - 1) + 0.4], [0.3 + 0.2 * i] * 2, lw=6, alpha=0.7, label=f"read interval {i}")
ax.set_yticks([])
ax.set_xlabel("key rank in items.by_k")
ax.legend(fontsize=7, loc="upper right")
ax.set_ylim(-0.3, 0.6 + 0.2 * len(by_k))
assert len(by_k) >= 2   # the range scan and the filtered prefix scan

# %% [markdown]
# A write inside the scanned range conflicts with a transaction that read it, even if the document is
# new (a phantom); a write outside does not:

# %%
tx = db.begin()
_ = reads(tx)
db.mutate(lambda t: t.insert("items", {"k": lo, "color": "blue", "rev": 0}))   # inside [lo, hi)
tx.insert("items", {"k": 10_000, "color": "red", "rev": 0})
res = db.commit(tx)
print(res.verdict, res.conflict)
assert res.verdict.value == "conflict" and res.conflict.index == "items.by_k"
db.close()
