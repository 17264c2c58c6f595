"""Small configurations for harness tests (seconds, never timed)."""
from __future__ import annotations

from experiments import config


def bank_config(*, persistence="memory", index=None, impl=None, threads=4, ops=240, accounts=6, think_us=300,
                targets=("ripple",), mode="threads", sweep=None, seed=3) -> dict:
    raw = {
        "name": "test_bank",
        "workload": {"kind": "bank", "accounts": accounts, "initial": 100, "theta": 0.5, "max_amount": 30,
                     "audit_fraction": 0.1, "think_us": think_us},
        "run": {"threads": threads, "ops": ops, "seed": seed, "targets": list(targets), "mode": mode},
        "engine": {"persistence": persistence, "durability": "none", "impl": impl,
                   **({"index": index} if index else {})},
    }
    if impl is None:
        del raw["engine"]["impl"]
    if sweep:
        raw["sweep"] = sweep
    return config.normalise(raw)
