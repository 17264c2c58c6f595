"""Function hosts for the runner: how one workload operation becomes one (retried) Ripple mutation.

Who may call it: ``experiments.runner``. A host is a strategy object chosen by name (``run.host`` in an
experiment's config.toml):

- ``direct``: the workload's Python callable runs as ``db.run_mutation(fn, *args)`` in this process. No
  sandbox, no argument validation: the engine's own cost.
- ``reference`` / ``wasm``: the workload's app folder (``experiments/apps/<workload>/``) is deployed with
  ``db.deploy(app_dir, host=...)`` (``engine.functions``) and each op is ``app.run(path, args)``. These need
  the functions layer; if it is not importable the host says so, naming the missing piece.

Every host returns an ``Outcome``: the value, the commit ts, every attempt (``engine.database.
AttemptRecord``: begin ts, verdict, read intervals, write set, conflict attribution) and whether the
operation gave up after the configured retries (``ConflictError``). Invariant: one ``Outcome`` per op; a
user error in a workload function propagates (the run is broken, not measured).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from engine.model.errors import ConflictError
from experiments.workloads.base import Op


@dataclass(frozen=True, slots=True)
class Outcome:
    value: Any
    commit_ts: int | None
    attempts: tuple
    failed: bool


class Host(Protocol):
    name: str

    def run(self, op: Op, worker: int) -> Outcome: ...
    def close(self) -> None: ...


class DirectHost:
    """Runs workload callables with ``db.run_mutation``. Per op: the mutation's own cost."""

    name = "direct"

    def __init__(self, db: Any, workload: Any) -> None:
        self.db = db
        self.workload = workload

    def run(self, op: Op, worker: int) -> Outcome:
        call = self.workload.engine_call(op, worker)
        try:
            out = self.db.run_mutation(call.fn, *call.args, name=call.name)
        except ConflictError as exc:
            attempts = exc.outcome.attempts if exc.outcome is not None else ()
            return Outcome(None, None, attempts, True)
        return Outcome(out.value, out.commit_ts, out.attempts, False)

    def close(self) -> None:
        return None


class DeployedHost:
    """Runs the workload's app functions through ``engine.functions`` on host *host_name*."""

    def __init__(self, db: Any, workload: Any, host_name: str) -> None:
        self.name = host_name
        self.workload = workload
        app_dir = workload.app_dir()
        if app_dir is None:
            raise HostUnavailable(f"workload {workload.name!r} has no function app; use host = \"direct\"")
        try:
            import engine.functions.app  # noqa: F401  (the functions layer, being built alongside)
        except ImportError as exc:
            raise HostUnavailable(
                f"host {host_name!r} needs engine.functions (the function runner), which is not importable "
                f"here: {exc}. Use host = \"direct\" until it lands.") from exc
        try:
            self.app = db.deploy(app_dir, host=host_name)
        except Exception as exc:  # the wasm toolchain or the app failed to build: say which
            raise HostUnavailable(f"could not deploy {app_dir} on host {host_name!r}: {exc}") from exc

    def run(self, op: Op, worker: int) -> Outcome:
        call = self.workload.function_call(op, worker)
        try:
            res = self.app.run(call.path, call.args)
        except ConflictError as exc:
            attempts = exc.outcome.attempts if getattr(exc, "outcome", None) is not None else ()
            return Outcome(None, None, attempts, True)
        observe = getattr(self.workload, "observe_function_result", None)
        if observe is not None:  # checks the direct twin makes inside its callable (e.g. bank audits)
            observe(op, res.value)
        return Outcome(res.value, res.ts, tuple(res.attempts), False)

    def close(self) -> None:
        close = getattr(self.app, "close", None)
        if close is not None:
            close()


class HostUnavailable(RuntimeError):
    """The configured function host cannot run here (missing layer, toolchain or app)."""


HOSTS = ("direct", "reference", "wasm")


def make_host(name: str, db: Any, workload: Any) -> Host:
    """The host called *name* over *db* for *workload*. Raises ValueError for an unknown name and
    HostUnavailable when a known host cannot run in this checkout."""
    if name == "direct":
        return DirectHost(db, workload)
    if name in ("reference", "wasm"):
        return DeployedHost(db, workload, name)
    raise ValueError(f"unknown function host {name!r}; valid: {list(HOSTS)}")
