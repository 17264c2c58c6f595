"""Live queries shared by every sync session of a deployment: one re-run per query per snapshot.

Who may call it: ``engine.server.sync`` (sessions acquire, release and mark themselves dirty) and
``engine.server.asgi`` (one hub per app). Everything but ``_compute`` and the thread-safe callbacks runs on
the server's event loop.

Model:

- A ``SharedQuery`` is one (canonical path, arguments) that at least one session subscribes to. It holds
  the newest result - already serialized as the modification body, with its digest - and ONE
  invalidation watch on the result's read set (``SubscriptionManager.watch``). A session's live query
  points at a ``SharedQuery`` and remembers only the digest it last sent to its client.
- One update cycle at a time (an asyncio task): take every dirty session and its pending state; in one
  worker-thread job wait until the subscription manager has matched the newest commit any of them must
  reflect (after a mutation), choose ``T = processed_ts`` under ``consistent_view``, re-run ONCE at ``T``
  each shared query of those sessions that is not known valid at ``T`` (new, invalidated, or computed
  under an older deployment) and register its new watch at ``T``; then, back on the loop, build each dirty
  session's Transition from the shared results (string assembly, no JSON encoding) and queue it.
  Commits arriving meanwhile coalesce into the next cycle.
- Per commit this costs one re-run per distinct invalidated query, one watch callback per distinct
  query, and one small string build and send per subscribed socket - instead of a thread-pool job, a
  re-run, a watch and a JSON encoding per socket.

Invariants:

1. A shared result computed at ``ts`` is valid at every snapshot from ``ts`` until its watch fires;
   under ``consistent_view``, ``watch.invalid`` is exact as of ``processed_ts``, so a result not picked
   for a re-run holds at the cycle's ``T``. Every result in a Transition therefore holds at its
   ``endVersion.ts``, and each session's Transitions chain from its previous ``endVersion``.
2. A Transition is queued after every message the session queued before it was marked dirty; the cycle
   that takes a session's ``min_ts`` (set after a ``MutationResponse``) chooses ``T >= min_ts``.
3. Results do not depend on the session's identity (only admin and no identity exist; user JWTs are
   refused). When user identities arrive, the sharing key must include the identity.
4. A slow client never stalls a cycle: a session whose outgoing queue is nearly full is skipped with its
   pending state kept, and marked dirty again when its queue drains, so it later gets one coalesced
   Transition.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from engine import protocol
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
    gen: int = -1                   # hub generation (deployment version) the result was computed under
    body: str | None = None         # the modification JSON without "queryId"
    digest: bytes | None = None
    watch: Any = None

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


class QueryHub:
    def __init__(self, deployment: Any, executor: Any, *, error_fields: Any = None) -> None:
        self.dep = deployment
        self.executor = executor
        self._error_fields = error_fields
        self.queries: dict[tuple, SharedQuery] = {}
        self.sessions: set[Any] = set()
        self.dirty: dict[Any, None] = {}          # insertion-ordered set of sessions
        self.generation = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self.stats = {"cycles": 0, "reruns": 0, "transitions": 0, "skipped_backlogged": 0, "invalidations": 0,
                      "compute_s": 0.0, "publish_s": 0.0, "errors": 0}
        #: One record per cycle (newest 4096), for benchmarks: (wait_s: first reason to run -> cycle start,
        #: compute_s: worker job incl. re-runs, publish_s: building and queueing Transitions, send_s: until
        #: every woken sender has run once, sessions, re-runs, transitions queued).
        self.cycle_log: deque[tuple[float, float, float, float, int, int, int]] = deque(maxlen=4096)
        self._dirty_since: float | None = None

    # ---- sessions ----------------------------------------------------------------------------------

    def attach(self, session: Any) -> None:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self.dep.add_listener(self._on_redeploy)
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._run(), name="ripple-query-hub")
        self.sessions.add(session)

    def detach(self, session: Any) -> None:
        self.sessions.discard(session)
        self.dirty.pop(session, None)
        if not self.sessions and self._task is not None:
            self._task.cancel()
            self._task = None

    def acquire(self, session: Any, path: str, args: Any) -> SharedQuery:
        if isinstance(args, BaseException):
            key = (path, "!error", str(args))
        else:
            key = (path, json.dumps(to_json(args), sort_keys=True, separators=(",", ":")))
        sq = self.queries.get(key)
        if sq is None:
            sq = self.queries[key] = SharedQuery(key, path, args)
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
            if sq.watch is not None:
                sq.watch.cancel()

    def mark(self, session: Any, since: float | None = None) -> None:
        """Session *session* needs a cycle (new queries, a response that needs a Transition, ...)."""
        if self._dirty_since is None:
            self._dirty_since = since if since is not None else time.perf_counter()
        self.dirty[session] = None
        if self._wake is not None:
            self._wake.set()

    # ---- callbacks from other threads --------------------------------------------------------------

    def _on_redeploy(self) -> None:  # any thread
        def bump() -> None:
            self.generation += 1
            for s in self.sessions:
                self.mark(s)

        if self.loop is not None:
            self.loop.call_soon_threadsafe(bump)

    def _invalidated(self, sq: SharedQuery, _commit_ts: int) -> None:  # the subscription manager's thread
        self.loop.call_soon_threadsafe(self._mark_users, sq, time.perf_counter())  # type: ignore[union-attr]

    def _mark_users(self, sq: SharedQuery, since: float) -> None:
        self.stats["invalidations"] += 1
        for s in sq.sessions:
            self.mark(s, since)

    # ---- the update cycle --------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None and self.loop is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.dirty:
                continue
            batch = list(self.dirty)
            self.dirty.clear()
            since, self._dirty_since = self._dirty_since, None
            jobs = []
            entries: dict[int, SharedQuery] = {}
            min_ts = 0
            for s in batch:
                if s.closed:
                    continue
                if s.out.qsize() > s.out.maxsize - QUEUE_HEADROOM:
                    s.want_room = True  # its sender marks it dirty again once the queue drains
                    self.stats["skipped_backlogged"] += 1
                    continue
                pending = s.take_pending()
                live = list(s.queries.values())
                jobs.append((s, s.recv_qs_version, s.identity, pending, live))
                min_ts = max(min_ts, pending.min_ts)
                for q in live:
                    entries[id(q.shared)] = q.shared
            if not jobs:
                continue
            gen = self.generation
            started = time.perf_counter()
            try:
                T, reruns = await self.loop.run_in_executor(self.executor, self._compute, list(entries.values()),
                                                            min_ts, gen)
            except Exception:  # noqa: BLE001 - e.g. the database is closing: keep state, try again
                self.stats["errors"] += 1
                for s, _qs, _ident, pending, _live in jobs:
                    s.restore_pending(pending)
                    self.mark(s)
                await asyncio.sleep(0.1)
                continue
            t_computed = time.perf_counter()
            n_reruns = len(reruns)
            for sq, body, digest, watch in reruns:
                if sq.watch is not None and sq.watch is not watch:
                    sq.watch.cancel()
                if sq.users <= 0:  # released while we computed
                    watch.cancel()
                    sq.watch = None
                    continue
                sq.watch, sq.ts, sq.gen, sq.body, sq.digest = watch, T, gen, body, digest
            queued = 0
            for s, qs_version, identity, pending, live in jobs:
                if not s.closed:
                    queued += s.publish(T, qs_version, identity, pending, live)
            t_published = time.perf_counter()
            self.stats["transitions"] += queued
            self.stats["cycles"] += 1
            self.stats["compute_s"] += t_computed - started
            self.stats["publish_s"] += t_published - t_computed
            # Runs after the sender steps the queued Transitions woke (they were scheduled first).
            self.loop.call_soon(self._log_cycle, (since or started), started, t_computed, t_published,
                                len(jobs), n_reruns, queued)

    def _log_cycle(self, since: float, started: float, computed: float, published: float, sessions: int,
                   reruns: int, queued: int) -> None:
        self.cycle_log.append((started - since, computed - started, published - computed,
                               time.perf_counter() - published, sessions, reruns, queued))

    def _compute(self, entries: list[SharedQuery], min_ts: int, gen: int) -> tuple[int, list]:
        """Worker thread: choose T and re-run, once each, the shared queries not known valid at T."""
        subs = self.dep.db.subscriptions
        if min_ts:
            subs.wait_processed(min_ts, timeout=10.0)

        def view(ts: int) -> tuple[int, list[SharedQuery]]:
            return ts, [sq for sq in entries if sq.gen != gen or sq.watch is None or sq.watch.invalid]

        T, stale = subs.consistent_view(view)
        app = self.dep.app
        out = []
        for sq in stale:
            if isinstance(sq.args, BaseException):
                from engine.txn.read_set import ReadSet

                outcome, read_set = sq.args, ReadSet(self.dep.db.make_interval_set)
            else:
                outcome, read_set = app.query_at(sq.path, sq.args, T)
            body, digest = modification_body(outcome, self._error_fields)
            watch = subs.watch(read_set, T, partial(self._invalidated, sq))
            out.append((sq, body, digest, watch))
        self.stats["reruns"] += len(out)
        return T, out


__all__ = ["QueryHub", "SharedQuery", "modification_body"]
