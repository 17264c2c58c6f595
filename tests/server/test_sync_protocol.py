"""The sync protocol spoken directly (raw WebSocket): authentication, query removal, path forms, mutation
dedup by (sessionId, requestId) across sockets, and timestamps that never go backwards across a restart.
The official clients depend on each of these (``docs/protocol.md`` §3, §5)."""
from __future__ import annotations

import base64
import signal
import struct

from tests.server.harness import unique


def ts(wire: str) -> int:
    return struct.unpack("<Q", base64.b64decode(wire))[0]


def test_admin_authentication_advances_identity_and_none_logs_out(raw_sync, chat_server):
    key = (chat_server.data_dir / "admin_key").read_text().strip()
    conn = raw_sync(chat_server.ws_url)
    conn.add_queries({1: ("messages:get_messages", {})})
    conn.send({"type": "Authenticate", "tokenType": "Admin", "value": key, "baseVersion": 0})
    conn.until(lambda m: m["type"] == "Transition" and m["endVersion"]["identity"] == 1, what="identity 1")
    conn.send({"type": "Authenticate", "tokenType": "None", "baseVersion": 1})
    conn.until(lambda m: m["type"] == "Transition" and m["endVersion"]["identity"] == 2, what="identity 2")
    # Still a working session: a mutation is answered and followed by a Transition.
    conn.send({"type": "Mutation", "requestId": 0, "udfPath": "messages:send_message",
               "args": [{"author": "admin", "body": unique("admin")}]})
    assert conn.until(lambda m: m["type"] == "MutationResponse")["success"] is True
    conn.until(lambda m: m["type"] == "Transition", what="the Transition after the mutation")


def test_remove_is_answered_with_query_removed_and_paths_are_canonicalized(raw_sync, chat_server):
    conn = raw_sync(chat_server.ws_url)
    conn.add_queries({1: ("messages.js:get_messages", {}), 2: ("messages", {}), 3: ("messages:get_messages", {})})
    assert conn.results[1]["type"] == "QueryUpdated" and conn.results[1]["value"] == conn.results[3]["value"]
    assert conn.results[2]["type"] == "QueryFailed" and "messages:default" in conn.results[2]["errorMessage"]
    conn.qs_version += 1
    conn.send({"type": "ModifyQuerySet", "baseVersion": 1, "newVersion": 2,
               "modifications": [{"type": "Remove", "queryId": 1}]})
    t = conn.until(lambda m: m["type"] == "Transition" and m["endVersion"]["querySet"] == 2,
                   what="the Remove's Transition")
    assert {"type": "QueryRemoved", "queryId": 1} in t["modifications"]


def test_resent_mutation_with_same_session_and_request_id_runs_once(raw_sync, chat_server):
    session, body = unique("session"), unique("once")
    mutation = {"type": "Mutation", "requestId": 7, "udfPath": "messages:send_message",
                "args": [{"author": "dedup", "body": body}]}
    first = raw_sync(chat_server.ws_url, session_id=session)
    first.send(mutation)
    r1 = first.until(lambda m: m["type"] == "MutationResponse")
    first.close()
    again = raw_sync(chat_server.ws_url, session_id=session)  # a reconnect of the same client
    again.add_queries({1: ("messages:get_messages", {})})
    again.send(mutation)
    r2 = again.until(lambda m: m["type"] == "MutationResponse")
    assert r1["success"] and r2["success"] and r1["result"] == r2["result"]
    again.until(lambda m: m["type"] == "Transition", what="the Transition after the re-sent mutation")
    assert ts(again.version["ts"]) >= ts(r2["ts"])
    bodies = [m["body"] for m in chat_server.value("query", "messages:get_messages")]
    assert bodies.count(body) == 1
    # Another session with the same request id is a different request.
    other = raw_sync(chat_server.ws_url, session_id=unique("session"))
    other.send(mutation)
    assert other.until(lambda m: m["type"] == "MutationResponse")["result"] != r1["result"]


def test_timestamps_never_go_backwards_across_a_restart(raw_sync, make_server):
    server = make_server(name="monotonic")
    conn = raw_sync(server.ws_url)
    conn.add_queries({1: ("messages:get_messages", {})})
    conn.send({"type": "Mutation", "requestId": 0, "udfPath": "messages:send_message",
               "args": [{"author": "a", "body": "before"}]})
    before = ts(conn.until(lambda m: m["type"] == "MutationResponse")["ts"])
    conn.until(lambda m: m["type"] == "Transition")
    seen = ts(conn.version["ts"])
    server.restart(signal.SIGKILL)
    conn = raw_sync(server.ws_url, connect_msg=False)
    conn.send({"type": "Connect", "sessionId": unique(), "connectionCount": 1, "lastCloseReason": "InactiveServer",
               "maxObservedTimestamp": base64.b64encode(struct.pack("<Q", seen)).decode()})
    conn.add_queries({1: ("messages:get_messages", {})})
    assert ts(conn.version["ts"]) >= seen
    conn.send({"type": "Mutation", "requestId": 0, "udfPath": "messages:send_message",
               "args": [{"author": "a", "body": "after"}]})
    assert ts(conn.until(lambda m: m["type"] == "MutationResponse")["ts"]) > max(before, seen)


def test_only_an_admin_session_may_call_internal_mutations(raw_sync, probe_server):
    call = {"type": "Mutation", "udfPath": "notes:record", "args": [{"list": "admin", "text": unique("internal")}]}
    anonymous = raw_sync(probe_server.ws_url)
    anonymous.send({**call, "requestId": 0})
    refused = anonymous.until(lambda m: m["type"] == "MutationResponse")
    assert refused["success"] is False and "Could not find public function for 'notes:record'" in refused["result"]
    key = (probe_server.data_dir / "admin_key").read_text().strip()
    admin = raw_sync(probe_server.ws_url)
    admin.send({"type": "Authenticate", "tokenType": "Admin", "value": key, "baseVersion": 0})
    admin.until(lambda m: m["type"] == "Transition" and m["endVersion"]["identity"] == 1, what="identity 1")
    admin.send({**call, "requestId": 0})
    assert admin.until(lambda m: m["type"] == "MutationResponse")["success"] is True
