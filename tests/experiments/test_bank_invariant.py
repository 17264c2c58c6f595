"""The bank invariant holds on every strategy and implementation, and the harness sees real anomalies.

Runs are small (a few hundred transfers on a handful of accounts, 4 threads, think time between reads and
writes so that transactions overlap for real) and never timed. Each healthy run must also have seen OCC
conflicts, or it proved nothing about concurrency. The broken committer plugs an interval set that
reports "no conflict" for every check (validation skipped), as ``tests/mutants/test_occ_mutants.py``
does; the harness must then report a violated invariant.
"""
from __future__ import annotations

import pytest

from engine import _impl
from engine.conflict.interval_set import IntervalSet
from experiments.runner import run_point
from tests.experiments.helpers import bank_config

STRATEGIES = [("memory", "mem-btree"), ("lmdb", "lmdb-btree"), ("lmdb", "mem-btree"),
              ("sqlite", "lmdb-btree"), ("sqlite", "mem-btree")]


def impls() -> list:
    out = ["py"]
    try:
        _impl.resolve_all("cy")
        out.append("cy")
    except ImportError:
        out.append(pytest.param("cy", marks=pytest.mark.skip(reason="native twins not built")))
    return out


@pytest.mark.parametrize("impl", impls())
@pytest.mark.parametrize("persistence,index", STRATEGIES)
def test_total_balance_is_constant_under_every_strategy(persistence, index, impl):
    pr = run_point(bank_config(persistence=persistence, index=index, impl=impl))
    [run] = pr.runs
    assert pr.impl and set(pr.impl.values()) == {impl}
    assert run.invariant.ok, run.invariant.problems
    assert run.invariant.checks["total"] == 600
    assert run.invariant.checks["audits"] > 0
    verdicts = [a.verdict.value for r in run.records if r.writes for a in r.attempts]
    assert "conflict" in verdicts, "no OCC conflict happened: the run did not exercise concurrency"


class SkipsValidation(IntervalSet):
    """A committer that skips validation: every read set shows the write window no intervals, so no written
    key falls inside it."""

    def bounds(self):
        return [], []


def test_a_committer_that_skips_validation_breaks_the_invariant_and_the_harness_says_so():
    def broken(db):
        db._interval_set_cls = SkipsValidation

    pr = run_point(bank_config(impl="py", ops=400, accounts=4), prepare_db=broken)
    [run] = pr.runs
    assert not run.invariant.ok
    assert any("total balance" in p for p in run.invariant.problems), run.invariant.problems
    verdicts = {a.verdict.value for r in run.records for a in r.attempts}
    assert verdicts == {"commit"}   # nothing was ever rejected: the anomaly is the lost updates
    summary = pr.summary()
    assert summary["invariant_ok"] is False


def test_sqlite_baseline_keeps_the_invariant_in_threads_and_processes():
    for mode in ("threads", "processes"):
        pr = run_point(bank_config(targets=("sqlite",), mode=mode, threads=2, ops=120, think_us=0))
        [run] = pr.runs
        assert run.concurrency == mode
        assert run.invariant.ok, (mode, run.invariant.problems)
        assert len(run.records) == 120
        assert sorted(r.worker for r in run.records) == [0] * 60 + [1] * 60
