"""Workload streams are pure functions of (parameters, seed, worker): reproducible, seed-sensitive."""
from __future__ import annotations

import itertools

import pytest

from experiments.workloads import make_workload


def ops(kind, params, seed, worker=0, workers=2, n=300):
    w = make_workload(kind, params, seed=seed)
    return list(itertools.islice(w.stream(seed, worker, workers), n))


CASES = [("ycsb", {"mix": m, "record_count": 500}) for m in "ABCDEF"] + [
    ("ycsb", {"mix": {"rmw": 1.0}, "ops_per_txn": 3, "record_count": 500}),
    ("bank", {"accounts": 50}),
    ("chat", {"channels": 4}),
]


@pytest.mark.parametrize("kind,params", CASES, ids=[f"{k}-{p.get('mix', '')}" for k, p in CASES])
def test_same_seed_same_ops_and_different_seed_different_ops(kind, params):
    a = ops(kind, params, seed=11)
    assert a == ops(kind, params, seed=11)
    assert a != ops(kind, params, seed=12)
    assert a != ops(kind, params, seed=11, worker=1)


def test_ycsb_mix_proportions_and_key_ranges():
    a = ops("ycsb", {"mix": "A", "record_count": 500}, seed=1, n=4000)
    kinds = [o.steps[0].kind for o in a]
    assert abs(kinds.count("update") / len(kinds) - 0.5) < 0.05
    assert all(0 <= o.steps[0].key < 500 for o in a)
    e = ops("ycsb", {"mix": "E", "record_count": 500, "scan_length": 10}, seed=1, worker=1, workers=3, n=2000)
    inserts = [o.steps[0].key for o in e if o.steps[0].kind == "insert"]
    assert inserts and all(k >= 500 and (k - 500) % 3 == 1 for k in inserts)   # worker-striped, never collide
    assert all(1 <= o.steps[0].arg <= 10 for o in e if o.steps[0].kind == "scan")


def test_bank_transfers_never_move_money_to_the_same_account():
    for o in ops("bank", {"accounts": 3, "theta": 0.99}, seed=4, n=2000):
        s = o.steps[0]
        if s.kind == "transfer":
            assert s.key != s.key2 and 0 <= s.key < 3 and 0 <= s.key2 < 3 and s.arg >= 1


def test_unknown_parameters_are_rejected():
    with pytest.raises(ValueError, match="unknown ycsb parameters"):
        make_workload("ycsb", {"thetta": 0.9}, seed=1)
    with pytest.raises(ValueError, match="unknown workload"):
        make_workload("tpcc", {}, seed=1)
