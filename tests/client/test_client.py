"""The asyncio client against a real ``ripple serve`` process on loopback: calls, subscriptions fed by
another writer, errors with data, read-your-writes, and surviving a server restart without running an
in-flight mutation twice."""
from __future__ import annotations

import asyncio
import time

import pytest

from engine.client import ClientClosed, ConvexError, FunctionCallError, RippleClient, sync_url
from tests.client.conftest import HoldingProxy, ServerProc, run, until

FAST = {"backoff": (0.05, 0.5), "connect_timeout": 10.0}


def test_sync_url_forms():
    assert sync_url("http://127.0.0.1:3210") == "ws://127.0.0.1:3210/api/sync"
    assert sync_url("https://x.example/some/path") == "wss://x.example/api/sync"
    assert sync_url("ws://h:1/api/1.48.0/sync") == "ws://h:1/api/1.48.0/sync"
    with pytest.raises(ValueError):
        sync_url("ftp://h")


def test_query_mutation_action(server):
    async def body():
        async with RippleClient(server.url, **FAST) as c:
            assert await c.query("counter:get") == 0.0
            assert await c.mutation("counter:bump", {"by": 2.0}) == 2.0
            assert await c.query("counter:get") == 2.0
            assert await c.query("counter.js:get") == 2.0  # the module extension is accepted
            assert await c.action("counter:shout", {"text": "hi"}) == {"text": "HI", "n": 12.0}
            assert await c.query("counter:checked", {"x": 4.0}) == 8.0
            note_id = await c.mutation("counter:add_note", {"body": "x"})
            assert isinstance(note_id, str) and len(note_id) >= 31
            assert not c.callback_errors and c.stats.protocol_errors == 0

    run(body())


def test_errors_carry_data_and_nothing_commits(server):
    async def body():
        async with RippleClient(server.url, **FAST) as c:
            with pytest.raises(ConvexError) as info:
                await c.mutation("counter:refuse", {"code": "no-way"})
            assert info.value.data == {"code": "no-way", "n": 3.0}
            with pytest.raises(FunctionCallError, match="plain failure"):
                await c.mutation("counter:crash")
            with pytest.raises(FunctionCallError, match="Could not find public function"):
                await c.action("counter:nope")
            with pytest.raises(ConvexError) as qinfo:
                await c.query("counter:checked", {"x": -1.0})
            assert qinfo.value.data == "negative"
            assert await c.query("counter:notes") == []  # the refused mutation's insert rolled back
            # The connection is still healthy after all those failures.
            assert await c.mutation("counter:bump") == 1.0

    run(body())


def test_subscription_follows_a_concurrent_writer_and_callbacks_fire(server):
    async def body():
        async with RippleClient(server.url, **FAST) as reader, RippleClient(server.url, **FAST) as writer:
            seen_by_callback: list = []
            sub = reader.subscribe("counter:notes")
            cb = reader.subscribe("counter:notes", on_update=seen_by_callback.append)
            assert await sub.next(5) == []
            got = []

            async def write():
                for i in range(5):
                    await writer.mutation("counter:add_note", {"body": f"n{i}"})

            task = asyncio.create_task(write())
            async for value in sub:
                got.append(value)
                if len(value) == 5:
                    break
            await task
            assert got[-1] == [f"n{i}" for i in range(5)]
            # Each yielded value is a prefix of the final list (coalescing may skip some, never reorder).
            assert all(v == got[-1][: len(v)] for v in got)
            assert seen_by_callback[-1] == got[-1]
            assert sub.query_id == cb.query_id  # identical (path, args) share one server query
            assert sub.received_ns > 0 and sub.ts > 0
            sub.close()
            cb.close()
            with pytest.raises(ClientClosed):
                await sub.next(1)

    run(body())


def test_failing_subscription_raises_then_recovers(server):
    async def body():
        async with RippleClient(server.url, **FAST) as c:
            errors: list = []
            sub = c.subscribe("counter:checked", {"x": -2.0}, on_error=errors.append)
            with pytest.raises(ConvexError):
                await sub.next(5)
            assert isinstance(errors[0], ConvexError) and errors[0].data == "negative"
            with pytest.raises(ConvexError):
                _ = sub.value

    run(body())


def test_mutation_resolves_only_once_the_subscription_reflects_it(server):
    async def body():
        async with RippleClient(server.url, **FAST) as c, RippleClient(server.url, **FAST) as other:
            sub = c.subscribe("counter:get")
            assert await sub.next(5) == 0.0
            for _ in range(15):
                n = await c.mutation("counter:bump")
                assert sub.value == n  # read your writes: no waiting for a later update
                await other.mutation("counter:bump")  # interleaved foreign writes do not break it
            assert c.stats.transitions >= 15

    run(body())


def test_reconnect_after_restart_resumes_and_does_not_repeat_an_in_flight_mutation(tmp_path):
    srv = ServerProc(tmp_path / "data", tmp_path / "server.log")
    srv.start()

    async def body():
        proxy = HoldingProxy(srv.port)
        await proxy.start()
        try:
            async with RippleClient(proxy.url, **FAST) as c:
                sub = c.subscribe("counter:notes")
                assert await sub.next(5) == []
                await c.mutation("counter:add_note", {"body": "before"})
                assert sub.value == ["before"]
                # The next mutation commits, but its response never reaches the client ...
                proxy.hold = True
                pending = asyncio.create_task(c.mutation("counter:add_note", {"body": "in-flight"}))
                deadline = time.monotonic() + 10
                while await asyncio.to_thread(srv.query, "counter:notes") != ["before", "in-flight"]:
                    assert time.monotonic() < deadline, "the mutation never committed"
                    await asyncio.sleep(0.05)  # polling cadence only: the condition decides
                assert not pending.done()
                # ... because the server dies. It comes back on the same port and data, once the client
                # has noticed and failed at least one attempt against the closed port.
                await asyncio.to_thread(srv.kill)
                proxy.hold = False
                await until(lambda: c.stats.failed_connects >= 1 and not c.connected, 10)
                await asyncio.to_thread(srv.start)
                note_id = await asyncio.wait_for(pending, 15)  # re-sent with the same sessionId/requestId
                assert isinstance(note_id, str)
                assert sub.value == ["before", "in-flight"]  # the subscription resumed, no duplicate
                assert await asyncio.to_thread(srv.query, "counter:notes") == ["before", "in-flight"]
                assert c.stats.reconnects >= 1
                # Business as usual afterwards, including new subscriptions.
                await c.mutation("counter:add_note", {"body": "after"})
                assert sub.value == ["before", "in-flight", "after"]
                assert await c.query("counter:get") == 0.0
        finally:
            await proxy.close()

    try:
        run(body(), timeout=40)
    finally:
        srv.stop()


def test_closing_fails_pending_calls_and_ends_iteration(server):
    async def body():
        c = RippleClient(server.url, **FAST)
        await c.connect()
        sub = c.subscribe("counter:get")
        assert await sub.next(5) == 0.0
        waiter = asyncio.create_task(sub.next())
        await asyncio.sleep(0)  # one loop turn: the waiter runs up to its wait for the next result
        assert not waiter.done()
        await c.close()
        with pytest.raises(ClientClosed):
            await waiter
        with pytest.raises(ClientClosed):
            await c.mutation("counter:bump")

    run(body())


def test_connect_to_a_dead_port_fails_within_the_timeout():
    from tests.client.conftest import free_port

    async def body():
        c = RippleClient(f"http://127.0.0.1:{free_port()}", backoff=(0.05, 0.2), connect_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ConnectionError):
            await c.connect()
        assert time.monotonic() - started < 3

    run(body())
