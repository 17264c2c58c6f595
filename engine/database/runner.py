"""The mutation runner: run a mutation function in a transaction, commit it, retry on OCC conflict, and
guarantee progress under contention.

Who may call it: the database (``Database.run_mutation``), which everything else goes through (the
function runner in ``engine.functions.app``, the scheduler, the server). It never touches storage
itself: it begins transactions, runs the caller's function, and hands the result to the committer.

Policy (``engine.config.RetryPolicy``, recorded with experiment results):
1. Up to ``optimistic_attempts`` attempts run optimistically: concurrently with other commits, validated
   by OCC when they commit, with a jittered exponential pause between them.
2. Then, with ``fallback="serialize"`` (the default), one more attempt runs *serialized*: the runner holds
   the committer (``Committer.serialized``), begins at the newest snapshot, runs the function and commits
   before anyone else can, so the attempt cannot conflict. A hot document therefore never starves a
   mutation; the price is that other writers pause while the serialized attempt runs (readers do not).
   With ``fallback="fail"`` it raises ``ConflictError`` instead (experiments measuring raw abort rates).

An exception from the function propagates at once: nothing is written and nothing is retried.

Race point (``engine.hooks``): ``runner.before_commit`` - the function has run and its writes are
buffered, the commit has not been asked for (tests hold it there to interleave schema changes or other
commits).
"""
from __future__ import annotations

import random
import threading
from typing import Any, Callable

from engine.conflict.base import ConflictInfo, Verdict
from engine.config import RetryPolicy
from engine.hooks import NO_HOOKS, Hooks
from engine.database.records import AttemptMode, AttemptRecord, MutationOutcome
from engine.model.errors import ConflictError, RippleError


class MutationRunner:
    """Runs mutations under one ``RetryPolicy``. Thread-safe. Its only state is the jitter generator."""

    def __init__(self, *, policy: RetryPolicy, begin: Callable[..., Any], committer: Any, bump: Callable[[str], None],
                 sleep: Callable[[float], None], seed: int, hooks: Hooks = NO_HOOKS) -> None:
        self.policy = policy
        self._hooks = hooks
        self._begin = begin
        self._committer = committer
        self._bump = bump
        self._sleep = sleep
        self._rng = random.Random(f"retry-jitter:{seed}")
        self._rng_lock = threading.Lock()

    def run(self, fn: Callable[..., Any], args: tuple, writer: str, optimistic_attempts: int | None = None) -> MutationOutcome:
        """Run ``fn(tx, *args)`` and commit it; see the module docstring. Returns the value, the commit ts
        and every attempt. Raises ``ConflictError`` only with ``fallback="fail"`` (its ``outcome`` holds
        the attempts). Cost: the function's own, times the attempts it needed."""
        policy = self.policy
        tries = policy.optimistic_attempts if optimistic_attempts is None else optimistic_attempts
        attempts: list[AttemptRecord] = []
        last_conflict: ConflictInfo | None = None
        for attempt in range(tries):
            tx = self._begin(writer=writer)
            value = self._call(fn, tx, args)
            final = tx.finalize()
            self._hooks.hit("runner.before_commit")
            outcome = self._committer.commit(final)
            tx.settle(outcome.verdict)
            attempts.append(AttemptRecord.lazy(tx, outcome.verdict, outcome.ts, outcome.conflict))
            if outcome.verdict is Verdict.COMMIT:
                self._bump("commits" if final.writes_anything else "reads")
                return MutationOutcome(value, outcome.ts, tuple(attempts))
            self._bump("conflicts" if outcome.verdict is Verdict.CONFLICT else "too_old")
            last_conflict = outcome.conflict or last_conflict
            if attempt + 1 < tries:
                self._bump("retries")
                self._backoff(attempt)
        if policy.fallback == "serialize":
            self._bump("retries")
            return self._run_serialized(fn, args, writer, attempts)
        self._bump("failed_mutations")
        raise ConflictError(last_conflict, len(attempts), MutationOutcome(None, None, tuple(attempts)),
                            function_name=writer)

    def _run_serialized(self, fn: Callable[..., Any], args: tuple, writer: str,
                        attempts: list[AttemptRecord]) -> MutationOutcome:
        with self._committer.serialized() as commit_now:
            tx = self._begin(writer=writer)
            value = self._call(fn, tx, args)
            final = tx.finalize()
            outcome = commit_now(final)
        tx.settle(outcome.verdict)
        attempts.append(AttemptRecord.lazy(tx, outcome.verdict, outcome.ts, outcome.conflict, AttemptMode.SERIALIZED))
        if outcome.verdict is not Verdict.COMMIT:
            # Nothing can commit while the committer is held, so this is an engine bug, not contention.
            raise RippleError(f"serialized attempt of {writer} got {outcome.verdict.value}: {outcome.conflict}")
        self._bump("serialized")
        self._bump("commits" if final.writes_anything else "reads")
        return MutationOutcome(value, outcome.ts, tuple(attempts))

    def _call(self, fn: Callable[..., Any], tx: Any, args: tuple) -> Any:
        try:
            return fn(tx, *args)
        except BaseException:
            tx.abort()
            self._bump("user_errors")
            raise

    def _backoff(self, attempt: int) -> None:
        first, cap = self.policy.backoff_ms
        with self._rng_lock:
            jitter = self._rng.random()
        self._sleep(min(cap, first * (2 ** attempt)) * (0.5 + jitter / 2) / 1000.0)
