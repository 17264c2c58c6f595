"""The wasm sandbox stops misbehaving functions cleanly, and the next call is unaffected."""
from __future__ import annotations

import time

import pytest

from engine.model.errors import FunctionError

from tests.functions.conftest import KITCHEN, functions_config, open_db


@pytest.fixture(scope="module")
def sandboxed():
    db = open_db()
    app = db.deploy(KITCHEN, host="wasm", config=functions_config(query_timeout_s=0.3, prewarm=1))
    yield app
    app.close()
    db.close()


def assert_next_call_fine(app):
    assert app.call("sandbox:ok") == "fine"


def test_infinite_loop_is_stopped_by_its_deadline(sandboxed):
    started = time.monotonic()
    with pytest.raises(FunctionError) as ei:
        sandboxed.run("sandbox:spin")
    elapsed = time.monotonic() - started
    assert ei.value.code == "Timeout" and "deadline of 0.3 s" in str(ei.value)
    # Generous bound: the deadline is enforced by epoch ticks, not by this test's timing.
    assert elapsed < 5.0
    assert_next_call_fine(sandboxed)


def test_unbounded_allocation_is_stopped_by_the_memory_limit(sandboxed):
    with pytest.raises(FunctionError) as ei:
        sandboxed.run("sandbox:hog")
    assert ei.value.code == "OutOfMemory" and "64 MiB" in str(ei.value)
    assert_next_call_fine(sandboxed)


def test_file_access_fails_cleanly(sandboxed):
    with pytest.raises(FunctionError) as ei:
        sandboxed.run("sandbox:read_file")
    assert ei.value.code == "Uncaught" and "PermissionError" in str(ei.value) and "no file system" in str(ei.value)
    assert_next_call_fine(sandboxed)


def test_network_access_fails_cleanly(sandboxed):
    with pytest.raises(FunctionError) as ei:
        sandboxed.run("sandbox:connect")
    err = ei.value
    assert err.code == "Uncaught" and "PermissionError" in str(err) and "network is not available" in str(err)
    assert_next_call_fine(sandboxed)


def test_clock_is_frozen_at_the_calls_time(sandboxed):
    first, second, now_ms = sandboxed.call("sandbox:clock")
    assert first == second == now_ms / 1000.0  # the guest's clock is the ABI's `now`, fixed for the call


def test_every_call_gets_a_fresh_sandbox(sandboxed):
    before = sandboxed.loaded.instances_created
    for _ in range(3):
        assert_next_call_fine(sandboxed)
    deadline = time.monotonic() + 10
    while sandboxed.loaded.instances_created < before + 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sandboxed.loaded.instances_created >= before + 3
