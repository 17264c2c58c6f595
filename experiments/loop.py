"""The closed loop one worker runs: take the next op of its stream, execute it, record it, repeat.

Who may call it: ``experiments.runner`` (engine targets, threads) and ``experiments.baselines`` (SQLite,
threads or processes). The measuring clock is injected (``time.perf_counter_ns`` by default); nothing
else here reads time.

Invariants: one ``TxnRecord`` per executed op, in the worker's stream order; a worker stops after its
quota of ops or when *stop* is set (duration mode), whichever comes first, and never starts an op after
*stop* is set.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from experiments.workloads.base import Op


@dataclass(frozen=True, slots=True)
class BaselineAttempt:
    """An attempt of a baseline transaction (no MVCC timestamps): verdict "commit" or "busy"."""

    verdict: str


@dataclass(frozen=True, slots=True)
class TxnRecord:
    """One executed op. ``attempts`` holds ``engine.database.AttemptRecord``s (engine targets) or
    ``BaselineAttempt``s; ``t_start_ns`` is relative to the run's start; ``failed``: gave up after retries."""

    worker: int
    seq: int
    label: str
    writes: bool
    t_start_ns: int
    latency_ns: int
    commit_ts: int | None
    attempts: tuple
    failed: bool


class Progress:
    """Ops completed so far, summed over workers (read by the progress bar; approximate while running)."""

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}

    def set(self, worker: int, n: int) -> None:
        self._counts[worker] = n

    @property
    def total(self) -> int:
        return sum(self._counts.values())


def drive(stream: Iterator[Op], execute: Callable[[Op], tuple[Any, int | None, tuple, bool]], *, worker: int,
          quota: int | None, stop: threading.Event | Any, t0_ns: int, progress: Progress | None = None,
          clock_ns: Callable[[], int] = time.perf_counter_ns) -> list[TxnRecord]:
    """Run ops from *stream* through *execute* (-> value, commit ts, attempts, failed) until *quota* ops
    are done (None: unbounded) or *stop* is set. Returns the records in order."""
    out: list[TxnRecord] = []
    seq = 0
    while (quota is None or seq < quota) and not stop.is_set():
        op = next(stream)
        t = clock_ns()
        _, commit_ts, attempts, failed = execute(op)
        t1 = clock_ns()
        out.append(TxnRecord(worker, seq, op.label, op.writes, t - t0_ns, t1 - t, commit_ts, attempts, failed))
        seq += 1
        if progress is not None and (seq & 31) == 0:
            progress.set(worker, seq)
    if progress is not None:
        progress.set(worker, seq)
    return out
