"""YCSB core workloads A-F over a ``usertable`` of documents ``{k, n, f0..f<field_count-1>}``.

Who may call it: the runner, the SQLite baseline (``experiments.baselines.sqlite_ycsb``), tests.

Mixes (YCSB's core workloads; a custom mix is a table of proportions over the same kinds):

| mix | operations | key distribution |
|---|---|---|
| A | read 0.5, update 0.5 | zipfian |
| B | read 0.95, update 0.05 | zipfian |
| C | read 1.0 | zipfian |
| D | read 0.95, insert 0.05 | latest |
| E | scan 0.95, insert 0.05 | zipfian (scan length uniform in 1..scan_length) |
| F | read 0.5, rmw 0.5 | zipfian |

Semantics in Ripple. Records are found through the user index ``by_k`` (``eq("k", key)``), as an app
would, so every operation records an index interval in its read set. ``update`` writes one field of the
record it found (Convex has no blind write to an existing document: a patch reads it first);
``rmw`` reads the record and increments its counter ``n``; ``insert`` adds key
``record_count + worker + workers * i`` (worker-striped, so streams never collide). With
``ops_per_txn > 1`` one transaction runs several steps: first every read, then ``think_us`` of simulated
work, then every write (the shape of a function that reads, computes and writes). This is what the OCC
experiments vary; YCSB proper has ``ops_per_txn = 1``.

Invariants of a stream: it depends only on (params, seed, worker, workers); all workers share one
zipfian table (one permutation), so they agree on which keys are hot.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

import numpy as np

from experiments.distributions import LatestChooser, UniformChooser, ZipfianChooser, ZipfTable
from experiments.workloads.base import EngineCall, FunctionCall, InvariantReport, Op, Step, Think, worker_seed

TABLE = "usertable"
INDEX = "by_k"
KINDS = ("read", "update", "insert", "scan", "rmw")
WRITE_KINDS = frozenset({"update", "insert", "rmw"})

MIXES: dict[str, dict[str, float]] = {
    "A": {"read": 0.5, "update": 0.5},
    "B": {"read": 0.95, "update": 0.05},
    "C": {"read": 1.0},
    "D": {"read": 0.95, "insert": 0.05},
    "E": {"scan": 0.95, "insert": 0.05},
    "F": {"read": 0.5, "rmw": 0.5},
}
LOAD_BATCH = 500


@dataclass(frozen=True)
class YcsbParams:
    mix: str | dict = "A"
    record_count: int = 1000
    theta: float = 0.99
    distribution: str | None = None        # zipfian | uniform | latest; None: latest for D, else zipfian
    scrambled: bool = True
    scan_length: int = 100
    field_count: int = 4
    field_length: int = 20
    ops_per_txn: int = 1
    think_us: float = 0.0

    def proportions(self) -> dict[str, float]:
        mix = MIXES[self.mix.upper()] if isinstance(self.mix, str) else dict(self.mix)
        bad = set(mix) - set(KINDS)
        if bad:
            raise ValueError(f"unknown YCSB operation kinds {sorted(bad)}; valid: {list(KINDS)}")
        total = sum(mix.values())
        if total <= 0:
            raise ValueError("a YCSB mix needs positive proportions")
        return {k: v / total for k, v in mix.items() if v > 0}

    def resolved_distribution(self) -> str:
        if self.distribution is not None:
            return self.distribution
        return "latest" if isinstance(self.mix, str) and self.mix.upper() == "D" else "zipfian"


class Ycsb:
    """The YCSB workload (see the module docstring). Construction O(record_count) for the zipfian table."""

    name = "ycsb"

    def __init__(self, params: YcsbParams, *, sleep: Callable[[float], None] = time.sleep, seed: int = 0) -> None:
        self.p = params
        self._mix = params.proportions()
        self._kinds = list(self._mix)
        self._cum = np.cumsum([self._mix[k] for k in self._kinds])
        self._cum[-1] = 1.0
        dist = params.resolved_distribution()
        if dist not in ("zipfian", "uniform", "latest"):
            raise ValueError(f"unknown YCSB distribution {dist!r} (zipfian, uniform, latest)")
        self._dist = dist
        scrambled = params.scrambled and dist == "zipfian"
        self.table = None if dist == "uniform" else ZipfTable(params.record_count, params.theta,
                                                               scrambled=scrambled, perm_seed=seed)
        self.think = Think(params.think_us, sleep)
        self._fields = [f"f{i}" for i in range(params.field_count)]

    def params(self) -> dict[str, Any]:
        d = asdict(self.p)
        d["distribution"] = self._dist
        d["proportions"] = self._mix
        return d

    # ---- operation streams -------------------------------------------------------------------------

    def stream(self, seed: int, worker: int, workers: int) -> Iterator[Op]:
        """Endless ops of one worker. Each draw O(log record_count)."""
        p = self.p
        op_rng = np.random.default_rng(worker_seed(seed, worker, "ycsb.ops"))
        if self._dist == "uniform":
            chooser: Any = UniformChooser(p.record_count, worker_seed(seed, worker, "ycsb.keys"))
        elif self._dist == "latest":
            chooser = LatestChooser(self.table, worker_seed(seed, worker, "ycsb.keys"))
        else:
            chooser = ZipfianChooser(self.table, worker_seed(seed, worker, "ycsb.keys"))
        inserts = 0
        while True:
            u = op_rng.random(p.ops_per_txn)
            lengths = op_rng.integers(1, p.scan_length + 1, size=p.ops_per_txn)
            steps = []
            for j in range(p.ops_per_txn):
                kind = self._kinds[int(np.searchsorted(self._cum, u[j], side="right"))]
                if kind == "insert":
                    key = p.record_count + worker + workers * inserts
                    inserts += 1
                elif self._dist == "latest":
                    key = chooser.next_below(p.record_count + workers * inserts)
                else:
                    key = chooser.next()
                steps.append(Step(kind, int(key), int(lengths[j]) if kind == "scan" else 0))
            kinds = sorted({s.kind for s in steps})
            yield Op("+".join(kinds), tuple(steps), any(s.kind in WRITE_KINDS for s in steps))

    # ---- the engine ----------------------------------------------------------------------------------

    def schema(self) -> Any:
        from engine import define_schema, define_table, v

        fields = {"k": v.int64(), "n": v.int64(), **{f: v.string() for f in self._fields}}
        return define_schema({TABLE: define_table(fields).index(INDEX, ["k"])})

    def record(self, key: int) -> dict[str, Any]:
        """The initial document of *key* (deterministic)."""
        return {"k": key, "n": 0, **{f: self._value(key, i) for i, f in enumerate(self._fields)}}

    def _value(self, key: int, salt: int) -> str:
        return f"{key}:{salt}:".ljust(self.p.field_length, "x")[: self.p.field_length]

    def load_engine(self, db: Any) -> None:
        """Insert record_count records in transactions of LOAD_BATCH. O(record_count log record_count)."""
        def load(tx: Any, lo: int, hi: int) -> None:
            for k in range(lo, hi):
                tx.insert(TABLE, self.record(k))

        for lo in range(0, self.p.record_count, LOAD_BATCH):
            db.mutate(load, lo, min(lo + LOAD_BATCH, self.p.record_count), name="ycsb.load")

    def engine_call(self, op: Op, worker: int) -> EngineCall:
        return EngineCall(self._run_txn, (op.steps,), op.label)

    def _run_txn(self, tx: Any, steps: tuple[Step, ...]) -> int:
        """Reads first, then think time, then writes. Returns the number of records seen."""
        seen = 0
        found: list[dict | None] = []
        for s in steps:
            if s.kind == "scan":
                seen += len(tx.query(TABLE).with_index(INDEX, lambda q, k=s.key: q.gte("k", k)).take(s.arg))
                found.append(None)
            elif s.kind == "insert":
                found.append(None)
            else:
                doc = tx.query(TABLE).with_index(INDEX, lambda q, k=s.key: q.eq("k", k)).first()
                seen += doc is not None
                found.append(doc)
        self.think()
        for s, doc in zip(steps, found):
            if s.kind == "insert":
                tx.insert(TABLE, self.record(s.key))
            elif s.kind == "update" and doc is not None:
                tx.patch(doc["_id"], {self._fields[s.key % len(self._fields)]: self._value(s.key, doc["n"] + 1)})
            elif s.kind == "rmw" and doc is not None:
                tx.patch(doc["_id"], {"n": doc["n"] + 1})
        return seen

    def app_dir(self) -> str | None:
        import os

        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "apps", "ycsb")

    def function_call(self, op: Op, worker: int) -> FunctionCall:
        if self.think.seconds > 0:
            raise ValueError("think_us > 0 needs the direct host: sandboxed functions cannot sleep")
        return FunctionCall("ycsb:txn", {"steps": [[s.kind, s.key, s.arg] for s in op.steps],
                                         "fields": self.p.field_count, "field_length": self.p.field_length})

    def check_engine(self, db: Any) -> InvariantReport:
        """Every loaded key is still present exactly once (nothing here deletes)."""
        def count(tx: Any) -> tuple[int, int]:
            ks = [d["k"] for d in tx.query(TABLE).with_index(INDEX).collect()]
            return len(ks), len(set(ks))

        n, distinct = db.read(count)
        problems = []
        if distinct != n:
            problems.append(f"{n - distinct} duplicate keys")
        if n < self.p.record_count:
            problems.append(f"only {n} of {self.p.record_count} loaded records present")
        return InvariantReport(not problems, {"records": n, "distinct_keys": distinct}, tuple(problems))
