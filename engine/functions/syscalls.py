"""The syscall ABI (``udf_wasm/ABI.md``), implemented once, over one transaction.

Who may call it: host adapters (the reference host's bridge, the wasm host's component and core
linkers). One ``Syscalls`` object serves one function invocation (one attempt, for a mutation). Every
method takes and returns ``str`` (Convex JSON) or plain numbers, and either returns or raises a
``RippleError`` (which adapters turn into the ABI's error form with ``engine.model.error_wire.error_payload``).
Anything else escaping is a host bug and fails the call as an internal error.

Capabilities by kind (enforced here as well as by the hosts' linkers, so a bypassed SDK still cannot
write from a query):
- query: get, query, now, random_seed, log, get_env
- mutation: the above, insert, patch, replace, delete, schedule, cancel
- action: now, random_seed, log, get_env, schedule, cancel, run_query, run_mutation, run_action, fetch

Reads go through ``Transaction.get`` / ``Transaction.query``, so the transaction's read set records
exactly what each page consumed; the wasm host and the reference host therefore produce identical read
and write sets for the same calls.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Protocol

from engine.functions.logs import LogBuffer
from engine.model.errors import QueryError, ReadOnlyError, RippleError, SyscallError
from engine.model.values import from_json, to_json

_QUERY_KEYS = {"table", "index", "eq", "lower", "upper", "order", "limit", "cursor"}


class ActionServices(Protocol):
    """What an action's syscalls need from the app: nested calls, fetch, the clock, the scheduler."""

    def call_nested(self, kind: str, path: str, args_json: str) -> str: ...
    def fetch(self, request: dict) -> dict: ...
    def physical_ms(self) -> int: ...


class Scheduling(Protocol):
    def schedule(self, tx: Any, at_ms: float, path: str, args_json: str) -> str: ...
    def cancel(self, tx: Any, job_id: str) -> None: ...


def _loads(text: str, what: str) -> Any:
    if not isinstance(text, str):
        raise SyscallError("InvalidArgument", f"{what} must be a JSON string, got {type(text).__name__}")
    try:
        return from_json(json.loads(text))
    except json.JSONDecodeError as exc:
        raise SyscallError("InvalidArgument", f"{what} is not valid JSON: {exc}") from None


def _dumps(value: Any) -> str:
    return json.dumps(to_json(value))


def derive_seed(path: str, args_json: str, ts: int) -> int:
    """The per-call random seed: a u64 hash of (function path, arguments, snapshot timestamp)."""
    h = hashlib.blake2b(digest_size=8)
    for part in (path.encode(), args_json.encode(), int(ts).to_bytes(8, "big")):
        h.update(len(part).to_bytes(4, "big") + part)
    return int.from_bytes(h.digest(), "big")


class Syscalls:
    """The ABI for one invocation. ``tx`` is None for actions. Not thread-safe (one call, one thread)."""

    def __init__(self, *, kind: str, path: str, args_json: str, tx: Any, logs: LogBuffer,
                 max_page: int = 8192, scheduling: Scheduling | None = None,
                 actions: ActionServices | None = None, env: dict | None = None) -> None:
        self.kind = kind
        self.path = path
        self.tx = tx
        self.logs = logs
        self.max_page = max_page
        self._scheduling = scheduling
        self._actions = actions
        self._env = env or {}
        snapshot = tx.begin_ts if tx is not None else 0
        # The function's clock, fixed for the whole call: the later of its snapshot and the physical
        # time when it started (a snapshot may be old: the latest commit can be long ago). The seed
        # depends on the snapshot only, so it is deterministic for (function, arguments, snapshot).
        physical = (tx.physical_ms() if tx is not None else actions.physical_ms() if actions else 0) << 16
        self._ts = max(int(snapshot), physical)
        self._seed = derive_seed(path, args_json, snapshot if tx is not None else self._ts)
        self.calls = 0  # syscalls made (for stats and benchmarks)

    # ---- capability checks ----------------------------------------------------------------------

    def _need_tx(self, op: str) -> Any:
        self.calls += 1
        if self.tx is None:
            raise SyscallError("NotAvailable", f"ctx.db.{op}() is not available in an action: actions are not "
                                               "transactional; use ctx.run_query / ctx.run_mutation")
        return self.tx

    def _need_write(self, op: str) -> Any:
        tx = self._need_tx(op)
        if self.kind != "mutation":
            raise ReadOnlyError(f"ctx.db.{op}() is not available in a {self.kind}: queries are read-only")
        return tx

    def _need_action(self, op: str) -> ActionServices:
        self.calls += 1
        if self.kind != "action" or self._actions is None:
            raise SyscallError("NotAvailable", f"ctx.{op}() is only available in actions, not in a {self.kind}")
        return self._actions

    # ---- db-read ----------------------------------------------------------------------------------

    def get(self, doc_id: str) -> str | None:
        """The document as Convex JSON, or None. Records a one-key read."""
        tx = self._need_tx("get")
        doc = tx.get(doc_id)
        return None if doc is None else _dumps(doc)

    def query(self, request: str) -> str:
        """One page of an index range (request/response shapes in ABI.md). Records the consumed interval."""
        tx = self._need_tx("query")
        try:
            req = json.loads(request)
        except (TypeError, json.JSONDecodeError) as exc:
            raise QueryError(f"query request is not valid JSON: {exc}") from None
        if not isinstance(req, dict) or set(req) != _QUERY_KEYS:
            raise QueryError(f"query request must have exactly the keys {sorted(_QUERY_KEYS)}")
        table, index, order, limit, cursor = req["table"], req["index"], req["order"], req["limit"], req["cursor"]
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= self.max_page:
            raise QueryError(f"query page size must be an int in [1, {self.max_page}], got {limit!r}")
        if cursor is not None and not isinstance(cursor, str):
            raise QueryError(f"query cursor must be a string or null, got {cursor!r}")
        eq, lower, upper = req["eq"], req["lower"], req["upper"]
        if not isinstance(eq, list):
            raise QueryError("query eq must be a list")
        qb = tx.query(table)
        if index is not None:
            def replay(r: Any) -> Any:
                for item in eq:
                    r.eq(item["field"], from_json(item["value"]))
                if lower is not None:
                    (r.gte if lower["inclusive"] else r.gt)(lower["field"], from_json(lower["value"]))
                if upper is not None:
                    (r.lte if upper["inclusive"] else r.lt)(upper["field"], from_json(upper["value"]))
                return r

            try:
                qb.with_index(index, replay)
            except (KeyError, TypeError) as exc:
                raise QueryError(f"malformed index range in query request: {exc!r}") from None
        elif eq or lower is not None or upper is not None:
            raise QueryError("an index range needs with_index(...)")
        qb.order(order)
        res = qb.paginate(limit, cursor)
        return json.dumps({"page": [to_json(d) for d in res.page], "cursor": res.continue_cursor,
                           "done": res.is_done})

    # ---- db-write ---------------------------------------------------------------------------------

    def insert(self, table: str, doc: str) -> str:
        tx = self._need_write("insert")
        return tx.insert(table, _loads(doc, "the document"))

    def patch(self, doc_id: str, fields: str) -> None:
        self._need_write("patch").patch(doc_id, _loads(fields, "the patch"))

    def replace(self, doc_id: str, doc: str) -> None:
        self._need_write("replace").replace(doc_id, _loads(doc, "the document"))

    def delete(self, doc_id: str) -> None:
        self._need_write("delete").delete(doc_id)

    # ---- env --------------------------------------------------------------------------------------

    def now(self) -> int:
        """The call's clock as an HLC value: max(snapshot ts, physical time at the call's start)."""
        self.calls += 1
        return int(self._ts)

    def random_seed(self) -> int:
        self.calls += 1
        return self._seed

    def log(self, level: str, message: str) -> None:
        self.calls += 1
        self.logs.add(level, message if isinstance(message, str) else repr(message))

    def get_env(self, name: str) -> str | None:
        """A deployment environment variable (``FunctionsConfig.env``), or None."""
        self.calls += 1
        value = self._env.get(name) if isinstance(name, str) else None
        return None if value is None else str(value)

    # ---- scheduler --------------------------------------------------------------------------------

    def schedule(self, at_ms: float, path: str, args: str) -> str:
        self.calls += 1
        if self.kind == "query":
            raise ReadOnlyError("ctx.scheduler is not available in a query")
        if self._scheduling is None:
            raise SyscallError("NotAvailable", "this deployment has no scheduler")
        _loads(args, "the scheduled function's arguments")
        return self._scheduling.schedule(self.tx, float(at_ms), path, args)

    def cancel(self, job_id: str) -> None:
        self.calls += 1
        if self.kind == "query":
            raise ReadOnlyError("ctx.scheduler is not available in a query")
        if self._scheduling is None:
            raise SyscallError("NotAvailable", "this deployment has no scheduler")
        self._scheduling.cancel(self.tx, job_id)

    # ---- action -----------------------------------------------------------------------------------

    def run_query(self, path: str, args: str) -> str:
        return self._need_action("run_query").call_nested("query", path, args)

    def run_mutation(self, path: str, args: str) -> str:
        return self._need_action("run_mutation").call_nested("mutation", path, args)

    def run_action(self, path: str, args: str) -> str:
        return self._need_action("run_action").call_nested("action", path, args)

    def fetch(self, request: str) -> str:
        svc = self._need_action("fetch")
        try:
            req = json.loads(request)
        except (TypeError, json.JSONDecodeError) as exc:
            raise SyscallError("InvalidArgument", f"fetch request is not valid JSON: {exc}") from None
        return json.dumps(svc.fetch(req))


#: The syscalls each kind may use: hosts link exactly these (others become clear errors).
CAPABILITIES: dict[str, frozenset[str]] = {
    "query": frozenset({"get", "query", "now", "random_seed", "log", "get_env"}),
    "mutation": frozenset({"get", "query", "insert", "patch", "replace", "delete", "now", "random_seed", "log",
                           "get_env", "schedule", "cancel"}),
    "action": frozenset({"now", "random_seed", "log", "get_env", "schedule", "cancel", "run_query", "run_mutation",
                         "run_action", "fetch"}),
}

ALL_SYSCALLS: tuple[str, ...] = ("get", "query", "insert", "patch", "replace", "delete", "now", "random_seed", "log",
                                 "get_env", "schedule", "cancel", "run_query", "run_mutation", "run_action", "fetch")


def not_available(kind: str, name: str) -> Callable[..., Any]:
    """The stand-in a host links for a syscall its kind may not use: it raises a clear error."""
    def refuse(*_a: Any) -> Any:
        if name in ("insert", "patch", "replace", "delete"):
            raise ReadOnlyError(f"ctx.db.{name}() is not available in a {kind}: queries are read-only")
        raise SyscallError("NotAvailable", f"{name} is not available in a {kind}")

    return refuse
