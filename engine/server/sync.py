"""One WebSocket session of the Convex sync protocol (``/api/sync``, ``/api/{version}/sync``).

Who may call it: ``engine.server.asgi``. Contract: ``docs/protocol.md`` §3-§7 (the message shapes, names
and limits come from ``engine.protocol``). Per session:

- Reader (event loop): parses messages and updates the session state; never blocks on the engine.
- Transitions come from the deployment's ``QueryHub`` (``engine.server.query_hub``): live queries with
  the same (path, arguments) are shared by all sessions and are live queries of the engine's
  subscription manager, re-run once per batch snapshot by its re-run worker. A session marks itself
  dirty (new or removed queries, a response that must be followed by a Transition, an identity change);
  the hub's cycle (on the loop) publishes at the hub's ``T`` - the newest batch snapshot it applied,
  waiting, after a mutation, until ``T`` covers the commit - so every result in the Transition holds at
  ``endVersion.ts = T``. Unchanged results (same value and log lines) are left out. Batches arriving
  while a session is skipped coalesce into its next Transition.
- Mutation worker: runs this socket's mutations strictly in arrival order, deduplicated by
  ``(sessionId, requestId)``; each ``MutationResponse`` is followed by a Transition at ``T >= commit``.
- Actions run concurrently; each response is followed by a Transition (the action may have written).
- Sender: one bounded outgoing queue; a slow client only delays its own Transitions (the hub skips a
  session whose queue is nearly full and comes back when it drains, with one coalesced Transition).
- Keepalive: ``{"type":"Ping"}`` after ``ping_idle_s`` with nothing sent (WebSocket ping frames are
  uvicorn's, configured in ``asgi.serve``).

Protocol violations (malformed JSON, unknown message types, version mismatches, duplicate or unknown
query ids) get a ``FatalError`` naming the problem and a close; function errors never do: they are
``QueryFailed`` / failed responses.
"""
from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field
from typing import Any

from engine.model.errors import ConflictError, ConvexError, RippleError
from engine.functions.paths import canonical_path
from engine import protocol
from engine.protocol import ClientMessage, ProtocolError, QuerySetChange, ServerMessage, TokenType
from engine.server.query_hub import QueryHub
from engine.model.values import to_json

OUT_QUEUE = 256  # Transitions and responses queued per socket before the hub skips it
# Transitions are assembled from pre-serialized parts (the hub serializes each shared result once).
_TRANSITION_JSON = '{"type":"%s","startVersion":%%s,"endVersion":%%s,"modifications":[%%s]}' % ServerMessage.TRANSITION
_REMOVED_JSON = '{"type":"%s","queryId":%%d}' % protocol.StateChange.QUERY_REMOVED


@dataclass(eq=False)
class LiveQuery:
    query_id: int
    path: str
    args: Any  # dict, or the InvalidValueError the args failed with
    journal: Any = None
    shared: Any = None  # the hub's SharedQuery for (path, args)
    digest: bytes | None = None  # digest of the result last sent to this client


@dataclass
class _Pending:
    removed: list[int] = field(default_factory=list)
    force: bool = False
    min_ts: int = 0


class SyncSession:
    def __init__(self, websocket: Any, deployment: Any, executor: Any, *, ping_idle_s: float = protocol.SERVER_PING_IDLE_MS / 1000,
                 hub: QueryHub | None = None) -> None:
        self.ws = websocket
        self.hub = hub if hub is not None else QueryHub(deployment, executor, error_fields=_error_fields)
        self.dep = deployment
        self.executor = executor
        self.ping_idle_s = ping_idle_s
        self.session_id: str | None = None
        self.recv_qs_version = 0
        self.identity = 0
        self.admin = False  # set by an accepted Admin Authenticate
        self.sent = (0, 0, 0)  # (querySet, identity, ts as HLC)
        self.queries: dict[int, LiveQuery] = {}
        self.pending = _Pending()
        self.want_room = False  # the hub skipped us for a full queue: mark dirty once it drains
        self.out: asyncio.Queue[str | None] = asyncio.Queue(OUT_QUEUE)
        self.mutations: asyncio.Queue[dict] = asyncio.Queue(protocol.MAX_QUEUED_MUTATIONS)
        self.last_sent = time.monotonic()
        self.closed = False
        self.loop = asyncio.get_running_loop()
        self.stats = {"transitions": 0, "mutations": 0, "actions": 0}  # re-runs are counted by the hub
        self._actions: set[asyncio.Task] = set()

    # ---- lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        self.hub.attach(self)
        tasks = [asyncio.create_task(c) for c in (self._sender(), self._mutation_worker(), self._keepalive())]
        close: _Close | None = None
        try:
            await self._reader()
        except _Close as exc:
            close = exc
            try:  # let the sender flush the error message first
                await asyncio.wait_for(asyncio.shield(tasks[0]), timeout=2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        finally:
            self.closed = True
            for t in [*tasks, *self._actions]:
                t.cancel()
            await asyncio.gather(*tasks, *self._actions, return_exceptions=True)
            for q in self.queries.values():
                self.hub.release(self, q.shared)
            self.queries.clear()
            self.hub.detach(self)
        if close is not None:
            try:
                await self.ws.close(code=close.code, reason=close.reason)
            except Exception:  # noqa: BLE001 - already closed by the peer
                pass

    async def _fatal(self, message: str) -> None:
        await self._send({"type": ServerMessage.FATAL_ERROR, "error": message})
        await self.out.put(None)
        raise _Close(1008, "BadRequest")

    # ---- sending -------------------------------------------------------------------------------------

    async def _send(self, msg: dict) -> None:
        await self.out.put(protocol.dumps(msg))

    async def _sender(self) -> None:
        while True:
            text = await self.out.get()
            if text is None:
                return
            try:
                await self.ws.send_text(text)
            except Exception:  # noqa: BLE001 - the socket is gone; the reader will see it too
                return
            self.last_sent = time.monotonic()
            if self.want_room and self.out.qsize() < self.out.maxsize // 2:
                self.want_room = False
                self.hub.mark(self)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.ping_idle_s / 2))
            if time.monotonic() - self.last_sent >= self.ping_idle_s and self.out.empty():
                await self._send({"type": ServerMessage.PING})

    # ---- reading -------------------------------------------------------------------------------------

    async def _reader(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                msg = protocol.parse_message(message.get("text", message.get("bytes")))
            except ProtocolError as exc:
                await self._fatal(str(exc))
            handler = _HANDLERS.get(msg["type"])
            if handler is None:
                await self._fatal(f"unknown message type {msg['type']!r}")
            try:
                await handler(self, msg)
            except ProtocolError as exc:
                await self._fatal(str(exc))
            except (KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, _Close):
                    raise
                await self._fatal(f"malformed {msg['type']} message: {type(exc).__name__}: {exc}")

    async def _on_connect(self, msg: dict) -> None:
        sid = msg.get("sessionId")
        if not isinstance(sid, str):
            await self._fatal("Connect needs a string sessionId")
        self.session_id = sid
        seen = msg.get("maxObservedTimestamp")
        if seen is not None:
            protocol.decode_ts_ns(seen)  # malformed -> ProtocolError -> FatalError (in _reader)

    async def _on_modify(self, msg: dict) -> None:
        base, new = msg["baseVersion"], msg["newVersion"]
        if base != self.recv_qs_version:
            await self._fatal(f"BaseVersionMismatch: query set base version {base}, expected {self.recv_qs_version}")
        if not isinstance(new, int) or new <= base:
            await self._fatal(f"query set newVersion {new!r} must be greater than baseVersion {base}")
        for mod in msg["modifications"]:
            qid = protocol.parse_u32(mod["queryId"], "queryId")
            if mod["type"] == QuerySetChange.ADD:
                if qid in self.queries:
                    await self._fatal(f"query id {qid} is already in use")
                try:
                    path = canonical_path(mod["udfPath"])
                    args: Any = protocol.args_from_wire(mod.get("args", [{}]))
                except RippleError as exc:
                    path, args = str(mod["udfPath"]), exc
                self.queries[qid] = LiveQuery(qid, path, args, mod.get("journal"), self.hub.acquire(self, path, args))
            elif mod["type"] == QuerySetChange.REMOVE:
                q = self.queries.pop(qid, None)
                if q is None:
                    await self._fatal(f"cannot remove unknown query id {qid}")
                self.hub.release(self, q.shared)
                self.pending.removed.append(qid)
            else:
                await self._fatal(f"unknown query set modification {mod['type']!r}")
        self.recv_qs_version = new
        self.hub.mark(self)

    async def _on_mutation(self, msg: dict) -> None:
        protocol.parse_u32(msg["requestId"], "requestId")
        if self.mutations.full():
            await self._send(_response(ServerMessage.MUTATION_RESPONSE, msg["requestId"], error=(
                f"TooManyConcurrentMutations: more than {protocol.MAX_QUEUED_MUTATIONS} mutations queued on "
                "this connection")))
            return
        self.mutations.put_nowait(msg)

    async def _on_action(self, msg: dict) -> None:
        protocol.parse_u32(msg["requestId"], "requestId")
        task = asyncio.create_task(self._run_action(msg))
        self._actions.add(task)
        task.add_done_callback(self._actions.discard)

    async def _on_authenticate(self, msg: dict) -> None:
        token_type, base = msg.get("tokenType"), msg.get("baseVersion")
        if base != self.identity:
            await self._auth_error(f"identity base version {base} does not match the server's {self.identity}")
        if token_type == TokenType.ADMIN:
            if not self.dep.is_admin(msg.get("value")):
                await self._auth_error("the admin key is not valid for this deployment")
        elif token_type == TokenType.USER:
            await self._auth_error("user authentication (JWT) is not configured on this deployment")
        elif token_type != TokenType.NONE:
            await self._auth_error(f"unknown tokenType {token_type!r}")
        self.identity += 1
        # An admin session may call internal mutations and actions (as admin HTTP calls may); live
        # queries stay public-only, because shared results must not depend on who subscribed.
        self.admin = token_type == TokenType.ADMIN
        # Results do not depend on the identity (admin or none; user JWTs are refused above), so the
        # shared results stay valid: the forced Transition carries the new identity version.
        self.pending.force = True
        self.hub.mark(self)

    async def _auth_error(self, error: str) -> None:
        await self._send({"type": ServerMessage.AUTH_ERROR, "error": error, "baseVersion": self.identity, "authUpdateAttempted": True})
        await self.out.put(None)
        raise _Close(4001, "AuthError")

    async def _on_event(self, msg: dict) -> None:
        return None  # telemetry: ignored

    # ---- mutations and actions -----------------------------------------------------------------------

    async def _mutation_worker(self) -> None:
        while True:
            msg = await self.mutations.get()
            rid = msg["requestId"]
            try:
                path = canonical_path(msg["udfPath"])
                args = protocol.args_from_wire(msg.get("args", [{}]))
                value, ts, logs, _dup = await self.loop.run_in_executor(
                    self.executor, functools.partial(self.dep.run_mutation_once, self.session_id, rid, path, args,
                                           internal=self.admin))
            except Exception as exc:  # noqa: BLE001 - every failure is a failed response, never a crash
                await self._send(_response(ServerMessage.MUTATION_RESPONSE, rid, error=exc))
                self.pending.min_ts = max(self.pending.min_ts, self.sent[2])
            else:
                resp = _response(ServerMessage.MUTATION_RESPONSE, rid, value=value, logs=logs)
                resp["ts"] = protocol.encode_hlc(ts)
                await self._send(resp)
                self.pending.min_ts = max(self.pending.min_ts, ts)
            self.stats["mutations"] += 1
            self.pending.force = True
            self.hub.mark(self)

    async def _run_action(self, msg: dict) -> None:
        rid = msg["requestId"]
        try:
            path = canonical_path(msg["udfPath"])
            args = protocol.args_from_wire(msg.get("args", [{}]))
            result = await self.loop.run_in_executor(
                self.executor, lambda: self.dep.app.run(path, args, expect_kind="action", internal=self.admin))
        except Exception as exc:  # noqa: BLE001
            await self._send(_response(ServerMessage.ACTION_RESPONSE, rid, error=exc))
        else:
            await self._send(_response(ServerMessage.ACTION_RESPONSE, rid, value=result.value, logs=result.logs))
        self.stats["actions"] += 1
        self.pending.min_ts = max(self.pending.min_ts, self.dep.db.latest_ts())
        self.pending.force = True
        self.hub.mark(self)

    # ---- transitions (called by the hub, on the loop) ------------------------------------------------

    def take_pending(self) -> _Pending:
        pending, self.pending = self.pending, _Pending()
        return pending

    def restore_pending(self, pending: _Pending) -> None:
        """Put back what a cycle took but could not publish (merged with anything newer)."""
        self.pending.removed[:0] = pending.removed
        self.pending.force = self.pending.force or pending.force
        self.pending.min_ts = max(self.pending.min_ts, pending.min_ts)

    def publish(self, T: int, qs_version: int, identity: int, pending: _Pending, live: list[LiveQuery]) -> int:
        """Queue the Transition to {qs_version, identity, T}: the shared results of *live* that changed
        since this client last saw them (all valid at T), and QueryRemoved for removed ids. Returns the
        number of Transitions queued (0 or 1). Never blocks: a full queue puts *pending* back."""
        modifications: list[str] = []
        for q in live:
            if self.queries.get(q.query_id) is not q:  # removed (or replaced) while the hub computed
                continue
            sq = q.shared
            if sq.body is not None and sq.digest != q.digest:
                modifications.append(sq.fragment(q.query_id))
        modifications += [_REMOVED_JSON % qid for qid in pending.removed]
        end = (qs_version, identity, max(T, self.sent[2]))
        if not modifications and not pending.force and end[:2] == self.sent[:2]:
            return 0
        text = _TRANSITION_JSON % (
            _version_json(self.sent), _version_json(end), ",".join(modifications))
        try:
            self.out.put_nowait(text)
        except asyncio.QueueFull:
            self.restore_pending(pending)
            self.want_room = True
            return 0
        for q in live:  # only now: what this client has been sent
            if self.queries.get(q.query_id) is q and q.shared.body is not None:
                q.digest = q.shared.digest
        self.sent = end
        self.stats["transitions"] += 1
        return 1


class _Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@functools.lru_cache(maxsize=1024)
def _version_json(v: tuple[int, int, int]) -> str:
    """``(querySet, identity, HLC ts)`` as JSON text. Cached: in a fan-out every session's Transition
    has the same end (and mostly the same start)."""
    return protocol.state_version_text(v[0], v[1], protocol.hlc_to_ts_ns(v[2]))


def _error_fields(exc: BaseException) -> dict:
    if isinstance(exc, ConvexError):
        return {"result": str(exc) if isinstance(exc.data, str) else "ConvexError", "errorData": to_json(exc.data),
                "logLines": list(getattr(exc, "logs", []))}
    if isinstance(exc, ConflictError):
        return {"result": str(exc), "logLines": []}
    if isinstance(exc, RippleError):
        return {"result": str(exc), "logLines": list(getattr(exc, "logs", []))}
    return {"result": f"Server error: {type(exc).__name__}: {exc}", "logLines": []}


def _response(kind: str, rid: int, *, value: Any = None, logs: list[str] | None = None, error: Any = None) -> dict:
    if error is not None:
        if isinstance(error, str):
            return {"type": kind, "requestId": rid, "success": False, "result": error, "logLines": []}
        return {"type": kind, "requestId": rid, "success": False, **_error_fields(error)}
    return {"type": kind, "requestId": rid, "success": True, "result": to_json(value), "logLines": list(logs or [])}


_HANDLERS = {
    ClientMessage.CONNECT: SyncSession._on_connect,
    ClientMessage.MODIFY_QUERY_SET: SyncSession._on_modify,
    ClientMessage.MUTATION: SyncSession._on_mutation,
    ClientMessage.ACTION: SyncSession._on_action,
    ClientMessage.AUTHENTICATE: SyncSession._on_authenticate,
    ClientMessage.EVENT: SyncSession._on_event,
}

__all__ = ["SyncSession", "_Close"]
