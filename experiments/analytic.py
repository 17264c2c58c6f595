"""An analytic reference for OCC abort rates: the chance that a concurrent writer hits one of your reads.

Who may call it: the sweep driver (reference curves stored beside measured points), ``reproduce`` (the
paper's figure), notebooks, tests.

The model. A read-write transaction reads a set R of keys (``reads`` independent draws from the
workload's exact key distribution p) and stays open for a while; meanwhile other transactions commit,
writing ``W`` keys in total, each an independent draw from p. It aborts iff one of those keys lies in R::

    P(abort) = 1 - E_R[(1 - p(R))^W],   p(R) = sum of p over the distinct keys of R.

For one read the expectation is exact: ``sum_i p_i (1 - p_i)^W``. For more reads it is estimated by
Monte Carlo over R with a fixed seed (``samples`` draws; standard error below 0.002 at the default).

How many keys are written meanwhile (``W = overlapping commits x write keys per commit``):
- ``pure``: in a closed loop of c workers whose transactions all take about as long, each of the other
  c - 1 workers commits about one transaction during yours, of which a fraction ``write_fraction`` writes:
  ``overlapping = (c - 1) * write_fraction``.
- ``calibrated``: Little's law on measured numbers: ``overlapping = X * L * (c - 1) / c`` with X the
  measured commit rate and L the measured mean duration of a write attempt.

Limits (stated with every curve): keys are independent draws (no locality), retries are not modelled
(a retried attempt re-reads the same hot keys, so measured per-attempt abort rates run above the model
at high contention), aborted transactions are assumed to commit (the model overcounts W there), and
only point reads are covered (scans are not).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments.distributions import zipf_probabilities

POINT_KINDS = ("read", "update", "rmw")
WRITE_KINDS = ("update", "rmw")


def p_no_conflict(probs: np.ndarray, reads: int, write_keys: float, *, samples: int = 100_000,
                  seed: int = 0) -> float:
    """``E_R[(1 - p(R))^W]`` for R = *reads* draws from *probs* and W = *write_keys* (may be fractional).

    Exact for reads <= 1, Monte Carlo otherwise. Cost O(n) exact, O(samples * reads * log n) sampled.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if reads <= 0 or write_keys <= 0:
        return 1.0
    if reads == 1:
        return float(np.sum(probs * (1.0 - probs) ** write_keys))
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0
    rng = np.random.default_rng(seed)
    keys = np.searchsorted(cdf, rng.random((samples, reads)), side="right")
    keys.sort(axis=1)
    pk = probs[keys]
    distinct = np.ones_like(pk, dtype=bool)
    distinct[:, 1:] = keys[:, 1:] != keys[:, :-1]
    p_r = np.minimum(1.0, (pk * distinct).sum(axis=1))
    return float(np.mean((1.0 - p_r) ** write_keys))


def abort_probability(probs: np.ndarray, reads: int, write_keys: float, **kw: Any) -> float:
    return 1.0 - p_no_conflict(probs, reads, write_keys, **kw)


def effective_hot_keys(probs: np.ndarray) -> float:
    """``1 / sum p_i^2``: the size of a uniform table with the same chance that two draws collide."""
    p = np.asarray(probs, dtype=np.float64)
    return float(1.0 / np.sum(p * p))


@dataclass(frozen=True, slots=True)
class TxnShape:
    """What the model needs from a YCSB-style configuration: point reads per read-write transaction,
    the fraction of transactions that write, and keys written per writing transaction."""

    reads: int
    write_fraction: float
    write_keys_per_commit: float

    @classmethod
    def from_ycsb(cls, params: dict) -> "TxnShape":
        from experiments.workloads.ycsb import YcsbParams

        known = {k: v for k, v in params.items() if k in YcsbParams.__dataclass_fields__}
        p = YcsbParams(**known)
        mix = p.proportions()
        k = p.ops_per_txn
        p_point = sum(mix.get(x, 0.0) for x in POINT_KINDS)
        p_write = sum(mix.get(x, 0.0) for x in WRITE_KINDS)
        f_w = 1.0 - (1.0 - p_write) ** k
        reads = max(1, round(k * p_point))
        return cls(reads, f_w, (k * p_write / f_w) if f_w > 0 else 0.0)


def predict(n: int, theta: float, shape: TxnShape, threads: int, *, overlapping: float | None = None,
            samples: int = 100_000, seed: int = 0) -> float:
    """Predicted per-attempt abort probability. *overlapping* (commits during one attempt) defaults to the
    pure model's ``(threads - 1) * write_fraction``."""
    if overlapping is None:
        overlapping = (threads - 1) * shape.write_fraction
    probs = zipf_probabilities(n, theta)
    return abort_probability(probs, shape.reads, overlapping * shape.write_keys_per_commit, samples=samples, seed=seed)


def calibrated_overlap(commits_s: float | None, mean_attempt_s: float | None, threads: int) -> float | None:
    """Little's-law estimate of commits by others during one attempt (None if not measurable)."""
    if not commits_s or not mean_attempt_s or threads < 1:
        return None
    return commits_s * mean_attempt_s * (threads - 1) / threads


def curve(n: int, shape: TxnShape, thetas: list[float], threads: list[int], *, samples: int = 50_000,
          seed: int = 0) -> dict[str, list]:
    """The pure model on a grid: columns theta, threads, abort_pure. Cost: len(thetas) x len(threads)
    predictions."""
    cols: dict[str, list] = {"theta": [], "threads": [], "abort_pure": []}
    for c in threads:
        for t in thetas:
            cols["theta"].append(float(t))
            cols["threads"].append(int(c))
            cols["abort_pure"].append(predict(n, t, shape, c, samples=samples, seed=seed))
    return cols
