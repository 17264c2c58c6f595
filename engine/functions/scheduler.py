"""The scheduler: ``ctx.scheduler.run_after / run_at / cancel`` and the worker that runs due jobs.

Who may call it: ``App`` (as its ``scheduling``), the server (``start``/``stop``). Jobs live in the
system table ``_scheduled_functions`` as ``{name, args (Convex JSON text), scheduledTime (epoch ms),
state: pending | inProgress | success | failed | canceled, completedTime?, error?}``.

Semantics:
- Transactional: a job scheduled by a mutation is written in that mutation's transaction, so it exists
  only if the mutation commits. From an action, scheduling commits at once in its own transaction.
- Scheduled mutations run exactly once: the job's state check and its ``success`` mark are in the same
  transaction as the mutation's writes (``App.run_mutation_with``); a failed run is marked ``failed``.
- Scheduled actions run at most once: marked ``inProgress`` (in a transaction) before running; a job
  found ``inProgress`` at start-up was interrupted by a restart and is marked ``failed``.
- Pending jobs survive restarts: the worker rebuilds its queue from the table when it starts and learns
  about new jobs through a live subscription on the table.

No ambient time: the clock (epoch ms) is injected (default: the database's injected physical clock);
the worker waits on a condition, woken by new jobs, ``wake()`` (after a test advanced its clock) or the
time until the next due job (at most 1 s). Hook points (``engine.hooks``, default: the database's):
``scheduler.idle`` (the worker is about to wait: nothing due as of its clock), ``scheduler.before_run``
and ``scheduler.after_run`` (around one due job).
"""
from __future__ import annotations

import heapq
import json
import threading
from typing import Any, Callable

from engine.model.errors import ConvexError, FunctionError, InvalidIdError, RippleError, SyscallError
from engine.functions.paths import canonical_path
from engine.functions.spec import FunctionKind
from engine.hooks import NO_HOOKS, Hooks

TABLE = "_scheduled_functions"


class Scheduler:
    def __init__(self, app: Any, *, now_ms: Callable[[], float] | None = None, max_batch: int = 64,
                 hooks: Hooks | None = None) -> None:
        self.app = app
        self.db = app.db
        self.now_ms = now_ms or (lambda: float(self.db.physical_ms()))
        self.max_batch = max_batch
        self.hooks = hooks if hooks is not None else getattr(self.db, "hooks", NO_HOOKS)
        self._cv = threading.Condition()
        self._poked = False
        self._wakes = 0
        #: The wake number the worker had seen when it last parked with nothing due (see ``wake``).
        self.idle_gen = 0
        self._heap: list[tuple[float, str]] = []
        self._known: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._sub: Any = None
        self.ran: list[tuple[str, str, str]] = []  # (job id, path, final state), for inspection and tests
        app.scheduling = self

    # ---- Scheduling protocol (called by syscalls) --------------------------------------------------

    def _check_target(self, path: str) -> str:
        canonical = canonical_path(path)
        spec = self.app.functions.get(canonical)
        if spec is None:
            raise SyscallError("FunctionNotFound", f"cannot schedule '{canonical}': no such function")
        if spec.kind is FunctionKind.QUERY:
            raise SyscallError("InvalidArgument", f"cannot schedule the query '{canonical}': schedule mutations or actions")
        return canonical

    def schedule(self, tx: Any, at_ms: float, path: str, args_json: str) -> str:
        canonical = self._check_target(path)
        doc = {"name": canonical, "args": args_json, "scheduledTime": float(at_ms), "state": "pending"}
        if tx is not None:
            return tx.system_insert(TABLE, doc)
        job_id = self.db.mutate(lambda t: t.system_insert(TABLE, doc), name="scheduler")
        self._enqueue(float(at_ms), job_id)
        return job_id

    def cancel(self, tx: Any, job_id: str) -> None:
        def do(t: Any) -> None:
            try:
                job = t.get(job_id)
            except InvalidIdError:
                job = None
            if job is None or job.get("state") is None or "name" not in job:
                raise SyscallError("InvalidArgument", f"{job_id!r} is not a scheduled function")
            if job["state"] == "pending":
                t.system_patch(job_id, {"state": "canceled", "completedTime": self.now_ms()})

        if tx is not None:
            do(tx)
        else:
            self.db.mutate(do, name="scheduler")

    # ---- worker ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover (interrupted actions -> failed), load pending jobs, subscribe, start the worker."""
        def recover(tx: Any) -> list[tuple[float, str]]:
            pending = []
            for job in tx.query(TABLE).collect():
                if job["state"] == "inProgress":
                    tx.system_patch(job["_id"], {"state": "failed", "completedTime": self.now_ms(),
                                                 "error": "interrupted by a server restart"})
                elif job["state"] == "pending":
                    pending.append((job["scheduledTime"], job["_id"]))
            return pending

        for at, job_id in self.db.mutate(recover, name="scheduler"):
            self._enqueue(at, job_id)
        self._sub = self.db.subscribe(
            lambda tx: [(j["scheduledTime"], j["_id"]) for j in tx.query(TABLE).collect() if j["state"] == "pending"],
            on_change=lambda jobs, ts: [self._enqueue(at, jid) for at, jid in jobs])
        for at, jid in self._sub.result:
            self._enqueue(at, jid)
        self._thread = threading.Thread(target=self._loop, name="ripple-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        if self._sub is not None:
            self._sub.cancel()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self) -> int:
        """Make the worker look at its clock again now (e.g. after a test advanced an injected clock).
        Returns this wake's number: once ``idle_gen`` reaches it, the worker has, after this call, run
        every job due by its clock and parked (``scheduler.idle``)."""
        with self._cv:
            self._wakes += 1
            self._poked = True
            self._cv.notify_all()
            return self._wakes

    def pending(self) -> int:
        """Jobs queued in the worker (due or not). O(1)."""
        with self._cv:
            return len(self._heap)

    def _enqueue(self, at_ms: float, job_id: str) -> None:
        with self._cv:
            if job_id in self._known:
                return
            self._known.add(job_id)
            heapq.heappush(self._heap, (at_ms, job_id))
            self._poked = True
            self._cv.notify_all()

    def _next_due(self) -> tuple[str | None, float | None]:
        """Under ``_cv``: pop the job due now, or return how long (s) until the next one (None: none)."""
        now = self.now_ms()
        if self._heap and self._heap[0][0] <= now:
            return heapq.heappop(self._heap)[1], None
        return None, None if not self._heap else max(0.001, (self._heap[0][0] - now) / 1000.0)

    def _loop(self) -> None:
        hit = self.hooks.hit
        while True:
            with self._cv:
                if self._stopped:
                    return
                self._poked = False
                gen = self._wakes
                job_id, wait = self._next_due()
                if job_id is None:
                    self.idle_gen = gen
            if job_id is None:
                hit("scheduler.idle")  # outside the lock: a test holding this point blocks no scheduling
                with self._cv:
                    if not self._poked and not self._stopped:
                        self._cv.wait(timeout=min(wait, 1.0) if wait is not None else 1.0)
                continue
            hit("scheduler.before_run")
            try:
                self._run(job_id)
            except Exception as exc:  # noqa: BLE001 - a broken job must not stop the worker
                self.ran.append((job_id, "?", f"worker error: {exc}"))
            hit("scheduler.after_run")

    def _run(self, job_id: str) -> None:
        job = self.db.read(lambda tx: tx.get(job_id))
        if job is None or job["state"] != "pending":
            return
        path, args = job["name"], json.loads(job["args"])
        from engine.model.values import from_json

        args = from_json(args)
        spec = self.app.functions.get(path)
        if spec is None:
            self._finish(job_id, "failed", f"function {path} no longer exists")
            return
        if spec.kind is FunctionKind.MUTATION:
            def before(tx: Any) -> bool:
                current = tx.get(job_id)
                return current is not None and current["state"] == "pending"

            def after(tx: Any, _value: Any) -> None:
                tx.system_patch(job_id, {"state": "success", "completedTime": self.now_ms()})

            try:
                result = self.app.run_mutation_with(path, args, before, after)
            except (FunctionError, ConvexError, RippleError) as exc:
                self._finish(job_id, "failed", str(exc))
                self.ran.append((job_id, path, "failed"))
                return
            if result is not None:
                self.ran.append((job_id, path, "success"))
            return
        # Actions: at most once.
        def claim(tx: Any) -> bool:
            current = tx.get(job_id)
            if current is None or current["state"] != "pending":
                return False
            tx.system_patch(job_id, {"state": "inProgress"})
            return True

        if not self.db.mutate(claim, name="scheduler"):
            return
        try:
            self.app.run(path, args, internal=True)
        except (FunctionError, ConvexError, RippleError) as exc:
            self._finish(job_id, "failed", str(exc))
            self.ran.append((job_id, path, "failed"))
            return
        self._finish(job_id, "success", None)
        self.ran.append((job_id, path, "success"))

    def _finish(self, job_id: str, state: str, error: str | None) -> None:
        fields: dict[str, Any] = {"state": state, "completedTime": self.now_ms()}
        if error is not None:
            fields["error"] = error[:2000]
        self.db.mutate(lambda tx: tx.system_patch(job_id, fields), name="scheduler")

    def jobs(self) -> list[dict]:
        """Every job document (for inspection), oldest first."""
        return self.db.read(lambda tx: tx.query(TABLE).collect())
