"""Fixtures for function tests: the kitchen-sink test app deployed in each host.

Components are cached by content hash under ``<repo>/.cache/components`` (shared by the py and cy
passes of ``make test``), so only the first deploy of an unchanged app pays the ~13 s build.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import engine
from engine.functions import FunctionsConfig

ROOT = Path(__file__).resolve().parents[2]
KITCHEN = Path(__file__).parent / "apps" / "kitchen"
CACHE_DIR = str(ROOT / ".cache" / "components")
HOSTS = ["reference", "wasm"]


def functions_config(**kw) -> FunctionsConfig:
    kw.setdefault("cache_dir", CACHE_DIR)
    return FunctionsConfig(**kw)


def deterministic_clock(start_ms: int = 1_700_000_000_000):
    """A physical clock that advances 1 ms per reading: identical databases see identical timestamps."""
    counter = itertools.count(start_ms)
    return lambda: next(counter)


def open_db(path=None, **overrides):
    overrides.setdefault("persistence", "memory")
    return engine.open_database(path, physical_clock=deterministic_clock(), **overrides)


@pytest.fixture(params=HOSTS)
def host(request) -> str:
    return request.param


@pytest.fixture
def db():
    d = open_db()
    yield d
    d.close()


@pytest.fixture
def kitchen(db, host):
    app = db.deploy(KITCHEN, host=host, config=functions_config())
    yield app
    app.close()


@pytest.fixture
def http_server():
    """A real HTTP server on loopback answering ``answer for <path>``; yields its base URL."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            body = f"answer for {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
