"""Function contexts (SDK side): ``ctx.db``, ``ctx.scheduler``, ``ctx.run_query`` ... over a bridge.

Who may call it: ``ripple._functions`` when invoking a handler. Every database access goes through the
bridge (the syscall ABI), which raises the engine error a syscall failed with.

Query pages: a ``QueryBuilder`` terminal (collect/take/first/unique/paginate) asks the host for pages
of the index range; ``filter`` predicates run here, in the guest. The host records each page's consumed
interval in the read set, so which pages are fetched is part of a function's deterministic behaviour:
page sizes depend only on the terminal and its arguments.
"""
from __future__ import annotations

import json
import random as _random
from typing import Any, Callable

from engine.model.values import from_json, to_json

_COLLECT_PAGE = 256
_FILTER_MIN_PAGE = 16


def _path_of(fn: Any) -> str:
    if isinstance(fn, str):
        return fn
    path = getattr(fn, "path", None)
    if isinstance(path, str):
        return path
    raise TypeError(f"expected a function path like 'module:function' or a registered function, got {fn!r}")


def _dumps(value: Any) -> str:
    return json.dumps(to_json(value))


class IndexRangeBuilder:
    """Records an index range expression (``q.eq("a", 1).gt("b", 2)``); the host validates it."""

    def __init__(self) -> None:
        self.eq_values: list[tuple[str, Any]] = []
        self.lower: tuple[str, Any, bool] | None = None
        self.upper: tuple[str, Any, bool] | None = None

    def eq(self, field: str, value: Any) -> "IndexRangeBuilder":
        self.eq_values.append((field, value))
        return self

    def gt(self, field: str, value: Any) -> "IndexRangeBuilder":
        return self._bound("lower", field, value, False)

    def gte(self, field: str, value: Any) -> "IndexRangeBuilder":
        return self._bound("lower", field, value, True)

    def lt(self, field: str, value: Any) -> "IndexRangeBuilder":
        return self._bound("upper", field, value, False)

    def lte(self, field: str, value: Any) -> "IndexRangeBuilder":
        return self._bound("upper", field, value, True)

    def _bound(self, which: str, field: str, value: Any, inclusive: bool) -> "IndexRangeBuilder":
        if getattr(self, which) is not None:
            from engine.model.errors import QueryError

            op = "gt or gte" if which == "lower" else "lt or lte"
            raise QueryError(f"an index range takes at most one {'lower' if which == 'lower' else 'upper'} bound ({op})")
        setattr(self, which, (field, value, inclusive))
        return self

    def to_json(self) -> dict[str, Any]:
        def bound(b: tuple[str, Any, bool] | None) -> Any:
            return None if b is None else {"field": b[0], "value": to_json(b[1]), "inclusive": b[2]}

        return {"eq": [{"field": f, "value": to_json(x)} for f, x in self.eq_values],
                "lower": bound(self.lower), "upper": bound(self.upper)}


class PaginationResult(dict):
    """``{"page": [...], "isDone": bool, "continueCursor": str}`` (Convex's shape), with attribute access."""

    @property
    def page(self) -> list[dict]:
        return self["page"]

    @property
    def is_done(self) -> bool:
        return self["isDone"]

    @property
    def continue_cursor(self) -> str:
        return self["continueCursor"]


class QueryBuilder:
    """``ctx.db.query(table).with_index(name, range).order("desc").filter(pred).take(n)``. Lazy; each
    terminal runs the query once."""

    def __init__(self, bridge: Any, table: str) -> None:
        self._bridge = bridge
        self._table = table
        self._index: str | None = None
        self._range: dict[str, Any] = {"eq": [], "lower": None, "upper": None}
        self._order = "asc"
        self._filters: list[Callable[[dict], Any]] = []

    def with_index(self, name: str, range_fn: Callable[[IndexRangeBuilder], Any] | None = None) -> "QueryBuilder":
        from engine.model.errors import QueryError

        if self._index is not None:
            raise QueryError("with_index() may be called once per query")
        if not isinstance(name, str):
            raise QueryError(f"with_index() needs an index name, got {name!r}")
        rng = IndexRangeBuilder()
        if range_fn is not None:
            if range_fn(rng) is not rng:
                raise QueryError("the index range function must return the range it was given (chain q.eq(...)...)")
        self._index = name
        self._range = rng.to_json()
        return self

    def order(self, direction: str) -> "QueryBuilder":
        from engine.model.errors import QueryError

        if direction not in ("asc", "desc"):
            raise QueryError(f'order must be "asc" or "desc", got {direction!r}')
        self._order = direction
        return self

    def filter(self, predicate: Callable[[dict], Any]) -> "QueryBuilder":
        from engine.model.errors import QueryError

        if not callable(predicate):
            raise QueryError("filter() takes a callable doc -> bool")
        self._filters.append(predicate)
        return self

    # ---- execution ---------------------------------------------------------------------------------

    def _page(self, limit: int, cursor: str | None) -> tuple[list[dict], str, bool]:
        request = {"table": self._table, "index": self._index, **self._range, "order": self._order,
                   "limit": limit, "cursor": cursor}
        out = json.loads(self._bridge.query(json.dumps(request)))
        return [from_json(d) for d in out["page"]], out["cursor"], out["done"]

    def _keep(self, doc: dict) -> bool:
        return all(f(doc) for f in self._filters)

    def _take(self, n: int | None) -> list[dict]:
        """Up to *n* matching documents (None: all). Page size: n without filters, else max(n, 16)."""
        out: list[dict] = []
        cursor: str | None = None
        if n == 0:
            return out
        while True:
            want = _COLLECT_PAGE if n is None else (n - len(out) if not self._filters else max(n - len(out), _FILTER_MIN_PAGE))
            docs, cursor, done = self._page(want, cursor)
            for d in docs:
                if self._keep(d):
                    out.append(d)
                    if n is not None and len(out) >= n:
                        return out
            if done:
                return out

    def collect(self) -> list[dict]:
        return self._take(None)

    def __iter__(self):
        return iter(self.collect())

    def take(self, n: int) -> list[dict]:
        from engine.model.errors import QueryError

        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise QueryError(f"take() needs a non-negative int, got {n!r}")
        return self._take(n)

    def first(self) -> dict | None:
        docs = self._take(1)
        return docs[0] if docs else None

    def unique(self) -> dict | None:
        from engine.model.errors import QueryError

        docs = self._take(2)
        if len(docs) > 1:
            raise QueryError(f"unique() found more than one document in {self._table!r} "
                             f"(first two: {docs[0]['_id']}, {docs[1]['_id']})")
        return docs[0] if docs else None

    def paginate(self, opts: Any = None, cursor: str | None = None) -> PaginationResult:
        """One page: ``paginate({"numItems": n, "cursor": c})`` (Convex's paginationOpts) or
        ``paginate(n, cursor)``. Filters apply within the page (a page may hold fewer than n)."""
        from engine.model.errors import QueryError

        if isinstance(opts, dict):
            n, cursor = opts.get("numItems"), opts.get("cursor")
        else:
            n = opts
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise QueryError(f"paginate() needs numItems >= 1, got {n!r}")
        if cursor is not None and not isinstance(cursor, str):
            raise QueryError(f"paginate() cursor must be a string or None, got {cursor!r}")
        docs, next_cursor, done = self._page(n, cursor)
        return PaginationResult(page=[d for d in docs if self._keep(d)], isDone=done, continueCursor=next_cursor)


class DatabaseReader:
    """``ctx.db`` in a query: ``get`` and ``query``. Each costs one syscall per call (per page)."""

    def __init__(self, bridge: Any, kind: str) -> None:
        self._bridge = bridge
        self._kind = kind

    def get(self, doc_id: str) -> dict | None:
        out = self._bridge.get(doc_id)
        return None if out is None else from_json(json.loads(out))

    def query(self, table: str) -> QueryBuilder:
        return QueryBuilder(self._bridge, table)

    def _read_only(self, op: str) -> None:
        from engine.model.errors import ReadOnlyError

        raise ReadOnlyError(f"ctx.db.{op}() is not available in a {self._kind}: queries are read-only")

    def insert(self, table: str, doc: dict) -> str:
        self._read_only("insert")

    def patch(self, doc_id: str, fields: dict) -> None:
        self._read_only("patch")

    def replace(self, doc_id: str, doc: dict) -> None:
        self._read_only("replace")

    def delete(self, doc_id: str) -> None:
        self._read_only("delete")


class DatabaseWriter(DatabaseReader):
    """``ctx.db`` in a mutation: reads plus ``insert``/``patch``/``replace``/``delete``."""

    def insert(self, table: str, doc: dict) -> str:
        return self._bridge.insert(table, _dumps(doc))

    def patch(self, doc_id: str, fields: dict) -> None:
        self._bridge.patch(doc_id, _dumps(fields))

    def replace(self, doc_id: str, doc: dict) -> None:
        self._bridge.replace(doc_id, _dumps(doc))

    def delete(self, doc_id: str) -> None:
        self._bridge.delete(doc_id)


class Scheduler:
    """``ctx.scheduler``: ``run_after(delay_ms, fn, args)``, ``run_at(ms, fn, args)``, ``cancel(id)``.
    From a mutation the schedule is part of the transaction; from an action it is immediate."""

    def __init__(self, bridge: Any) -> None:
        self._bridge = bridge

    def run_after(self, delay_ms: float, fn: Any, args: Any = None) -> str:
        base = self._bridge.now() >> 16
        return self.run_at(base + max(0.0, float(delay_ms)), fn, args)

    def run_at(self, at_ms: float, fn: Any, args: Any = None) -> str:
        return self._bridge.schedule(float(at_ms), _path_of(fn), _dumps({} if args is None else args))

    def cancel(self, job_id: str) -> None:
        self._bridge.cancel(job_id)


class Env:
    """``ctx.env``: the deployment's environment variables (read-only): ``ctx.env.get("URL", default)``."""

    def __init__(self, bridge: Any) -> None:
        self._bridge = bridge

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._bridge.get_env(name)
        return default if value is None else value

    def __getitem__(self, name: str) -> str:
        value = self._bridge.get_env(name)
        if value is None:
            raise KeyError(f"environment variable {name!r} is not set for this deployment")
        return value


class _BaseContext:
    def __init__(self, bridge: Any, path: str, args_json: str) -> None:
        self._bridge = bridge
        self.function_path = path
        self._random: _random.Random | None = None
        self.env = Env(bridge)

    def now(self) -> int:
        """The transaction's timestamp in epoch milliseconds (deterministic: fixed for the whole call)."""
        return self._bridge.now() >> 16

    @property
    def random(self) -> _random.Random:
        """A generator seeded by the host from (function, arguments, snapshot): deterministic."""
        if self._random is None:
            self._random = _random.Random(self._bridge.random_seed())
        return self._random


class QueryCtx(_BaseContext):
    def __init__(self, bridge: Any, path: str, args_json: str) -> None:
        super().__init__(bridge, path, args_json)
        self.db = DatabaseReader(bridge, "query")


class MutationCtx(_BaseContext):
    def __init__(self, bridge: Any, path: str, args_json: str) -> None:
        super().__init__(bridge, path, args_json)
        self.db = DatabaseWriter(bridge, "mutation")
        self.scheduler = Scheduler(bridge)


class ActionCtx(_BaseContext):
    """Actions are not transactional: no ``ctx.db``; they call queries and mutations, schedule, fetch."""

    def __init__(self, bridge: Any, path: str, args_json: str) -> None:
        super().__init__(bridge, path, args_json)
        self.scheduler = Scheduler(bridge)

    def run_query(self, fn: Any, args: Any = None) -> Any:
        return from_json(json.loads(self._bridge.run_query(_path_of(fn), _dumps({} if args is None else args))))

    def run_mutation(self, fn: Any, args: Any = None) -> Any:
        return from_json(json.loads(self._bridge.run_mutation(_path_of(fn), _dumps({} if args is None else args))))

    def run_action(self, fn: Any, args: Any = None) -> Any:
        return from_json(json.loads(self._bridge.run_action(_path_of(fn), _dumps({} if args is None else args))))

    def fetch(self, url: str, *, method: str = "GET", headers: dict | None = None, body: str | None = None) -> "Response":
        """An HTTP request through the host; only URLs the deployment allows. Returns a Response."""
        req = {"url": url, "method": method, "headers": dict(headers or {}), "body": body}
        return Response(json.loads(self._bridge.fetch(json.dumps(req))))


class Response:
    """The result of ``ctx.fetch``: ``status``, ``headers`` (dict), ``text``, ``json()``."""

    def __init__(self, raw: dict) -> None:
        self.status: int = raw["status"]
        self.headers: dict = raw.get("headers", {})
        self.text: str = raw.get("body", "")

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.text)


def make_context(kind: str, bridge: Any, path: str, args_json: str) -> Any:
    return {"query": QueryCtx, "mutation": MutationCtx, "action": ActionCtx}[kind](bridge, path, args_json)
