"""The server's QueryHub through the asyncio client, with the server in this process (so its counters can
be read): identical live queries are re-run once per snapshot for all sessions, stay correct under
concurrent writers, follow a redeploy, release when unsubscribed, and a client that stops reading
does not hold up the others."""
from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import engine
from engine.client import RippleClient
from engine.server.asgi import create_app, uvicorn_config
from engine.server.deployment import Deployment
from engine.subscriptions import WaitOutcome
from engine.testing.hooks import HookController
from tests.client.conftest import APP, free_port, run

FAST = {"backoff": (0.05, 0.5)}


@contextmanager
def inprocess_server(app_dir: Path, data: Path):
    import uvicorn

    db = engine.open_database(data, hooks=HookController())  # db.hooks: engine and hub points
    dep = Deployment(db, app_dir, host="reference")
    app = create_app(dep)
    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, port=port))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        yield app, dep, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        dep.close()
        db.close()


@pytest.fixture
def served(tmp_path):
    app_dir = tmp_path / "app"
    shutil.copytree(APP, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    with inprocess_server(app_dir, tmp_path / "data") as (app, dep, url):
        yield app, dep, url, app_dir


def test_identical_queries_rerun_once_per_commit_for_all_sessions(served):
    app, _dep, url, _ = served
    hub = app.state.query_hub

    async def body():
        clients = [RippleClient(url, **FAST) for _ in range(20)]
        subs = [c.subscribe("counter:get") for c in clients]
        await asyncio.gather(*(c.connect() for c in clients))
        await asyncio.gather(*(s.next(5) for s in subs))
        assert len(hub.queries) == 1
        writer = clients[0]
        before = hub.stats["reruns"]
        for i in range(1, 11):
            assert await writer.mutation("counter:bump") == float(i)
        # Let every session catch up, then count: one re-run per commit at most (coalescing may
        # merge commits), never one per session.
        for s in subs:
            while s.value != 10.0:
                await asyncio.wait_for(s.next(), 5)
        reruns = hub.stats["reruns"] - before
        assert 1 <= reruns <= 10, reruns
        assert all(c.stats.protocol_errors == 0 and c.stats.reconnects == 0 for c in clients)
        await asyncio.gather(*(c.close() for c in clients))

    run(body())
    # Every session gone: every shared query released (checked each time a session detaches).
    assert app.state.query_hub.dep.db.hooks.wait_hit("hub.after_detach", timeout=5,
                                                     until=lambda: not hub.queries and not hub.sessions), \
        (hub.queries, hub.sessions)


def test_many_sessions_and_writers_see_monotone_values_ending_at_the_final_state(served):
    _app, _dep, url, _ = served

    async def body():
        readers = [RippleClient(url, **FAST) for _ in range(12)]
        seen: list[list[int]] = [[] for _ in readers]
        all_final = asyncio.Event()

        def on_update(i: int, v: list) -> None:
            seen[i].append(len(v))
            if all(s and s[-1] == 45 for s in seen):
                all_final.set()

        for i, c in enumerate(readers):
            c.subscribe("counter:notes", on_update=lambda v, i=i: on_update(i, v))
            c.subscribe("counter:checked", {"x": float(i % 3)})  # a few distinct shared queries too
        await asyncio.gather(*(c.connect() for c in readers))
        writers = [RippleClient(url, **FAST) for _ in range(3)]
        await asyncio.gather(*(w.connect() for w in writers))

        async def write(w: RippleClient) -> None:  # inserts only: the writers never conflict
            for k in range(15):
                await w.mutation("counter:add_note", {"body": f"{id(w)}-{k}"})

        await asyncio.gather(*(write(w) for w in writers))
        try:
            await asyncio.wait_for(all_final.wait(), 10)
        except asyncio.TimeoutError:
            raise AssertionError([s[-3:] for s in seen]) from None
        for s in seen:
            assert s == sorted(s) and len(set(s)) == len(s)  # never backwards, never repeated
        assert await readers[0].query("counter:checked", {"x": 2.0}) == 4.0
        assert len(await readers[0].query("counter:notes")) == 45
        for c in [*readers, *writers]:
            assert c.stats.protocol_errors == 0 and c.stats.reconnects == 0
            await c.close()

    run(body(), timeout=30)


def test_hub_wait_processed_times_out_with_an_outcome_and_completes_once_covered(served):
    app, dep, url, _ = served
    hub = app.state.query_hub

    async def on_hub_loop(coro):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, hub.loop))

    async def body():
        async with RippleClient(url, **FAST) as c:
            sub = c.subscribe("counter:get")
            assert await sub.next(5) == 0.0
            far = dep.db.latest_ts() + (3_600_000 << 16)  # an hour ahead: no batch can cover it
            assert await on_hub_loop(hub.wait_processed(far, timeout=0.2)) is WaitOutcome.TIMED_OUT
            assert not hub._waiters  # a timed-out wait leaves nothing behind
            assert await c.mutation("counter:bump") == 1.0
            ts = dep.db.latest_ts()
            assert await on_hub_loop(hub.wait_processed(ts, timeout=10)) is WaitOutcome.DONE
            assert hub.T >= ts and sub.value == 1.0

    run(body())


def test_every_transition_holds_at_one_snapshot_under_concurrent_writers(served):
    """Two different live queries over the same document, writers committing to it and elsewhere: after
    every Transition the two results a raw session holds agree (both hold at its endVersion.ts), and the
    last one is the final count."""
    _app, _dep, url, _ = served
    from websockets.asyncio.client import connect

    async def body():
        writers = [RippleClient(url, **FAST) for _ in range(3)]
        await asyncio.gather(*(w.connect() for w in writers))
        async with connect(url.replace("http", "ws") + "/api/sync", compression=None, max_size=None,
                           proxy=None) as ws:
            await ws.send(json.dumps({"type": "Connect", "sessionId": "snap", "connectionCount": 0}))
            await ws.send(json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
                {"type": "Add", "queryId": 0, "udfPath": "counter:get", "args": [{}]},
                {"type": "Add", "queryId": 1, "udfPath": "counter:padded", "args": [{}]}]}))

            async def bump(w: RippleClient) -> None:  # one bumper: a hot document would conflict
                for _ in range(30):
                    await w.mutation("counter:bump")

            async def note(w: RippleClient) -> None:  # commits that invalidate neither query
                for k in range(15):
                    await w.mutation("counter:add_note", {"body": f"{id(w)}-{k}"})

            task = asyncio.gather(bump(writers[0]), *(note(w) for w in writers[1:]))
            held: dict[int, float] = {}
            transitions = 0
            while held.get(0) != 30.0 or held.get(1) != 30.0:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if msg["type"] != "Transition":
                    continue
                transitions += 1
                for m in msg["modifications"]:
                    assert m["type"] == "QueryUpdated", m
                    held[m["queryId"]] = m["value"] if m["queryId"] == 0 else m["value"]["n"]
                assert held.get(0) == held.get(1), (msg["endVersion"], held)
            await task
            assert transitions >= 2
        for w in writers:
            await w.close()

    run(body(), timeout=60)


def test_redeploy_reruns_shared_queries_with_the_new_code(served):
    _app, dep, url, app_dir = served

    async def body():
        async with RippleClient(url, **FAST) as a, RippleClient(url, **FAST) as b:
            sa, sb = a.subscribe("counter:checked", {"x": 3.0}), b.subscribe("counter:checked", {"x": 3.0})
            assert await sa.next(5) == 6.0 and await sb.next(5) == 6.0
            src = (app_dir / "counter.py").read_text().replace('return args["x"] * 2', 'return args["x"] * 100')
            (app_dir / "counter.py").write_text(src)
            await asyncio.to_thread(dep.redeploy)
            assert await sa.next(5) == 300.0 and await sb.next(5) == 300.0

    run(body())


def test_unsubscribing_releases_the_shared_query_and_resubscribing_works(served):
    app, _dep, url, _ = served
    hub = app.state.query_hub

    async def body():
        async with RippleClient(url, **FAST) as a, RippleClient(url, **FAST) as b:
            sa, sb = a.subscribe("counter:notes"), b.subscribe("counter:notes")
            assert await sa.next(5) == [] and await sb.next(5) == []
            sa.close()
            await a.mutation("counter:add_note", {"body": "x"})  # a round trip: the Remove is processed
            assert len(hub.queries) == 1 and sb.value == ["x"] or await sb.next(5) == ["x"]
            sb.close()
            await b.mutation("counter:bump")
            assert not hub.queries
            assert await a.query("counter:notes") == ["x"]  # a fresh shared query, computed anew

    run(body())


def test_admin_authentication_bumps_identity_and_keeps_results(served):
    _app, dep, url, _ = served

    async def body():
        async with RippleClient(url, admin_key=dep.admin_key, **FAST) as c:
            sub = c.subscribe("counter:get")
            assert await sub.next(5) == 0.0
            assert await c.mutation("counter:bump") == 1.0 and sub.value == 1.0
            assert c.state_version.identity == 1  # the identity version the server confirmed
            assert c.stats.protocol_errors == 0

    run(body())


def test_a_client_that_stops_reading_does_not_hold_up_the_others(served):
    app, _dep, url, _ = served
    hub = app.state.query_hub
    from websockets.asyncio.client import connect

    async def body():
        async with RippleClient(url, **FAST) as writer:
            # A raw socket subscribes to a 64 KiB result and then never reads again.
            stuck = await connect(url.replace("http", "ws") + "/api/sync", compression=None, max_size=None,
                                  proxy=None)
            await stuck.send(json.dumps({"type": "Connect", "sessionId": "stuck", "connectionCount": 0}))
            await stuck.send(json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [
                {"type": "Add", "queryId": 0, "udfPath": "counter:padded", "args": [{}]}]}))
            sub = writer.subscribe("counter:padded")
            await sub.next(5)
            try:
                n = 0
                deadline = time.monotonic() + 30
                while hub.stats["skipped_backlogged"] == 0:  # until the stuck one's queue is full
                    assert time.monotonic() < deadline, "the stuck session never backed up"
                    started = time.perf_counter()
                    n = await writer.mutation("counter:bump")
                    assert time.perf_counter() - started < 5
                    assert sub.value["n"] == n  # the healthy client keeps up (read your writes)
                for _ in range(20):  # and keeps doing so while the stuck one is skipped
                    n = await writer.mutation("counter:bump")
                    assert sub.value["n"] == n
                # When the stuck client reads again, its Transitions still chain and catch up to n.
                version = {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}
                latest = None
                while latest != n:
                    msg = json.loads(await asyncio.wait_for(stuck.recv(), 10))
                    if msg["type"] != "Transition":
                        continue
                    assert msg["startVersion"] == version
                    version = msg["endVersion"]
                    for m in msg["modifications"]:
                        latest = m["value"]["n"]
            finally:
                stuck.transport.abort()

    run(body(), timeout=60)
