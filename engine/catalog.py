"""The catalog: which tables exist, their numbers (inside document ids), and their indexes; and its
history, one immutable version per catalog-changing commit.

Who may call it: transactions (lookups; ``ensure_table`` on their own copy at the first insert into a new
table), the committer (installs versions), schema migration (builds new versions), recovery (decodes
catalog records).

A catalog change is a commit like any other: its record in the durable log carries one write to the
reserved table ``_catalog`` whose value is the whole new catalog plus the schema (``encode_catalog``), and
the index store keeps those values under the reserved index id 0 (``CATALOG_INDEX_ID``), so the catalog at
any retained timestamp is an MVCC read, and a crash can never separate a catalog from its schema.
A ``Catalog`` object is never changed once installed in a ``CatalogHistory``: changes are made on a
``copy()`` and committed.

Invariants (``check_invariants``):
- Table names and table numbers are unique; numbers are >= ``FIRST_USER_TABLE_NUMBER`` and never reused.
- Every table has the two system indexes ``by_id`` (fields ``("_id",)``) and ``by_creation_time``
  (fields ``("_creationTime",)``); user indexes implicitly end with ``_creationTime`` (as in Convex), so
  their key is ``(fields..., _creationTime, _id)``.
- Index ids are unique across all tables and never reused (so a dropped index's leftovers in an index
  store can never be mistaken for a new one).
- Index names are unique per table; the full name "table.index" identifies an index engine-wide.
"""
from __future__ import annotations

import bisect
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Hashable

from engine.model.errors import InvalidValueError, PersistenceError, UnknownIndexError, UnknownTableError
from engine.model.types import Timestamp

FIRST_USER_TABLE_NUMBER = 10001
BY_ID = "by_id"
BY_CREATION_TIME = "by_creation_time"
SYSTEM_INDEXES = (BY_ID, BY_CREATION_TIME)

TABLE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
#: Tables the platform owns (scheduler jobs, mutation dedup). Readable by anyone through queries; written
#: only through ``system_insert`` / ``system_patch`` by engine code, never by user functions.
SYSTEM_TABLES = frozenset({"_scheduled_functions", "_session_requests"})

#: The reserved table of catalog records in the log, and the reserved index id (never given to a table's
#: index: those start at 1) under which the index store keeps every catalog version.
CATALOG_TABLE = "_catalog"
CATALOG_DOC_ID = "catalog"
CATALOG_INDEX_ID = 0
CATALOG_KEY = b"catalog"
CATALOG_FORMAT = 1


def check_table_name(table: Any) -> None:
    """Raise InvalidValueError unless *table* is a legal user table name."""
    if not isinstance(table, str) or not TABLE_NAME_RE.match(table):
        raise InvalidValueError(
            f"invalid table name {table!r}: must start with a letter and contain only letters, digits "
            "and underscores (at most 64 characters); names starting with '_' are reserved"
        )


def absent_table_key(table: str) -> Hashable:
    """The read-set identifier of "table *table* does not exist": a reader of a table nobody has created
    records its (empty) read under this key, and the commit that creates the table writes its whole range,
    so the read conflicts with, and is invalidated by, the table's creation."""
    return ("absent-table", table)


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """One index of one table. ``fields`` are the user-visible fields; ``key_fields`` what the key holds
    before the trailing document id. ``full_name`` ("table.index") and ``key_fields`` are computed once,
    at construction: both are on every read's and every write's path."""

    table: str
    name: str
    fields: tuple[str, ...]
    index_id: int
    full_name: str = field(init=False, repr=False, compare=False)
    key_fields: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "full_name", f"{self.table}.{self.name}")
        if self.name == BY_ID:
            key_fields: tuple[str, ...] = ()
        elif self.name == BY_CREATION_TIME:
            key_fields = ("_creationTime",)
        else:
            key_fields = (*self.fields, "_creationTime")
        object.__setattr__(self, "key_fields", key_fields)

    @property
    def range_fields(self) -> tuple[str, ...]:
        """Fields a range expression may constrain, in order (``_id`` for by_id)."""
        if self.name == BY_ID:
            return ("_id",)
        return self.key_fields


@dataclass
class TableInfo:
    name: str
    number: int
    indexes: dict[str, IndexInfo] = field(default_factory=dict)


class Catalog:
    """Tables and indexes. Changed only while it is a private copy (a transaction's or a migration's),
    never after it is installed in a ``CatalogHistory``; the lock guards the copy's own changes."""

    def __init__(self) -> None:
        self._tables: dict[str, TableInfo] = {}
        self._by_number: dict[int, TableInfo] = {}
        self._next_table_number = FIRST_USER_TABLE_NUMBER
        self._next_index_id = 1
        self._lock = threading.RLock()

    # ---- lookups -----------------------------------------------------------------------------------

    def table(self, name: str) -> TableInfo:
        try:
            return self._tables[name]
        except KeyError:
            raise UnknownTableError(f"table {name!r} does not exist") from None

    def has_table(self, name: str) -> bool:
        return name in self._tables

    def table_by_number(self, number: int) -> TableInfo | None:
        return self._by_number.get(number)

    def tables(self) -> list[str]:
        return sorted(self._tables)

    def index(self, table: str, name: str) -> IndexInfo:
        t = self.table(table)
        try:
            return t.indexes[name]
        except KeyError:
            raise UnknownIndexError(
                f"index {table}.{name} does not exist; table {table!r} has: {', '.join(sorted(t.indexes))}"
            ) from None

    def indexes_of(self, table: str) -> list[IndexInfo]:
        return list(self.table(table).indexes.values())

    def all_indexes(self) -> list[IndexInfo]:
        with self._lock:
            return [ix for t in self._tables.values() for ix in t.indexes.values()]

    def index_by_full_name(self, full: str) -> IndexInfo:
        table, _, name = full.partition(".")
        return self.index(table, name)

    # ---- changes -------------------------------------------------------------------------------

    def ensure_table(self, name: str) -> tuple[TableInfo, bool]:
        """The table, created (with its system indexes) if missing. Returns (table, created)."""
        with self._lock:
            t = self._tables.get(name)
            if t is not None:
                return t, False
            t = TableInfo(name, self._next_table_number)
            self._next_table_number += 1
            for ix_name, fields in ((BY_ID, ("_id",)), (BY_CREATION_TIME, ("_creationTime",))):
                t.indexes[ix_name] = IndexInfo(name, ix_name, fields, self._next_index_id)
                self._next_index_id += 1
            self._tables[name] = t
            self._by_number[t.number] = t
            return t, True

    def add_index(self, table: str, name: str, fields: tuple[str, ...]) -> IndexInfo:
        """Add a user index (the table must exist). Raises ValueError if the name is taken."""
        with self._lock:
            t = self.table(table)
            if name in t.indexes:
                raise ValueError(f"index {table}.{name} already exists")
            ix = IndexInfo(table, name, tuple(fields), self._next_index_id)
            self._next_index_id += 1
            t.indexes[name] = ix
            return ix

    def remove_index(self, table: str, name: str) -> IndexInfo:
        with self._lock:
            if name in SYSTEM_INDEXES:
                raise ValueError(f"cannot remove system index {table}.{name}")
            return self.table(table).indexes.pop(name)

    def copy(self) -> "Catalog":
        """An independent copy (to change and commit as a new version). O(tables + indexes)."""
        return Catalog.from_json(self.to_json())

    def index_ids(self) -> set[int]:
        return {ix.index_id for ix in self.all_indexes()}

    def index_by_id(self, index_id: int) -> IndexInfo | None:
        for ix in self.all_indexes():
            if ix.index_id == index_id:
                return ix
        return None

    # ---- persistence -----------------------------------------------------------------------------

    def to_json(self) -> bytes:
        with self._lock:
            obj = {
                "next_table_number": self._next_table_number,
                "next_index_id": self._next_index_id,
                "tables": {
                    t.name: {
                        "number": t.number,
                        "indexes": {ix.name: {"fields": list(ix.fields), "id": ix.index_id} for ix in t.indexes.values()},
                    }
                    for t in self._tables.values()
                },
            }
        return json.dumps(obj, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Catalog":
        obj = json.loads(data)
        c = cls()
        c._next_table_number = obj["next_table_number"]
        c._next_index_id = obj["next_index_id"]
        for name, t in obj["tables"].items():
            info = TableInfo(name, t["number"])
            for ix_name, ix in t["indexes"].items():
                info.indexes[ix_name] = IndexInfo(name, ix_name, tuple(ix["fields"]), ix["id"])
            c._tables[name] = info
            c._by_number[info.number] = info
        c.check_invariants()
        return c

    def check_invariants(self) -> None:
        numbers = [t.number for t in self._tables.values()]
        assert len(set(numbers)) == len(numbers), "duplicate table numbers"
        assert all(FIRST_USER_TABLE_NUMBER <= n < self._next_table_number for n in numbers)
        ids = [ix.index_id for t in self._tables.values() for ix in t.indexes.values()]
        assert len(set(ids)) == len(ids), "duplicate index ids"
        assert all(0 < i < self._next_index_id for i in ids)
        for t in self._tables.values():
            assert self._by_number[t.number] is t
            for s in SYSTEM_INDEXES:
                assert s in t.indexes, f"{t.name} lacks {s}"
            for ix in t.indexes.values():
                assert ix.table == t.name


# ---- versions and history --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogVersion:
    """The catalog and schema in force from commit ``ts`` on (ts 0: the empty catalog of a new database).
    Neither object may be changed once the version is installed."""

    ts: Timestamp
    catalog: Catalog
    schema: Any = None          # engine.model.schema.Schema | None


@dataclass(frozen=True, slots=True)
class CatalogChange:
    """A change of the catalog (and schema) that commits atomically with a transaction, as one write to
    the reserved ``_catalog`` table of its log record.

    ``catalog``/``schema``: the new version. ``dropped``: indexes of the old catalog that no longer exist
    (their whole range is invalidated). ``backfill``: new indexes on tables that already existed, filled
    from the log before the commit becomes visible. ``created``: tables that did not exist.
    """

    catalog: Catalog
    schema: Any
    dropped: tuple[IndexInfo, ...] = ()
    backfill: tuple[IndexInfo, ...] = ()
    created: tuple[str, ...] = ()


def diff_catalogs(old: Catalog, new: Catalog, schema: Any) -> CatalogChange:
    """The change that turns *old* into *new* (index identity is the id: a redefined index is one
    dropped and one added). O(indexes)."""
    new_ids = new.index_ids()
    old_ids = old.index_ids()
    dropped = tuple(ix for ix in old.all_indexes() if ix.index_id not in new_ids)
    created = tuple(t for t in new.tables() if not old.has_table(t))
    backfill = tuple(ix for ix in new.all_indexes()
                     if ix.index_id not in old_ids and old.has_table(ix.table) and ix.name not in SYSTEM_INDEXES)
    return CatalogChange(new, schema, dropped, backfill, created)


def encode_catalog(catalog: Catalog, schema: Any) -> bytes:
    """The value of a catalog record: the whole catalog and schema, deterministic JSON."""
    return json.dumps({"format": CATALOG_FORMAT, "catalog": json.loads(catalog.to_json()),
                       "schema": schema.to_json() if schema is not None else None}, sort_keys=True).encode()


def decode_catalog(ts: Timestamp, raw: bytes) -> CatalogVersion:
    """Inverse of ``encode_catalog``; PersistenceError for a value this version cannot read."""
    try:
        obj = json.loads(raw)
        fmt = obj.get("format")
    except (ValueError, AttributeError, TypeError) as exc:
        raise PersistenceError(f"catalog record at ts {ts} is not readable: {exc}") from None
    if fmt != CATALOG_FORMAT:
        raise PersistenceError(f"catalog record at ts {ts} has format {fmt!r}; this Ripple reads format {CATALOG_FORMAT}")
    schema = None
    if obj.get("schema") is not None:
        from engine.model.schema import Schema

        schema = Schema.from_json(obj["schema"])
    return CatalogVersion(Timestamp(ts), Catalog.from_json(json.dumps(obj["catalog"]).encode()), schema)


class CatalogHistory:
    """Every retained catalog version in commit order; ``at(ts)`` is the one a snapshot at *ts* sees.

    Written only by the committer (``install``, ``rollback_from``) and by recovery at open; read by any
    thread. Readers never block: ``install`` publishes a new list (copy on write), so a reader sees either
    the old or the new history, whole. Cost: ``at`` O(log versions); ``install`` O(versions).
    """

    def __init__(self, versions: list[CatalogVersion]) -> None:
        if not versions:
            versions = [CatalogVersion(Timestamp(0), Catalog(), None)]
        self._versions = list(versions)
        self._stamps = [v.ts for v in self._versions]
        self.check_invariants()

    @property
    def current(self) -> CatalogVersion:
        return self._versions[-1]

    def at(self, ts: Timestamp) -> CatalogVersion:
        """The version in force at snapshot *ts*: the newest with ``version.ts <= ts`` (the oldest
        retained one for a *ts* below every version)."""
        stamps = self._stamps
        i = bisect.bisect_right(stamps, ts) - 1
        return self._versions[max(i, 0)]

    def versions(self) -> list[CatalogVersion]:
        return list(self._versions)

    def install(self, version: CatalogVersion) -> None:
        """Append *version* (its ts must exceed the current one's)."""
        if version.ts <= self._versions[-1].ts and self._versions[-1].ts != 0:
            raise ValueError(f"catalog version {version.ts} is not newer than {self._versions[-1].ts}")
        versions = self._versions + [version]
        self._stamps, self._versions = [v.ts for v in versions], versions

    def rollback_from(self, ts: Timestamp) -> None:
        """Forget versions with ``ts >=`` *ts* (their durable write failed)."""
        versions = [v for v in self._versions if v.ts < ts] or self._versions[:1]
        self._stamps, self._versions = [v.ts for v in versions], versions

    def check_invariants(self) -> None:
        stamps = self._stamps
        assert stamps == [v.ts for v in self._versions]
        assert all(a < b for a, b in zip(stamps, stamps[1:])), "catalog versions must strictly increase"
        for v in self._versions:
            v.catalog.check_invariants()
            assert CATALOG_INDEX_ID not in v.catalog.index_ids()
