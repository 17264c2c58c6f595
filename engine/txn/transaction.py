"""Transaction: snapshot reads at ``begin_ts``, read-set recording, and a buffered write set.

Who may call it: the database creates transactions (``Database.begin``) and hands them to user functions
(as ``tx``); the query builder (``engine.query``) reads through the ``ScanSource`` methods
(``catalog``, ``keys``, ``resolve_index``, ``scan``, ``scan_batches``, ``record_read``); the committer receives
``finalize()``'s result. A transaction never writes storage itself: all writes stay in its buffer until
the committer validates and persists them. It never runs user code either (the database does). It owns
its state: ``settle(verdict)``, ``abort()`` and ``release()`` are the only ways out of ``OPEN``.

Invariants:
- Every read from the snapshot records the key interval it covered (a ``get`` records one by_id key; a
  scan records what the query layer reports it consumed), keyed by index *identity*, so a conflicting
  commit can be detected, whatever schema changes happened meanwhile.
- A transaction reads its own writes: ``get`` and queries overlay the write buffer on the snapshot.
- The catalog and schema a transaction uses are those in force at ``begin_ts``; a table it creates (first
  insert) exists only in its own copy of the catalog until it commits, and that copy commits with it
  (``CatalogChange``) or not at all.
- ``_creationTime`` values handed out by one transaction strictly increase (``math.nextafter``).
- Nothing is buffered unless it passed value, size and schema validation: a failed write leaves the
  transaction as it was.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator

from engine import encoding, ids

from engine.model import values
from engine.catalog import (BY_ID, SYSTEM_INDEXES, SYSTEM_TABLES, Catalog, CatalogChange, CatalogVersion, IndexInfo,
                            TableInfo, absent_table_key, check_table_name)
from engine.clock.hlc import to_millis
from engine.conflict.base import Verdict
from engine.documents import DocumentKeys
from engine.model.errors import (DocumentNotFoundError, InvalidIdError, InvalidValueError, ReadOnlyError, RippleError,
                                 UnknownIndexError)
from engine.model.validators import ValidationContext
from engine.index.base import SCAN_BATCH, scan_documents_by_batches
from engine.query import QueryBuilder
from engine.txn.read_set import ReadSet
from engine.model.types import Interval, Timestamp

__all__ = ["SYSTEM_TABLES", "TxnState", "TxnContext", "CatalogChange", "PendingWrite", "FinalTransaction",
           "Transaction"]


class TxnState(enum.Enum):
    OPEN = "open"
    COMMITTED = "committed"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class TxnContext:
    """What a transaction may use from the engine: a narrow value the database builds once and shares.

    ``index_view(index_id)`` opens an index of the store for reads; ``new_id(table_number, now_ms)``
    draws a document id; ``physical_ms()`` is the injected physical clock; ``make_interval_set`` the
    selected interval-set kernel; ``keys`` the index-key derivation with the selected key codec;
    ``table_number_of(doc_id)`` the selected id kernel's decoder (raises InvalidIdError).
    """

    keys: DocumentKeys
    index_view: Callable[[int], Any]
    new_id: Callable[[int, float], str]
    physical_ms: Callable[[], int]
    make_interval_set: Callable[[], Any]
    table_number_of: Callable[[str], int] = ids.table_number_of


@dataclass(slots=True)
class PendingWrite:
    """One document's net change in this transaction (several writes to one document collapse).

    The new version is kept *encoded* (``new_encoded``) together with its key in every index
    (``new_keys``), both computed once when the write is staged: that is what the committer writes, so a
    caller mutating its own dict afterwards cannot change what commits, and the committer does no
    encoding or key computation of its own. ``old_keys`` are the snapshot version's keys.
    """

    table: str
    id: str
    old_doc: dict | None          # the snapshot version (None: inserted by this transaction)
    old_ts: int | None            # its commit ts
    new_encoded: bytes | None     # None: deleted
    old_keys: dict[int, bytes]    # index id -> key of old_doc
    new_keys: dict[int, bytes]    # index id -> key of the new version

    @property
    def kind(self) -> str:
        if self.old_doc is None:
            return "insert"
        return "delete" if self.new_encoded is None else "update"


@dataclass(frozen=True, slots=True)
class FinalTransaction:
    """What the committer receives: the snapshot ts, what was read, what to write, who wrote it, the
    catalog version it ran against (``catalog_ts``) and the catalog change it commits, if any."""

    begin_ts: Timestamp
    read_set: ReadSet
    writes: tuple[PendingWrite, ...]
    writer: str
    catalog_ts: Timestamp = Timestamp(0)
    catalog_change: CatalogChange | None = None

    @property
    def writes_anything(self) -> bool:
        return bool(self.writes) or self.catalog_change is not None


class Transaction:
    """A read-write (or read-only) transaction at snapshot ``begin_ts``.

    Document methods cost one index lookup (O(log n)) plus decoding; queries are lazy scans.
    """

    def __init__(self, ctx: TxnContext, begin_ts: Timestamp, catalog: CatalogVersion, *, read_only: bool = False,
                 writer: str = "anonymous") -> None:
        self._ctx = ctx
        self._keys = ctx.keys
        self.begin_ts = begin_ts
        self.read_only = read_only
        self.writer = writer
        self.read_set = ReadSet(ctx.make_interval_set)
        self._base = catalog
        self._new_catalog: Catalog | None = None   # this transaction's copy, once it creates a table
        self._created: list[str] = []
        self._writes: dict[str, PendingWrite] = {}
        self._next_creation_time: float | None = None
        self._state = TxnState.OPEN
        self._validation: ValidationContext | None = None

    # ---- state -----------------------------------------------------------------------------------

    @property
    def state(self) -> TxnState:
        return self._state

    def settle(self, verdict: Verdict) -> None:
        """Record the committer's verdict: COMMITTED on COMMIT, ABORTED otherwise. Only from OPEN."""
        self._leave(TxnState.COMMITTED if verdict is Verdict.COMMIT else TxnState.ABORTED)

    def abort(self) -> None:
        """Give up (the function raised, or the caller discards the transaction): nothing is written."""
        if self._state is TxnState.OPEN:
            self._state = TxnState.ABORTED

    def release(self) -> None:
        """End a read-only use (a query): the snapshot was consistent, so it counts as committed."""
        if self._state is TxnState.OPEN:
            self._state = TxnState.COMMITTED

    def _leave(self, state: TxnState) -> None:
        if self._state is not TxnState.OPEN:
            raise RippleError(f"transaction is already {self._state.value}")
        self._state = state

    # ---- catalog ---------------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The catalog this transaction sees: the one in force at ``begin_ts`` plus tables it created."""
        return self._new_catalog if self._new_catalog is not None else self._base.catalog

    @property
    def schema(self) -> Any:
        return self._base.schema

    @property
    def keys(self) -> DocumentKeys:
        return self._keys

    def _ensure_table(self, name: str) -> TableInfo:
        cat = self.catalog
        if cat.has_table(name):
            return cat.table(name)
        if self._new_catalog is None:
            self._new_catalog = self._base.catalog.copy()
        table, _ = self._new_catalog.ensure_table(name)
        self._created.append(name)
        return table

    def validation_context(self) -> Any:
        """The schema validation context: ``v.id(table)`` resolves ids through this transaction's catalog
        (as it is at each lookup, tables this transaction created included). Built once per transaction."""
        if self._validation is None:
            self._validation = ValidationContext(table_of_id=self._table_name_of_id)
        return self._validation

    def _table_name_of_id(self, doc_id: str) -> str | None:
        try:
            t = self.catalog.table_by_number(self._ctx.table_number_of(doc_id))
        except InvalidIdError:
            return None
        return t.name if t is not None else None

    def _validate_for_schema(self, table: str, user_doc: dict) -> None:
        schema = self._base.schema
        if schema is not None:
            schema.validate_document(table, user_doc, self.validation_context())

    # ---- documents -----------------------------------------------------------------------------

    def get(self, doc_id: str) -> dict | None:
        """The document with this id as this transaction sees it, or None if it does not exist.

        Raises InvalidIdError for a string that is not a well-formed id. Records a one-key read.
        """
        if self._state is not TxnState.OPEN:
            self._check_open()
        table = self._table_of(doc_id)
        if table is None:
            return None
        if self._writes:
            pw = self._writes.get(doc_id)
            if pw is not None:
                return self._new_doc(pw)
        return self._snapshot_doc(table, doc_id)[0]

    def insert(self, table: str, doc: dict) -> str:
        """Insert *doc* into *table* (created on first use) and return its new ``_id``.

        *doc* holds user fields only; ``_id`` and ``_creationTime`` are assigned here.
        """
        self._check_writable()
        self._check_table_name(table)
        return self._insert(table, doc)

    def system_insert(self, table: str, doc: dict) -> str:
        """``insert`` into a system table (``SYSTEM_TABLES``); engine code only. No schema applies."""
        self._check_writable()
        if table not in SYSTEM_TABLES:
            raise InvalidValueError(f"{table!r} is not a system table")
        return self._insert(table, doc, system=True)

    def system_patch(self, doc_id: str, fields: dict) -> None:
        """``patch`` a system-table document; engine code only."""
        self._patch(doc_id, fields, system=True)

    def _insert(self, table: str, doc: dict, system: bool = False) -> str:
        if not isinstance(doc, dict):
            raise InvalidValueError(f"insert into {table!r} needs a dict document, got {type(doc).__name__}")
        if "_id" in doc or "_creationTime" in doc:
            raise InvalidValueError("insert: _id and _creationTime are assigned by the database; leave them out")
        if not system:
            self._validate_for_schema(table, doc)
        info = self._ensure_table(table)
        ct = self._take_creation_time()
        new_id = self._ctx.new_id(info.number, ct)
        full = dict(doc)
        full["_id"] = new_id
        full["_creationTime"] = ct
        # One pass validates every value and limit (the size limit includes the system fields) and yields
        # the encoding the committer will write.
        encoded = self._keys.encode(full)
        self._writes[new_id] = PendingWrite(table, new_id, None, None, encoded, {}, self._keys.keys_for(info, full))
        return new_id

    def patch(self, doc_id: str, fields: dict) -> None:
        """Shallow-merge *fields* into the document. A field whose value is ``engine.UNDEFINED`` is
        removed. ``_id``/``_creationTime`` may appear only with their current values.
        Raises DocumentNotFoundError if the document does not exist."""
        self._patch(doc_id, fields)

    def _patch(self, doc_id: str, fields: dict, system: bool = False) -> None:
        self._check_writable()
        if not isinstance(fields, dict):
            raise InvalidValueError(f"patch needs a dict of fields, got {type(fields).__name__}")
        table, current, snap = self._current_for_write(doc_id, system)
        updated = dict(current)
        for name, value in fields.items():
            if name in ("_id", "_creationTime"):
                if not values.values_equal(value, current[name]):
                    raise InvalidValueError(f"system field {name!r} cannot be changed")
                continue
            if value is encoding.UNDEFINED:
                updated.pop(name, None)
            else:
                updated[name] = value
        self._stage_update(table, doc_id, updated, system, snap)

    def replace(self, doc_id: str, doc: dict) -> None:
        """Replace the document's user fields with *doc* (system fields are kept).
        Raises DocumentNotFoundError if the document does not exist."""
        self._check_writable()
        if not isinstance(doc, dict):
            raise InvalidValueError(f"replace needs a dict document, got {type(doc).__name__}")
        table, current, snap = self._current_for_write(doc_id)
        updated = {}
        for name, value in doc.items():
            if name in ("_id", "_creationTime"):
                if not values.values_equal(value, current[name]):
                    raise InvalidValueError(f"system field {name!r} cannot be changed")
                continue
            updated[name] = value
        updated["_id"] = current["_id"]
        updated["_creationTime"] = current["_creationTime"]
        self._stage_update(table, doc_id, updated, False, snap)

    def delete(self, doc_id: str) -> None:
        """Delete the document. Raises DocumentNotFoundError if it does not exist."""
        self._delete(doc_id)

    def system_delete(self, doc_id: str) -> None:
        """``delete`` a system-table document; engine code only."""
        self._delete(doc_id, system=True)

    def _delete(self, doc_id: str, system: bool = False) -> None:
        self._check_writable()
        table, _, snap = self._current_for_write(doc_id, system)
        pw = self._writes.get(doc_id)
        if pw is not None:
            if pw.old_doc is None:
                del self._writes[doc_id]  # inserted and deleted in this transaction: nothing to write
            else:
                pw.new_encoded, pw.new_keys = None, {}
            return
        info = self.catalog.table(table)
        assert snap is not None
        old, old_ts = snap
        self._writes[doc_id] = PendingWrite(table, doc_id, old, old_ts, None, self._keys.keys_for(info, old), {})

    def query(self, table: str) -> QueryBuilder:
        """A query over *table* (see ``engine.query.QueryBuilder``); default order: by_creation_time asc."""
        self._check_open()
        return QueryBuilder(self, table)

    # ---- inspection ----------------------------------------------------------------------------

    def write_set(self) -> list[tuple[str, str, str]]:
        """Buffered writes as (kind, table, id), in first-write order."""
        return [(pw.kind, pw.table, pw.id) for pw in self._writes.values()]

    def has_writes(self) -> bool:
        return bool(self._writes)

    def finalize(self) -> FinalTransaction:
        """What to hand the committer. The transaction stays OPEN until ``settle``."""
        self._check_open()
        change = None
        if self._new_catalog is not None and self._created:
            change = CatalogChange(self._new_catalog, self._base.schema, created=tuple(self._created))
        return FinalTransaction(self.begin_ts, self.read_set, tuple(self._writes.values()), self.writer,
                                self._base.ts, change)

    # ---- internals shared with the query layer ---------------------------------------------------

    def _check_open(self) -> None:
        if self._state is not TxnState.OPEN:
            raise RippleError(f"transaction is {self._state.value}; it can no longer be used")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise ReadOnlyError("this function is read-only (a query); it cannot insert, patch, replace or delete")

    _check_table_name = staticmethod(check_table_name)

    def _table_of(self, doc_id: str) -> TableInfo | None:
        if not isinstance(doc_id, str):
            raise InvalidIdError(f"document id must be a string, got {type(doc_id).__name__}")
        number = self._ctx.table_number_of(doc_id)
        return self.catalog.table_by_number(number)

    def _snapshot_doc(self, table: TableInfo, doc_id: str) -> tuple[dict | None, int | None]:
        if self._created and table.name in self._created:  # created by this transaction: nothing in the snapshot
            return None, None
        ix = table.indexes[BY_ID]
        key = self._keys.id_key(doc_id)
        self.read_set.record_point(ix.index_id, key, ix.full_name)
        # One native call: the MVCC lookup, the decode and the version ts (the by_id value's header).
        got = self._ctx.index_view(ix.index_id).get_document(key, self.begin_ts, self._keys.decode)
        if got is None:
            return None, None
        return got

    def _current_for_write(self, doc_id: str, system: bool = False
                           ) -> tuple[str, dict, tuple[dict, int | None] | None]:
        """``(table name, the document as this transaction sees it, snapshot)`` where *snapshot* is the
        ``(document, version ts)`` read from the snapshot, or None when the document has a buffered write
        (the snapshot version was read then and is in the write). Raises DocumentNotFoundError."""
        table = self._table_of(doc_id)
        if table is not None and table.name in SYSTEM_TABLES and not system:
            raise ReadOnlyError(f"document {doc_id!r} is in the system table {table.name!r}, which functions cannot "
                                "write (use ctx.scheduler to schedule or cancel jobs)")
        if table is not None:
            pw = self._writes.get(doc_id)
            if pw is not None:
                if pw.new_encoded is not None:
                    return table.name, self._new_doc(pw), None  # type: ignore[return-value]
            else:
                snap = self._snapshot_doc(table, doc_id)
                if snap[0] is not None:
                    return table.name, snap[0], snap  # type: ignore[return-value]
        raise DocumentNotFoundError(f"document {doc_id!r} does not exist")

    def _stage_update(self, table: str, doc_id: str, updated: dict, system: bool = False,
                      snap: tuple[dict, int | None] | None = None) -> None:
        """Buffer *updated* as the new version. *snap* is the snapshot ``(document, ts)`` when the document
        had no buffered write (``_current_for_write`` read it; reused, not read again)."""
        info = self.catalog.table(table)
        encoded = self._keys.encode(updated)
        if not system:
            self._validate_for_schema(table, {k: v for k, v in updated.items() if k not in ("_id", "_creationTime")})
        new_keys = self._keys.keys_for(info, updated)
        pw = self._writes.get(doc_id)
        if pw is None:
            assert snap is not None
            old, old_ts = snap
            self._writes[doc_id] = PendingWrite(table, doc_id, old, old_ts, encoded, self._keys.keys_for(info, old), new_keys)
        else:
            pw.new_encoded, pw.new_keys = encoded, new_keys

    def _new_doc(self, pw: PendingWrite) -> dict | None:
        """A fresh decoded copy of a buffered write's new version (None if deleted)."""
        return self._keys.decode(pw.new_encoded) if pw.new_encoded is not None else None

    def _take_creation_time(self) -> float:
        if self._next_creation_time is None:
            self._next_creation_time = max(float(self._ctx.physical_ms()), to_millis(self.begin_ts))
        ct = self._next_creation_time
        self._next_creation_time = math.nextafter(ct, math.inf)
        return ct

    # ---- the query layer's scan source (engine.query.ScanSource) --------------------------------

    def physical_ms(self) -> int:
        """The injected physical clock (the function clock is max(snapshot, this))."""
        return self._ctx.physical_ms()

    @staticmethod
    def read_identity(ix: IndexInfo) -> Hashable:
        """The read-set identity of *ix* (placeholders of tables that do not exist share one per table)."""
        return ix.index_id if ix.index_id >= 0 else absent_table_key(ix.table)

    def record_read(self, ix: IndexInfo, interval: Interval) -> None:
        """Record that *interval* of *ix* was read (the query layer reports what it consumed)."""
        self.read_set.record(self.read_identity(ix), interval, ix.full_name)

    def resolve_index(self, table: str, name: str) -> IndexInfo:
        """Index *name* of *table* as this transaction's catalog defines it. A table nobody has created is
        simply empty: its system indexes resolve to a placeholder (index id -1) whose reads are recorded
        under ``absent_table_key(table)``, which the table's creation invalidates."""
        catalog = self.catalog
        if not catalog.has_table(table):
            if table not in SYSTEM_TABLES:
                check_table_name(table)
            if name in SYSTEM_INDEXES:
                fields = ("_id",) if name == BY_ID else ("_creationTime",)
                return IndexInfo(table, name, fields, -1)
            raise UnknownIndexError(f"index {table}.{name} does not exist (table {table!r} has no documents and no schema)")
        return catalog.index(table, name)

    def scan(self, ix: IndexInfo, interval: Interval, reverse: bool) -> Iterator[tuple[bytes, dict]]:
        """Rows of *ix* in *interval* as ``(key, doc)``, one at a time (see ``_scan_batches``)."""
        self._check_open()
        return self._scan(ix, interval, reverse)

    def scan_batches(self, ix: IndexInfo, interval: Interval, reverse: bool, first: int | None = None
                     ) -> Iterator[tuple[list[bytes], list[dict]]]:
        """See ``_scan_batches``."""
        self._check_open()
        return self._scan_batches(ix, interval, reverse, first)

    def scan_first(self, ix: IndexInfo, interval: Interval, reverse: bool, limit: int
                   ) -> tuple[list[bytes], list[dict]] | None:
        """The first *limit* (>= 1) rows of *ix* in *interval* at the snapshot as ``(keys, docs)``, in one
        native call of the index, or None when this transaction has buffered writes or created the table,
        or *limit* is a batch or more (then the caller uses ``scan_batches``, which overlays writes and
        bounds each call to ``SCAN_BATCH`` rows). Records nothing."""
        self._check_open()
        if self._writes or self._created or limit >= SCAN_BATCH:
            return None
        if ix.index_id < 0:  # placeholder index of a table that does not exist (see resolve_index)
            return [], []
        return self._ctx.index_view(ix.index_id).scan_documents(interval, self.begin_ts, limit, reverse, self._by_id_view(ix),
                                                                self._id_key_of_ref, self._keys.decode_many)

    def _by_id_view(self, ix: IndexInfo) -> Any:
        """The by_id index a scan of *ix* resolves its rows through (None when *ix* is by_id itself)."""
        if ix.name == BY_ID:
            return None
        return self._ctx.index_view(self.catalog.table(ix.table).indexes[BY_ID].index_id)

    def _overlay(self, ix: IndexInfo, interval: Interval) -> dict[bytes, dict | None]:
        """This transaction's own writes as they affect index *ix* inside *interval*: key -> new document,
        or None where a snapshot entry must be hidden (the document moved or was deleted)."""
        out: dict[bytes, dict | None] = {}
        for pw in self._writes.values():
            if pw.table != ix.table:
                continue
            if pw.old_doc is not None:
                k = pw.old_keys.get(ix.index_id) or self._keys.index_key(ix, pw.old_doc)
                if interval.contains(k):
                    out.setdefault(k, None)
            if pw.new_encoded is not None:
                k = pw.new_keys.get(ix.index_id) or self._keys.index_key(ix, self._new_doc(pw))  # type: ignore[arg-type]
                if interval.contains(k):
                    out[k] = self._new_doc(pw)
        return out

    def _id_key_of_ref(self, ref: bytes) -> bytes:
        """The by_id key of the document a non-by_id index row names (its value is the id, UTF-8)."""
        return self._keys.id_key(ref.decode())

    def _scan(self, ix: IndexInfo, interval: Interval, reverse: bool) -> Iterator[tuple[bytes, dict]]:
        for keys, docs in self._scan_batches(ix, interval, reverse):
            yield from zip(keys, docs)

    def _scan_batches(self, ix: IndexInfo, interval: Interval, reverse: bool, first: int | None = None
                      ) -> Iterator[tuple[list[bytes], list[dict]]]:
        """Rows of *ix* in *interval* at the snapshot, with this transaction's writes overlaid, in key order
        (descending if *reverse*), as ``(keys, docs)`` batches (never empty). Each snapshot batch is one
        native call of the index (``scan_documents``: the rows, their documents through by_id at the same
        snapshot, decoded); the first holds at most *first* snapshot rows when given (a hint: the caller
        expects to need about that many). Records nothing: the query layer records what it consumed."""
        if ix.index_id < 0:  # placeholder index of a table that does not exist (see resolve_index)
            return
        if ix.table in self._created:  # created by this transaction: only its own writes exist
            snapshot: Iterator[tuple[list[bytes], list[dict]]] = iter(())
        else:
            snapshot = scan_documents_by_batches(self._ctx.index_view(ix.index_id), interval, self.begin_ts, reverse,
                                                 self._by_id_view(ix), self._id_key_of_ref, self._keys.decode_many, first=first)
        overlay = self._overlay(ix, interval) if self._writes else {}
        if not overlay:
            yield from snapshot
            return
        # Merge the sorted overlay into each snapshot batch: an overlay key replaces (or, with None, hides)
        # the snapshot row of the same key and is inserted in key order otherwise.
        pending = sorted(overlay.items(), reverse=reverse)
        i = 0
        before: Callable[[bytes, bytes], bool] = (lambda a, b: a > b) if reverse else (lambda a, b: a < b)
        for keys, docs in snapshot:
            out_keys: list[bytes] = []
            out_docs: list[dict] = []
            for key, doc in zip(keys, docs):
                while i < len(pending) and before(pending[i][0], key):
                    k, d = pending[i]
                    i += 1
                    if d is not None:
                        out_keys.append(k)
                        out_docs.append(d)
                if i < len(pending) and pending[i][0] == key:
                    k, d = pending[i]
                    i += 1
                    if d is not None:
                        out_keys.append(k)
                        out_docs.append(d)
                    continue
                out_keys.append(key)
                out_docs.append(doc)
            if out_keys:
                yield out_keys, out_docs
        rest = [(k, d) for k, d in pending[i:] if d is not None]
        if rest:
            yield [k for k, _ in rest], [d for _, d in rest]
