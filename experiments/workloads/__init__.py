"""Workload registry: ``make_workload(kind, params, seed=...)`` -> a fresh workload instance.

Who may call it: the runner, the SQLite baselines (also inside worker processes, which rebuild the
workload from its configuration) and tests. Each run gets a fresh instance: workloads hold per-run state
(account ids, audit counters, subscriptions).
"""
from __future__ import annotations

import time
from dataclasses import fields
from typing import Any, Callable

from experiments.workloads.bank import Bank, BankParams
from experiments.workloads.base import InvariantReport, Op, Step, Workload
from experiments.workloads.chat import Chat, ChatParams
from experiments.workloads.ycsb import Ycsb, YcsbParams

WORKLOADS: dict[str, tuple[type, type]] = {
    "ycsb": (Ycsb, YcsbParams),
    "bank": (Bank, BankParams),
    "chat": (Chat, ChatParams),
}

__all__ = ["WORKLOADS", "make_workload", "InvariantReport", "Op", "Step", "Workload"]


def make_workload(kind: str, params: dict[str, Any], *, seed: int,
                  sleep: Callable[[float], None] = time.sleep) -> Any:
    """Build workload *kind* from a parameter table (unknown keys are an error, so a typo in a config
    cannot silently fall back to a default). Cost: the workload's own construction (O(keys))."""
    try:
        cls, pcls = WORKLOADS[kind]
    except KeyError:
        raise ValueError(f"unknown workload {kind!r}; valid: {sorted(WORKLOADS)}") from None
    known = {f.name for f in fields(pcls)}
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"unknown {kind} parameters {sorted(unknown)}; valid: {sorted(known)}")
    p = pcls(**params)
    if kind == "chat":
        return cls(p, seed=seed)
    return cls(p, sleep=sleep, seed=seed)
