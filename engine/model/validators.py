"""Document validators: the ``v`` builder, the ``Validator`` tree, and what a failed check reports.

Role: describe the shape a value must have and check values against it. ``v.string()``,
``v.object({...})`` and friends build ``Validator`` trees; ``Validator.validate`` raises a
``ValidationFailure`` naming the path, the expected shape and the offending value.

Who may call it: application code (through ``v``), ``engine.model.schema`` (a table's document
validator), ``engine.model.validator_json`` (the JSON form), function specs and the SDK (argument and
return validators). Standard library and ``engine.model`` only: the wasm guest bundles this module.

Invariants:
- Validators are immutable after construction; equal validators (``==``) accept exactly the same values.
  Object-field declaration order is kept for ``describe`` and the JSON form but ignored by ``==``.
- Type checks are strict and never coerce: a Python ``int`` is not a float64, ``True`` is not an int64,
  ``1.0`` does not match ``v.literal(1)``, ``str`` is not ``bytes``, ``None`` is null (never "missing").
- Validators assume the value is already a Convex value (``engine.model.values`` checks that); they only
  decide whether it has the right *shape*. ``v.any()`` accepts whatever it is given.
- Every validator exposes its parts as public attributes (``kind`` always; ``table``, ``value`` and
  ``literal_kind``, ``inner``, ``item``, ``fields``, ``keys`` and ``values``, ``members`` by kind), which
  is all the JSON codec needs. Build validators only through ``v``; the classes are private.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from engine.model.errors import SchemaDefinitionError
from engine.model.values import INT64_MAX, INT64_MIN

__all__ = [
    "v",
    "Validator",
    "ValidationContext",
    "ValidationFailure",
    "DEFAULT_CONTEXT",
    "MISSING",
    "is_identifier",
]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_identifier(s: object) -> bool:
    """True iff *s* is a str of the form ``[A-Za-z_][A-Za-z0-9_]*`` (usable unquoted in a path). O(len)."""
    return isinstance(s, str) and _IDENT.fullmatch(s) is not None


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
    if is_identifier(seg):
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

    def message(self, root: str = "the value") -> str:
        """Human text without the table: ``field 'a.b[1]' must be string, got 1; hint``.

        *root* names the value itself when the path is "" (a schema says "the document")."""
        p = self.path
        where = f"field {p!r}" if p else root
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
        if not is_identifier(table):
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


    def _key(self) -> tuple:
        return ("array", self.item._key())


def _field_label(name: str) -> str:
    return name if is_identifier(name) else json.dumps(name, ensure_ascii=False)


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

