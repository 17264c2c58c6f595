"""The end-to-end server harness: real ``ripple serve`` processes, a loopback "Wikipedia", and
runners for the official clients (npm ``convex`` under Node, PyPI ``convex``) as child processes.

Why processes: the server is tested the way people run it, across restarts (SIGTERM and SIGKILL on the
same port and data folder), and the PyPI client's blocking calls hold the GIL, so neither the server
nor that client may share the test process.

- ``ServerProcess``: start / stop / kill / restart one server; ``url``, ``log()``, raw HTTP helpers.
- ``ServerFactory``: servers made by a fixture, all killed when it ends.
- ``WikiServer``: ``GET /page/<topic>`` -> ``{"extract": ...}`` on loopback.
- ``run_node`` / ``run_pypi`` / ``ClientScript``: run a client scenario script, read its JSON output.

Every child process gets its own session (process group), so cleanup kills the whole group; ``LIVE``
lets the session-end hook kill anything a failing fixture left behind.
"""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHAT = ROOT / "examples" / "chat"
PROBE = HERE / "apps" / "probe"
JS = HERE / "js"
RIPPLE = str(Path(sys.executable).with_name("ripple"))
COMPONENT_CACHE = ROOT / ".cache" / "components"  # shared by the py and cy passes of `make test`

LIVE: set[subprocess.Popen] = set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group we created for *proc* (start_new_session), then reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a zombie we cannot reap
        pass
    LIVE.discard(proc)


def wait_until(pred: Any, timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll *pred* until it returns something truthy (returned); fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except (OSError, httpx.HTTPError) as exc:
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


class ServerProcess:
    """One ``ripple serve`` child process on a fixed loopback port and data folder (both kept across
    restarts, as a real restart would)."""

    def __init__(self, app_dir: Path, data_dir: Path, log_path: Path, *, host_kind: str = "reference",
                 env: dict[str, str] | None = None, allow_fetch: tuple[str, ...] = (), port: int | None = None,
                 start_timeout: float = 60.0) -> None:
        self.app_dir = Path(app_dir)
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.host_kind = host_kind
        self.env = dict(env or {})
        self.allow_fetch = allow_fetch
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/sync"

    def command(self) -> list[str]:
        cmd = [RIPPLE, "serve", str(self.app_dir), "--port", str(self.port), "--data", str(self.data_dir),
               "--host-kind", self.host_kind, "--cache", str(COMPONENT_CACHE)]
        for name, value in self.env.items():
            cmd += ["--env", f"{name}={value}"]
        for prefix in self.allow_fetch:
            cmd += ["--allow-fetch", prefix]
        return cmd

    def start(self) -> "ServerProcess":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with open(self.log_path, "a") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n")
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        LIVE.add(self.proc)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ripple serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"ripple serve not healthy after {self.start_timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Send *sig* and wait for the exit (SIGKILL after *timeout*); returns the exit code."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with open(self.log_path, "a") as log:
                log.write(f"\n===== did not exit {timeout} s after signal {sig}; killing\n")
        kill_group(proc)
        return proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self, sig: int = signal.SIGTERM) -> "ServerProcess":
        self.stop(sig)
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ---- small HTTP helpers (the raw API, not a client library) ------------------------------------

    def call(self, kind: str, path: str, args: dict | None = None, **extra: Any) -> dict:
        body = {"path": path, "args": args or {}, "format": "json", **extra}
        r = httpx.post(f"{self.url}/api/{kind}", json=body, timeout=30.0)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def value(self, kind: str, path: str, args: dict | None = None) -> Any:
        out = self.call(kind, path, args)
        assert out["status"] == "success", out
        return out["value"]


class ServerFactory:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[ServerProcess] = []

    def __call__(self, app_dir: Path = CHAT, *, name: str = "server", start: bool = True, **kw: Any) -> ServerProcess:
        n = len(self.started)
        server = ServerProcess(app_dir, self.tmp_path / f"{name}-{n}-data", self.tmp_path / f"{name}-{n}.log", **kw)
        self.started.append(server)
        return server.start() if start else server

    def close(self) -> None:
        for server in self.started:
            if server.proc is not None:
                kill_group(server.proc)

class WikiServer:
    """``GET /page/<topic>`` -> ``{"extract": "<topic> is a topic served on loopback."}``; topics
    starting with ``missing`` get a 404. Records every path asked for."""

    def __init__(self) -> None:
        owner = self
        self.requests: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner.requests.append(self.path)
                topic = urllib.parse.unquote(self.path.rpartition("/")[2]).replace("_", " ")
                status, body = (404, {"title": "Not found"}) if topic.startswith("missing") else (
                    200, {"extract": owner.extract(topic)})
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="wiki", daemon=True)
        self.thread.start()

    @staticmethod
    def extract(topic: str) -> str:
        return f"{topic} is a topic served on loopback."

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def server_options(self) -> dict:
        return {"env": {"WIKI_URL": self.base + "page/"}, "allow_fetch": (self.base,)}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _parse_result(cmd: list[str], proc: subprocess.CompletedProcess) -> Any:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout[-5000:]}\n"
                             f"stderr:\n{proc.stderr[-5000:]}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        raise AssertionError(f"last line of {cmd[1]} is not JSON:\n{proc.stdout[-5000:]}\n"
                             f"{proc.stderr[-3000:]}") from None


def run_node(script: str, *args: Any, timeout: float = 60.0) -> Any:
    """Run ``tests/server/js/<script>`` with Node (cwd = the repo, so ``convex`` resolves to the repo's
    node_modules); its last stdout line is the JSON result."""
    cmd = ["node", str(JS / script), *map(str, args)]
    proc = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    return _parse_result(cmd, proc)


def run_pypi(scenario: str, *args: Any, timeout: float = 60.0) -> Any:
    """Run one scenario of ``pypi_scenarios.py`` (the PyPI ``convex`` client) in a child process."""
    cmd = [sys.executable, str(HERE / "pypi_scenarios.py"), scenario, *map(str, args)]
    proc = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    return _parse_result(cmd, proc)


class ClientScript:
    """An interactive client scenario in a child process: JSON events on stdout (``next_event``,
    ``expect``), commands on stdin (``send``). Other stdout lines (a client's own console output) are
    kept with stderr for failure messages. ``node(...)`` and ``pypi(...)`` build the two kinds."""

    @classmethod
    def node(cls, script: str, *args: Any) -> "ClientScript":
        return cls(["node", str(JS / script), *map(str, args)])

    @classmethod
    def pypi(cls, scenario: str, *args: Any) -> "ClientScript":
        return cls([sys.executable, str(HERE / "pypi_scenarios.py"), scenario, *map(str, args)])

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        LIVE.add(self.proc)
        self.events: queue.Queue[dict | None] = queue.Queue()
        self.stderr: list[str] = []
        self._threads = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True)]
        for t in self._threads:
            t.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:  # the client's own console output
                self.stderr.append("[stdout] " + line + "\n")
                continue
            self.events.put(event if isinstance(event, dict) else {"event": "non-object", "value": event})
        self.events.put(None)

    def next_event(self, timeout: float = 30.0) -> dict:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event from {self.cmd[1]} within {timeout} s; stderr:\n"
                                 + "".join(self.stderr)[-5000:]) from None
        if event is None:
            self.proc.wait(timeout=5)
            raise AssertionError(f"{self.cmd[1]} exited {self.proc.returncode}; stderr:\n"
                                 + "".join(self.stderr)[-5000:])
        if event.get("event") == "error":
            raise AssertionError(f"{self.cmd[1]} failed: {event}")
        return event

    def expect(self, name: str, timeout: float = 30.0) -> dict:
        event = self.next_event(timeout)
        assert event.get("event") == name, f"expected event {name!r}, got {event}"
        return event

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        kill_group(self.proc)
        for t in self._threads:  # they end at EOF, now that the process is gone
            t.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except (OSError, ValueError):  # stdin may hold unflushed text for a dead reader
                pass


def unique(prefix: str = "t") -> str:
    """A name no other test (or earlier run against the same server) uses."""
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns()}"


class RawSync:
    """A bare sync-protocol connection (the ``websockets`` package, no client library), for tests that
    speak the protocol directly. Checks, for every Transition received, that ``startVersion`` equals
    the previous ``endVersion`` (the chaining both official clients enforce)."""

    ZERO = {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="}

    def __init__(self, url: str, *, connect_msg: bool = True, session_id: str | None = None) -> None:
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(url, max_size=None, open_timeout=10, close_timeout=5))
        self.version = dict(self.ZERO)
        self.results: dict[int, dict] = {}  # queryId -> last QueryUpdated / QueryFailed
        self.received: list[dict] = []
        self.qs_version = 0
        if connect_msg:
            self.send({"type": "Connect", "sessionId": session_id or unique("raw"), "connectionCount": 0,
                       "lastCloseReason": "InitialConnect", "clientTs": time.time() * 1000})

    def send(self, msg: Any) -> None:
        self.ws.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))

    def recv(self, timeout: float = 10.0) -> dict:
        """The next message other than Ping (ConnectionClosed propagates)."""
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            self.received.append(msg)
            if msg["type"] == "Transition":
                assert msg["startVersion"] == self.version, \
                    f"Transition does not chain: {msg['startVersion']} after {self.version}"
                self.version = msg["endVersion"]
                for mod in msg["modifications"]:
                    assert "logLines" in mod or mod["type"] == "QueryRemoved", mod
                    self.results[mod["queryId"]] = mod
            if msg["type"] != "Ping":
                return msg

    def until(self, pred: Any, timeout: float = 10.0, what: str = "a message") -> dict:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout} s; received: {self.received[-5:]}")
            try:
                msg = self.recv(remaining)
            except TimeoutError:
                continue
            if pred(msg):
                return msg

    def add_queries(self, queries: dict[int, tuple[str, Any]]) -> dict:
        """ModifyQuerySet adding *queries* ({id: (path, args object or raw args list)}); returns the
        Transition answering it."""
        mods = [{"type": "Add", "queryId": qid, "udfPath": path, "args": args if isinstance(args, list) else [args],
                 "journal": None} for qid, (path, args) in queries.items()]
        base, self.qs_version = self.qs_version, self.qs_version + 1
        self.send({"type": "ModifyQuerySet", "baseVersion": base, "newVersion": self.qs_version, "modifications": mods})
        return self.until(lambda m: m["type"] == "Transition" and m["endVersion"]["querySet"] == self.qs_version,
                          what="the Transition answering ModifyQuerySet")

    def closed(self, timeout: float = 10.0) -> tuple[int | None, str | None]:
        """Read until the server closes; returns (code, reason)."""
        from websockets.exceptions import ConnectionClosed

        try:
            self.until(lambda m: False, timeout=timeout, what="the close")
        except ConnectionClosed as exc:
            return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, None)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "RawSync":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
