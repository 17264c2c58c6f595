"""The official PyPI client (``convex`` 0.8.1: a Python layer over the Rust client) against a real
``ripple serve``. Each scenario runs in a child process (see ``pypi_scenarios.py``)."""
from __future__ import annotations

import signal

import pytest

from tests.server.harness import run_pypi, unique

DATA = {"why": "because", "n": 1.5, "nested": [True, None, "x"]}


def test_client_query_mutation_action_and_errors(probe_server):
    out = run_pypi("ws", probe_server.url, unique("py"))
    assert (out["before"], out["after"]) == (0, 2)
    assert out["texts"] == ["one", "two"]
    assert out["shout"] == "PY!"
    errors = out["errors"]
    assert errors["mutation"] == {"type": "ConvexError", "message": errors["mutation"]["message"], "data": DATA}
    assert errors["action"]["type"] == "ConvexError" and errors["action"]["data"] == DATA
    assert errors["query"]["type"] == "ConvexError" and errors["query"]["data"] == "plain"
    assert errors["unknown"]["type"] != "ConvexError"
    assert "Could not find public function" in errors["unknown"]["message"]
    assert errors["badArgs"]["type"] != "ConvexError" and "list" in errors["badArgs"]["message"]


def test_http_client_query_mutation_action_and_errors(probe_server):
    out = run_pypi("http", probe_server.url, unique("pyhttp"))
    assert (out["before"], out["after"]) == (0, 1)
    assert isinstance(out["id"], str) and out["shout"] == "HTTP!"
    errors = out["errors"]
    assert errors["mutation"]["type"] == "ConvexError" and errors["mutation"]["data"] == {"k": "v"}
    assert errors["query"]["type"] == "ConvexError" and errors["query"]["data"] == ["x", 2.0]
    assert errors["unknown"]["type"] != "ConvexError"
    assert "Could not find public function" in errors["unknown"]["message"]


def test_subscribe_iterator_sees_a_write_from_another_process(chat_server):
    out = run_pypi("subscribe", chat_server.url, unique("pysub"))
    assert out["writer"] == 0, out["writerErr"]
    assert out["seen"] and out["seen"][-1] >= min(out["first"] + 1, 50)
    assert isinstance(out["own"], str)


@pytest.mark.slow
def test_subscription_continues_across_a_server_restart(make_server, client_script):
    server = make_server(name="py-restart")
    token = unique("pyrestart")
    py = client_script.pypi("restart", server.url, token)
    py.expect("ready")
    server.restart(signal.SIGKILL)
    server.value("mutation", "messages:send_message", {"author": "http", "body": f"{token} after"})
    py.send("go")
    out = py.expect("result", timeout=60)
    assert out["bodies"] == [f"{token} after", f"{token} own"]
