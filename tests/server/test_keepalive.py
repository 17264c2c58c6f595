"""Keepalive: a session with nothing to send gets ``{"type":"Ping"}`` after ``ping_idle_s`` (npm's
inactivity timer ignores WebSocket ping frames and reconnects after 60 s without an application
message). In-process, with a short idle time, so the test does not wait the real 15 s."""
from __future__ import annotations

import threading
import time

import uvicorn

import engine
from engine.server.asgi import create_app, uvicorn_config
from engine.server.deployment import Deployment
from tests.server.harness import CHAT, RawSync, free_port


def test_idle_session_gets_application_pings():
    db = engine.open_database(None)
    dep = Deployment(db, CHAT, host="reference")
    port = free_port()
    server = uvicorn.Server(uvicorn_config(create_app(dep, ping_idle_s=0.3), port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "in-process server did not start"
            time.sleep(0.01)
        with RawSync(f"ws://127.0.0.1:{port}/api/sync") as conn:
            conn.add_queries({1: ("messages:get_messages", {})})
            started = time.monotonic()
            pings = 0
            while pings < 2:
                msg = conn.ws.recv(timeout=5)
                assert '"Ping"' in msg, msg
                pings += 1
            assert time.monotonic() - started >= 0.3  # only when idle, not in a burst
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        dep.close()
        db.close()
