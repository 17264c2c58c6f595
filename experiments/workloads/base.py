"""The workload seam: deterministic operation streams, and how each operation runs on each target.

Who may call it: the runner (``experiments.runner``), the SQLite baselines and tests. A workload never
opens a database itself and never reads a clock or an unseeded random source.

A workload has three faces:

- ``stream(seed, worker)``: an endless iterator of ``Op`` records for one worker. It depends only on the
  parameters, the seed and the worker index, never on timing or on what other workers did, so a run's
  operation sequence is reproducible and testable on its own.
- ``engine_call(op)``: how the op runs as one Ripple transaction under the "direct" host (a Python
  callable over ``tx``); ``function_call(op)``: the same op as a deployed function (path, args) for the
  "reference" and "wasm" hosts.
- ``load_engine(db)`` and ``check_engine(db)``: initial data and the end-of-run invariant report.

The SQLite twins of each workload live in ``experiments.baselines``.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Step:
    """One operation inside a transaction: ``kind`` (e.g. "read", "update", "scan"), its key and an
    integer argument (scan length, amount, channel ...)."""

    kind: str
    key: int
    arg: int = 0
    key2: int = -1


@dataclass(frozen=True, slots=True)
class Op:
    """One transaction of a workload: its steps, whether it writes, and a label for reports."""

    label: str
    steps: tuple[Step, ...]
    writes: bool


@dataclass(frozen=True, slots=True)
class InvariantReport:
    """The end-of-run check of a workload (``ok`` False means the harness saw an anomaly)."""

    ok: bool
    checks: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EngineCall:
    """A direct-host call: ``fn(tx, *args)`` run as one mutation named *name*."""

    fn: Callable[..., Any]
    args: tuple
    name: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A deployed-function call: ``app.run(path, args)``."""

    path: str
    args: dict


class Workload(Protocol):
    name: str

    def params(self) -> dict[str, Any]: ...
    def stream(self, seed: int, worker: int, workers: int) -> Iterator[Op]: ...
    def schema(self) -> Any: ...
    def load_engine(self, db: Any) -> None: ...
    def engine_call(self, op: Op, worker: int) -> EngineCall: ...
    def function_call(self, op: Op, worker: int) -> FunctionCall: ...
    def app_dir(self) -> str | None: ...
    def check_engine(self, db: Any) -> InvariantReport: ...


def worker_seed(seed: int, worker: int, purpose: str) -> np.random.SeedSequence:
    """The seed sequence of one worker's stream: independent across workers and purposes, fixed by
    (*seed*, *worker*, *purpose*)."""
    return np.random.SeedSequence([int(seed), int(worker), _stable_hash(purpose)])


def _stable_hash(s: str) -> int:
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h & 0xFFFFFFFF


class Think:
    """Simulated work inside a transaction (between its reads and its writes): sleeps *us*
    microseconds, releasing the GIL, so that transactions of different threads really overlap the way
    functions of a server's concurrent requests do. 0 disables it. Recorded with every result."""

    def __init__(self, us: float, sleep: Callable[[float], None]) -> None:
        self.seconds = float(us) / 1e6
        self._sleep = sleep

    def __call__(self) -> None:
        if self.seconds > 0:
            self._sleep(self.seconds)


class Counter:
    """A thread-safe counter (workloads use it for anomaly counts seen during a run)."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def add(self, k: int = 1) -> None:
        with self._lock:
            self._n += k

    @property
    def value(self) -> int:
        return self._n
