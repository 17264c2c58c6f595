"""Key-choice distributions for workloads: zipfian (plain and scrambled), latest, uniform.

Who may call it: workload generators (``experiments.workloads``), the analytic model
(``experiments.analytic``) and tests. Nothing here touches the engine.

Design. YCSB samples its zipfian with Gray et al.'s closed-form approximation, which is fast but only
approximately zipfian (and undefined at theta = 1). Here every generator samples by *inverse CDF over the
exact probabilities*: ``p(rank i) = i^-theta / zeta(n, theta)`` for ranks ``i = 1..n``, the cumulative
array built once (O(n) time and 8n bytes), then one binary search per draw (O(log n)). So the probabilities
the analytic model uses are exactly the ones the workload draws from, for every theta >= 0.

Scrambling. Rank 1 is the hottest key. Unscrambled, rank ``i`` is key ``i - 1`` (hot keys are adjacent, so
range reads and scans collide). Scrambled, a seeded permutation of ``0..n-1`` maps ranks to keys: hot keys
are spread over the key space (YCSB's "scrambled zipfian" hashes ranks with FNV, which is not a
bijection; a permutation keeps the per-key probabilities exact).

Invariants: generators own their random state (a ``numpy.random.Generator`` seeded explicitly); the same
seed yields the same sequence; there is no ambient randomness.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: Draws are produced in blocks of this many to amortise numpy call overhead (not observable).
BLOCK = 4096


def zeta(n: int, theta: float) -> float:
    """``sum_{i=1..n} i^-theta``. Cost O(n)."""
    if n <= 0:
        raise ValueError("n must be positive")
    return float(np.sum(np.arange(1, n + 1, dtype=np.float64) ** -float(theta)))


def zipf_probabilities(n: int, theta: float) -> np.ndarray:
    """Exact probabilities of ranks 1..n (index 0 is rank 1, the hottest). theta = 0 is uniform.

    Cost O(n). Raises ValueError for n <= 0 or theta < 0.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    if theta < 0:
        raise ValueError("theta must be >= 0")
    w = np.arange(1, n + 1, dtype=np.float64) ** -float(theta)
    return w / w.sum()


class KeyChooser(Protocol):
    """Draws keys in ``0..n-1``."""

    n: int

    def next(self) -> int: ...


class _Blocked:
    """Block-buffered draws from a numpy generator (shared by the choosers)."""

    def __init__(self, seed: int | np.random.SeedSequence) -> None:
        self._rng = np.random.default_rng(seed)
        self._buf: list[int] = []
        self._pos = 0

    def _refill(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def next(self) -> int:
        if self._pos >= len(self._buf):
            self._refill()
            self._pos = 0
        v = self._buf[self._pos]
        self._pos += 1
        return v


class UniformChooser(_Blocked):
    """Uniform keys in ``0..n-1``."""

    def __init__(self, n: int, seed: int | np.random.SeedSequence) -> None:
        if n <= 0:
            raise ValueError("n must be positive")
        super().__init__(seed)
        self.n = n

    def _refill(self) -> None:
        self._buf = self._rng.integers(0, self.n, size=BLOCK).tolist()


class ZipfTable:
    """The exact zipfian over ``0..n-1`` with skew *theta* (0 = uniform; YCSB's default is 0.99): rank
    probabilities, their cumulative array and (``scrambled=True``) the rank -> key permutation drawn from
    *perm_seed*. Built once and shared by every worker's chooser, so all workers agree on which keys are
    hot. Construction O(n) time and 8-16n bytes.

    ``scrambled=False``: key = rank - 1 (hot keys adjacent). ``scrambled=True``: key = perm[rank - 1].
    """

    def __init__(self, n: int, theta: float, *, scrambled: bool = False, perm_seed: int = 0) -> None:
        self.n = int(n)
        self.theta = float(theta)
        self.scrambled = bool(scrambled)
        self.probabilities = self._probabilities(self.n, self.theta)
        cdf = np.cumsum(self.probabilities)
        cdf[-1] = 1.0  # guard against rounding: every u in [0, 1) maps to a rank
        self.cdf = cdf
        self.permutation: np.ndarray | None = None
        if scrambled:
            self.permutation = np.random.default_rng([int(perm_seed), 0x5C4A]).permutation(self.n)

    # Tests subclass this to build mutants (a wrong theta, an off-by-one rank); it is the one place the
    # sampled probabilities come from.
    def _probabilities(self, n: int, theta: float) -> np.ndarray:
        return zipf_probabilities(n, theta)

    def key_probabilities(self) -> np.ndarray:
        """Exact probability of each *key* 0..n-1 (the rank probabilities through the permutation)."""
        if self.permutation is None:
            return self.probabilities.copy()
        out = np.empty(self.n, dtype=np.float64)
        out[self.permutation] = self.probabilities
        return out

    def ranks_for(self, u: np.ndarray) -> np.ndarray:
        """Zero-based ranks (0 = hottest) for uniform variates *u* in [0, 1). O(log n) each."""
        return np.searchsorted(self.cdf, u, side="right").astype(np.int64)

    def keys_for_ranks(self, ranks: np.ndarray) -> np.ndarray:
        return self.permutation[ranks] if self.permutation is not None else ranks


class ZipfianChooser(_Blocked):
    """Draws keys from a ``ZipfTable`` with its own seeded generator. Each draw O(log n) amortised."""

    def __init__(self, table: ZipfTable, seed: int | np.random.SeedSequence) -> None:
        super().__init__(seed)
        self.table = table
        self.n = table.n

    def draw_ranks(self, size: int) -> np.ndarray:
        """*size* zero-based ranks (0 = hottest), advancing the generator."""
        return self.table.ranks_for(self._rng.random(size))

    def draw_keys(self, size: int) -> np.ndarray:
        return self.table.keys_for_ranks(self.draw_ranks(size))

    def _refill(self) -> None:
        self._buf = self.draw_keys(BLOCK).tolist()


class LatestChooser:
    """YCSB-D's "latest": keys near the newest insert are hot. ``next_below(horizon)`` returns
    ``horizon - 1 - r`` for a zipfian rank r, where *horizon* is the caller's count of keys inserted so
    far. Deterministic for a seed and a horizon sequence."""

    def __init__(self, table: ZipfTable, seed: int | np.random.SeedSequence) -> None:
        if table.scrambled:
            raise ValueError("latest needs an unscrambled table (rank r means r keys below the newest)")
        self._z = ZipfianChooser(table, seed)
        self.n = table.n

    def next_below(self, horizon: int) -> int:
        """A key in ``0..horizon-1``: rank r counts down from the newest. Ranks >= horizon are redrawn,
        so for horizon < n this is the zipfian truncated to the keys that exist (for horizon >= n, as in
        the YCSB workload, no redraw ever happens). Raises ValueError for horizon <= 0."""
        if horizon <= 0:
            raise ValueError("nothing inserted yet")
        r = self._z.next()
        while r >= horizon:
            r = self._z.next()
        return horizon - 1 - r


@dataclass(frozen=True, slots=True)
class ChiSquareResult:
    statistic: float
    dof: int
    critical: float      # the (1 - alpha) quantile of chi-square with dof degrees of freedom
    bins: int

    @property
    def passed(self) -> bool:
        return self.statistic <= self.critical


def chi_square_critical(dof: int, z: float) -> float:
    """Upper quantile of chi-square(dof) by the Wilson-Hilferty cube approximation (good to ~1% for
    dof >= 10). *z* is the matching standard-normal quantile (3.09 for alpha = 0.001)."""
    k = float(dof)
    return k * (1.0 - 2.0 / (9.0 * k) + z * np.sqrt(2.0 / (9.0 * k))) ** 3


def chi_square_vs(counts: np.ndarray, probabilities: np.ndarray, *, min_expected: float = 5.0,
                  z: float = 3.09) -> ChiSquareResult:
    """Pearson's chi-square of observed *counts* per category against *probabilities*.

    Categories are taken in order of decreasing probability; the tail whose expected counts fall below
    *min_expected* is pooled into one bin, so the statistic's chi-square approximation holds. Cost O(n log n).
    """
    total = float(np.sum(counts))
    order = np.argsort(-probabilities, kind="stable")
    c = np.asarray(counts, dtype=np.float64)[order]
    e = np.asarray(probabilities, dtype=np.float64)[order] * total
    keep = int(np.searchsorted(-e, -min_expected, side="right"))  # e is descending
    keep = max(1, min(keep, len(e) - 1))
    obs = np.append(c[:keep], c[keep:].sum())
    exp = np.append(e[:keep], e[keep:].sum())
    mask = exp > 0
    stat = float(np.sum((obs[mask] - exp[mask]) ** 2 / exp[mask]))
    dof = int(mask.sum()) - 1
    return ChiSquareResult(stat, dof, chi_square_critical(dof, z), int(mask.sum()))
