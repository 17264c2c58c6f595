"""The client refuses a server that breaks the protocol: a tiny scripted WebSocket server sends one good
Transition, then a bad message. The client must drop the socket and reconnect (never exposing the bad
message's data), and on the new socket start again from version 0 with its query set and in-flight
mutations."""
from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from engine.client import ConnectionLost, RippleClient
from engine.protocol import encode_ts_ns
from tests.client.conftest import run, until

ZERO = {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}


def version(qs: int, ts: int) -> dict:
    return {"querySet": qs, "identity": 0, "ts": encode_ts_ns(ts)}


def updated(qid: int, value, **extra) -> dict:
    return {"type": "QueryUpdated", "queryId": qid, "value": value, "logLines": [], "journal": None, **extra}


def transition(start: dict, end: dict, mods: list) -> str:
    return json.dumps({"type": "Transition", "startVersion": start, "endVersion": end, "modifications": mods})


# Each bad message follows the good Transition 0 -> {1, ts=100}. 666.0 must never be seen.
BAD = {
    "wrong startVersion": transition(version(1, 99), version(1, 200), [updated(0, 666.0)]),
    "start querySet skipped": transition(version(0, 100), version(1, 200), [updated(0, 666.0)]),
    "ts goes backwards": transition(version(1, 100), version(1, 50), [updated(0, 666.0)]),
    "missing logLines": transition(version(1, 100), version(1, 200),
                                   [{"type": "QueryUpdated", "queryId": 0, "value": 666.0, "journal": None}]),
    "unpadded ts": transition(version(1, 100), {"querySet": 1, "identity": 0, "ts": "yAAAAAAAAAA"}, [updated(0, 666.0)]),
    "bad value encoding": transition(version(1, 100), version(1, 200), [updated(0, {"$float": "AAAAAAAA8D8="})]),
    "unknown modification": transition(version(1, 100), version(1, 200),
                                       [updated(0, 666.0), {"type": "QueryTeleported", "queryId": 0}]),
    "unknown message type": json.dumps({"type": "Surprise", "value": 666.0}),
    "response to no request": json.dumps({"type": "MutationResponse", "requestId": 7, "success": True,
                                          "result": 666.0, "ts": encode_ts_ns(150), "logLines": []}),
    "not JSON": "{nope",
    "FatalError": json.dumps({"type": "FatalError", "error": "go away"}),
}


class ScriptedServer:
    """Connection 1: good Transition (value 1.0), then the bad message. Connection 2 onwards: behave."""

    def __init__(self, bad: str) -> None:
        self.bad = bad
        self.connects: list[dict] = []
        self.first_modify: list[dict] = []
        self.mutations: list[dict] = []
        self.unanswered: list[dict] = []
        self.port = 0

    async def handler(self, ws) -> None:
        try:
            await self._script(ws)
        except ConnectionClosed:
            pass

    async def _script(self, ws) -> None:
        n = len(self.connects)
        self.connects.append(json.loads(await ws.recv()))
        modify = json.loads(await ws.recv())
        self.first_modify.append(modify)
        qids = [m["queryId"] for m in modify["modifications"]]
        value = 1.0 if n == 0 else 2.0
        await ws.send(transition(ZERO, version(1, 100 + n * 1000), [updated(q, value) for q in qids]))
        if n == 0:
            await ws.send(self.bad)
        async for text in ws:
            msg = json.loads(text)
            if n == 0:  # the first connection answers nothing more (its client should be leaving)
                self.unanswered.append(msg)
                if msg["type"] == "Action":
                    await ws.close()
                    return
                continue
            if msg["type"] == "Mutation":  # later connections answer mutations properly
                self.mutations.append(msg)
                ts = 5000 + len(self.mutations)
                await ws.send(json.dumps({"type": "MutationResponse", "requestId": msg["requestId"], "success": True,
                                          "result": "done", "ts": encode_ts_ns(ts), "logLines": []}))
                await ws.send(transition(version(1, 100 + n * 1000), version(1, ts), []))
                return  # one mutation per connection in these scripts

    async def __aenter__(self) -> "ScriptedServer":
        self._srv = await serve(self.handler, "127.0.0.1", 0, compression=None)
        self.port = list(self._srv.sockets)[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._srv.close()
        await self._srv.wait_closed()


@pytest.mark.parametrize("case", sorted(BAD))
def test_protocol_violation_makes_the_client_reconnect_not_apply(case):
    async def body():
        async with ScriptedServer(BAD[case]) as srv:
            c = RippleClient(f"http://127.0.0.1:{srv.port}", backoff=(0.02, 0.1))
            seen: list = []
            c.subscribe("mod:q", {"a": 1.0}, on_update=seen.append)  # before connecting: in the handshake
            async with c:
                await until(lambda: 2.0 in seen)  # the value from the second connection
                assert seen == [1.0, 2.0]  # and never the bad message's 666.0
                assert c.stats.protocol_errors == 1
                assert len(srv.connects) == 2
                second = srv.connects[1]
                assert second["sessionId"] == srv.connects[0]["sessionId"]
                assert second["connectionCount"] == 1 and second["maxObservedTimestamp"] == encode_ts_ns(100)
                assert second["lastCloseReason"] != "InitialConnect"
                # The query set is re-added from version 0 on the new socket.
                modify = srv.first_modify[1]
                assert (modify["baseVersion"], modify["newVersion"]) == (0, 1)
                assert modify["modifications"] == [{"type": "Add", "queryId": 0, "udfPath": "mod:q",
                                                    "args": [{"a": 1.0}]}]

    run(body())


def test_start_version_error_reason_is_reported_to_the_server():
    async def body():
        async with ScriptedServer(BAD["wrong startVersion"]) as srv:
            c = RippleClient(f"http://127.0.0.1:{srv.port}", backoff=(0.02, 0.1))
            seen: list = []
            c.subscribe("mod:q", on_update=seen.append)
            async with c:
                await until(lambda: 2.0 in seen)
                assert "startVersion" in srv.connects[1]["lastCloseReason"]
                assert "startVersion" in c.stats.close_reasons[0]

    run(body())


def test_mutation_issued_around_a_violation_is_resent_with_the_same_ids():
    async def body():
        async with ScriptedServer(BAD["wrong startVersion"]) as srv:
            c = RippleClient(f"http://127.0.0.1:{srv.port}", backoff=(0.05, 0.1))
            c.subscribe("mod:q")
            async with c:
                result = await asyncio.wait_for(c.mutation("mod:m", {"x": 1.0}), 5)
                assert result == "done"
                # Sent on the first socket (unanswered there), re-sent once on the second: same ids.
                sent = [m for m in srv.unanswered if m["type"] == "Mutation"] + srv.mutations
                assert [m["requestId"] for m in srv.mutations] == [0]
                assert all(m["requestId"] == 0 and m["args"] == [{"x": 1.0}] for m in sent)
                assert srv.connects[1]["sessionId"] == srv.connects[0]["sessionId"] == c.session_id

    run(body())


def test_action_in_flight_when_the_socket_drops_fails_with_connection_lost():
    async def body():
        async with ScriptedServer(json.dumps({"type": "Ping"})) as srv:
            c = RippleClient(f"http://127.0.0.1:{srv.port}", backoff=(0.05, 0.1))
            seen: list = []
            c.subscribe("mod:q", on_update=seen.append)
            async with c:
                await until(lambda: seen == [1.0])
                with pytest.raises(ConnectionLost):
                    await c.action("mod:a")
                await until(lambda: seen == [1.0, 2.0])  # and the client reconnected

    run(body())
