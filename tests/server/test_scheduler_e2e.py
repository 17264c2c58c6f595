"""The scheduler through a real server (probe app): a scheduled mutation runs once, no earlier than its
delay; a schedule made by a mutation that aborted never runs; a pending one survives a restart.

No polling and no sleeps: the test holds a live query on the list (a bare sync session) and waits for
the server to push the Transition that shows the note. "Never runs" and "once" are observed through a
*fence* job scheduled later (same or later due time), which must run after it: the worker runs due jobs
in time order, so once the fence is visible every earlier job has had its turn."""
from __future__ import annotations

import signal

import pytest

from tests.server.harness import PROBE, unique


def later(server, lst, text, ms, fail=False):
    return server.call("mutation", "notes:later", {"list": lst, "text": text, "ms": float(ms), "fail": fail})


class ListWatch:
    """A live ``notes:in_list`` on one list, through a bare sync session."""

    def __init__(self, raw_sync, server, lst):
        self.conn = raw_sync(server.ws_url)
        self.conn.add_queries({0: ("notes:in_list", {"list": lst})})

    def notes(self) -> list[dict]:
        mod = self.conn.results[0]
        assert mod["type"] == "QueryUpdated", mod
        return mod["value"]

    def texts(self) -> list[str]:
        return [n["text"] for n in self.notes()]

    def wait(self, pred, what, timeout=20.0) -> list[dict]:
        """Until the pushed result satisfies *pred* (checked after every Transition)."""
        if not pred(self.texts()):
            self.conn.until(lambda m: m["type"] == "Transition" and pred(self.texts()), timeout=timeout, what=what)
        return self.notes()


def test_scheduled_mutation_runs_once_after_its_delay(probe_server, raw_sync):
    lst, delay = unique("sched"), 400
    watch = ListWatch(raw_sync, probe_server, lst)
    out = later(probe_server, lst, "job", delay)
    assert out["status"] == "success", out
    notes = watch.wait(lambda t: "job" in t, "the scheduled note")
    origin = next(n for n in notes if n["text"] == "origin job")
    done = next(n for n in notes if n["text"] == "job")
    started = out["value"]["due"] - delay  # the mutation's clock (ctx.now()), fixed when it started
    assert started <= origin["_creationTime"]
    assert done["_creationTime"] >= started + delay  # written by a run that began once it was due
    # Once: a fence scheduled after it has run, and there is still exactly one note from the job.
    later(probe_server, lst, "fence", 0)
    watch.wait(lambda t: "fence" in t, "the fence")
    assert watch.texts().count("job") == 1


def test_schedule_of_an_aborted_mutation_never_runs(probe_server, raw_sync):
    lst = unique("abort")
    watch = ListWatch(raw_sync, probe_server, lst)
    out = later(probe_server, lst, "ghost", 100, fail=True)
    assert out["status"] == "error" and out["errorData"] == {"aborted": "ghost"}
    later(probe_server, lst, "fence", 100)
    watch.wait(lambda t: "fence" in t, "the fence")
    assert watch.texts() == ["origin fence", "fence"]


@pytest.mark.slow
def test_pending_schedule_survives_a_restart_and_runs_once(make_server, raw_sync):
    server = make_server(PROBE, name="sched-restart")
    lst = unique("restart")
    later(server, lst, "job", 1500)
    server.stop(signal.SIGKILL)  # long before it is due
    server.start()
    watch = ListWatch(raw_sync, server, lst)
    watch.wait(lambda t: "job" in t, "the job after the restart", timeout=30)
    later(server, lst, "fence", 0)
    watch.wait(lambda t: "fence" in t, "the fence")
    assert watch.texts() == ["origin job", "job", "origin fence", "fence"]
