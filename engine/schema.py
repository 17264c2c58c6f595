"""Document validators (``v``), table definitions and schemas.

Role: describe the shape of the documents a table may hold, check writes against that shape, and persist
the description as plain JSON. ``v.string()``, ``v.object({...})`` and friends build ``Validator`` trees;
``define_table`` wraps a document validator and its indexes; ``define_schema`` gathers tables into a
``Schema``.

Who may call it: application code builds schemas with ``v`` / ``define_table`` / ``define_schema``; the
transaction layer calls ``Schema.validate_document`` on every insert/patch/replace (after stripping the
system fields ``_id`` and ``_creationTime``); the catalog persists schemas with ``Schema.to_json`` /
``Schema.from_json``. Nothing here touches storage, and nothing here imports other engine layers except
``engine.errors``.

Invariants:
- Validators are immutable after construction; equal validators (``==``) accept exactly the same values.
  Object-field declaration order is kept for ``describe``/``to_json`` but ignored by ``==``.
- Type checks are strict and never coerce: a Python ``int`` is not a float64, ``True`` is not an int64,
  ``1.0`` does not match ``v.literal(1)``, ``str`` is not ``bytes``, ``None`` is null (never "missing").
- Validators assume the value is already a Convex value (``engine.values`` checks that); they only decide
  whether it has the right *shape*. ``v.any()`` accepts whatever it is given.
- ``validator_from_json(x.to_json()) == x`` for every validator ``x``, and ``Schema.from_json(s.to_json())
  == s``; the JSON is plain dicts/lists/str/bool/float and deterministic for a given construction.
- Index keys: an index declared on ``fields`` is keyed by ``(*fields, "_creationTime", "_id")``; the two
  system fields are appended implicitly and may not be named. ``by_id`` and ``by_creation_time`` are the
  implicit system indexes of every table and are reserved names.
- A ``TableDefinition`` is a mutable builder until a ``Schema`` holds it; ``define_schema`` freezes it.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from engine.errors import RippleError, SchemaValidationError

__all__ = [
    "v",
    "Validator",
    "ValidationContext",
    "ValidationFailure",
    "DEFAULT_CONTEXT",
    "MISSING",
    "SchemaDefinitionError",
    "IndexDefinition",
    "TableDefinition",
    "Schema",
    "define_table",
    "define_schema",
    "validator_from_json",
    "SYSTEM_INDEXES",
    "SCHEMA_JSON_VERSION",
]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

#: Names of the indexes every table has implicitly; user indexes may not use them.
SYSTEM_INDEXES: tuple[str, ...] = ("by_id", "by_creation_time")
#: Fields appended to every user index key, in this order.
IMPLICIT_INDEX_SUFFIX: tuple[str, ...] = ("_creationTime", "_id")
#: Version tag written by ``Schema.to_json``; ``from_json`` rejects other versions.
SCHEMA_JSON_VERSION = 1

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _is_identifier(s: object) -> bool:
    return isinstance(s, str) and _IDENT.fullmatch(s) is not None


class SchemaDefinitionError(RippleError, ValueError):
    """A validator, table definition or schema is malformed (raised at definition or load time)."""


# --------------------------------------------------------------------------------------------------------
# Validation context and failures
# --------------------------------------------------------------------------------------------------------


def _no_id_resolver(_id: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """What validation needs from the outside world.

    ``table_of_id(s)`` returns the table name the id string ``s`` belongs to, or None when ``s`` is not a
    well-formed id of a known table. The default resolver knows no ids, so ``v.id(...)`` rejects every
    value under ``DEFAULT_CONTEXT`` (with a message saying so).
    """

    table_of_id: Callable[[str], "str | None"] = _no_id_resolver

    @property
    def resolves_ids(self) -> bool:
        """False for a context built without a ``table_of_id`` resolver."""
        return self.table_of_id is not _no_id_resolver


#: A context that resolves no ids. Fine for validators that contain no ``v.id``.
DEFAULT_CONTEXT = ValidationContext()


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


#: The ``got`` of a failure about a required field that is absent.
MISSING = _Missing()

_MAX_GOT_REPR = 80


def _show(value: Any) -> str:
    """Short repr of an offending value for messages (long values are elided)."""
    r = repr(value)
    if len(r) > _MAX_GOT_REPR:
        r = r[: _MAX_GOT_REPR - 3] + "..."
    return r


def _path_segment(seg: "str | int", first: bool) -> str:
    if type(seg) is int:
        return f"[{seg}]"
    if _is_identifier(seg):
        return seg if first else "." + seg
    return f"[{json.dumps(seg, ensure_ascii=False)}]"


def _render_path(prefix: str, segments: Sequence["str | int"]) -> str:
    out = prefix
    for seg in segments:
        out += _path_segment(seg, not out)
    return out


class ValidationFailure(Exception):
    """One value did not match a validator.

    Attributes: ``path`` (dotted fields, ``[i]`` for array items, ``["odd key"]`` for keys that are not
    identifiers, "" for the value itself), ``expected`` (a validator description such as ``string`` or
    ``"a" | "b"``; ``absent`` for a field the object validator does not declare), ``got`` (the offending
    value, or ``MISSING``) and ``hint`` (optional advice, already included in ``str()``).

    The path is assembled while the exception propagates out of nested validators, so the happy path
    never builds strings.
    """

    def __init__(self, expected: str, got: Any = None, hint: str | None = None) -> None:
        super().__init__(expected)
        self.expected = expected
        self.got = got
        self.hint = hint
        self._rev: list[str | int] = []  # innermost segment first
        self._prefix = ""

    @property
    def path(self) -> str:
        return _render_path(self._prefix, self._rev[::-1])

    def message(self) -> str:
        """Human text without the table: ``field 'a.b[1]' must be string, got 1; hint``."""
        p = self.path
        where = f"field {p!r}" if p else "the value"
        msg = f"{where} must be {self.expected}, got {_show(self.got)}"
        return f"{msg}; {self.hint}" if self.hint else msg

    def __str__(self) -> str:
        return self.message()


def _add_hint(f: ValidationFailure, hint: str) -> None:
    f.hint = f"{f.hint}; {hint}" if f.hint else hint


# --------------------------------------------------------------------------------------------------------
# Validators
# --------------------------------------------------------------------------------------------------------


class Validator:
    """Base of every validator. Build them through ``v``; do not subclass outside this module.

    ``kind`` is the JSON ``type`` tag (``string``, ``float64``, ``object``, ...). ``is_optional`` is True
    only for ``v.optional(...)``.
    """

    __slots__ = ()
    kind: str = ""
    is_optional: bool = False

    # -- subclass hooks ------------------------------------------------------------------------------
    def _check(self, value: Any, ctx: ValidationContext) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        """Human text for the accepted shape, e.g. ``array<int64>`` or ``{author: string, body?: string}``.

        O(size of the validator tree).
        """
        return self.kind

    def to_json(self) -> dict:
        """Plain JSON-able dict; ``validator_from_json`` inverts it. O(size of the validator tree)."""
        return {"type": self.kind}

    def _key(self) -> tuple:
        return (self.kind,)

    # -- public API -----------------------------------------------------------------------------------
    def validate(self, value: Any, path: str = "", ctx: ValidationContext = DEFAULT_CONTEXT) -> None:
        """Return None if *value* matches, else raise ``ValidationFailure``.

        *path* prefixes the failure path (``validate(x, "messages")`` may fail at ``messages[3].author``).
        Cost: O(size of value) for containers, plus one ``ctx.table_of_id`` call per id checked; no
        allocation on success.
        """
        try:
            self._check(value, ctx)
        except ValidationFailure as f:
            f._prefix = path
            raise

    def is_valid(self, value: Any, ctx: ValidationContext = DEFAULT_CONTEXT) -> bool:
        """True iff ``validate`` would not raise. Same cost as ``validate``."""
        try:
            self._check(value, ctx)
        except ValidationFailure:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Validator):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<Validator {self.describe()}>"


class _String(Validator):
    __slots__ = ()
    kind = "string"

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if not isinstance(value, str):
            hint = "bytes are not strings; use v.bytes() for binary data" if isinstance(value, bytes) else None
            raise ValidationFailure("string", value, hint)


class _Float64(Validator):
    __slots__ = ()
    kind = "float64"

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if not isinstance(value, float):
            hint = None
            if isinstance(value, int) and not isinstance(value, bool):
                hint = f"a Python int is not a float64: use a float ({value}.0), or v.int64() for integers"
            raise ValidationFailure("float64", value, hint)


class _Int64(Validator):
    __slots__ = ()
    kind = "int64"

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            if INT64_MIN <= value <= INT64_MAX:
                return
            raise ValidationFailure("int64", value, "outside the signed 64-bit range")
        hint = None
        if isinstance(value, float):
            hint = "a float is not an int64: use a Python int, or v.float64() for floats"
        elif isinstance(value, bool):
            hint = "a bool is not an int64"
        raise ValidationFailure("int64", value, hint)


class _Boolean(Validator):
    __slots__ = ()
    kind = "boolean"

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if value is not True and value is not False:
            raise ValidationFailure("boolean", value)


class _Null(Validator):
    __slots__ = ()
    kind = "null"

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if value is not None:
            raise ValidationFailure("null", value)


class _Bytes(Validator):
    __slots__ = ()
    kind = "bytes"

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if not isinstance(value, bytes):
            hint = "a str is not bytes; encode it, or use v.string()" if isinstance(value, str) else None
            raise ValidationFailure("bytes", value, hint)


class _Any(Validator):
    __slots__ = ()
    kind = "any"

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        return None


class _Id(Validator):
    __slots__ = ("table",)
    kind = "id"

    def __init__(self, table: str) -> None:
        if not _is_identifier(table):
            raise SchemaDefinitionError(f"v.id() needs a table name that is an identifier, got {table!r}")
        self.table = table

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if not isinstance(value, str):
            raise ValidationFailure(self.describe(), value)
        owner = ctx.table_of_id(value)
        if owner != self.table:
            if not ctx.resolves_ids:
                hint = "cannot check ids: this ValidationContext has no table_of_id resolver"
            elif owner is None:
                hint = "not a valid document id"
            else:
                hint = f"it is an id of table {owner!r}"
            raise ValidationFailure(self.describe(), value, hint)

    def describe(self) -> str:
        return f"id({json.dumps(self.table)})"

    def to_json(self) -> dict:
        return {"type": "id", "table": self.table}

    def _key(self) -> tuple:
        return ("id", self.table)


def _literal_kind(x: Any) -> str:
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, int):
        if not INT64_MIN <= x <= INT64_MAX:
            raise SchemaDefinitionError(f"v.literal() int {x} is outside the signed 64-bit range")
        return "int64"
    if isinstance(x, float):
        if not math.isfinite(x):
            raise SchemaDefinitionError(f"v.literal() float must be finite, got {x!r}")
        return "float64"
    if isinstance(x, str):
        return "string"
    raise SchemaDefinitionError(f"v.literal() takes a str, int, float or bool, got {type(x).__name__}")


class _Literal(Validator):
    """Exactly one value. Floats compare like Convex's total order: ``-0.0`` and ``0.0`` differ."""

    __slots__ = ("value", "literal_kind")
    kind = "literal"

    def __init__(self, value: Any) -> None:
        self.literal_kind = _literal_kind(value)
        self.value = value

    def _matches(self, value: Any) -> bool:
        lit = self.value
        k = self.literal_kind
        if k == "string":
            return isinstance(value, str) and value == lit
        if k == "boolean":
            return value is lit
        if k == "int64":
            return isinstance(value, int) and not isinstance(value, bool) and value == lit
        return (
            isinstance(value, float)
            and value == lit
            and (lit != 0.0 or math.copysign(1.0, value) == math.copysign(1.0, lit))
        )

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if not self._matches(value):
            hint = None
            if self.literal_kind in ("int64", "float64") and isinstance(value, (int, float)) \
                    and not isinstance(value, bool) and value == self.value:
                hint = f"literal {self.describe()} is {self.literal_kind}; {value!r} is a {type(value).__name__}"
            raise ValidationFailure(self.describe(), value, hint)

    def describe(self) -> str:
        k = self.literal_kind
        if k == "string":
            return json.dumps(self.value, ensure_ascii=False)
        if k == "boolean":
            return "true" if self.value else "false"
        return repr(self.value)

    def to_json(self) -> dict:
        # int64 as a decimal string so JSON readers with float-only numbers cannot lose precision.
        val = str(self.value) if self.literal_kind == "int64" else self.value
        return {"type": "literal", "kind": self.literal_kind, "value": val}

    def _key(self) -> tuple:
        if self.literal_kind == "float64":
            return ("literal", "float64", self.value, math.copysign(1.0, self.value))
        return ("literal", self.literal_kind, self.value)


def _require_validator(x: Any, where: str, allow_optional: bool = False) -> "Validator":
    if not isinstance(x, Validator):
        raise SchemaDefinitionError(f"{where} must be a validator built with v.*, got {x!r}")
    if x.is_optional and not allow_optional:
        raise SchemaDefinitionError(f"{where} cannot be v.optional(...): optional only applies to object fields")
    return x


class _Optional(Validator):
    """Marks an object field as possibly absent. A present value must match ``inner`` (None is null)."""

    __slots__ = ("inner",)
    kind = "optional"
    is_optional = True

    def __init__(self, inner: Validator) -> None:
        self.inner = _require_validator(inner, "v.optional() argument")

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        self.inner._check(value, ctx)

    def describe(self) -> str:
        return f"optional<{self.inner.describe()}>"

    def to_json(self) -> dict:
        return {"type": "optional", "inner": self.inner.to_json()}

    def _key(self) -> tuple:
        return ("optional", self.inner._key())


class _Array(Validator):
    __slots__ = ("item",)
    kind = "array"

    def __init__(self, item: Validator) -> None:
        self.item = _require_validator(item, "v.array() item validator")

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if not isinstance(value, list):
            hint = "tuples are not arrays; use a list" if isinstance(value, tuple) else None
            raise ValidationFailure(self.describe(), value, hint)
        item = self.item
        if item.kind == "any":
            return
        check = item._check
        i = 0
        try:
            for i, x in enumerate(value):
                check(x, ctx)
        except ValidationFailure as f:
            f._rev.append(i)
            raise

    def describe(self) -> str:
        return f"array<{self.item.describe()}>"

    def to_json(self) -> dict:
        return {"type": "array", "items": self.item.to_json()}

    def _key(self) -> tuple:
        return ("array", self.item._key())


def _field_label(name: str) -> str:
    return name if _is_identifier(name) else json.dumps(name, ensure_ascii=False)


class _Object(Validator):
    __slots__ = ("fields", "_checks", "_required", "_optional")
    kind = "object"

    def __init__(self, fields: Mapping[str, Validator]) -> None:
        if not isinstance(fields, Mapping):
            raise SchemaDefinitionError(f"v.object() takes a dict of field name -> validator, got {fields!r}")
        checks: dict[str, Callable[[Any, ValidationContext], None]] = {}
        required: list[str] = []
        optional: set[str] = set()
        for name, val in fields.items():
            if not isinstance(name, str) or not name:
                raise SchemaDefinitionError(f"object field names must be non-empty strings, got {name!r}")
            if name.startswith("$"):
                raise SchemaDefinitionError(f"object field name {name!r} may not start with '$'")
            _require_validator(val, f"validator of field {name!r}", allow_optional=True)
            if val.is_optional:
                optional.add(name)
                checks[name] = val.inner._check  # type: ignore[attr-defined]
            else:
                required.append(name)
                checks[name] = val._check
        self.fields: Mapping[str, Validator] = MappingProxyType(dict(fields))
        self._checks = checks
        self._required = tuple(required)
        self._optional = frozenset(optional)

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if not isinstance(value, dict):
            raise ValidationFailure(self.describe(), value)
        checks = self._checks
        name: Any = None
        item: Any = None
        try:
            for name, item in value.items():
                check = checks.get(name)
                if check is None:
                    allowed = ", ".join(map(_field_label, self.fields)) or "none"
                    raise ValidationFailure("absent", item, f"the object validator has no field {name!r} (allowed: {allowed})")
                check(item, ctx)
        except ValidationFailure as f:
            if item is None and not f._rev and name in self._optional:
                _add_hint(f, "None is null, not a missing field: omit an optional field instead of setting it to None")
            f._rev.append(name)
            raise
        if len(value) < len(checks):
            for name in self._required:
                if name not in value:
                    f = ValidationFailure(self.fields[name].describe(), MISSING, "required field is missing")
                    f._rev.append(name)
                    raise f

    def describe(self) -> str:
        parts = []
        for name, val in self.fields.items():
            if val.is_optional:
                parts.append(f"{_field_label(name)}?: {val.inner.describe()}")  # type: ignore[attr-defined]
            else:
                parts.append(f"{_field_label(name)}: {val.describe()}")
        return "{" + ", ".join(parts) + "}"

    def to_json(self) -> dict:
        return {"type": "object", "fields": {name: val.to_json() for name, val in self.fields.items()}}

    def _key(self) -> tuple:
        return ("object", frozenset((name, val._key()) for name, val in self.fields.items()))


def _check_record_key_validator(k: Validator) -> None:
    if isinstance(k, (_String, _Id)):
        return
    if isinstance(k, _Literal) and k.literal_kind == "string":
        return
    if isinstance(k, _Union):
        for m in k.members:
            _check_record_key_validator(m)
        return
    raise SchemaDefinitionError(
        "v.record() key validator must be v.string(), v.id(...), a string literal, or a union of those; "
        f"got {k.describe()}"
    )


class _Record(Validator):
    __slots__ = ("keys", "values")
    kind = "record"

    def __init__(self, keys: Validator, values: Validator) -> None:
        self.keys = _require_validator(keys, "v.record() key validator")
        _check_record_key_validator(self.keys)
        self.values = _require_validator(values, "v.record() value validator")

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        if not isinstance(value, dict):
            raise ValidationFailure(self.describe(), value)
        kcheck = self.keys._check
        vcheck = self.values._check
        key: Any = None
        for key, item in value.items():
            try:
                kcheck(key, ctx)
            except ValidationFailure as kf:
                f = ValidationFailure(f"a key matching {self.keys.describe()}", key, kf.hint)
                _add_hint(f, "record key rejected")
                f._rev.append(key if isinstance(key, str) else repr(key))
                raise f from None
            try:
                vcheck(item, ctx)
            except ValidationFailure as f:
                f._rev.append(key)
                raise

    def describe(self) -> str:
        return f"record<{self.keys.describe()}, {self.values.describe()}>"

    def to_json(self) -> dict:
        return {"type": "record", "keys": self.keys.to_json(), "values": self.values.to_json()}

    def _key(self) -> tuple:
        return ("record", self.keys._key(), self.values._key())


class _Union(Validator):
    """Accepts a value matching any member (tried in order).

    On failure: if exactly one member got past the top-level shape check (its failure is inside the
    value), that member's failure is reported with a hint; otherwise the failure is at the union's own
    path with ``expected`` = the union's description.
    """

    __slots__ = ("members", "_checks", "_strings")
    kind = "union"

    def __init__(self, members: Sequence[Validator]) -> None:
        if not members:
            raise SchemaDefinitionError("v.union() needs at least one member")
        self.members = tuple(_require_validator(m, "v.union() member") for m in members)
        self._checks = tuple(m._check for m in self.members)
        # Fast path for the common "enum of strings" union.
        if all(isinstance(m, _Literal) and m.literal_kind == "string" for m in self.members):
            self._strings: frozenset[str] | None = frozenset(m.value for m in self.members)  # type: ignore[attr-defined]
        else:
            self._strings = None

    def _check(self, value: Any, ctx: ValidationContext) -> None:
        strings = self._strings
        if strings is not None:
            if isinstance(value, str) and value in strings:
                return
            raise ValidationFailure(self.describe(), value)
        failures = []
        for check in self._checks:
            try:
                check(value, ctx)
                return
            except ValidationFailure as f:
                failures.append(f)
        deep = [f for f in failures if f._rev]
        if len(deep) == 1:
            f = deep[0]
            _add_hint(f, f"no member of the union {self.describe()} matched; this is the closest member's failure")
            raise f
        raise ValidationFailure(self.describe(), value)

    def describe(self) -> str:
        return " | ".join(m.describe() for m in self.members)

    def to_json(self) -> dict:
        return {"type": "union", "members": [m.to_json() for m in self.members]}

    def _key(self) -> tuple:
        return ("union", tuple(m._key() for m in self.members))


_STRING = _String()
_FLOAT64 = _Float64()
_INT64 = _Int64()
_BOOLEAN = _Boolean()
_NULL = _Null()
_BYTES = _Bytes()
_ANY = _Any()


class _ValidatorBuilder:
    """The ``v`` namespace. Every method is O(1) except ``object``/``union`` (O(number of fields/members)).

    Construction errors (a non-validator argument, an optional where it cannot go, a bad literal, an empty
    union, a record key validator that does not produce strings) raise ``SchemaDefinitionError``.
    """

    __slots__ = ()

    @staticmethod
    def string() -> Validator:
        """Any ``str``."""
        return _STRING

    @staticmethod
    def number() -> Validator:
        """A Python ``float`` (float64, NaN and infinities included). Alias of ``float64``; ints are rejected."""
        return _FLOAT64

    @staticmethod
    def float64() -> Validator:
        """A Python ``float`` (float64, NaN and infinities included). A Python ``int`` is rejected."""
        return _FLOAT64

    @staticmethod
    def int64() -> Validator:
        """A Python ``int`` (not ``bool``) within the signed 64-bit range."""
        return _INT64

    @staticmethod
    def boolean() -> Validator:
        """``True`` or ``False``."""
        return _BOOLEAN

    @staticmethod
    def null() -> Validator:
        """``None``."""
        return _NULL

    @staticmethod
    def bytes() -> Validator:
        """A Python ``bytes`` (not ``str``, not ``bytearray``)."""
        return _BYTES

    @staticmethod
    def any() -> Validator:
        """Anything."""
        return _ANY

    @staticmethod
    def id(table: str) -> Validator:
        """A string that ``ctx.table_of_id`` maps to *table*."""
        return _Id(table)

    @staticmethod
    def literal(value: "str | int | float | bool") -> Validator:
        """Exactly *value*, same type: ``literal(1)`` rejects ``1.0`` and ``True``. Floats must be finite."""
        return _Literal(value)

    @staticmethod
    def array(item: Validator) -> Validator:
        """A ``list`` whose every item matches *item*."""
        return _Array(item)

    @staticmethod
    def object(fields: Mapping[str, Validator]) -> Validator:
        """A ``dict`` with exactly these fields; fields wrapped in ``v.optional`` may be absent.

        Extra fields are an error. Cost of validation: O(number of present fields + their contents).
        """
        return _Object(fields)

    @staticmethod
    def record(keys: Validator, values: Validator) -> Validator:
        """A ``dict`` with arbitrary string keys matching *keys* and values matching *values*."""
        return _Record(keys, values)

    @staticmethod
    def union(*members: Validator) -> Validator:
        """Any of *members* (at least one). Cost: up to the sum of the members' costs."""
        return _Union(members)

    @staticmethod
    def optional(inner: Validator) -> Validator:
        """An object field that may be absent; when present it must match *inner* (None is null)."""
        return _Optional(inner)


#: The validator namespace: ``v.string()``, ``v.object({...})``, ...
v = _ValidatorBuilder()

_PRIMITIVES: dict[str, Validator] = {
    "string": _STRING,
    "float64": _FLOAT64,
    "int64": _INT64,
    "boolean": _BOOLEAN,
    "null": _NULL,
    "bytes": _BYTES,
    "any": _ANY,
}


def _expect_keys(obj: dict, keys: set[str], what: str) -> None:
    if set(obj) != keys:
        raise SchemaDefinitionError(f"malformed {what} JSON: expected keys {sorted(keys)}, got {sorted(obj)}")


def validator_from_json(obj: Any) -> Validator:
    """Rebuild a validator from ``Validator.to_json()`` output. O(size of *obj*).

    Strict: unknown types, missing or extra keys raise ``SchemaDefinitionError``.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise SchemaDefinitionError(f"malformed validator JSON: {obj!r}")
    t = obj["type"]
    if t in _PRIMITIVES:
        _expect_keys(obj, {"type"}, t)
        return _PRIMITIVES[t]
    if t == "id":
        _expect_keys(obj, {"type", "table"}, t)
        return _Id(obj["table"])
    if t == "literal":
        _expect_keys(obj, {"type", "kind", "value"}, t)
        kind, val = obj["kind"], obj["value"]
        if kind == "int64" and isinstance(val, str):
            try:
                lit: Any = int(val)
            except ValueError:
                raise SchemaDefinitionError(f"malformed int64 literal JSON: {val!r}") from None
        elif kind == "float64" and isinstance(val, (int, float)) and not isinstance(val, bool):
            lit = float(val)
        elif kind == "string" and isinstance(val, str):
            lit = val
        elif kind == "boolean" and isinstance(val, bool):
            lit = val
        else:
            raise SchemaDefinitionError(f"malformed literal JSON: {obj!r}")
        return _Literal(lit)
    if t == "optional":
        _expect_keys(obj, {"type", "inner"}, t)
        return _Optional(validator_from_json(obj["inner"]))
    if t == "array":
        _expect_keys(obj, {"type", "items"}, t)
        return _Array(validator_from_json(obj["items"]))
    if t == "object":
        _expect_keys(obj, {"type", "fields"}, t)
        if not isinstance(obj["fields"], dict):
            raise SchemaDefinitionError(f"malformed object JSON: {obj!r}")
        return _Object({name: validator_from_json(f) for name, f in obj["fields"].items()})
    if t == "record":
        _expect_keys(obj, {"type", "keys", "values"}, t)
        return _Record(validator_from_json(obj["keys"]), validator_from_json(obj["values"]))
    if t == "union":
        _expect_keys(obj, {"type", "members"}, t)
        if not isinstance(obj["members"], list):
            raise SchemaDefinitionError(f"malformed union JSON: {obj!r}")
        return _Union([validator_from_json(m) for m in obj["members"]])
    raise SchemaDefinitionError(f"unknown validator type {t!r}")


# --------------------------------------------------------------------------------------------------------
# Tables and schemas
# --------------------------------------------------------------------------------------------------------


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
    if not all(_is_identifier(s) for s in segments):
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
    if isinstance(val, _Object):
        for name in val.fields:
            if name.startswith("_"):
                raise SchemaDefinitionError(
                    f"top-level field {name!r} may not start with '_': such names are reserved for system fields"
                )
        return
    if isinstance(val, _Union):
        for m in val.members:
            _check_document_validator(m, "each member of a document union")
        return
    if isinstance(val, _Any):
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
        _require_validator(validator, "a table's document validator", allow_optional=True)
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
        if not _is_identifier(name):
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
        return {"document": self.validator.to_json(), "indexes": [i.to_json() for i in self._indexes.values()]}

    @classmethod
    def from_json(cls, obj: Any) -> "TableDefinition":
        if not isinstance(obj, dict):
            raise SchemaDefinitionError(f"malformed table JSON: {obj!r}")
        _expect_keys(obj, {"document", "indexes"}, "table")
        t = cls(validator_from_json(obj["document"]))
        if not isinstance(obj["indexes"], list):
            raise SchemaDefinitionError(f"malformed table JSON indexes: {obj['indexes']!r}")
        for idx in obj["indexes"]:
            if not isinstance(idx, dict):
                raise SchemaDefinitionError(f"malformed index JSON: {idx!r}")
            _expect_keys(idx, {"name", "fields"}, "index")
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
        return TableDefinition(_Object(fields))
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
                message=f"Schema validation failed for table {table!r}: {_document_message(f)}",
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
        _expect_keys(obj, {"version", "schemaValidation", "strictTables", "tables"}, "schema")
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


def _document_message(f: ValidationFailure) -> str:
    p = f.path
    where = f"field {p!r}" if p else "the document"
    msg = f"{where} must be {f.expected}, got {_show(f.got)}"
    return f"{msg}; {f.hint}" if f.hint else msg


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
        if not _is_identifier(name):
            raise SchemaDefinitionError(f"table name must be an identifier, got {name!r}")
        if name.startswith("_"):
            raise SchemaDefinitionError(f"table name {name!r} may not start with '_' (reserved for system tables)")
        if not isinstance(t, TableDefinition):
            raise SchemaDefinitionError(f"table {name!r} must be defined with define_table(...), got {t!r}")
    for t in tables.values():
        t._frozen = True
    return Schema(tables, schema_validation, strict_tables)
