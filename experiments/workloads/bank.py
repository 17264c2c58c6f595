"""Bank transfers (a SmallBank-style workload) with an invariant: the total balance never changes.

Who may call it: the runner, the SQLite baseline (``experiments.baselines.sqlite_bank``), tests (which use
it to prove the harness sees anomalies when validation is broken).

Operations: ``transfer(a, b, amount)`` reads both balances, thinks ``think_us``, and moves *amount* from a
to b if a can afford it (otherwise it commits without writing: a declined transfer); ``audit`` reads every
account at one snapshot and checks that they add up to the initial total (an online check of snapshot
consistency). Accounts are chosen by a zipfian of skew ``theta`` over account numbers (0: uniform).

Invariants checked at the end of every run (``check_engine``): the sum of balances equals
``accounts * initial``, no balance is negative, the number of accounts is unchanged, and no audit saw a
wrong total. Under serializable execution all of these hold; a lost update (two transfers from the same
account both committing on the same snapshot) breaks the sum.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

import numpy as np

from experiments.distributions import ZipfianChooser, ZipfTable
from experiments.workloads.base import (Counter, EngineCall, FunctionCall, InvariantReport, Op, Step, Think,
                                        worker_seed)

TABLE = "accounts"
INDEX = "by_n"


@dataclass(frozen=True)
class BankParams:
    accounts: int = 100
    initial: int = 1000
    theta: float = 0.0
    max_amount: int = 50
    audit_fraction: float = 0.02
    think_us: float = 0.0

    @property
    def total(self) -> int:
        return self.accounts * self.initial


class Bank:
    """The bank workload. Account ids are learnt in ``load_engine`` (one instance per engine run)."""

    name = "bank"

    def __init__(self, params: BankParams, *, sleep: Callable[[float], None] = time.sleep, seed: int = 0) -> None:
        if params.accounts < 2:
            raise ValueError("a bank needs at least two accounts")
        self.p = params
        self.table = ZipfTable(params.accounts, params.theta, scrambled=True, perm_seed=seed)
        self.think = Think(params.think_us, sleep)
        self.ids: list[str] = []
        self.audits = Counter()
        self.bad_audits = Counter()
        self.declined = Counter()

    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    def stream(self, seed: int, worker: int, workers: int) -> Iterator[Op]:
        p = self.p
        rng = np.random.default_rng(worker_seed(seed, worker, "bank.ops"))
        chooser = ZipfianChooser(self.table, worker_seed(seed, worker, "bank.keys"))
        while True:
            if rng.random() < p.audit_fraction:
                yield Op("audit", (Step("audit", 0),), False)
                continue
            a, b = chooser.next(), chooser.next()
            if a == b:
                b = (a + 1 + int(rng.integers(0, p.accounts - 1))) % p.accounts
            amount = int(rng.integers(1, p.max_amount + 1))
            yield Op("transfer", (Step("transfer", a, amount, b),), True)

    # ---- the engine ----------------------------------------------------------------------------------

    def schema(self) -> Any:
        from engine import define_schema, define_table, v

        return define_schema({TABLE: define_table({"n": v.int64(), "balance": v.int64()}).index(INDEX, ["n"])})

    def load_engine(self, db: Any) -> None:
        def load(tx: Any) -> list[str]:
            return [tx.insert(TABLE, {"n": i, "balance": self.p.initial}) for i in range(self.p.accounts)]

        self.ids = db.mutate(load, name="bank.load")

    def engine_call(self, op: Op, worker: int) -> EngineCall:
        s = op.steps[0]
        if s.kind == "audit":
            return EngineCall(self._audit, (), "audit")
        return EngineCall(self._transfer, (self.ids[s.key], self.ids[s.key2], s.arg), "transfer")

    def _transfer(self, tx: Any, src: str, dst: str, amount: int) -> bool:
        a, b = tx.get(src), tx.get(dst)
        self.think()
        if a["balance"] < amount:
            self.declined.add()
            return False
        tx.patch(src, {"balance": a["balance"] - amount})
        tx.patch(dst, {"balance": b["balance"] + amount})
        return True

    def _audit(self, tx: Any) -> int:
        total = sum(d["balance"] for d in tx.query(TABLE).collect())
        self.audits.add()
        if total != self.p.total:
            self.bad_audits.add()
        return total

    def app_dir(self) -> str | None:
        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "apps", "bank")

    def function_call(self, op: Op, worker: int) -> FunctionCall:
        if self.think.seconds > 0:
            raise ValueError("think_us > 0 needs the direct host: sandboxed functions cannot sleep")
        s = op.steps[0]
        if s.kind == "audit":
            return FunctionCall("bank:audit", {})
        return FunctionCall("bank:transfer", {"src": self.ids[s.key], "dst": self.ids[s.key2], "amount": s.arg})

    def observe_function_result(self, op: Op, value: Any) -> None:
        """Deployed hosts report each result here: audits are checked as ``_audit`` does directly."""
        if op.steps[0].kind == "audit":
            self.audits.add()
            if value != self.p.total:
                self.bad_audits.add()
        elif value is False:
            self.declined.add()

    def check_engine(self, db: Any) -> InvariantReport:
        balances = db.read(lambda tx: [d["balance"] for d in tx.query(TABLE).collect()])
        return self.report(balances)

    def report(self, balances: list[int]) -> InvariantReport:
        """The invariant report for final *balances* (shared with the SQLite baseline)."""
        p = self.p
        total = sum(balances)
        problems = []
        if total != p.total:
            problems.append(f"total balance {total} != {p.total} (money was {'created' if total > p.total else 'destroyed'})")
        negative = sum(1 for b in balances if b < 0)
        if negative:
            problems.append(f"{negative} negative balances")
        if len(balances) != p.accounts:
            problems.append(f"{len(balances)} accounts, expected {p.accounts}")
        if self.bad_audits.value:
            problems.append(f"{self.bad_audits.value} audits saw a wrong total")
        checks = {"total": total, "expected_total": p.total, "accounts": len(balances), "negative": negative,
                  "audits": self.audits.value, "bad_audits": self.bad_audits.value, "declined": self.declined.value}
        return InvariantReport(not problems, checks, tuple(problems))
