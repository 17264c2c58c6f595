"""Bank transfers on SQLite: ``accounts(n INTEGER PRIMARY KEY, balance)``, the same op streams as
``experiments.workloads.bank``. A transfer is ``BEGIN IMMEDIATE``, two reads, think time, two updates,
``COMMIT``; an audit is a deferred read transaction summing every balance. The end-of-run invariant is
the workload's own (``Bank.report``)."""
from __future__ import annotations

import sqlite3
from typing import Any

from experiments.baselines.sqlite_common import run_txn
from experiments.workloads.base import Op


class SqliteBank:
    def __init__(self, workload: Any) -> None:
        self.workload = workload

    def load(self, conn: sqlite3.Connection) -> None:
        p = self.workload.p
        conn.execute("CREATE TABLE accounts (n INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO accounts VALUES (?, ?)", ((i, p.initial) for i in range(p.accounts)))
        conn.execute("COMMIT")

    def execute(self, conn: sqlite3.Connection, op: Op) -> tuple[Any, None, tuple, bool]:
        w = self.workload
        s = op.steps[0]

        if s.kind == "audit":
            def body(c: sqlite3.Connection) -> int:
                total = c.execute("SELECT SUM(balance) FROM accounts").fetchone()[0]
                w.audits.add()
                if total != w.p.total:
                    w.bad_audits.add()
                return total
        else:
            def body(c: sqlite3.Connection) -> bool:
                a = c.execute("SELECT balance FROM accounts WHERE n = ?", (s.key,)).fetchone()[0]
                b = c.execute("SELECT balance FROM accounts WHERE n = ?", (s.key2,)).fetchone()[0]
                w.think()
                if a < s.arg:
                    w.declined.add()
                    return False
                c.execute("UPDATE accounts SET balance = ? WHERE n = ?", (a - s.arg, s.key))
                c.execute("UPDATE accounts SET balance = ? WHERE n = ?", (b + s.arg, s.key2))
                return True

        value, attempts, failed = run_txn(conn, op.writes, body)
        return value, None, attempts, failed

    def check(self, conn: sqlite3.Connection) -> Any:
        balances = [r[0] for r in conn.execute("SELECT balance FROM accounts ORDER BY n")]
        return self.workload.report(balances)

    def counters(self) -> dict[str, int]:
        w = self.workload
        return {"audits": w.audits.value, "bad_audits": w.bad_audits.value, "declined": w.declined.value}

    def merge_counters(self, counters: dict[str, int]) -> None:
        for name, n in counters.items():
            getattr(self.workload, name).add(n)
