"""An asyncio client for the Convex sync protocol (``docs/protocol.md``), for load generation,
notebooks and tests: ``async with RippleClient(url) as c: await c.query(...)``.

Who may call it: anyone (applications, ``bench/``, notebooks, tests). It imports the protocol
definitions (``engine.protocol``), the value codec (``engine.model.values``), the error classes
(``engine.model.errors``) and ``websockets`` (the ``server`` extra); never the server, ``udf_wasm``, ``tests``
or ``bench``.

Invariants:

- One socket at a time, and every outgoing message of a socket goes through one queue, so the server
  receives them in the order they were issued. A new socket starts again at version 0: ``Connect`` (the
  same ``sessionId`` for the client's whole life, ``maxObservedTimestamp`` after the first), then
  ``ModifyQuerySet`` 0→1 adding every live query (sent even when empty), then every unfinished mutation
  with its original ``requestId``. The server deduplicates by ``(sessionId, requestId)``, so a re-sent
  mutation runs at most once.
- Every server message is checked before it is applied. A ``Transition`` must start at exactly the
  version the previous one ended at, must not move ``ts`` backwards, and each modification must be well
  formed (``logLines`` present, values valid Convex JSON); a response must name a request that is in
  flight on this socket; unknown message types are refused (``docs/protocol.md`` §4, §6). On any
  violation (and on ``FatalError`` / ``AuthError``) the client closes the socket and reconnects: it
  never applies part of a history it cannot chain, so local state is always one server history.
- Reconnecting is websockets' reconnecting iterator (``async for ws in connect(...)``): a failed
  connection attempt is retried after ``backoff`` delays (doubling from the first to the most,
  jittered by a seeded generator); a socket that closes is replaced at once, unless it ended before any
  Transition was applied, which counts as a failed attempt (so a server that accepts and then refuses
  every socket is not hammered).
- All results of a Transition are applied before anyone is notified; then subscribers are notified; then
  mutations whose commit ts is ≤ the Transition's ``endVersion.ts`` resolve. So after ``await
  c.mutation(...)`` returns, every subscription of this client already reflects the write.
- A failed mutation or action raises at once: ``ConvexError`` (``.data``) when the function threw one,
  ``FunctionCallError`` otherwise. An action in flight when the socket drops fails with
  ``ConnectionLost`` (actions are not idempotent; npm does the same); one issued while disconnected is
  sent after the reconnect.

Values are Ripple's (``engine.model.values``): a Python ``int`` is an int64 (``{"$integer": ...}``) and a
``float`` a float64, unlike the official Python client, which turns ``int`` into float64.

Timing hooks for load generation: ``on_transition(TransitionInfo)`` is called for every Transition with
its wall-clock receive time (``time.time_ns()`` taken as soon as the frame was read, before parsing), its
``endVersion.ts`` and the query ids it updated; each ``Subscription`` also keeps ``received_ns`` and
``ts`` of the update that produced its current value.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import connect as _ws_connect

from engine import protocol
from engine.model.errors import ConvexError, RippleError
from engine.protocol import (ClientMessage, ProtocolError, QuerySetChange, ServerMessage, StateChange, StateVersion,
                             TokenType)
from engine.model.values import from_json, to_json

CLIENT_NAME = "ripple-py-0.1.0"  # the Convex-Client header (docs/protocol.md §1)
WS_PING_INTERVAL_S = 20.0        # WebSocket ping frames from this client, and how long a pong may take


class ClientError(RippleError):
    """Base of the errors this client raises itself."""


class FunctionCallError(ClientError):
    """A query, mutation or action failed on the server without a ``ConvexError`` (the message is the
    server's ``errorMessage``; ``logs`` holds the function's log lines)."""

    def __init__(self, message: str, logs: list[str] | None = None) -> None:
        super().__init__(message)
        self.logs = list(logs or [])


class ConnectionLost(ClientError):
    """An action was in flight when the connection dropped; it may or may not have run."""


class ClientClosed(ClientError):
    """The client was closed while the call was pending."""


# ---- wire helpers ------------------------------------------------------------------------------------


def sync_url(url: str) -> str:
    """``http(s)://host[:port]`` (or ``ws(s)://``) -> the sync endpoint ``ws(s)://host[:port]/api/sync``.
    A URL whose path already ends in ``/sync`` is kept as is."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not a deployment URL: {url!r} (expected http(s):// or ws(s)://host:port)")
    path = parts.path if parts.path.rstrip("/").endswith("/sync") else "/api/sync"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def _error_from(message: Any, data_present: bool, data: Any, logs: list[str]) -> Exception:
    if data_present:
        exc: Exception = ConvexError(from_json(data))
        exc.logs = list(logs)  # type: ignore[attr-defined]
        return exc
    return FunctionCallError(str(message), logs)


# ---- public records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransitionInfo:
    """What ``on_transition`` receives for every applied Transition."""

    received_ns: int       # time.time_ns() when the frame was read (before parsing)
    received_perf: float   # time.perf_counter() at the same moment
    end_ts: int            # endVersion.ts in wire ns (Ripple: physical ms * 1e6 + logical)
    updated: tuple[int, ...]  # query ids whose value or error changed
    size: int              # frame length in characters


class _Query:
    __slots__ = ("id", "path", "args", "token", "seq", "value", "error", "raw", "ts", "received_ns",
                 "subs", "changed")

    def __init__(self, qid: int, path: str, args: Any, token: str) -> None:
        self.id = qid
        self.path = path
        self.args = args          # Convex JSON of the args object
        self.token = token
        self.seq = 0              # bumped on every new value or error
        self.value: Any = None
        self.error: Exception | None = None
        self.raw: Any = None      # what the server sent last (value JSON or error fields), for dedup
        self.ts = 0
        self.received_ns = 0
        self.subs: list[Subscription] = []
        self.changed = asyncio.Event()

    def wake(self) -> None:
        ev, self.changed = self.changed, asyncio.Event()
        ev.set()


class Subscription:
    """A live query: ``async for value in sub``, ``await sub.next()``, ``sub.value``, ``sub.close()``.

    Iteration yields the newest result whenever it changes (a slow consumer skips intermediate ones;
    the newest is never lost) and raises the query's error (``ConvexError`` / ``FunctionCallError``)
    when it fails; iterating again continues with later results. It ends when the subscription or the
    client is closed. ``on_update(value)`` / ``on_error(exc)``, if given, are called synchronously on
    every change, on the client's event loop."""

    def __init__(self, client: RippleClient, query: _Query, on_update: Callable[[Any], Any] | None,
                 on_error: Callable[[Exception], Any] | None) -> None:
        self._client = client
        self._q = query
        self._seen = 0
        self.on_update = on_update
        self.on_error = on_error
        self.closed = False

    @property
    def query_id(self) -> int:
        return self._q.id

    @property
    def has_value(self) -> bool:
        return self._q.seq > 0

    @property
    def value(self) -> Any:
        """The newest result (None before the first); raises the error if the query currently fails."""
        if self._q.error is not None:
            raise self._q.error
        return self._q.value

    @property
    def ts(self) -> int:
        """``endVersion.ts`` (u64 ns) of the Transition that delivered the newest result."""
        return self._q.ts

    @property
    def received_ns(self) -> int:
        """Wall-clock receive time of that Transition."""
        return self._q.received_ns

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        while True:
            if self.closed:
                raise StopAsyncIteration
            q = self._q
            if q.seq > self._seen:
                self._seen = q.seq
                if q.error is not None:
                    raise q.error
                return q.value
            await q.changed.wait()

    async def next(self, timeout: float | None = None) -> Any:
        """The next new result (the first one, if none was read yet)."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except StopAsyncIteration:
            raise ClientClosed("the subscription was closed") from None

    def _notify(self) -> None:
        q = self._q
        try:
            if q.error is not None:
                if self.on_error is not None:
                    self.on_error(q.error)
            elif self.on_update is not None:
                self.on_update(q.value)
        except Exception as exc:  # noqa: BLE001 - a bad callback must not break the connection
            self._client.callback_errors.append(exc)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._client._unsubscribe(self)
            self._q.wake()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


@dataclass
class _Request:
    kind: str                    # "Mutation" | "Action"
    message: dict
    future: asyncio.Future
    sent_on: int = 0             # socket number it was last sent on (0: not sent yet)
    answered_on: int = 0         # socket number whose response we got
    commit_ts: int | None = None
    result: Any = None
    sent_ns: int = 0             # wall clock when (last) queued for sending
    response_ns: int = 0         # wall clock when the successful response arrived


@dataclass(frozen=True)
class CallResult:
    """What ``mutation(..., detailed=True)`` / ``action(..., detailed=True)`` return (for load generation).
    Times are ``time.time_ns()``; ``commit_ts`` is the wire commit ts (u64 ns; None for actions)."""

    value: Any
    request_id: int
    commit_ts: int | None
    sent_ns: int
    response_ns: int
    resolved_ns: int


@dataclass
class ClientStats:
    connects: int = 0          # sockets opened
    reconnects: int = 0        # sockets opened after the first
    failed_connects: int = 0   # connection attempts that failed (each retried after a backoff delay)
    transitions: int = 0
    protocol_errors: int = 0
    last_close_reason: str | None = None
    close_reasons: list[str] = field(default_factory=list)


class RippleClient:
    """One logical connection to a deployment (see the module docstring).

    ``url``: ``http://127.0.0.1:3210`` or a ``ws://`` sync URL. ``admin_key``: authenticate as admin on
    every socket. ``compression``: ``None`` (default; loopback load generation) or ``"deflate"``.
    ``backoff``: (first delay, max delay) in seconds between reconnect attempts (doubling, jittered by
    a ``random.Random(jitter_seed)``). ``inactivity_timeout``: reconnect when nothing arrived for this
    long, in seconds (the server pings every 15 s). ``reconnect=False``: one socket, no retries.
    """

    def __init__(self, url: str, *, admin_key: str | None = None, session_id: str | None = None,
                 reconnect: bool = True, backoff: tuple[float, float] = (0.1, 5.0),
                 connect_timeout: float = 10.0,
                 inactivity_timeout: float = protocol.CLIENT_INACTIVITY_TIMEOUT_MS / 1000,
                 compression: str | None = None,
                 on_transition: Callable[[TransitionInfo], Any] | None = None,
                 jitter_seed: int | None = None) -> None:
        self.url = url
        self.ws_url = sync_url(url)
        self.admin_key = admin_key
        self.session_id = session_id or str(uuid.uuid4())
        self.reconnect = reconnect
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        self.inactivity_timeout = inactivity_timeout
        self.compression = compression
        self.on_transition = on_transition
        self.stats = ClientStats()
        self.callback_errors: list[Exception] = []
        self.last_error: BaseException | None = None
        self.max_observed_ts = 0     # wire ns: the newest endVersion.ts seen on any socket
        self._queries: dict[int, _Query] = {}
        self._by_token: dict[str, _Query] = {}
        self._requests: dict[int, _Request] = {}
        self._query_ids = itertools.count()
        self._request_ids = itertools.count()
        self._socket_no = 0          # number of the current socket (1, 2, ...), 0 before the first
        self._ws: Any = None
        self._out: asyncio.Queue[str] | None = None   # the current socket's outgoing queue
        self._version: StateVersion = protocol.ZERO_VERSION  # the current socket's last endVersion
        self._qs_version = 0
        self._rng = random.Random(jitter_seed)
        self._quiet_delays: Iterator[float] | None = None  # backoff after sockets that carried nothing
        self._last_recv = 0.0
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False

    # ---- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> RippleClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._out is not None

    @property
    def state_version(self) -> StateVersion:
        """The current socket's state: the last applied Transition's ``endVersion`` (zero on a new socket)."""
        return self._version

    async def connect(self, timeout: float | None = None) -> None:
        """Start the connection task and wait until the first socket is open (ConnectionError if not
        within *timeout*, default ``connect_timeout``; the task keeps trying unless closed)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ripple-client-{self.session_id[:8]}")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout or self.connect_timeout)
        except asyncio.TimeoutError:
            await self.close()
            raise ConnectionError(f"could not connect to {self.ws_url}: {self.last_error!r}") from None

    async def close(self) -> None:
        """Close the socket, stop reconnecting, end subscriptions and fail pending calls (ClientClosed)."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        for req in self._requests.values():
            if not req.future.done():
                req.future.set_exception(ClientClosed("the client was closed"))
        self._requests.clear()
        for q in list(self._queries.values()):
            for sub in list(q.subs):
                sub.closed = True
            q.wake()
        self._queries.clear()
        self._by_token.clear()

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until a socket is open (for example after a reconnect)."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    # ---- calls ------------------------------------------------------------------------------------

    def subscribe(self, path: str, args: dict | None = None, *, on_update: Callable[[Any], Any] | None = None,
                  on_error: Callable[[Exception], Any] | None = None) -> Subscription:
        """Subscribe to ``path(args)``. Identical (path, args) share one server query."""
        if self._closing:
            raise ClientClosed("the client is closed")
        args_json = to_json(args or {})
        token = json.dumps([path, args_json], sort_keys=True, separators=(",", ":"))
        q = self._by_token.get(token)
        if q is None:
            q = _Query(next(self._query_ids), path, args_json, token)
            self._queries[q.id] = q
            self._by_token[token] = q
            if self._out is not None:
                self._modify([{"type": QuerySetChange.ADD, "queryId": q.id, "udfPath": path, "args": [args_json]}])
        sub = Subscription(self, q, on_update, on_error)
        q.subs.append(sub)
        if q.seq > 0 and (on_update or on_error):
            asyncio.get_running_loop().call_soon(sub._notify)
        return sub

    async def query(self, path: str, args: dict | None = None, *, timeout: float | None = None) -> Any:
        """One result of ``path(args)`` (subscribe, first result, unsubscribe - as the official clients)."""
        sub = self.subscribe(path, args)
        try:
            return await sub.next(timeout)
        finally:
            sub.close()

    async def mutation(self, path: str, args: dict | None = None, *, detailed: bool = False) -> Any:
        """Run a mutation; returns its result once this client has seen a Transition at or past its
        commit ts (so subscriptions already reflect it). ``detailed=True``: a ``CallResult``."""
        return await self._request(ClientMessage.MUTATION, path, args, detailed)

    async def action(self, path: str, args: dict | None = None, *, detailed: bool = False) -> Any:
        """Run an action; returns its result as soon as the response arrives."""
        return await self._request(ClientMessage.ACTION, path, args, detailed)

    async def _request(self, kind: str, path: str, args: dict | None, detailed: bool) -> Any:
        if self._closing:
            raise ClientClosed("the client is closed")
        rid = next(self._request_ids)
        msg = {"type": kind, "requestId": rid, "udfPath": path, "args": protocol.args_to_wire(args)}
        req = _Request(kind, msg, asyncio.get_running_loop().create_future())
        self._requests[rid] = req
        req.sent_ns = time.time_ns()
        if self._out is not None:
            self._send(msg)
            req.sent_on = self._socket_no
        value = await req.future
        if not detailed:
            return value
        return CallResult(value, rid, req.commit_ts, req.sent_ns, req.response_ns, time.time_ns())

    def _unsubscribe(self, sub: Subscription) -> None:
        q = sub._q
        if sub in q.subs:
            q.subs.remove(sub)
        if not q.subs and self._queries.get(q.id) is q:
            del self._queries[q.id]
            del self._by_token[q.token]
            if self._out is not None:
                self._modify([{"type": QuerySetChange.REMOVE, "queryId": q.id}])

    # ---- sending ----------------------------------------------------------------------------------

    def _send(self, msg: dict) -> None:
        assert self._out is not None
        self._out.put_nowait(protocol.dumps(msg))

    def _modify(self, mods: list[dict]) -> None:
        base = self._qs_version
        self._qs_version = base + 1
        self._send({"type": ClientMessage.MODIFY_QUERY_SET, "baseVersion": base, "newVersion": base + 1,
                    "modifications": mods})

    @staticmethod
    async def _sender(ws: Any, out: asyncio.Queue) -> None:
        while True:
            text = await out.get()
            await ws.send(text)

    # ---- the connection loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        """The connection task: one ``_session`` per socket that websockets' reconnecting iterator opens,
        until ``close()`` or, with ``reconnect=False``, until the first socket ends or fails."""
        sockets = _ws_connect(self.ws_url, compression=self.compression, max_size=protocol.MAX_SERVER_MESSAGE_BYTES,
                              open_timeout=self.connect_timeout, ping_interval=WS_PING_INTERVAL_S,
                              ping_timeout=WS_PING_INTERVAL_S, close_timeout=1, proxy=None, user_agent_header=None,
                              additional_headers={"Convex-Client": CLIENT_NAME},
                              process_exception=self._connect_failed, reconnect_delays=self._reconnect_delays)
        attempts = sockets.__aiter__()
        try:
            async with contextlib.aclosing(attempts):  # closes the socket in hand if we leave early
                async for ws in attempts:
                    progressed = await self._session(ws)
                    if not self.reconnect or self._closing:
                        return
                    if progressed:
                        self._quiet_delays = None
                    else:
                        if self._quiet_delays is None:
                            self._quiet_delays = self._reconnect_delays()
                        await asyncio.sleep(next(self._quiet_delays))
        except Exception as exc:  # noqa: BLE001 - an attempt _connect_failed did not retry: the task ends
            self.last_error = exc

    def _connect_failed(self, exc: Exception) -> Exception | None:
        """websockets' ``process_exception``: None retries the attempt, an exception ends ``_run``. Every
        failure is retried (refused, timed out, a handshake a restarting server got wrong) unless the
        client is closing or was made with ``reconnect=False``."""
        self.last_error = exc
        self.stats.failed_connects += 1
        return exc if self._closing or not self.reconnect else None

    def _reconnect_delays(self) -> Iterator[float]:
        """Seconds before each retry: ``first * 2^k`` capped at ``most``, times a jitter in [0.5, 1)."""
        first, most = self.backoff
        for k in itertools.count():
            yield min(most, first * 2 ** min(k, 32)) * self._rng.uniform(0.5, 1.0)

    async def _session(self, ws: Any) -> bool:
        """Serve one socket until it ends; True if it got at least one Transition applied."""
        self._socket_no += 1
        first = self._socket_no == 1
        self.stats.connects += 1
        if not first:
            self.stats.reconnects += 1
        transitions_before = self.stats.transitions
        self._version, self._qs_version = protocol.ZERO_VERSION, 0
        out: asyncio.Queue[str] = asyncio.Queue()
        self._out = out
        # The handshake is queued synchronously, so nothing issued meanwhile can overtake it.
        connect: dict[str, Any] = {"type": ClientMessage.CONNECT, "sessionId": self.session_id,
                                   "connectionCount": self._socket_no - 1,
                                   "lastCloseReason": self.stats.last_close_reason or protocol.INITIAL_CLOSE_REASON,
                                   "clientTs": int(time.time() * 1000)}
        if self.max_observed_ts:
            connect["maxObservedTimestamp"] = protocol.encode_ts_ns(self.max_observed_ts)
        self._send(connect)
        if self.admin_key:
            self._send({"type": ClientMessage.AUTHENTICATE, "tokenType": TokenType.ADMIN, "value": self.admin_key,
                        "baseVersion": 0})
        self._modify([{"type": QuerySetChange.ADD, "queryId": q.id, "udfPath": q.path, "args": [q.args]}
                      for q in self._queries.values()])
        for rid in sorted(self._requests):
            req = self._requests[rid]
            if req.kind == ClientMessage.MUTATION or req.sent_on == 0:
                # Answered-but-unreflected mutations too (as npm): the new response, deduplicated by the
                # server, brings the commit ts again.
                req.commit_ts = None
                req.sent_ns = time.time_ns()
                self._send(req.message)
                req.sent_on = self._socket_no
        self._ws = ws
        self._last_recv = time.monotonic()
        self._ready.set()
        sender = asyncio.create_task(self._sender(ws, out))
        watchdog = asyncio.create_task(self._watchdog(ws))
        reason = "ServerClosed"
        try:
            async for frame in ws:
                recv_ns = time.time_ns()
                recv_perf = time.perf_counter()
                self._last_recv = time.monotonic()
                try:
                    self._handle(frame, recv_ns, recv_perf)
                except ProtocolError as exc:
                    reason = str(exc)
                    self.stats.protocol_errors += 1
                    await ws.close(1002, protocol.truncate_close_reason(reason))
                    break
            else:
                rcvd = ws.close_reason
                reason = rcvd or f"ServerClosed ({ws.close_code})"
        except websockets.ConnectionClosed as exc:
            reason = (exc.rcvd.reason if exc.rcvd is not None and exc.rcvd.reason else None) or f"ConnectionLost ({exc})"
        except asyncio.CancelledError:
            reason = "ClientClosed"
            raise
        finally:
            self._ready.clear()
            self._out = None
            self._ws = None
            sender.cancel()
            watchdog.cancel()
            await asyncio.gather(sender, watchdog, return_exceptions=True)
            try:
                await asyncio.wait_for(ws.close(), 1.0)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001
                pass
            self.stats.last_close_reason = reason[:200]
            self.stats.close_reasons.append(reason[:200])
            for rid, req in list(self._requests.items()):
                if req.kind == ClientMessage.ACTION and req.sent_on == self._socket_no:
                    del self._requests[rid]
                    if not req.future.done():
                        req.future.set_exception(ConnectionLost(
                            f"connection lost while action {req.message['udfPath']!r} was in flight ({reason})"))
        return self.stats.transitions > transitions_before

    async def _watchdog(self, ws: Any) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.inactivity_timeout / 4))
            if time.monotonic() - self._last_recv > self.inactivity_timeout:
                await ws.close(1000, "InactiveServer")
                return

    # ---- receiving --------------------------------------------------------------------------------

    def _handle(self, frame: Any, recv_ns: int, recv_perf: float) -> None:
        """Check and apply one server message; ``ProtocolError`` for anything the protocol forbids."""
        msg = protocol.parse_message(frame)
        kind = msg["type"]
        try:
            if kind == ServerMessage.TRANSITION:
                self._on_transition(msg, recv_ns, recv_perf, len(frame))
            elif kind == ServerMessage.MUTATION_RESPONSE or kind == ServerMessage.ACTION_RESPONSE:
                self._on_response(msg)
            elif kind == ServerMessage.PING:
                return
            elif kind == ServerMessage.FATAL_ERROR or kind == ServerMessage.AUTH_ERROR:
                raise ProtocolError(f"{kind}: {msg.get('error')}")
            else:  # TransitionChunk included: Ripple never sends it (§4.7)
                raise ProtocolError(f"unknown message type {kind!r} from server")
        except ProtocolError:
            raise
        except (KeyError, TypeError, ValueError, RippleError) as exc:
            raise ProtocolError(f"malformed {kind} from server: {type(exc).__name__}: {exc}") from None

    def _on_transition(self, msg: dict, recv_ns: int, recv_perf: float, size: int) -> None:
        start = protocol.parse_state_version(msg["startVersion"], "Transition startVersion")
        if start != self._version:
            raise ProtocolError(f"Transition startVersion {start} does not match the current version {self._version}")
        end = protocol.parse_state_version(msg["endVersion"], "Transition endVersion")
        end_ts = end.ts_ns
        if end_ts < self._version.ts_ns:
            raise ProtocolError("Transition moves ts backwards")
        mods = msg["modifications"]
        if not isinstance(mods, list):
            raise ProtocolError("Transition modifications is not a list")
        # Validate and decode everything before applying anything.
        staged: list[tuple[int, Any, Any, Exception | None]] = []
        for m in mods:
            typ, qid = m["type"], protocol.parse_u32(m["queryId"], "queryId")
            if typ == StateChange.QUERY_UPDATED:
                protocol.parse_log_lines(m, typ)
                staged.append((qid, ("ok", m["value"]), from_json(m["value"]), None))
            elif typ == StateChange.QUERY_FAILED:
                logs = protocol.parse_log_lines(m, typ)
                message = m["errorMessage"]
                if not isinstance(message, str):
                    raise ProtocolError("QueryFailed errorMessage is not a string")
                raw = ("err", message, m.get("errorData"))
                staged.append((qid, raw, None, _error_from(message, "errorData" in m, m.get("errorData"), logs)))
            elif typ == StateChange.QUERY_REMOVED:
                continue
            else:
                raise ProtocolError(f"unknown state modification {typ!r}")
        self._version = end
        self.max_observed_ts = max(self.max_observed_ts, end_ts)
        self.stats.transitions += 1
        changed: list[_Query] = []
        for qid, raw, value, error in staged:
            q = self._queries.get(qid)
            if q is None:  # removed locally since
                continue
            if q.seq > 0 and raw == q.raw:  # same result again (a reconnect re-sends everything)
                continue
            q.raw, q.value, q.error, q.ts, q.received_ns = raw, value, error, end_ts, recv_ns
            q.seq += 1
            changed.append(q)
        for q in changed:
            for sub in list(q.subs):
                sub._notify()
            q.wake()
        if self._requests:
            for rid, req in list(self._requests.items()):
                if req.commit_ts is not None and req.commit_ts <= end_ts:
                    del self._requests[rid]
                    if not req.future.done():
                        req.future.set_result(req.result)
        if self.on_transition is not None:
            try:
                self.on_transition(TransitionInfo(recv_ns, recv_perf, end_ts, tuple(q.id for q in changed), size))
            except Exception as exc:  # noqa: BLE001
                self.callback_errors.append(exc)

    def _on_response(self, msg: dict) -> None:
        rid = msg["requestId"]
        req = self._requests.get(rid) if type(rid) is int else None
        kind = msg["type"][: -len("Response")]
        if req is None or req.kind != kind or req.sent_on != self._socket_no or req.answered_on == self._socket_no:
            raise ProtocolError(f"invalid request id {rid!r} in {msg['type']}")
        success = msg["success"]
        if not isinstance(success, bool):
            raise ProtocolError(f"{msg['type']} success is not a boolean")
        logs = protocol.parse_log_lines(msg, msg["type"])
        req.answered_on = self._socket_no
        req.response_ns = time.time_ns()
        if success:
            result = from_json(msg["result"])
            if kind == ClientMessage.MUTATION:
                req.commit_ts = protocol.decode_ts_ns(msg["ts"])
                req.result = result
                return  # resolves at a Transition at or past commit_ts
            del self._requests[rid]
            if not req.future.done():
                req.future.set_result(result)
            return
        del self._requests[rid]
        if not req.future.done():
            req.future.set_exception(_error_from(msg["result"], "errorData" in msg, msg.get("errorData"), logs))


__all__ = ["RippleClient", "Subscription", "TransitionInfo", "CallResult", "ClientStats", "ClientError", "FunctionCallError",
           "ConnectionLost", "ClientClosed", "ConvexError", "sync_url"]
