"""The query builder: index ranges, order, filter, take/first/unique/collect, paginate.

Who may call it: user functions through ``tx.query(table)``. It reads only through a ``ScanSource`` (the
transaction, which depends on this module, never the other way round) and records in the transaction's
read set exactly the key interval it consumed:
- a full ``collect()`` records the whole index range;
- ``take(n)`` / ``first()`` / ``paginate`` record from the range start up to and including the last key
  they examined (for a descending scan: from that key to the range end), so later writes beyond that
  point do not conflict with, or invalidate, this query;
- documents rejected by ``filter`` were still read: their keys are inside the recorded interval.
It consumes ``scan_batches``: each batch (keys and decoded documents) comes from one native call, and a
query without ``filter`` takes whole batches (cut at its limit) with no Python step per row.

Index range expressions follow Convex: zero or more ``eq`` on a prefix of the index fields in order,
then optionally a lower bound (``gt``/``gte``) and/or an upper bound (``lt``/``lte``) on the next field.
User indexes end implicitly with ``_creationTime``; ``by_creation_time`` has that field alone; ``by_id``
has ``_id``.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from engine.catalog import BY_CREATION_TIME, IndexInfo
from engine.model import values
from engine.model.errors import QueryError
from engine.model.types import Interval, key_successor


class ScanSource(Protocol):
    """What a query needs from its transaction (``engine.txn.transaction.Transaction`` provides it)."""

    @property
    def keys(self) -> Any: ...            # engine.documents.DocumentKeys: ``keys.codec`` builds ranges

    def resolve_index(self, table: str, name: str) -> IndexInfo: ...
    def scan(self, ix: IndexInfo, interval: Interval, reverse: bool) -> Iterator[tuple[bytes, dict]]: ...
    def scan_batches(self, ix: IndexInfo, interval: Interval, reverse: bool,
                     first: int | None = None) -> Iterator[tuple[list[bytes], list[dict]]]: ...
    def scan_first(self, ix: IndexInfo, interval: Interval, reverse: bool,
                   limit: int) -> tuple[list[bytes], list[dict]] | None: ...
    def record_read(self, ix: IndexInfo, interval: Interval) -> None: ...


@dataclass(frozen=True, slots=True)
class PaginationResult:
    page: list[dict]
    is_done: bool
    continue_cursor: str


class IndexRange:
    """Collects a range expression: ``q.eq("a", 1).gte("b", 2).lt("b", 9)``."""

    def __init__(self, ix: IndexInfo, codec: Any) -> None:
        self._ix = ix
        self._codec = codec
        self._fields = ix.range_fields
        self._eq: list[Any] = []
        self._lower: tuple[Any, bool] | None = None
        self._upper: tuple[Any, bool] | None = None

    def _next_field(self) -> str:
        if len(self._eq) >= len(self._fields):
            raise QueryError(f"index {self._ix.full_name} has only the fields {list(self._fields)}; nothing is left to constrain")
        return self._fields[len(self._eq)]

    def eq(self, field: str, value: Any) -> "IndexRange":
        if self._lower is not None or self._upper is not None:
            raise QueryError("eq() must come before any gt/gte/lt/lte in an index range")
        want = self._next_field()
        if field != want:
            raise QueryError(f"index {self._ix.full_name}: expected eq on field {want!r} next, got {field!r} "
                             f"(index fields in order: {list(self._fields)})")
        self._eq.append(value)
        return self

    def _bound_field(self, field: str, op: str) -> None:
        want = self._next_field()
        if field != want:
            raise QueryError(f"index {self._ix.full_name}: {op}() must be on field {want!r} (the field after the "
                             f"eq() prefix), got {field!r}")

    def gt(self, field: str, value: Any) -> "IndexRange":
        return self._set_lower(field, value, False, "gt")

    def gte(self, field: str, value: Any) -> "IndexRange":
        return self._set_lower(field, value, True, "gte")

    def lt(self, field: str, value: Any) -> "IndexRange":
        return self._set_upper(field, value, False, "lt")

    def lte(self, field: str, value: Any) -> "IndexRange":
        return self._set_upper(field, value, True, "lte")

    def _set_lower(self, field: str, value: Any, inclusive: bool, op: str) -> "IndexRange":
        self._bound_field(field, op)
        if self._lower is not None:
            raise QueryError("an index range takes at most one lower bound (gt or gte)")
        self._lower = (value, inclusive)
        return self

    def _set_upper(self, field: str, value: Any, inclusive: bool, op: str) -> "IndexRange":
        self._bound_field(field, op)
        if self._upper is not None:
            raise QueryError("an index range takes at most one upper bound (lt or lte)")
        self._upper = (value, inclusive)
        return self

    def interval(self) -> Interval:
        validate = values.validate_value
        for v in self._eq:
            validate(v)
        for b in (self._lower, self._upper):
            if b is not None:
                validate(b[0])
        return self._codec.range_interval(tuple(self._eq), self._lower, self._upper)


class QueryBuilder:
    """A lazy query over one table. Terminal methods run it; each may be called once per builder."""

    def __init__(self, tx: ScanSource, table: str) -> None:
        self._tx = tx
        self._table = table
        self._ix: IndexInfo | None = None
        self._interval: Interval | None = None
        self._reverse = False
        self._filters: list[Callable[[dict], bool]] = []

    def _index(self) -> IndexInfo:
        if self._ix is None:
            self._ix = self._resolve(BY_CREATION_TIME)
        return self._ix

    def _resolve(self, name: str) -> IndexInfo:
        return self._tx.resolve_index(self._table, name)

    def with_index(self, name: str, range_fn: Callable[[IndexRange], IndexRange] | None = None) -> "QueryBuilder":
        """Read through index *name*, restricted by *range_fn* (``lambda q: q.eq(...).gt(...)``)."""
        if self._ix is not None:
            raise QueryError("with_index() may be called once per query")
        ix = self._resolve(name)
        rng = IndexRange(ix, self._tx.keys.codec)
        if range_fn is not None:
            out = range_fn(rng)
            if out is not rng:
                raise QueryError("the index range function must return the range it was given (chain q.eq(...)...)")
        self._ix = ix
        self._interval = rng.interval()
        return self

    def order(self, direction: str) -> "QueryBuilder":
        if direction not in ("asc", "desc"):
            raise QueryError(f'order must be "asc" or "desc", got {direction!r}')
        self._reverse = direction == "desc"
        return self

    def filter(self, predicate: Callable[[dict], bool]) -> "QueryBuilder":
        """Keep documents for which *predicate(doc)* is truthy (evaluated after the index range)."""
        if not callable(predicate):
            raise QueryError("filter() takes a callable doc -> bool")
        self._filters.append(predicate)
        return self

    # ---- execution -------------------------------------------------------------------------------

    def _range(self) -> tuple[IndexInfo, Interval]:
        ix = self._index()
        iv = self._interval if self._interval is not None else self._tx.keys.codec.range_interval((), None, None)
        return ix, iv

    def _run(self, limit: int | None, start_after: bytes | None = None) -> tuple[list[dict], bytes | None, bool]:
        """Scan; return (docs, last key examined, exhausted). Records the consumed interval."""
        ix, iv = self._range()
        scan_iv = iv
        if start_after is not None:
            scan_iv = Interval(iv.start, start_after) if self._reverse else Interval(key_successor(start_after), iv.end)
        out: list[dict] = []
        last: bytes | None = None
        exhausted = True
        if limit is not None and limit > 0 and not self._filters:
            # The common first()/take(n)/unique() shape: one native call when the source can serve it
            # (no buffered write to overlay); fewer rows than asked means the range was read to its end.
            got = self._tx.scan_first(ix, scan_iv, self._reverse, limit)
            if got is not None:
                keys, out = got
                exhausted = len(keys) < limit
                last = keys[-1] if keys else None
                self._record(ix, scan_iv, last, exhausted)
                return out, last, exhausted
        if limit is None or limit > 0:
            filters = self._filters
            # Batches of decoded documents, one native call each; without a filter a batch is taken whole
            # (or cut at the limit) with no Python step per row.
            # The first batch is sized to the limit: take(n)/first() resolve no documents they do not use.
            for keys, docs in self._tx.scan_batches(ix, scan_iv, self._reverse, limit):
                if filters:
                    for key, doc in zip(keys, docs):
                        last = key
                        if all(f(doc) for f in filters):
                            out.append(doc)
                            if limit is not None and len(out) >= limit:
                                exhausted = False
                                break
                    if not exhausted:
                        break
                elif limit is not None and len(out) + len(docs) >= limit:
                    need = limit - len(out)
                    out.extend(docs[:need])
                    last = keys[need - 1]
                    exhausted = False
                    break
                else:
                    out.extend(docs)
                    last = keys[-1]
        else:
            exhausted = False
        self._record(ix, scan_iv, last, exhausted)
        return out, last, exhausted

    def _record(self, ix: IndexInfo, iv: Interval, last: bytes | None, exhausted: bool) -> None:
        if exhausted:
            self._tx.record_read(ix, iv)
        elif last is not None:
            if self._reverse:
                self._tx.record_read(ix, Interval(last, iv.end))
            else:
                self._tx.record_read(ix, Interval(iv.start, key_successor(last)))

    def __iter__(self) -> Iterator[dict]:
        return iter(self.collect())

    def collect(self) -> list[dict]:
        """Every matching document. Reads (and records) the whole range."""
        return self._run(None)[0]

    def take(self, n: int) -> list[dict]:
        """The first *n* matching documents in order; records only up to the last key examined."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise QueryError(f"take() needs a non-negative int, got {n!r}")
        return self._run(n)[0]

    def first(self) -> dict | None:
        docs = self._run(1)[0]
        return docs[0] if docs else None

    def unique(self) -> dict | None:
        """The single matching document, None if there is none; QueryError if there are several."""
        docs = self._run(2)[0]
        if len(docs) > 1:
            raise QueryError(f"unique() found more than one document in {self._table!r} "
                             f"(first two: {docs[0]['_id']}, {docs[1]['_id']})")
        return docs[0] if docs else None

    def paginate(self, num_items: int, cursor: str | None = None) -> PaginationResult:
        """One page of at most *num_items* documents after *cursor* (None: from the start).

        ``continue_cursor`` resumes after the last key examined; when ``is_done`` it marks the end.
        A cursor is only valid for the same table, index, range and order; a mismatched one is a QueryError.
        """
        if not isinstance(num_items, int) or isinstance(num_items, bool) or num_items <= 0:
            raise QueryError(f"paginate() needs num_items >= 1, got {num_items!r}")
        ix, iv = self._range()
        start_after = self._decode_cursor(cursor, ix, iv) if cursor else None
        docs, last, exhausted = self._run(num_items, start_after)
        resume = last if last is not None else start_after
        return PaginationResult(docs, exhausted, self._encode_cursor(ix, iv, resume, exhausted))

    # Cursor: base64url( 8-byte query fingerprint | 1 byte state | last key ). The fingerprint ties a
    # cursor to its query shape so a cursor from another query fails loudly instead of skipping rows.
    def _fingerprint(self, ix: IndexInfo, iv: Interval) -> bytes:
        h = hashlib.blake2b(digest_size=8)
        for part in (ix.full_name.encode(), ",".join(ix.fields).encode(), iv.start, b"\x01" if iv.end is None else b"\x00" + iv.end,
                     b"d" if self._reverse else b"a"):
            h.update(len(part).to_bytes(4, "big") + part)
        return h.digest()

    def _encode_cursor(self, ix: IndexInfo, iv: Interval, last: bytes | None, done: bool) -> str:
        state = b"E" if done else (b"K" if last is not None else b"S")
        raw = self._fingerprint(ix, iv) + state + (last or b"")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode_cursor(self, cursor: str, ix: IndexInfo, iv: Interval) -> bytes | None:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, TypeError):
            raise QueryError("malformed pagination cursor") from None
        if len(raw) < 9 or raw[:8] != self._fingerprint(ix, iv):
            raise QueryError("pagination cursor does not belong to this query (table, index, range and order must match)")
        state, last = raw[8:9], raw[9:]
        if state == b"S":
            return None
        if state == b"E":
            # Past the end: resume after the range's end so the page is empty but still reactive to inserts
            # at the end of the range.
            return last if last else None
        if state == b"K":
            return last
        raise QueryError("malformed pagination cursor")
