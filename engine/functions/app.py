"""A deployed app: the function runner.

Who may call it: ``Database.deploy`` creates one; notebooks, tests, the scheduler and the server call
``App.run``. Semantics (the server gives the same):

- Paths are canonicalised (``chat.js:send`` -> ``chat:send``). Unknown paths, and internal functions
  called without ``internal=True``, fail with ``FunctionNotFoundError`` ("Could not find public
  function ...", as Convex says, without revealing whether an internal one exists).
- Arguments must be an object of Convex values; the function's ``args`` validator (if any) checks them
  before any user code runs; ``ArgumentValidationError`` names the function, the argument path and
  what was expected. Return values are checked the same way against ``returns``.
- Queries run read-only at the latest snapshot (or ``at=``). Mutations run in a transaction and are
  retried on OCC conflict by re-running the whole function (``DatabaseConfig.retry``: a mutation
  cannot starve, its last attempt runs serialized); a function
  error aborts at once, writing nothing. Actions are not transactional and never retried; they reach
  data through ``ctx.run_query`` / ``ctx.run_mutation`` (which may call internal functions).
- Every call returns a ``FunctionResult`` with the value and the log lines of the attempt that counted;
  failures raise ``FunctionError`` or ``ConvexError``, each carrying ``logs``.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.model.errors import (ArgumentValidationError, ConvexError, FunctionError, FunctionNotFoundError, InvalidValueError,
                           RippleError, SyscallError)
from engine.functions.config import FunctionsConfig
from engine.functions.logs import LogBuffer
from engine.functions.paths import canonical_path
from engine.functions.spec import FunctionKind, FunctionSpec, Visibility, specs_from_description
from engine.functions.syscalls import Syscalls
from engine.model.validators import ValidationFailure
from engine.model.values import from_json, to_json, validate_value


@dataclass(frozen=True)
class FunctionResult:
    """One successful call. ``ts``: the snapshot a query read, the commit timestamp of a mutation, None
    for an action. ``attempts``: a mutation's attempt records (retries visible). ``read_intervals`` and
    ``writes`` come from the attempt that counted (queries and mutations only)."""

    value: Any
    path: str
    kind: str
    logs: list[str]
    ts: int | None = None
    attempts: tuple = ()
    read_intervals: list = field(default_factory=list)
    writes: list = field(default_factory=list)
    syscalls: int = 0


def _error_from(payload_json: str, path: str, logs: list[str]) -> RippleError:
    try:
        payload = json.loads(payload_json)
    except (TypeError, json.JSONDecodeError):
        payload = {"code": "InternalError", "message": f"malformed error from the host: {payload_json!r}"}
    code = str(payload.get("code", "Uncaught"))
    if code == "ConvexError":
        try:
            err: RippleError = ConvexError(from_json(payload.get("data")))
        except InvalidValueError:
            err = ConvexError(payload.get("message"))
        err.logs = logs
        return err
    message = str(payload.get("message", ""))
    text = f"Uncaught {message}" if code == "Uncaught" else f"{code}: {message}"
    return FunctionError(f"{path}: {text}", code=code, path=path, logs=logs, stack=str(payload.get("stack", "")))


class App:
    def __init__(self, db: Any, loaded: Any, host_name: str, config: FunctionsConfig, app_dir: str) -> None:
        self.db = db
        self.loaded = loaded
        self.host = host_name
        self.config = config
        self.app_dir = app_dir
        self.functions: dict[str, FunctionSpec] = specs_from_description(loaded.description)
        self.scheduling: Any = None  # set by the scheduler when one runs for this app
        self.scheduler: Any = None
        self._closed = False

    # ---- entry points ------------------------------------------------------------------------------

    def run(self, path: str, args: Any = None, *, internal: bool = False, at: int | None = None,
            expect_kind: str | None = None) -> FunctionResult:
        """Run a function; see the module docstring for semantics. *expect_kind* ("query", "mutation",
        "action") refuses a function of another kind before running it, as the HTTP API and the sync
        protocol require. Cost: the function's own plus one validation pass over arguments and result."""
        spec, args_json = self._prepare(path, args, internal)
        if expect_kind is not None:
            self._check_kind(spec, expect_kind)
        if spec.kind is FunctionKind.QUERY:
            return self._run_query(spec, args_json, at)
        if at is not None:
            raise FunctionError(f"{spec.path}: at= is only meaningful for queries", code="InvalidArgument", path=spec.path)
        if spec.kind is FunctionKind.MUTATION:
            return self._run_mutation(spec, args_json)
        return self._run_action(spec, args_json)

    def call(self, path: str, args: Any = None, **kw: Any) -> Any:
        """``run(...).value``."""
        return self.run(path, args, **kw).value

    def subscribe(self, path: str, args: Any = None, *, on_change: Callable[[Any, int], None] | None = None,
                  internal: bool = False) -> Any:
        """Keep query *path* live: its result is re-computed after every commit that writes inside what it
        read, and ``on_change(value, ts)`` is called when it changed (engine subscription semantics)."""
        spec, args_json = self._prepare(path, args, internal)
        if spec.kind is not FunctionKind.QUERY:
            raise FunctionError(f"{spec.path} is a {spec.kind.value}; only queries can be subscribed to",
                                code="InvalidArgument", path=spec.path)
        return self.db.subscribe(lambda tx: self._query_in(tx, spec, args_json).value, on_change=on_change)

    def query_at(self, path: str, args: Any, at: int, *, internal: bool = False) -> tuple[Any, Any]:
        """Run query *path* at snapshot *at* for a live subscription: ``(FunctionResult or the error it
        raised, read set)``. The read set is returned even for a failing query, so the caller can
        watch it and re-run when the data it read changes. Errors before any read (unknown function,
        bad arguments) come back with an empty read set."""
        from engine.txn.read_set import ReadSet

        try:
            spec, args_json = self._prepare(path, args, internal)
            self._check_kind(spec, "query")
        except RippleError as exc:
            return exc, ReadSet(self.db.make_interval_set)
        tx = self.db.begin(at=at, read_only=True, writer=spec.path)
        try:
            return self._query_in(tx, spec, args_json), tx.read_set
        except RippleError as exc:
            return exc, tx.read_set
        finally:
            tx.release()

    def describe(self) -> list[dict]:
        return [s.to_json() for s in self.functions.values()]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.scheduler is not None:
                self.scheduler.stop()
            self.loaded.close()

    # ---- preparation -------------------------------------------------------------------------------

    def _spec(self, path: str, internal: bool) -> FunctionSpec:
        canonical = canonical_path(path)
        spec = self.functions.get(canonical)
        if spec is None or (spec.visibility is Visibility.INTERNAL and not internal):
            raise FunctionNotFoundError(f"Could not find public function for '{canonical}'",
                                        code="FunctionNotFound", path=canonical)
        return spec

    @staticmethod
    def _check_kind(spec: FunctionSpec, expect: str) -> None:
        if spec.kind.value != expect:
            raise FunctionError(f"Trying to execute {spec.path} as {expect.capitalize()}, but it is defined as "
                                f"{spec.kind.value.capitalize()}.", code="FunctionKindMismatch", path=spec.path)

    def _prepare(self, path: str, args: Any, internal: bool) -> tuple[FunctionSpec, str]:
        spec = self._spec(path, internal)
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ArgumentValidationError(spec.path, "", "an object of named arguments", args)
        try:
            validate_value(args)
        except InvalidValueError as exc:
            raise ArgumentValidationError(spec.path, exc.path, "a Convex value", str(exc)) from None
        if spec.args is not None:
            try:
                spec.args.validate(args, "", self.db.validation_context())
            except ValidationFailure as f:
                raise ArgumentValidationError(spec.path, f.path, f.expected, f.got) from None
        return spec, json.dumps(to_json(args))

    def _check_return(self, spec: FunctionSpec, value: Any, logs: list[str]) -> None:
        if spec.returns is None:
            return
        try:
            spec.returns.validate(value, "", self.db.validation_context())
        except ValidationFailure as f:
            err = ArgumentValidationError(spec.path, f.path, f.expected, f.got, which="return value")
            err.logs = logs
            raise err from None

    def _invoke(self, spec: FunctionSpec, args_json: str, syscalls: Syscalls, logs: LogBuffer) -> Any:
        ok, out = self.loaded.invoke(spec.kind.value, spec.path, args_json, syscalls,
                                     self.config.timeout_for(spec.kind.value))
        if not ok:
            raise _error_from(out, spec.path, logs.lines())
        value = from_json(json.loads(out))
        self._check_return(spec, value, logs.lines())
        return value

    def _logs(self) -> LogBuffer:
        return LogBuffer(self.config.log_max_lines, self.config.log_max_line_bytes)

    # ---- kinds -------------------------------------------------------------------------------------

    def _query_in(self, tx: Any, spec: FunctionSpec, args_json: str) -> FunctionResult:
        logs = self._logs()
        sc = Syscalls(kind="query", path=spec.path, args_json=args_json, tx=tx, logs=logs,
                      max_page=self.config.max_page, env=self.config.env)
        value = self._invoke(spec, args_json, sc, logs)
        return FunctionResult(value, spec.path, "query", logs.lines(), int(tx.begin_ts),
                              read_intervals=tx.read_set.intervals(), syscalls=sc.calls)

    def _run_query(self, spec: FunctionSpec, args_json: str, at: int | None) -> FunctionResult:
        tx = self.db.begin(at=at, read_only=True, writer=spec.path)
        try:
            return self._query_in(tx, spec, args_json)
        finally:
            tx.release()

    def run_mutation_with(self, path: str, args: Any, before: Callable[[Any], bool] | None = None,
                          after: Callable[[Any, Any], None] | None = None, *, internal: bool = True) -> FunctionResult | None:
        """Run mutation *path* with extra engine work in the same transaction (for the scheduler and the
        server's mutation dedup): ``before(tx)`` runs first and may return False to skip the function
        (the result is then None and nothing of the function runs); ``after(tx, value)`` runs after it.
        Same retries, validation and errors as ``run``."""
        spec, args_json = self._prepare(path, args, internal)
        self._check_kind(spec, "mutation")
        return self._run_mutation(spec, args_json, before, after)

    def _run_mutation(self, spec: FunctionSpec, args_json: str, before: Any = None, after: Any = None) -> Any:
        last: dict[str, Any] = {}
        skipped = object()

        def attempt(tx: Any) -> Any:
            if before is not None and before(tx) is False:
                return skipped
            logs = self._logs()
            sc = Syscalls(kind="mutation", path=spec.path, args_json=args_json, tx=tx, logs=logs,
                          max_page=self.config.max_page, scheduling=self.scheduling, env=self.config.env)
            value = self._invoke(spec, args_json, sc, logs)
            if after is not None:
                after(tx, value)
            last.update(logs=logs.lines(), reads=tx.read_set.intervals(), writes=tx.write_set(), calls=sc.calls)
            return value

        outcome = self.db.run_mutation(attempt, name=spec.path)
        if outcome.value is skipped:
            return None
        return FunctionResult(outcome.value, spec.path, "mutation", last["logs"], int(outcome.commit_ts), outcome.attempts,
                              last["reads"], last["writes"], last["calls"])

    def _run_action(self, spec: FunctionSpec, args_json: str) -> FunctionResult:
        logs = self._logs()
        sc = Syscalls(kind="action", path=spec.path, args_json=args_json, tx=None, logs=logs,
                      max_page=self.config.max_page, scheduling=self.scheduling, actions=_ActionServices(self),
                      env=self.config.env)
        value = self._invoke(spec, args_json, sc, logs)
        return FunctionResult(value, spec.path, "action", logs.lines(), syscalls=sc.calls)


class _ActionServices:
    """What an action's syscalls reach: nested calls (internal functions allowed), fetch, the clock."""

    def __init__(self, app: App) -> None:
        self.app = app

    def physical_ms(self) -> int:
        return self.app.db.physical_ms()

    def call_nested(self, kind: str, path: str, args_json: str) -> str:
        try:
            args = from_json(json.loads(args_json))
        except (TypeError, json.JSONDecodeError, InvalidValueError) as exc:
            raise SyscallError("InvalidArgument", f"arguments for {path} are not valid Convex JSON: {exc}") from None
        spec = self.app._spec(path, internal=True)
        if spec.kind.value != kind:
            raise SyscallError("FunctionKindMismatch", f"{spec.path} is a {spec.kind.value}; call it with "
                                                       f"ctx.run_{spec.kind.value}")
        try:
            result = self.app.run(spec.path, args, internal=True)
        except ConvexError:
            raise
        except FunctionError as exc:
            raise SyscallError(exc.code, exc.message) from None
        return json.dumps(to_json(result.value))

    def fetch(self, req: Any) -> dict:
        cfg = self.app.config
        if not isinstance(req, dict) or not isinstance(req.get("url"), str):
            raise SyscallError("InvalidArgument", "fetch needs a request object with a 'url' string")
        url, method = req["url"], str(req.get("method") or "GET").upper()
        if not url.startswith(("http://", "https://")):
            raise SyscallError("FetchNotAllowed", f"fetch supports only http(s) URLs, got {url!r}")
        if not any(url.startswith(prefix) for prefix in cfg.fetch_allow):
            raise SyscallError("FetchNotAllowed", f"fetch to {url!r} is not allowed by this deployment's "
                                                  "configuration (FunctionsConfig.fetch_allow)")
        body = req.get("body")
        data = body.encode() if isinstance(body, str) else None
        headers = req.get("headers") or {}
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={str(k): str(v) for k, v in dict(headers).items()})
        try:
            with urllib.request.urlopen(request, timeout=cfg.fetch_timeout_s) as resp:  # noqa: S310 (allow-listed)
                status, hdrs, raw = resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            status, hdrs, raw = exc.code, dict(exc.headers.items()), exc.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SyscallError("FetchFailed", f"fetch {url!r} failed: {exc}") from None
        return {"status": status, "headers": hdrs, "body": raw.decode("utf-8", "replace")}


def deploy(db: Any, app_dir: str, *, host: str = "reference", config: FunctionsConfig | None = None,
           scheduler: bool = True) -> App:
    """Load an app into *db*: install its ``schema.py`` (if any; ``Database.set_schema`` semantics: all or
    nothing), load its functions in host *host*, and (unless ``scheduler=False``) start the scheduler
    worker that runs its scheduled functions. Cost: the host's load (wasm: a build on a cache miss)."""
    from engine.functions.hosts import make_host
    from engine.functions.loader import load_schema

    cfg = config or FunctionsConfig()
    started = time.perf_counter()
    loaded = make_host(host, cfg).load(str(app_dir))
    try:
        schema = load_schema(app_dir)
        if schema is not None:
            db.set_schema(schema)
        app = App(db, loaded, host, cfg, str(app_dir))
        if scheduler:
            from engine.functions.scheduler import Scheduler

            app.scheduler = Scheduler(app)
            app.scheduler.start()
    except BaseException:
        loaded.close()
        raise
    app.deploy_seconds = time.perf_counter() - started
    return app
