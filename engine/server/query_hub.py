"""Live queries shared by every sync session of a deployment: one re-run per query per snapshot.

Who may call it: ``engine.server.sync`` (sessions acquire, release and mark themselves dirty) and
``engine.server.asgi`` (one hub per app). Everything but ``on_batch`` and ``_on_redeploy`` (thread-safe
entry points) runs on the server's event loop.

Model:

- A ``SharedQuery`` is one (canonical path, arguments) that at least one session subscribes to. It is
  one live query of the engine's subscription manager (``engine.subscriptions``,
  ``subscribe_deferred``), so the engine's re-run worker runs it - at the snapshot of the batch of
  commits that invalidated it - and serializes its result there, as the modification body with its
  digest. A session's live query points at a ``SharedQuery`` and remembers only the digest it last sent.
- The hub is the subscription manager's batch listener: after every re-run batch at snapshot ``T`` the
  worker calls ``on_batch(T, changes)`` with the shared queries whose result changed; the hub hands that
  to its event loop in one call, where ``_apply`` stores the new bodies, sets ``self.T = T`` and marks
  the users dirty. A cycle (``_cycle``, on the loop, no thread hop) then builds each dirty session's
  Transition from the shared bodies (string assembly, no JSON encoding) and queues it. The path of one
  update is: commit -> re-run worker -> event loop fan-out.

Invariants:

1. Every stored shared result is valid at ``self.T``: batches arrive in order, each result computed at a
   batch snapshot stays valid until a later batch re-runs it, and ``self.T`` is the newest batch applied.
   Every result in a Transition therefore holds at its ``endVersion.ts = T``, and each session's
   Transitions chain from its previous ``endVersion``.
2. A Transition is queued after every message the session queued before it was marked dirty; a session
   whose ``min_ts`` (set after a ``MutationResponse``) is above ``T``, or with a query not computed yet,
   waits (kept in ``waiting``) until a batch brings ``T`` that far.
3. Results do not depend on the session's identity (only admin and no identity exist; user JWTs are
   refused). When user identities arrive, the sharing key must include the identity.
4. A slow client never stalls a cycle: a session whose outgoing queue is nearly full is skipped with its
   pending state kept, and marked dirty again when its queue drains, so it later gets one coalesced
   Transition.

Hook points (on the loop): ``hub.after_publish`` after each cycle has queued its Transitions,
``hub.after_detach`` after a session left (its queries already released).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.hooks import NO_HOOKS, Hooks
from engine import protocol
from engine.subscriptions import WaitOutcome
from engine.model.values import to_json

#: Queue room a session needs for a Transition to be queued this cycle (see invariant 4).
QUEUE_HEADROOM = 16


@dataclass(eq=False)
class SharedQuery:
    key: tuple
    path: str
    args: Any                       # dict, or the exception the arguments failed to decode with
    sessions: dict = field(default_factory=dict)  # session -> number of its query ids using this
    users: int = 0
    ts: int = -1                    # snapshot of the current result
    body: str | None = None         # the modification JSON without "queryId"
    digest: bytes | None = None
    handle: Any = None              # the engine live query (``SubscriptionHandle``)

    def fragment(self, query_id: int) -> str:
        """The modification for one session's query id (``body`` with ``queryId`` spliced in)."""
        return '{"queryId":%d,%s' % (query_id, self.body[1:])  # type: ignore[index]


def modification_body(outcome: Any, error_fields: Any) -> tuple[str, bytes]:
    """(JSON of the QueryUpdated/QueryFailed modification without queryId, its sha256 digest)."""
    if isinstance(outcome, BaseException):
        fields = error_fields(outcome)
        mod = {"type": "QueryFailed", "errorMessage": fields["result"], "logLines": fields["logLines"],
               "journal": None}
        if "errorData" in fields:
            mod["errorData"] = fields["errorData"]
    else:
        mod = {"type": "QueryUpdated", "value": to_json(outcome.value), "logLines": list(outcome.logs),
               "journal": None}
    body = protocol.dumps(mod)
    return body, hashlib.sha256(body.encode()).digest()


def _same_digest(a: tuple[str, bytes], b: tuple[str, bytes]) -> bool:
    return a[1] == b[1]


class QueryHub:
    def __init__(self, deployment: Any, executor: Any, *, error_fields: Any = None, hooks: Hooks | None = None,
                 perf_clock: Callable[[], float] = time.perf_counter) -> None:
        self.dep = deployment
        self._now = perf_clock  # for the cycle log only (seconds); never decides anything
        self.executor = executor  # kept for callers; the hub itself never hops to a thread
        self._error_fields = error_fields
        # Default: the database's hooks (one controller sees engine and hub points in order).
        self._hooks = hooks if hooks is not None else getattr(deployment.db, "hooks", NO_HOOKS)
        self.queries: dict[tuple, SharedQuery] = {}
        self.sessions: set[Any] = set()
        self.dirty: dict[Any, None] = {}          # insertion-ordered set of sessions
        self.waiting: dict[Any, None] = {}        # sessions waiting for T to reach them (invariant 2)
        self.generation = 0
        self.T = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self._listening = False
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self.stats = {"cycles": 0, "reruns": 0, "transitions": 0, "skipped_backlogged": 0, "invalidations": 0,
                      "batches": 0, "compute_s": 0.0, "publish_s": 0.0, "errors": 0}
        #: One record per cycle (newest 4096), for benchmarks: (wait_s: first reason to run -> cycle start,
        #: compute_s: always 0 (re-runs happen on the subscription worker, before the batch reaches the
        #: loop), publish_s: building and queueing Transitions, send_s: until every woken sender has run
        #: once, sessions, re-runs delivered, transitions queued).
        self.cycle_log: deque[tuple[float, float, float, float, int, int, int]] = deque(maxlen=4096)
        self._dirty_since: float | None = None
        self._reruns_since = 0

    @property
    def _subs(self) -> Any:
        return self.dep.db.subscriptions

    # ---- sessions ----------------------------------------------------------------------------------

    def attach(self, session: Any) -> None:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self.dep.add_listener(self._on_redeploy)
        if not self._listening:
            self._listening = True
            # The hub holds no result yet, so everything it holds is valid at the newest delivered batch.
            self.T = max(self.T, self._subs.delivered_ts)
            self._subs.add_group(self)
        self.sessions.add(session)

    def detach(self, session: Any) -> None:
        self.sessions.discard(session)
        self.dirty.pop(session, None)
        self.waiting.pop(session, None)
        if not self.sessions and self._listening and not self.queries:
            self._listening = False
            self._subs.remove_group(self)
        self._hooks.hit("hub.after_detach")

    def acquire(self, session: Any, path: str, args: Any) -> SharedQuery:
        if isinstance(args, BaseException):
            key = (path, "!error", str(args))
        else:
            key = (path, json.dumps(to_json(args), sort_keys=True, separators=(",", ":")))
        sq = self.queries.get(key)
        if sq is None:
            sq = self.queries[key] = SharedQuery(key, path, args)
            sq.handle = self._subs.subscribe_deferred(self._runner(sq), equal=_same_digest, group=self, tag=sq)
        sq.users += 1
        sq.sessions[session] = sq.sessions.get(session, 0) + 1
        return sq

    def release(self, session: Any, sq: SharedQuery) -> None:
        n = sq.sessions.get(session, 0) - 1
        if n > 0:
            sq.sessions[session] = n
        else:
            sq.sessions.pop(session, None)
        sq.users -= 1
        if sq.users <= 0:
            if self.queries.get(sq.key) is sq:
                del self.queries[sq.key]
            if sq.handle is not None:
                sq.handle.cancel()
        if not self.sessions and not self.queries and self._listening:
            self._listening = False
            self._subs.remove_group(self)

    def mark(self, session: Any, since: float | None = None) -> None:
        """Session *session* needs a cycle (new queries, a response that needs a Transition, ...)."""
        if self._dirty_since is None:
            self._dirty_since = since if since is not None else self._now()
        self.dirty[session] = None
        if not self._scheduled and self.loop is not None:
            self._scheduled = True
            self.loop.call_soon(self._cycle)

    async def wait_processed(self, ts: int, timeout: float | None = 10.0) -> WaitOutcome:
        """On the loop: until the hub has applied a batch at snapshot >= *ts* (every result it holds is
        then valid at ``T >= ts``). ``TIMED_OUT`` after *timeout* seconds - never a silent pass."""
        if self.T >= ts:
            return WaitOutcome.DONE
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((ts, fut))
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            return WaitOutcome.TIMED_OUT
        finally:
            self._waiters = [(t, f) for t, f in self._waiters if f is not fut]
        return WaitOutcome.DONE

    # ---- the engine side (re-run worker thread) ------------------------------------------------------

    def _runner(self, sq: SharedQuery) -> Any:
        def run(T: int) -> tuple[tuple[str, bytes], Any]:
            """On the re-run worker: run at the batch snapshot and serialize there (once per query)."""
            if isinstance(sq.args, BaseException):
                from engine.txn.read_set import ReadSet

                outcome, read_set = sq.args, ReadSet(self.dep.db.make_interval_set)
            else:
                outcome, read_set = self.dep.app.query_at(sq.path, sq.args, T)
            return modification_body(outcome, self._error_fields), read_set

        return run

    def on_batch(self, ts: int, changes: list[tuple[Any, Any]]) -> None:  # the re-run worker's thread
        """The subscription manager finished a batch at *ts*: hand it to the loop in one call."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._apply, ts, changes, self._now())

    def _on_redeploy(self) -> None:  # any thread
        def bump() -> None:
            self.generation += 1
            # The functions changed: re-run every shared query (unchanged results are not re-sent).
            self._subs.request_rerun([sq.handle for sq in self.queries.values() if sq.handle is not None])

        if self.loop is not None:
            self.loop.call_soon_threadsafe(bump)

    # ---- on the loop -------------------------------------------------------------------------------

    def _apply(self, ts: int, changes: list[tuple[SharedQuery, tuple[str, bytes]]], since: float) -> None:
        self.stats["batches"] += 1
        for sq, (body, digest) in changes:
            if sq.users <= 0 or self.queries.get(sq.key) is not sq:
                continue  # released meanwhile
            sq.body, sq.digest, sq.ts = body, digest, ts
            self.stats["reruns"] += 1
            self._reruns_since += 1
            self.stats["invalidations"] += 1
            for s in sq.sessions:
                self.mark(s, since)
        if ts > self.T:
            self.T = ts
        if self.waiting:
            waiting, self.waiting = self.waiting, {}
            for s in waiting:
                self.mark(s, since)
        if self._waiters:
            for t, fut in self._waiters:
                if t <= self.T and not fut.done():
                    fut.set_result(None)

    def _cycle(self) -> None:
        self._scheduled = False
        if not self.dirty:
            return
        started = self._now()
        batch = list(self.dirty)
        self.dirty.clear()
        since, self._dirty_since = self._dirty_since, None
        T = self.T
        queued = sessions = 0
        for s in batch:
            if s.closed:
                continue
            if s.out.qsize() > s.out.maxsize - QUEUE_HEADROOM:
                s.want_room = True  # its sender marks it dirty again once the queue drains
                self.stats["skipped_backlogged"] += 1
                continue
            live = list(s.queries.values())
            if s.pending.min_ts > T or any(q.shared.body is None for q in live):
                self.waiting[s] = None  # the next batch brings it (invariant 2)
                continue
            sessions += 1
            queued += s.publish(T, s.recv_qs_version, s.identity, s.take_pending(), live)
        t_published = self._now()
        self.stats["transitions"] += queued
        self.stats["cycles"] += 1
        self.stats["publish_s"] += t_published - started
        reruns, self._reruns_since = self._reruns_since, 0
        # Runs after the sender steps the queued Transitions woke (they were scheduled first).
        self.loop.call_soon(self._log_cycle, (since or started), started, started, t_published,  # type: ignore[union-attr]
                            sessions, reruns, queued)
        self._hooks.hit("hub.after_publish")

    def _log_cycle(self, since: float, started: float, computed: float, published: float, sessions: int,
                   reruns: int, queued: int) -> None:
        self.cycle_log.append((started - since, computed - started, published - computed,
                               self._now() - published, sessions, reruns, queued))


__all__ = ["QueryHub", "SharedQuery", "modification_body"]
