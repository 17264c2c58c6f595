"""Fixtures for the asyncio client tests: a real ``ripple serve`` process on a random loopback port
(killable and restartable on the same port and data), a TCP proxy that can hold server→client bytes,
``run`` for async test bodies with a deadline, and ``until`` to wait for a condition."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

APP = Path(__file__).resolve().parent / "apps" / "basic"
RIPPLE = str(Path(sys.executable).with_name("ripple"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(pred: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait on the event loop until ``pred()`` holds; fail after *timeout* seconds. The condition
    decides, never the time: the loop only re-checks it between short yields."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, f"{what} not reached within {timeout} s"
        await asyncio.sleep(0.01)


def run(coro: Any, timeout: float = 20.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


class ServerProc:
    """``ripple serve tests/client/apps/basic`` in a subprocess (reference host)."""

    def __init__(self, data: Path, log: Path, port: int | None = None) -> None:
        self.data = data
        self.log_path = log
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen([RIPPLE, "serve", str(APP), "--port", str(self.port), "--data", str(self.data),
                                      "--host-kind", "reference"], stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def query(self, path: str, args: dict | None = None) -> Any:
        """A query over HTTP (independent of the client under test)."""
        body = json.dumps({"path": path, "args": args or {}, "format": "json"}).encode()
        req = urllib.request.Request(self.url + "/api/query", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            out = json.loads(r.read())
        assert out["status"] == "success", out
        return out["value"]


@pytest.fixture
def server(tmp_path):
    srv = ServerProc(tmp_path / "data", tmp_path / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class HoldingProxy:
    """A loopback TCP proxy. While ``hold`` is set, bytes from the server are dropped (the client sees a
    silent server); new connections are forwarded normally once it is cleared."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.hold = False
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._conns.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, downstream: bool) -> None:
            try:
                while data := await src.read(65536):
                    if downstream and self.hold:
                        continue
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))
        self._conns.difference_update((writer, up_writer))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._conns):
            w.close()
