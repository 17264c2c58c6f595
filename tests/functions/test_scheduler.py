"""The scheduler: transactional scheduling, runs once after its delay, never if the mutation aborted,
cancel, and pending jobs surviving a restart (real LMDB files).

No sleeps: the database runs on a ``FakePhysicalClock`` that only the test advances, and ``settle``
waits on hook points until every commit reached the scheduler and its worker parked with nothing due
by that clock - so "not run yet", "ran" and "ran once" are exact statements about the clock."""
from __future__ import annotations

from pathlib import Path

import pytest

import engine
from engine.clock.hlc import FakePhysicalClock
from engine.model.errors import FunctionError, ReadOnlyError
from engine.testing.hooks import HookController

from tests.functions.conftest import functions_config

APP = Path(__file__).parent / "apps" / "jobs"


def settle(app, hooks, timeout=20.0):
    """Until quiescent: every commit matched by the subscriptions (so the scheduler knows every job),
    then the worker ran every job due by the clock and parked, and no commit happened meanwhile."""
    for _ in range(50):
        before = app.db.latest_ts()
        assert app.db.wait_for_subscriptions(timeout)
        n = hooks.count("scheduler.idle")
        gen = app.scheduler.wake()
        assert hooks.wait_hit("scheduler.idle", after=n, timeout=timeout,
                              until=lambda: app.scheduler.idle_gen >= gen), "the scheduler never parked"
        if app.db.latest_ts() == before:
            return
    raise AssertionError("the scheduler kept committing")


def states(app):
    return sorted((j["name"], j["state"]) for j in app.scheduler.jobs())


def open_rig(path, host, clock):
    hooks = HookController()
    db = engine.open_database(path, physical_clock=clock, hooks=hooks)
    return db.deploy(APP, host=host, config=functions_config()), hooks


@pytest.fixture
def rig(host):
    clock = FakePhysicalClock()
    app, hooks = open_rig(None, host, clock)
    yield app, clock, hooks
    app.close()
    app.db.close()


def test_runs_once_after_its_delay_and_not_if_the_mutation_aborted(rig):
    app, clock, hooks = rig
    started = clock.ms
    app.call("jobs:later", {"ms": 150.0, "fail": False, "x": "kept"})
    with pytest.raises(FunctionError):
        app.call("jobs:later", {"ms": 0.0, "fail": True, "x": "aborted"})  # due at once, if it existed
    settle(app, hooks)
    assert app.call("jobs:log") == [] and states(app) == [("jobs:record", "pending")]
    clock.advance(149)
    settle(app, hooks)
    assert app.call("jobs:log") == []  # 1 ms early: still not run
    clock.advance(1)
    settle(app, hooks)
    entries = app.call("jobs:log")
    assert [e["x"] for e in entries] == ["kept"]
    assert entries[0]["_creationTime"] >= started + 150
    clock.advance(10_000)
    settle(app, hooks)
    assert [e["x"] for e in app.call("jobs:log")] == ["kept"]  # once
    assert states(app) == [("jobs:record", "success")]
    assert [(path, state) for _id, path, state in app.scheduler.ran] == [("jobs:record", "success")]


def test_cancel_and_failures_are_recorded(rig):
    app, clock, hooks = rig
    job = app.call("jobs:later", {"ms": 10_000.0, "fail": False, "x": "never"})
    app.call("jobs:cancel", {"id": job})
    app.call("jobs:later", {"ms": 0.0, "fail": False, "x": "!explode"})
    clock.advance(20_000)  # the canceled one is due too: it must still not run
    settle(app, hooks)
    assert states(app) == [("jobs:record", "canceled"), ("jobs:record", "failed")]
    assert app.call("jobs:log") == []


def test_actions_can_schedule_and_functions_cannot_write_system_tables(rig):
    app, _clock, hooks = rig
    app.call("jobs:from_action", {"x": "via action"})
    settle(app, hooks)
    assert [e["x"] for e in app.call("jobs:log")] == ["via action"]
    job = app.scheduler.jobs()[0]["_id"]
    with pytest.raises(FunctionError) as ei:
        app.call("jobs:tamper", {"id": job})
    assert ei.value.code == ReadOnlyError.__name__


def test_pending_jobs_survive_a_restart(tmp_path, host):
    clock = FakePhysicalClock()
    app, hooks = open_rig(tmp_path / "db", host, clock)
    app.call("jobs:later", {"ms": 400.0, "fail": False, "x": "after restart"})
    app.close()
    app.db.close()
    app, hooks = open_rig(tmp_path / "db", host, clock)
    try:
        settle(app, hooks)
        assert app.call("jobs:log") == [] and states(app) == [("jobs:record", "pending")]
        clock.advance(400)
        settle(app, hooks)
        assert [e["x"] for e in app.call("jobs:log")] == ["after restart"]
        assert states(app) == [("jobs:record", "success")]
    finally:
        app.close()
        app.db.close()
