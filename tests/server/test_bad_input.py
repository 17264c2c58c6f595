"""Bad input against a live server, over a raw WebSocket (``websockets``) and raw HTTP (``httpx``).

Contract (``docs/protocol.md`` §3, §4, §8, §11): protocol violations get a ``FatalError`` and a close;
function errors never do (they are ``QueryFailed`` / failed responses / HTTP 200 ``status:"error"``);
request errors are 4xx ``{code, message}``. After every case the server is still up and a connection
that was open the whole time still receives fresh Transitions.
"""
from __future__ import annotations

import json
from typing import Iterator

import httpx
import pytest

from tests.server.harness import RawSync, ServerProcess, unique

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def observer(chat_server: ServerProcess) -> Iterator[RawSync]:
    """A connection subscribed to the chat's messages, open across every test of this module."""
    with RawSync(chat_server.ws_url) as conn:
        conn.add_queries({1: ("messages:get_messages", {})})
        yield conn


def assert_still_served(server: ServerProcess, observer: RawSync) -> None:
    """The server answers, and the long-lived connection gets a Transition with a new message."""
    assert httpx.get(server.url + "/health", timeout=5).text == "ok"
    body = unique("alive")
    server.value("mutation", "messages:send_message", {"author": "observer", "body": body})

    def has_it(msg: dict) -> bool:
        return msg["type"] == "Transition" and any(
            m.get("queryId") == 1 and m["type"] == "QueryUpdated" and any(d["body"] == body for d in m["value"])
            for m in msg["modifications"])

    observer.until(has_it, what=f"a Transition carrying {body!r}")


# ---- WebSocket: protocol violations ---------------------------------------------------------------

ADD = {"type": "Add", "queryId": 7, "udfPath": "messages:get_messages", "args": [{}]}
FATAL_CASES = {
    "not JSON": (["{nope"], "not JSON"),
    "not an object": (["[1, 2]"], "expected a JSON object"),
    "no type": ([{"sessionId": "x"}], "expected a JSON object"),
    "unknown message type": ([{"type": "Bogus"}], "unknown message type 'Bogus'"),
    "binary frame": ([b"\x00\x01"], "binary frames"),
    "base version mismatch": ([{"type": "ModifyQuerySet", "baseVersion": 3, "newVersion": 4, "modifications": []}],
                              "BaseVersionMismatch"),
    "version not increasing": ([{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 0, "modifications": []}],
                               "newVersion"),
    "duplicate query id": ([{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1, "modifications": [ADD, ADD]}],
                           "already in use"),
    "remove unknown query": ([{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                               "modifications": [{"type": "Remove", "queryId": 99}]}], "unknown query id 99"),
    "unknown modification": ([{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                               "modifications": [{"type": "Replace", "queryId": 1}]}],
                             "unknown query set modification"),
    "missing field": ([{"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1}], "malformed ModifyQuerySet"),
    "request id not a number": ([{"type": "Mutation", "requestId": "one", "udfPath": "messages:get_messages",
                                  "args": [{}]}], "requestId"),
}


@pytest.mark.parametrize("case", list(FATAL_CASES))
def test_protocol_violation_gets_fatal_error_and_close_and_others_are_unaffected(raw_sync, chat_server, observer, case):
    frames, expected = FATAL_CASES[case]
    conn = raw_sync(chat_server.ws_url)
    for frame in frames:
        conn.send(frame)
    msg = conn.until(lambda m: m["type"] != "Transition", what="the FatalError")
    assert msg["type"] == "FatalError" and expected in msg["error"], msg
    assert conn.closed() == (1008, "BadRequest")
    assert_still_served(chat_server, observer)


def test_malformed_timestamp_in_connect_is_a_protocol_error(raw_sync, chat_server, observer):
    conn = raw_sync(chat_server.ws_url, connect_msg=False)
    conn.send({"type": "Connect", "sessionId": unique(), "connectionCount": 1, "maxObservedTimestamp": "AAA"})
    msg = conn.recv()
    assert msg["type"] == "FatalError" and "malformed timestamp" in msg["error"]
    assert conn.closed()[0] == 1008
    assert_still_served(chat_server, observer)


def test_frame_over_16_mib_closes_only_that_connection(raw_sync, chat_server, observer):
    conn = raw_sync(chat_server.ws_url)
    conn.send(json.dumps({"type": "Mutation", "requestId": 0, "udfPath": "messages:send_message",
                          "args": [{"author": "big", "body": "x" * (17 * MiB)}]}))
    assert conn.closed()[0] == 1009  # "message too big", from the WebSocket layer
    assert_still_served(chat_server, observer)


@pytest.mark.slow
def test_frame_just_under_16_mib_is_a_request_like_any_other(raw_sync, chat_server, observer):
    """A legal (large) request reaches the function, whose error comes back as a failed response."""
    conn = raw_sync(chat_server.ws_url)
    conn.send(json.dumps({"type": "Mutation", "requestId": 0, "udfPath": "messages:send_message",
                          "args": [{"author": "big", "body": "x" * (15 * MiB)}]}))
    msg = conn.until(lambda m: m["type"] == "MutationResponse", timeout=30)
    assert msg["success"] is False, {k: v for k, v in msg.items() if k != "result"}
    assert msg["errorData"]["code"] == "MessageTooLong"
    assert_still_served(chat_server, observer)


@pytest.mark.parametrize("token_type, value", [("Admin", "not-the-key"), ("User", "a.b.c")])
def test_rejected_authentication_is_an_auth_error_not_fatal(raw_sync, chat_server, observer, token_type, value):
    conn = raw_sync(chat_server.ws_url)
    conn.send({"type": "Authenticate", "tokenType": token_type, "value": value, "baseVersion": 0})
    msg = conn.recv()
    assert msg == {"type": "AuthError", "error": msg["error"], "baseVersion": 0, "authUpdateAttempted": True}
    assert conn.closed()[0] is not None
    assert_still_served(chat_server, observer)


# ---- WebSocket: function errors are answers, never a close ---------------------------------------


def test_function_errors_are_answered_in_band_and_the_connection_keeps_working(raw_sync, chat_server, observer):
    conn = raw_sync(chat_server.ws_url)
    conn.send({"type": "Event", "eventType": "ClientConnect", "event": {}})  # telemetry: ignored
    first = conn.add_queries({
        1: ("messages:nope", {}),                       # unknown function
        2: ("messages:send_message", {"author": "a", "body": "b"}),  # a mutation, subscribed to
        3: ("messages:get_messages", [{}, {}]),         # two argument objects
        4: ("messages:get_messages", ["not an object"]),
        5: ("messages.js:get_messages", {}),            # fine (canonicalized path)
    })
    assert first["type"] == "Transition"
    res = conn.results
    assert res[1]["type"] == "QueryFailed" and "Could not find public function" in res[1]["errorMessage"]
    assert res[2]["type"] == "QueryFailed" and "defined as Mutation" in res[2]["errorMessage"]
    assert res[3]["type"] == "QueryFailed" and "exactly one argument object" in res[3]["errorMessage"]
    assert res[4]["type"] == "QueryFailed" and "must be an object" in res[4]["errorMessage"]
    assert res[5]["type"] == "QueryUpdated" and isinstance(res[5]["value"], list)
    for r in (res[1], res[2], res[3], res[4]):
        assert r["logLines"] == [] and r["journal"] is None and "errorData" not in r

    requests = [
        ("Mutation", "messages:nope", {}, "Could not find public function"),
        ("Mutation", "messages:get_messages", {}, "defined as Query"),
        ("Mutation", "messages:send_message", {"author": 3.0, "body": "x"}, "author"),
        ("Mutation", "messages:send_message", {"author": "a"}, "body"),
        ("Mutation", "messages:send_message", {"author": "a", "body": "  "}, "a message needs some text"),
        ("Action", "messages:nope", {}, "Could not find public function"),
        ("Action", "messages:send_message", {"author": "a", "body": "b"}, "defined as Mutation"),
        ("Action", "wiki:answer", {"topic": "x"}, "Could not find public function"),  # internal
    ]
    for rid, (kind, path, args, expected) in enumerate(requests):
        conn.send({"type": kind, "requestId": rid, "udfPath": path, "args": [args]})
        resp = conn.until(lambda m: m["type"] == f"{kind}Response", what=f"{kind}Response {rid}")
        assert resp["requestId"] == rid and resp["success"] is False, resp
        assert expected in resp["result"] and resp["logLines"] == [], resp
        if kind == "Mutation":  # a failed mutation is followed by a Transition too (clients wait for one)
            conn.until(lambda m: m["type"] == "Transition", what="the Transition after a failed mutation")

    # The same connection still works: a mutation, then a Transition at or past its commit with the write.
    body = unique("after-errors")
    conn.send({"type": "Mutation", "requestId": 100, "udfPath": "messages:send_message",
               "args": [{"author": "raw", "body": body}]})
    resp = conn.until(lambda m: m["type"] == "MutationResponse")
    assert resp["success"] is True and resp["requestId"] == 100
    conn.until(lambda m: m["type"] == "Transition" and any(
        mod["queryId"] == 5 and mod["type"] == "QueryUpdated" and any(d["body"] == body for d in mod["value"])
        for mod in m["modifications"]), what="the Transition carrying the write")
    assert _ts(conn.version["ts"]) >= _ts(resp["ts"])
    assert_still_served(chat_server, observer)


def _ts(wire: str) -> int:
    import base64
    import struct

    return struct.unpack("<Q", base64.b64decode(wire))[0]


# ---- HTTP ------------------------------------------------------------------------------------------

REQUEST_ERRORS = {
    "not JSON": ("/api/query", b"{nope", 400, "BadJsonBody"),
    "not an object": ("/api/mutation", b"[1, 2]", 400, "BadJsonBody"),
    "no path": ("/api/query", b'{"args": {}}', 400, "BadConvexFunctionIdentifier"),
    "bad timestamp": ("/api/query_at_ts", b'{"path": "messages:get_messages", "args": {}, "ts": "xyz"}', 400,
                      "InvalidTimestamp"),
    "timestamp in the future": ("/api/query_at_ts", b'{"path": "messages:get_messages", "args": {}, '
                                                    b'"ts": "AAAAAAAAAEA="}', 400, "InvalidTimestamp"),
    "body over 16 MiB": ("/api/mutation", json.dumps({"path": "messages:send_message",
                                                      "args": {"author": "a", "body": "x" * (17 * MiB)}}).encode(),
                         413, "RequestTooLarge"),
}


@pytest.mark.parametrize("case", list(REQUEST_ERRORS))
def test_http_request_errors_are_4xx_with_code_and_message(raw_sync, chat_server, observer, case):
    route, body, status, code = REQUEST_ERRORS[case]
    r = httpx.post(chat_server.url + route, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == status, r.text
    out = r.json()
    assert out["code"] == code and isinstance(out["message"], str) and out["message"], out
    assert_still_served(chat_server, observer)


def test_http_get_query_with_malformed_args_is_400(raw_sync, chat_server, observer):
    r = httpx.get(chat_server.url + "/api/query", params={"path": "messages:get_messages", "args": "{nope"})
    assert r.status_code == 400 and r.json()["code"] == "BadJsonBody"
    assert_still_served(chat_server, observer)


FUNCTION_ERRORS = {
    "unknown function": ("query", "messages:nope", {}, "Could not find public function"),
    "internal function": ("mutation", "messages:post_reply", {"body": "x"}, "Could not find public function"),
    "query as mutation": ("mutation", "messages:get_messages", {}, "defined as Query"),
    "mutation as query": ("query", "messages:send_message", {"author": "a", "body": "b"}, "defined as Mutation"),
    "mutation as action": ("action", "messages:send_message", {"author": "a", "body": "b"}, "defined as Mutation"),
    "invalid argument": ("mutation", "messages:send_message", {"author": ["a"], "body": "b"}, "author"),
    "missing argument": ("mutation", "messages:send_message", {"body": "b"}, "author"),
    "two argument objects": ("query", "messages:get_messages", [{}, {}], "exactly one argument object"),
    "function raises": ("mutation", "messages:send_message", {"author": "a", "body": " "}, "a message needs some text"),
}


@pytest.mark.parametrize("case", list(FUNCTION_ERRORS))
def test_http_function_errors_are_200_status_error(raw_sync, chat_server, observer, case):
    kind, path, args, expected = FUNCTION_ERRORS[case]
    r = httpx.post(f"{chat_server.url}/api/{kind}", json={"path": path, "args": args}, timeout=10)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "error" and expected in out["errorMessage"] and out["logLines"] == [], out
    assert "errorData" not in out
    assert_still_served(chat_server, observer)


def test_http_convex_error_carries_its_data(chat_server):
    r = httpx.post(f"{chat_server.url}/api/mutation", timeout=10, json={
        "path": "messages:send_message", "args": [{"author": "a", "body": "y" * 2500}],
        "format": "convex_encoded_json"})
    out = r.json()
    assert r.status_code == 200 and out["status"] == "error"
    assert out["errorData"] == {"code": "MessageTooLong", "maxLength": 2000.0, "length": 2500.0}


def test_http_cors_preflight_allows_the_convex_client_header(chat_server):
    r = httpx.options(f"{chat_server.url}/api/query", headers={
        "Origin": "http://example.test", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,convex-client"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://example.test"
    assert "convex-client" in r.headers["access-control-allow-headers"].lower()
