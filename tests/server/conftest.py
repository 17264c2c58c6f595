"""Fixtures for the end-to-end server tests (see ``harness.py`` for the machinery).

- ``chat_server`` / ``probe_server`` (session): the chat example (``/wiki`` answered by ``wiki``) and
  ``apps/probe``, on the reference host; shared by tests that only add data under unique names.
- ``make_server`` (per test): a factory for servers a test restarts or configures itself.
- ``wiki`` (session): the loopback "Wikipedia".
- ``client_script``: interactive client scenarios (Node or PyPI), killed when the test ends.
- ``raw_sync``: bare sync-protocol connections (``RawSync``), closed when the test ends.

The log of every server a failing test used is attached to its report. Nothing outlives the session.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.server.harness import (CHAT, LIVE, PROBE, ClientScript, RawSync, ServerFactory, ServerProcess,
                                  WikiServer, kill_group)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[ServerFactory]:
    factory = ServerFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def _session_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    factory = ServerFactory(tmp_path_factory.mktemp("servers"))
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def chat_server(_session_servers: ServerFactory, wiki: WikiServer) -> ServerProcess:
    """The chat example (reference host), with ``/wiki`` answered by the loopback ``wiki`` server."""
    return _session_servers(CHAT, name="chat", **wiki.server_options())


@pytest.fixture(scope="session")
def probe_server(_session_servers: ServerFactory) -> ServerProcess:
    """``tests/server/apps/probe`` (reference host)."""
    return _session_servers(PROBE, name="probe")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for proc in list(LIVE):  # safety net: nothing outlives the test session
        kill_group(proc)


# ---- server logs on failure --------------------------------------------------------------------------


def _servers_in(value: Any) -> list[ServerProcess]:
    if isinstance(value, ServerProcess):
        return [value]
    if isinstance(value, ServerFactory):
        return list(value.started)
    return []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        seen: set[int] = set()
        for value in getattr(item, "funcargs", {}).values():
            for server in _servers_in(value):
                if id(server) not in seen:
                    seen.add(id(server))
                    text = server.log()
                    report.sections.append((f"ripple server log ({server.app_dir.name}, {server.log_path.name})",
                                            text[-20000:]))


@pytest.fixture(scope="session")
def wiki() -> Iterator[WikiServer]:
    server = WikiServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def client_script() -> Iterator[Any]:
    """``client_script.node(script, *args)`` / ``client_script.pypi(scenario, *args)`` start an
    interactive client scenario (``ClientScript``); all are killed when the test ends."""
    started: list[ClientScript] = []

    class Starter:
        @staticmethod
        def node(script: str, *args: Any) -> ClientScript:
            started.append(ClientScript.node(script, *args))
            return started[-1]

        @staticmethod
        def pypi(scenario: str, *args: Any) -> ClientScript:
            started.append(ClientScript.pypi(scenario, *args))
            return started[-1]

    try:
        yield Starter
    finally:
        for s in started:
            s.close()


@pytest.fixture
def raw_sync() -> Iterator[Any]:
    opened: list[RawSync] = []

    def open_(url: str, **kw: Any) -> RawSync:
        conn = RawSync(url, **kw)
        opened.append(conn)
        return conn

    try:
        yield open_
    finally:
        for conn in opened:
            conn.close()
