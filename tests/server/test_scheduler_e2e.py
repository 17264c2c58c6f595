"""The scheduler through a real server (probe app): a scheduled mutation runs once, no earlier than its
delay; a schedule made by a mutation that aborted never runs; a pending one survives a restart.

"Never runs" is observed without sleeping: a *fence* job scheduled later (same delay, after the aborted
call) must run first, and the worker runs due jobs in time order."""
from __future__ import annotations

import signal

import pytest

from tests.server.harness import PROBE, unique, wait_until


def notes(server, lst):
    return server.value("query", "notes:in_list", {"list": lst})


def later(server, lst, text, ms, fail=False):
    return server.call("mutation", "notes:later", {"list": lst, "text": text, "ms": float(ms), "fail": fail})


def test_scheduled_mutation_runs_once_after_its_delay(probe_server):
    lst, delay = unique("sched"), 400
    out = later(probe_server, lst, "job", delay)
    assert out["status"] == "success", out
    done = wait_until(lambda: [n for n in notes(probe_server, lst) if n["text"] == "job"], timeout=20,
                      what="the scheduled note")
    origin = next(n for n in notes(probe_server, lst) if n["text"] == "origin job")
    started = out["value"]["due"] - delay  # the mutation's clock (ctx.now()), fixed when it started
    assert started <= origin["_creationTime"]
    assert done[0]["_creationTime"] >= started + delay  # written by a run that began once it was due
    # Once: a fence scheduled after it has run, and there is still exactly one note from the job.
    later(probe_server, lst, "fence", 0)
    wait_until(lambda: any(n["text"] == "fence" for n in notes(probe_server, lst)), what="the fence")
    assert [n["text"] for n in notes(probe_server, lst)].count("job") == 1


def test_schedule_of_an_aborted_mutation_never_runs(probe_server):
    lst = unique("abort")
    out = later(probe_server, lst, "ghost", 100, fail=True)
    assert out["status"] == "error" and out["errorData"] == {"aborted": "ghost"}
    later(probe_server, lst, "fence", 100)
    wait_until(lambda: any(n["text"] == "fence" for n in notes(probe_server, lst)), what="the fence")
    assert [n["text"] for n in notes(probe_server, lst)] == ["origin fence", "fence"]


@pytest.mark.slow
def test_pending_schedule_survives_a_restart_and_runs_once(make_server):
    server = make_server(PROBE, name="sched-restart")
    lst = unique("restart")
    later(server, lst, "job", 1500)
    server.stop(signal.SIGKILL)  # long before it is due
    server.start()
    wait_until(lambda: any(n["text"] == "job" for n in notes(server, lst)), timeout=30,
               what="the job after the restart")
    later(server, lst, "fence", 0)
    wait_until(lambda: any(n["text"] == "fence" for n in notes(server, lst)), what="the fence")
    assert [n["text"] for n in notes(server, lst)] == ["origin job", "job", "origin fence", "fence"]
