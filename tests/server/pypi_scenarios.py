"""Scenarios for the official PyPI client (``convex`` 0.8.x), each run in its own process by
``harness.run_pypi`` (its blocking calls hold the GIL, so it never shares a process with a server or
with pytest's timeouts). Prints one JSON result line.

    python pypi_scenarios.py ws        URL LIST   (probe app)  ConvexClient: query, mutation, action, errors
    python pypi_scenarios.py http      URL LIST   (probe app)  convex.http_client.ConvexHttpClient
    python pypi_scenarios.py subscribe URL TOKEN  (chat app)   the subscribe iterator sees another process's write
    python pypi_scenarios.py restart   URL TOKEN  (chat app)   ... and keeps going across a server restart

Python ints travel as Convex int64, so numbers sent to float64 arguments are written as floats.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import convex
from convex.http_client import ConvexHttpClient

RIPPLE = str(Path(sys.executable).with_name("ripple"))


def failure(fn: Callable[[], Any]) -> dict | None:
    try:
        fn()
    except convex.ConvexError as exc:
        return {"type": "ConvexError", "message": str(exc), "data": exc.data}
    except Exception as exc:  # noqa: BLE001 - the test asserts on the type and message
        return {"type": type(exc).__name__, "message": str(exc)}
    return None


def ws(url: str, lst: str) -> dict:
    client = convex.ConvexClient(url)
    data = {"why": "because", "n": 1.5, "nested": [True, None, "x"]}
    return {
        "before": client.query("notes:count", {"list": lst}),
        "id": client.mutation("notes:add", {"list": lst, "text": "one"}),
        "viaAction": client.action("notes:add_via_action", {"list": lst, "text": "two"}),
        "after": client.query("notes:count", {"list": lst}),
        "texts": [n["text"] for n in client.query("notes:in_list", {"list": lst})],
        "shout": client.action("notes:shout", {"text": "py"}),
        "errors": {
            "mutation": failure(lambda: client.mutation("notes:fail_mutation", {"data": data})),
            "action": failure(lambda: client.action("notes:fail_action", {"data": data})),
            "query": failure(lambda: client.query("notes:fail_query", {"data": "plain"})),
            "unknown": failure(lambda: client.query("notes:nope", {})),
            "badArgs": failure(lambda: client.mutation("notes:add", {"list": 3.0})),
        },
    }


def http(url: str, lst: str) -> dict:
    client = ConvexHttpClient(url)
    return {
        "before": client.query("notes:count", {"list": lst}),
        "id": client.mutation("notes:add", {"list": lst, "text": "one"}),
        "shout": client.action("notes:shout", {"text": "http"}),
        "after": client.query("notes:count", {"list": lst}),
        "errors": {
            "mutation": failure(lambda: client.mutation("notes:fail_mutation", {"data": {"k": "v"}})),
            "query": failure(lambda: client.query("notes:fail_query", {"data": ["x", 2.0]})),
            "unknown": failure(lambda: client.action("notes:nope", {})),
        },
    }


def subscribe(url: str, token: str) -> dict:
    client = convex.ConvexClient(url)
    sub = client.subscribe("messages:get_messages", {})
    first = next(sub)
    body = f"{token} from another process"
    # Another process writes (the ripple CLI over HTTP); the iterator must yield a result holding it.
    writer = subprocess.Popen([RIPPLE, "run", "messages:send_message",
                               json.dumps({"author": "cli", "body": body}), "--url", url],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = []
    for value in sub:
        seen.append(len(value))
        if any(m["body"] == body for m in value):
            break
    _, err = writer.communicate(timeout=30)
    # Our own mutation: when it returns, the next result includes it at the latest.
    own = client.mutation("messages:send_message", {"author": "py", "body": f"{token} own"})
    for value in sub:
        if any(m["_id"] == own for m in value):
            break
    sub.unsubscribe()
    return {"first": len(first), "seen": seen, "writer": writer.returncode, "writerErr": err.decode()[-2000:],
            "own": own}


def restart(url: str, token: str) -> dict:
    """Interactive (see ``harness.ClientScript``): subscribe, print ``ready``, wait for a line on stdin
    (the test restarts the server and posts ``<token> after`` meanwhile), then the same iterator must
    yield that message, and a mutation on the same client must work."""
    client = convex.ConvexClient(url)
    sub = client.subscribe("messages:get_messages", {})
    first = next(sub)
    print(json.dumps({"event": "ready"}), flush=True)
    sys.stdin.readline()
    for value in sub:
        if any(m["body"] == f"{token} after" for m in value):
            break
    own = client.mutation("messages:send_message", {"author": "py", "body": f"{token} own"})
    for value in sub:
        if any(m["_id"] == own for m in value):
            break
    return {"event": "result", "first": len(first), "own": own,
            "bodies": [m["body"] for m in value if m["body"].startswith(token)]}


if __name__ == "__main__":
    scenario, *rest = sys.argv[1:]
    result = {"ws": ws, "http": http, "subscribe": subscribe, "restart": restart}[scenario](*rest)
    print(json.dumps(result), flush=True)
