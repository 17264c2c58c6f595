"""YCSB on SQLite: the same records, op streams and transaction shape as ``experiments.workloads.ycsb``.

Who may call it: the runner's "sqlite" target. Table ``usertable(k INTEGER PRIMARY KEY, n, f0..)``; each
op is one transaction: every read first (point ``SELECT`` by k, or ``k >= ? ORDER BY k LIMIT ?`` for a
scan), then the workload's think time, then the writes (``UPDATE`` of one field, ``n = n + 1`` computed
from the value read, or ``INSERT``).
"""
from __future__ import annotations

import sqlite3
from typing import Any

from experiments.baselines.sqlite_common import run_txn
from experiments.workloads.base import Op


class SqliteYcsb:
    def __init__(self, workload: Any) -> None:
        self.workload = workload
        self.fields = [f"f{i}" for i in range(workload.p.field_count)]

    def load(self, conn: sqlite3.Connection) -> None:
        cols = ", ".join(f"{f} TEXT" for f in self.fields)
        conn.execute(f"CREATE TABLE usertable (k INTEGER PRIMARY KEY, n INTEGER NOT NULL, {cols})")
        marks = ", ".join("?" for _ in range(len(self.fields) + 2))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO usertable VALUES ({marks})",
                         ([r["k"], r["n"], *(r[f] for f in self.fields)]
                          for r in map(self.workload.record, range(self.workload.p.record_count))))
        conn.execute("COMMIT")

    def execute(self, conn: sqlite3.Connection, op: Op) -> tuple[Any, None, tuple, bool]:
        w = self.workload

        def body(c: sqlite3.Connection) -> int:
            seen = 0
            found = []
            for s in op.steps:
                if s.kind == "scan":
                    seen += len(c.execute("SELECT * FROM usertable WHERE k >= ? ORDER BY k LIMIT ?", (s.key, s.arg)).fetchall())
                    found.append(None)
                elif s.kind == "insert":
                    found.append(None)
                else:
                    row = c.execute("SELECT * FROM usertable WHERE k = ?", (s.key,)).fetchone()
                    seen += row is not None
                    found.append(row)
            w.think()
            for s, row in zip(op.steps, found):
                if s.kind == "insert":
                    r = w.record(s.key)
                    c.execute(f"INSERT INTO usertable VALUES ({', '.join('?' for _ in range(len(self.fields) + 2))})",
                              [r["k"], r["n"], *(r[f] for f in self.fields)])
                elif s.kind == "update" and row is not None:
                    f = self.fields[s.key % len(self.fields)]
                    c.execute(f"UPDATE usertable SET {f} = ? WHERE k = ?", (w._value(s.key, row[1] + 1), s.key))
                elif s.kind == "rmw" and row is not None:
                    c.execute("UPDATE usertable SET n = ? WHERE k = ?", (row[1] + 1, s.key))
            return seen

        value, attempts, failed = run_txn(conn, op.writes, body)
        return value, None, attempts, failed

    def check(self, conn: sqlite3.Connection) -> Any:
        from experiments.workloads.base import InvariantReport

        n, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT k) FROM usertable").fetchone()
        problems = [] if n >= self.workload.p.record_count else [f"only {n} records"]
        return InvariantReport(not problems, {"records": n, "distinct_keys": distinct}, tuple(problems))

    def counters(self) -> dict[str, int]:
        return {}

    def merge_counters(self, counters: dict[str, int]) -> None:
        return None
