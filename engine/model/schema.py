"""Tables and schemas: ``define_table``, ``define_schema``, ``Schema`` and its JSON form.

Role: gather per-table document validators and user indexes into a ``Schema``, check documents against
it, and persist it as plain JSON. Validators themselves are ``engine.model.validators``; their JSON form
is ``engine.model.validator_json``.

Who may call it: application code builds schemas with ``v`` / ``define_table`` / ``define_schema``; the
transaction layer calls ``Schema.validate_document`` on every insert/patch/replace (after stripping the
system fields ``_id`` and ``_creationTime``); the catalog persists schemas with ``Schema.to_json`` /
``Schema.from_json``. Nothing here touches storage. Standard library and ``engine.model`` only (the wasm
guest bundles it).

Invariants:
- ``Schema.from_json(s.to_json()) == s``; the JSON is deterministic (tables sorted by name).
- Index keys: an index declared on ``fields`` is keyed by ``(*fields, "_creationTime", "_id")``; the two
  system fields are appended implicitly and may not be named. ``by_id`` and ``by_creation_time`` are the
  implicit system indexes of every table and are reserved names.
- A ``TableDefinition`` is a mutable builder until a ``Schema`` holds it; ``define_schema`` freezes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from engine.model.errors import SchemaDefinitionError, SchemaValidationError
from engine.model.validator_json import expect_keys, validator_from_json, validator_to_json
from engine.model.validators import (DEFAULT_CONTEXT, ValidationContext, ValidationFailure, Validator, is_identifier,
                                     v)

__all__ = [
    "IndexDefinition",
    "TableDefinition",
    "Schema",
    "define_table",
    "define_schema",
    "SYSTEM_INDEXES",
    "IMPLICIT_INDEX_SUFFIX",
    "SCHEMA_JSON_VERSION",
]

#: Names of the indexes every table has implicitly; user indexes may not use them.
SYSTEM_INDEXES: tuple[str, ...] = ("by_id", "by_creation_time")
#: Fields appended to every user index key, in this order.
IMPLICIT_INDEX_SUFFIX: tuple[str, ...] = ("_creationTime", "_id")
#: Version tag written by ``Schema.to_json``; ``from_json`` rejects other versions.
SCHEMA_JSON_VERSION = 1



@dataclass(frozen=True, slots=True)
class IndexDefinition:
    """A user index: its name and the user fields it sorts by (dotted paths).

    The stored key is ``(*fields, _creationTime, _id)``; see ``key_fields``.
    """

    name: str
    fields: tuple[str, ...]

    @property
    def key_fields(self) -> tuple[str, ...]:
        """Every field of the index key, system suffix included."""
        return self.fields + IMPLICIT_INDEX_SUFFIX

    def to_json(self) -> dict:
        return {"name": self.name, "fields": list(self.fields)}


def _check_index_field(table_hint: str, index: str, path: Any) -> str:
    if not isinstance(path, str) or not path:
        raise SchemaDefinitionError(f"index {index!r}{table_hint}: field paths must be non-empty strings, got {path!r}")
    if path in IMPLICIT_INDEX_SUFFIX:
        raise SchemaDefinitionError(
            f"index {index!r}{table_hint}: {path!r} may not be listed; every index key implicitly ends with "
            "(_creationTime, _id)"
        )
    segments = path.split(".")
    if not all(is_identifier(s) for s in segments):
        raise SchemaDefinitionError(
            f"index {index!r}{table_hint}: field path {path!r} must be dot-separated identifiers"
        )
    if segments[0].startswith("_"):
        raise SchemaDefinitionError(
            f"index {index!r}{table_hint}: field path {path!r} may not start with '_' (reserved for system fields)"
        )
    return path


def _check_document_validator(val: Validator, where: str = "the document validator") -> None:
    """A table's validator must describe dicts: an object, a union of such, or any."""
    x: Any = val  # the kind tag says which public attributes this validator has
    if val.kind == "object":
        for name in x.fields:
            if name.startswith("_"):
                raise SchemaDefinitionError(
                    f"top-level field {name!r} may not start with '_': such names are reserved for system fields"
                )
        return
    if val.kind == "union":
        for m in x.members:
            _check_document_validator(m, "each member of a document union")
        return
    if val.kind == "any":
        return
    if val.is_optional:
        raise SchemaDefinitionError("a table's document validator cannot be v.optional(...)")
    raise SchemaDefinitionError(f"{where} must be an object validator (or a union of them, or v.any()); got {val.describe()}")


class TableDefinition:
    """One table's document validator and user indexes. Build with ``define_table``.

    ``index(name, fields)`` adds an index and returns ``self`` (so calls chain, and may also be made one
    statement at a time). Once a ``Schema`` holds the table it is frozen and ``index`` raises.
    """

    __slots__ = ("validator", "_indexes", "_frozen")

    def __init__(self, validator: Validator) -> None:
        if not isinstance(validator, Validator):
            raise SchemaDefinitionError(
                f"a table's document validator must be a validator built with v.*, got {validator!r}")
        _check_document_validator(validator)
        self.validator = validator
        self._indexes: dict[str, IndexDefinition] = {}
        self._frozen = False

    def index(self, name: str, fields: Sequence[str]) -> "TableDefinition":
        """Declare index *name* over *fields* (dotted paths); returns self. O(len(fields)).

        Errors (``SchemaDefinitionError``): name not an identifier, starting with '_', reserved
        (``by_id``/``by_creation_time``) or already used in this table; *fields* empty, a bare string,
        containing duplicates, a non-identifier path, a path starting with '_' (``_creationTime`` and
        ``_id`` are appended implicitly); the table already belongs to a Schema.
        """
        if self._frozen:
            raise SchemaDefinitionError(f"cannot add index {name!r}: this table definition already belongs to a Schema")
        if not is_identifier(name):
            raise SchemaDefinitionError(f"index name must be an identifier, got {name!r}")
        if name.startswith("_"):
            raise SchemaDefinitionError(f"index name {name!r} may not start with '_'")
        if name in SYSTEM_INDEXES:
            raise SchemaDefinitionError(f"index name {name!r} is reserved for a system index")
        if name in self._indexes:
            raise SchemaDefinitionError(f"index {name!r} is defined twice on this table")
        if isinstance(fields, (str, bytes)) or not isinstance(fields, Sequence):
            raise SchemaDefinitionError(f"index {name!r}: fields must be a list of field paths, got {fields!r}")
        if not fields:
            raise SchemaDefinitionError(f"index {name!r} needs at least one field")
        checked = tuple(_check_index_field("", name, f) for f in fields)
        if len(set(checked)) != len(checked):
            raise SchemaDefinitionError(f"index {name!r} lists a field more than once: {list(checked)}")
        self._indexes[name] = IndexDefinition(name, checked)
        return self

    @property
    def indexes(self) -> tuple[IndexDefinition, ...]:
        """User indexes in declaration order (system indexes are implicit and not listed). O(n)."""
        return tuple(self._indexes.values())

    def get_index(self, name: str) -> IndexDefinition | None:
        """The user index called *name*, or None. O(1)."""
        return self._indexes.get(name)

    def to_json(self) -> dict:
        return {"document": validator_to_json(self.validator), "indexes": [i.to_json() for i in self._indexes.values()]}

    @classmethod
    def from_json(cls, obj: Any) -> "TableDefinition":
        if not isinstance(obj, dict):
            raise SchemaDefinitionError(f"malformed table JSON: {obj!r}")
        expect_keys(obj, {"document", "indexes"}, "table")
        t = cls(validator_from_json(obj["document"]))
        if not isinstance(obj["indexes"], list):
            raise SchemaDefinitionError(f"malformed table JSON indexes: {obj['indexes']!r}")
        for idx in obj["indexes"]:
            if not isinstance(idx, dict):
                raise SchemaDefinitionError(f"malformed index JSON: {idx!r}")
            expect_keys(idx, {"name", "fields"}, "index")
            t.index(idx["name"], idx["fields"])
        return t

    def __eq__(self, other: object) -> bool:
        """Same validator and same indexes (declaration order of indexes is ignored)."""
        if not isinstance(other, TableDefinition):
            return NotImplemented
        return self.validator == other.validator and self._indexes == other._indexes

    __hash__ = None  # type: ignore[assignment]  # mutable builder

    def __repr__(self) -> str:
        idx = ", ".join(f"{i.name}{list(i.fields)}" for i in self._indexes.values())
        return f"<TableDefinition {self.validator.describe()} indexes=[{idx}]>"


def define_table(fields: "Mapping[str, Validator] | Validator") -> TableDefinition:
    """A table whose documents match ``v.object(fields)`` (or the given validator). O(number of fields).

    The validator describes user fields only; ``_id`` and ``_creationTime`` are system fields and
    top-level field names starting with '_' are rejected. A non-object validator is accepted only if it
    is a union of objects (recursively) or ``v.any()``.
    """
    if isinstance(fields, Validator):
        return TableDefinition(fields)
    if isinstance(fields, Mapping):
        return TableDefinition(v.object(fields))
    raise SchemaDefinitionError(f"define_table() takes a dict of field validators or a validator, got {fields!r}")


class Schema:
    """An immutable set of table definitions plus two switches.

    ``schema_validation``: when False, ``validate_document`` does not check documents against validators
    (the table-name check below still applies). ``strict_tables``: when True, documents for tables that
    are not in the schema are rejected; when False (default) such tables are unconstrained and have no
    user indexes.
    """

    __slots__ = ("_tables", "schema_validation", "strict_tables")

    def __init__(self, tables: Mapping[str, TableDefinition], schema_validation: bool, strict_tables: bool) -> None:
        self._tables: dict[str, TableDefinition] = dict(tables)
        self.schema_validation = bool(schema_validation)
        self.strict_tables = bool(strict_tables)

    @property
    def tables(self) -> Mapping[str, TableDefinition]:
        """Read-only mapping table name -> TableDefinition (declaration order)."""
        return MappingProxyType(self._tables)

    def table(self, name: str) -> TableDefinition | None:
        """The definition of table *name*, or None when the schema does not mention it. O(1)."""
        return self._tables.get(name)

    def indexes(self, table: str) -> list[IndexDefinition]:
        """User indexes of *table* in declaration order; [] for a table not in the schema. O(n)."""
        t = self._tables.get(table)
        return list(t._indexes.values()) if t is not None else []

    def validate_document(self, table: str, doc: Any, ctx: ValidationContext = DEFAULT_CONTEXT) -> None:
        """Check *doc* (user fields only, system fields stripped by the caller) for *table*.

        Raises ``SchemaValidationError(table, path, expected, got)``; ``path`` is "" for the whole
        document. Tables outside the schema pass unless ``strict_tables``. Cost: O(size of doc).
        """
        t = self._tables.get(table)
        if t is None:
            if self.strict_tables:
                known = ", ".join(sorted(self._tables)) or "none"
                raise SchemaValidationError(
                    table, "", "a table declared in the schema", None,
                    message=f"Table {table!r} is not declared in the schema and strict_tables is on (declared tables: {known})",
                )
            return
        if not self.schema_validation:
            return
        try:
            t.validator._check(doc, ctx)
        except ValidationFailure as f:
            raise SchemaValidationError(
                table, f.path, f.expected, f.got,
                message=f"Schema validation failed for table {table!r}: {f.message(root='the document')}",
            ) from None

    def to_json(self) -> dict:
        """Deterministic plain-JSON form (tables sorted by name). Inverse: ``Schema.from_json``."""
        return {
            "version": SCHEMA_JSON_VERSION,
            "schemaValidation": self.schema_validation,
            "strictTables": self.strict_tables,
            "tables": {name: self._tables[name].to_json() for name in sorted(self._tables)},
        }

    @classmethod
    def from_json(cls, obj: Any) -> "Schema":
        """Rebuild a schema from ``to_json`` output; ``SchemaDefinitionError`` if malformed."""
        if not isinstance(obj, dict):
            raise SchemaDefinitionError(f"malformed schema JSON: {obj!r}")
        expect_keys(obj, {"version", "schemaValidation", "strictTables", "tables"}, "schema")
        if obj["version"] != SCHEMA_JSON_VERSION:
            raise SchemaDefinitionError(f"unsupported schema JSON version {obj['version']!r}")
        if not isinstance(obj["tables"], dict):
            raise SchemaDefinitionError("malformed schema JSON: 'tables' must be an object")
        sv, st = obj["schemaValidation"], obj["strictTables"]
        if not isinstance(sv, bool) or not isinstance(st, bool):
            raise SchemaDefinitionError("malformed schema JSON: flags must be booleans")
        tables = {name: TableDefinition.from_json(t) for name, t in obj["tables"].items()}
        return define_schema(tables, schema_validation=sv, strict_tables=st)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schema):
            return NotImplemented
        return (
            self.schema_validation == other.schema_validation
            and self.strict_tables == other.strict_tables
            and self._tables == other._tables
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Schema tables={sorted(self._tables)} schema_validation={self.schema_validation} strict_tables={self.strict_tables}>"


def define_schema(
    tables: Mapping[str, TableDefinition], *, schema_validation: bool = True, strict_tables: bool = False
) -> Schema:
    """Gather *tables* into a ``Schema`` and freeze their definitions. O(number of tables).

    Table names must be identifiers not starting with '_' (system tables); ``SchemaDefinitionError``
    otherwise, or if a value is not a ``TableDefinition``.
    """
    if not isinstance(tables, Mapping):
        raise SchemaDefinitionError(f"define_schema() takes a dict of table name -> define_table(...), got {tables!r}")
    for name, t in tables.items():
        if not is_identifier(name):
            raise SchemaDefinitionError(f"table name must be an identifier, got {name!r}")
        if name.startswith("_"):
            raise SchemaDefinitionError(f"table name {name!r} may not start with '_' (reserved for system tables)")
        if not isinstance(t, TableDefinition):
            raise SchemaDefinitionError(f"table {name!r} must be defined with define_table(...), got {t!r}")
    for t in tables.values():
        t._frozen = True
    return Schema(tables, schema_validation, strict_tables)