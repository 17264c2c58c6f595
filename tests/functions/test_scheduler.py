"""The scheduler: transactional scheduling, runs once after its delay, never if the mutation aborted,
cancel, and pending jobs surviving a restart (real LMDB files)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import engine
from engine.model.errors import FunctionError, ReadOnlyError

from tests.functions.conftest import deterministic_clock, functions_config

APP = Path(__file__).parent / "apps" / "jobs"


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def states(app):
    return sorted((j["name"], j["state"]) for j in app.scheduler.jobs())


@pytest.fixture
def app(host):
    db = engine.open_database(None)
    a = db.deploy(APP, host=host, config=functions_config())
    yield a
    a.close()
    db.close()


def test_runs_once_after_its_delay_and_not_if_the_mutation_aborted(app):
    started = app.db.physical_ms()
    app.call("jobs:later", {"ms": 150.0, "fail": False, "x": "kept"})
    with pytest.raises(FunctionError):
        app.call("jobs:later", {"ms": 0.0, "fail": True, "x": "aborted"})
    assert wait_for(lambda: app.call("jobs:log") != [])
    entries = app.call("jobs:log")
    assert [e["x"] for e in entries] == ["kept"]
    assert entries[0]["_creationTime"] >= started + 150
    time.sleep(0.2)
    assert [e["x"] for e in app.call("jobs:log")] == ["kept"]  # once
    assert states(app) == [("jobs:record", "success")]


def test_cancel_and_failures_are_recorded(app):
    job = app.call("jobs:later", {"ms": 10_000.0, "fail": False, "x": "never"})
    app.call("jobs:cancel", {"id": job})
    app.call("jobs:later", {"ms": 0.0, "fail": False, "x": "!explode"})
    assert wait_for(lambda: ("jobs:record", "failed") in states(app))
    assert ("jobs:record", "canceled") in states(app)
    assert app.call("jobs:log") == []


def test_actions_can_schedule_and_functions_cannot_write_system_tables(app):
    app.call("jobs:from_action", {"x": "via action"})
    assert wait_for(lambda: [e["x"] for e in app.call("jobs:log")] == ["via action"])
    job = app.scheduler.jobs()[0]["_id"]
    with pytest.raises(FunctionError) as ei:
        app.call("jobs:tamper", {"id": job})
    assert ei.value.code == ReadOnlyError.__name__


def test_pending_jobs_survive_a_restart(tmp_path, host):
    db = engine.open_database(tmp_path / "db")
    app = db.deploy(APP, host=host, config=functions_config())
    app.call("jobs:later", {"ms": 400.0, "fail": False, "x": "after restart"})
    app.close()
    db.close()
    db = engine.open_database(tmp_path / "db")
    app = db.deploy(APP, host=host, config=functions_config())
    try:
        assert wait_for(lambda: [e["x"] for e in app.call("jobs:log")] == ["after restart"])
        assert states(app) == [("jobs:record", "success")]
    finally:
        app.close()
        db.close()
