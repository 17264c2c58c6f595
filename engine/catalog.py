"""The catalog: which tables exist, their numbers (inside document ids), and their indexes.

Who may call it: the database (open, schema installation) and transactions (``ensure_table`` on the first
insert into a new table, lookups). It is persisted as one JSON global ("catalog") by the database.

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

import json
import threading
from dataclasses import dataclass, field

from engine.model.errors import UnknownIndexError, UnknownTableError

FIRST_USER_TABLE_NUMBER = 10001
BY_ID = "by_id"
BY_CREATION_TIME = "by_creation_time"
SYSTEM_INDEXES = (BY_ID, BY_CREATION_TIME)


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """One index of one table. ``fields`` are the user-visible fields; ``key_fields`` what the key holds
    before the trailing document id."""

    table: str
    name: str
    fields: tuple[str, ...]
    index_id: int

    @property
    def full_name(self) -> str:
        return f"{self.table}.{self.name}"

    @property
    def key_fields(self) -> tuple[str, ...]:
        if self.name == BY_ID:
            return ()
        if self.name == BY_CREATION_TIME:
            return ("_creationTime",)
        return (*self.fields, "_creationTime")

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
    """Tables and indexes; thread-safe. Mutations return True when the catalog changed (to be persisted)."""

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
