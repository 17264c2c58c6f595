"""Baselines measured in the same run as Ripple: the same workloads against SQLite (WAL).

``sqlite_common`` holds the connection setup and the thread/process drivers; ``sqlite_ycsb`` and
``sqlite_bank`` translate each workload operation into SQL. ``ADAPTERS`` maps a workload kind to its
adapter class.
"""
from __future__ import annotations

from experiments.baselines.sqlite_bank import SqliteBank
from experiments.baselines.sqlite_ycsb import SqliteYcsb

ADAPTERS = {"ycsb": SqliteYcsb, "bank": SqliteBank}

__all__ = ["ADAPTERS", "SqliteBank", "SqliteYcsb"]
