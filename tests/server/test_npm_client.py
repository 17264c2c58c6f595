"""The official npm client (``convex@1.48.0`` from the repo's node_modules, under Node) against a real
``ripple serve``: subscriptions, read-your-writes at mutation resolution, ConvexError data, actions and
consistent queries over HTTP, and a server restart in the middle of a session."""
from __future__ import annotations

import signal

import pytest

from tests.server.harness import run_node, unique


def test_mutation_resolves_with_its_write_already_in_the_subscription(chat_server, wiki):
    token = unique("npm")
    out = run_node("chat_session.mjs", chat_server.url, token)
    assert out["inCurrentValue"] and out["inLastCallback"], out
    assert out["seenByB"] == f"hello from {token}"
    # ConvexError: the function's data arrives intact; a plain error is not a ConvexError.
    assert out["tooLong"]["isConvexError"], out["tooLong"]
    assert out["tooLong"]["data"] == {"code": "MessageTooLong", "maxLength": 2000, "length": 2001}
    assert not out["empty"]["isConvexError"] and "a message needs some text" in out["empty"]["message"]
    # /wiki: the action fetched from the loopback server and its scheduled reply reached both users.
    expected = wiki.extract(f"Topic {token}")
    assert out["wikiReplyA"] == out["wikiReplyB"] == expected
    assert any(token in path for path in wiki.requests)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_session_survives_a_server_restart_without_duplicating_the_mutation_in_flight(make_server, client_script, sig):
    server = make_server(name="restart")
    token = unique("restart")
    node = client_script.node("restart.mjs", server.url, token)
    m1 = node.expect("ready")["m1"]
    dropped = node.expect("response-dropped")["response"]
    assert dropped["success"] is True  # m2 committed; only its response was lost
    server.stop(sig)
    node.send("down")
    node.expect("m3-sent")
    server.start()
    node.send("up")
    server.call("mutation", "messages:send_message", {"author": "http", "body": f"{token} http"})
    out = node.expect("result", timeout=60)
    assert out["m1"] == m1
    assert out["m2"] == dropped["result"], "the re-sent m2 must be answered with the stored result"
    assert out["counts"] == {"m1": 1, "m2": 1, "m3": 1, "m4": 1, "http": 1}, out
    assert out["connected"] and out["sockets"] >= 2 and out["connectionCount"] >= 2, out
    # The server's own view agrees: each message exactly once.
    bodies = [m["body"] for m in server.value("query", "messages:get_messages")]
    mine = sorted(b for b in bodies if b.startswith(token))
    assert mine == sorted(f"{token} {n}" for n in ("http", "m1", "m2", "m3", "m4"))


# A deployment URL ending in "/" makes the npm clients ask for "//api/..." (docs/protocol.md §1).
TRAILING = pytest.mark.parametrize("suffix", ["", "/"], ids=["url", "url-with-trailing-slash"])


@TRAILING
def test_http_client_query_mutation_action_errors_and_consistent_query(probe_server, suffix):
    data = {"why": "because", "n": 1.5, "nested": [True, None, "x"]}
    out = run_node("http_client.mjs", probe_server.url + suffix, unique("http"))
    assert out["before"] == 0
    assert out["texts"] == ["one", "two"] and out["ids"] == [out["id"], out["viaAction"]]
    assert out["shout"] == "HI!"
    # consistentQuery reads one snapshot, taken at its first call; a plain query sees the newest data.
    assert (out["consistentBefore"], out["consistentAfter"], out["latest"]) == (2, 2, 3)
    errors = out["errors"]
    for kind in ("mutation", "action"):
        assert errors[kind]["isConvexError"] and errors[kind]["data"] == data, errors[kind]
    assert errors["query"]["isConvexError"] and errors["query"]["data"] == "plain string"
    assert not errors["unknown"]["isConvexError"] and "Could not find public function" in errors["unknown"]["message"]
    assert not errors["badArgs"]["isConvexError"] and "list" in errors["badArgs"]["message"]
    assert "defined as Mutation" in errors["wrongKind"]["message"], errors["wrongKind"]


@TRAILING
def test_ws_client_actions_and_failing_subscriptions(probe_server, suffix):
    out = run_node("ws_client.mjs", probe_server.url + suffix, unique("ws"))
    assert out["shout"] == "WS!"
    assert out["actionError"]["isConvexError"] and out["actionError"]["data"] == ["a", 1.25]
    # QueryFailed with errorData reaches onError as a ConvexError; an unknown function as a plain error.
    assert out["failing"]["isConvexError"] and out["failing"]["data"] == {"code": "Nope", "n": 2}
    assert not out["unknown"]["isConvexError"] and "Could not find public function" in out["unknown"]["message"]
    # The healthy subscription beside them saw every change, in order.
    assert out["count"][0] == 0 and out["count"][-1] == 2 and out["count"] == sorted(out["count"])


@pytest.mark.parametrize("mode", ["ws", "http"])
def test_sixteen_official_clients_transferring_between_two_documents_see_no_conflict_error(probe_server, mode):
    """The hot-document case of issue #10: every transfer touches the same two documents, so OCC makes
    them collide; the runner's serialized fallback must absorb that, so no client sees an error (before:
    7-9 of 30 failed with a write conflict over the socket, 8-11 of 30 got 503 over HTTP)."""
    out = run_node("transfers.mjs", probe_server.url, 16, 10, mode, timeout=180)
    assert out["failures"] == [], out["failures"][:3]
    assert out["ok"] == 160
    assert sum(out["balances"]) == 2000.0       # every transfer is all or nothing
