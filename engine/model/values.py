"""The Convex value model: validation, limits, equality, Convex JSON and the storage serialisation.

Role: the single place that decides what a Convex value is and how one is written down. Documents pass
through these validation rules before a transaction buffers them (``engine.doccodec.encode_document``
applies them through ``check_document`` and stores its own binary encoding); ``encode_document`` here is
the JSON document form (the storage format of older versions, still used by tests and tools); the
sync/HTTP layer speaks ``to_json``/``from_json`` (Convex's
"convex_encoded_json", protocol spec §2.1) and ``to_clean_json`` (the HTTP "json" format); the
subscription layer uses ``values_equal`` to decide whether a query result changed.

Who may call it: anyone. It imports only ``engine.model.errors`` and the standard library.

Python form of Convex values::

    null -> None        boolean -> bool       int64 -> int in [-2**63, 2**63 - 1]
    float64 -> float    string -> str         bytes -> bytes
    array -> list       object -> dict with str keys

Anything else (tuple, set, bytearray, ``engine.encoding.UNDEFINED``, non-str keys, ints outside int64,
strings with lone surrogates) is not a Convex value. ``bool`` is a subclass of ``int`` in Python, so
every type test here checks ``bool`` before ``int``. Subclasses of the container/scalar types are
accepted and read as their base type (an ``OrderedDict`` is an object).

Invariants (each a property test in ``tests/unit/test_values.py``):
- ``from_json(to_json(v))`` and ``decode_value(encode_value(v))`` equal ``v`` under ``values_equal`` for
  every value the encoders accept: int stays int, float stays float, -0.0 keeps its sign, every NaN
  stays a NaN (written as the one canonical quiet NaN), bytes stay bytes, field order is kept.
- The encoders never emit a plain JSON number for an int64 (only ``{"$integer": ...}``), and never an
  object field name starting with ``$`` other than the one-key special forms, so decoding is
  unambiguous: every plain JSON number decodes as a float64.
- Nesting depth: a scalar has depth 0; an array or object has depth 1 + the largest depth of its
  elements (an empty container has depth 1). ``validate_value`` accepts depth <= ``MAX_DEPTH`` (16), so a
  document (itself an object) holds at most 15 further levels of arrays/objects. The JSON/storage
  codecs only guard against runaway recursion (``MAX_CODEC_DEPTH``), because function results may wrap
  valid documents in a few more levels.
- Nothing here reads the clock, randomness or any other ambient state; the only module-level mutable
  state is a bounded memo of field names already known to be valid (a pure cache).
"""
from __future__ import annotations

import binascii
import json
import math
import struct
from typing import Any

from engine.model.errors import InvalidValueError

__all__ = [
    "MAX_DOCUMENT_BYTES", "MAX_FIELDS", "MAX_DEPTH", "MAX_ARRAY_ITEMS", "MAX_FIELD_NAME_LEN", "MAX_CODEC_DEPTH",
    "INT64_MIN", "INT64_MAX", "SYSTEM_FIELDS",
    "validate_value", "check_document", "document_too_large", "validate_document", "to_json", "from_json", "to_clean_json",
    "encode_value", "decode_value", "encode_document", "decode_document",
    "values_equal", "value_type_name", "format_path",
]

#: Largest stored document, system fields included: 1 MiB (``len(encode_document(doc))`` here, and the
#: binary storage encoding's length in ``engine.doccodec``, which is what the engine stores).
MAX_DOCUMENT_BYTES = 1_048_576
#: Most fields in any one object (the document itself and every nested object).
MAX_FIELDS = 1024
#: Deepest nesting ``validate_value`` accepts (see the module docstring for how depth is counted).
MAX_DEPTH = 16
#: Most items in any one array.
MAX_ARRAY_ITEMS = 8192
#: Longest field name, in characters (field names are ASCII, so also in bytes).
MAX_FIELD_NAME_LEN = 1024
#: Recursion guard of the JSON and storage codecs (not a Convex limit; see the module docstring).
MAX_CODEC_DEPTH = 64

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

#: The system fields a stored document carries; user documents may not use names starting with "_".
SYSTEM_FIELDS = ("_id", "_creationTime")

_isfinite = math.isfinite
_copysign = math.copysign
_F64_LE = struct.Struct("<d")
_b2a = binascii.b2a_base64
_a2b = binascii.a2b_base64


class _Bad(Exception):
    """Internal: a validation failure on its way up; each container level adds its path component."""

    __slots__ = ("msg", "parts")

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg
        self.parts: list[str | int] = []

    def error(self, prefix: str = "") -> InvalidValueError:
        path = prefix
        for part in reversed(self.parts):
            path = format_path(path, part)
        return InvalidValueError(self.msg, path)


def format_path(parent: str, field_or_index: str | int) -> str:
    """Extend a value path: ``format_path("author", "tags") == "author.tags"``,
    ``format_path("author.tags", 3) == "author.tags[3]"``, ``format_path("", "a") == "a"``,
    ``format_path("", 0) == "[0]"``. O(len(path))."""
    if isinstance(field_or_index, int) and not isinstance(field_or_index, bool):
        return f"{parent}[{field_or_index}]"
    return f"{parent}.{field_or_index}" if parent else str(field_or_index)


def value_type_name(value: Any) -> str:
    """The Convex type name of *value*, for error messages: "null", "boolean", "int64", "float64",
    "string", "bytes", "array" or "object". For a non-Convex value, its Python type name (e.g.
    "tuple"); an int outside int64 is still "int64". O(1)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _not_a_value(v: Any) -> str:
    r = repr(v)
    if len(r) > 40:
        r = r[:37] + "..."
    return f"{type(v).__name__} {r} is not a Convex value"


def _utf8_ok(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SURROGATE_MSG = "string is not valid Unicode (it contains a lone surrogate)"

# ------------------------------------------------------------------------------------------- validation

# Field names already known to be valid (pure memo; cleared when it grows past a bound).
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 16384


def _field_name_problem(k: Any) -> str | None:
    """Why *k* is not a valid object field name, or None if it is."""
    if not isinstance(k, str):
        return f"object field name {k!r} is not a string"
    if not k:
        return "object field names must be non-empty"
    if len(k) > MAX_FIELD_NAME_LEN:
        return f"object field name is {len(k)} characters long; the limit is {MAX_FIELD_NAME_LEN}"
    if not (k.isascii() and k.isprintable()):
        return f"object field name {k!r} must contain only printable ASCII characters (no control characters)"
    if k[0] == "$":
        return f"object field name {k!r} must not start with '$'"
    return None


def _validate(v: Any, level: int) -> None:
    """Raise _Bad if *v* (enclosed by *level* containers) is not a valid Convex value."""
    t = type(v)
    if t is str:
        if not v.isascii() and not _utf8_ok(v):
            raise _Bad(_SURROGATE_MSG)
        return
    if v is None or t is bool or t is float or t is bytes:
        return
    if t is int:
        if v < INT64_MIN or v > INT64_MAX:
            raise _Bad(f"integer {v} is outside the int64 range [-2**63, 2**63-1]")
        return
    if t is dict or (t is not list and isinstance(v, dict)):
        if level >= MAX_DEPTH:
            raise _Bad(f"value is nested more than {MAX_DEPTH} levels deep")
        if len(v) > MAX_FIELDS:
            raise _Bad(f"object has {len(v)} fields; the limit is {MAX_FIELDS}")
        good = _GOOD_NAMES
        for k, x in v.items():
            if type(k) is not str or k not in good:
                problem = _field_name_problem(k)
                if problem is not None:
                    raise _Bad(problem)
                if type(k) is str:
                    if len(good) >= _GOOD_NAMES_MAX:
                        good.clear()
                    good.add(k)
            tx = type(x)
            if tx is float or tx is bool or x is None or (tx is str and x.isascii()):
                continue
            try:
                _validate(x, level + 1)
            except _Bad as e:
                e.parts.append(k)
                raise
        return
    if t is list or isinstance(v, list):
        if level >= MAX_DEPTH:
            raise _Bad(f"value is nested more than {MAX_DEPTH} levels deep")
        if len(v) > MAX_ARRAY_ITEMS:
            raise _Bad(f"array has {len(v)} items; the limit is {MAX_ARRAY_ITEMS}")
        for i, x in enumerate(v):
            tx = type(x)
            if tx is float or tx is bool or x is None or (tx is str and x.isascii()):
                continue
            try:
                _validate(x, level + 1)
            except _Bad as e:
                e.parts.append(i)
                raise
        return
    # Subclasses of the scalar types, read as their base type.
    if isinstance(v, bool):
        return
    if isinstance(v, int):
        return _validate(int(v), level)
    if isinstance(v, float) or isinstance(v, bytes):
        return
    if isinstance(v, str):
        return _validate(str(v), level)
    raise _Bad(_not_a_value(v))


def validate_value(value: Any, path: str = "") -> None:
    """Raise ``InvalidValueError`` unless *value* is a Convex value within the limits.

    Checks types (tuples, sets, bytearray, UNDEFINED... are rejected), int64 range, strings (no lone
    surrogates), nesting depth <= ``MAX_DEPTH``, arrays <= ``MAX_ARRAY_ITEMS`` items, objects <=
    ``MAX_FIELDS`` fields, and every object field name (non-empty str of at most ``MAX_FIELD_NAME_LEN``
    printable ASCII characters, not starting with "$"). Names starting with "_" are fine here (nested
    objects may use them); ``validate_document`` forbids them at the top level of a user document.
    The error's ``path`` is *path* extended to the offending spot, e.g. ``author.tags[3]``. Does not
    check the encoded size (see ``validate_document``). Cost O(size of value).
    """
    try:
        _validate(value, 0)
    except _Bad as e:
        raise e.error(path) from None


def check_document(doc: Any, *, allow_system_fields: bool = False) -> None:
    """Every ``validate_document`` rule except the encoded size, in the same order and with the same
    errors: *doc* must be a dict, its top-level names must not start with "_" (with
    ``allow_system_fields``, ``_id`` as a str and ``_creationTime`` as a float64 may appear), then every
    ``validate_value`` rule. Storage codecs (``engine.doccodec``) call it so they validate exactly as
    this module does and only measure the size on their own bytes. Cost O(size of doc)."""
    if not isinstance(doc, dict):
        raise InvalidValueError(f"a document must be an object (dict), got {value_type_name(doc)}")
    for k in doc:
        if isinstance(k, str) and k[:1] == "_":
            if not allow_system_fields or k not in SYSTEM_FIELDS:
                raise InvalidValueError(
                    f"field name {k!r} is not allowed: names starting with '_' are reserved for system fields", k)
            x = doc[k]
            if k == "_id" and not isinstance(x, str):
                raise InvalidValueError(f"system field _id must be a string, got {value_type_name(x)}", k)
            if k == "_creationTime" and not isinstance(x, float):
                raise InvalidValueError(f"system field _creationTime must be a float64, got {value_type_name(x)}", k)
    validate_value(doc)


def document_too_large(size: int) -> InvalidValueError:
    """The error for a document whose stored encoding is *size* bytes (> ``MAX_DOCUMENT_BYTES``)."""
    return InvalidValueError(
        f"document is too large: {size} bytes encoded; the limit is {MAX_DOCUMENT_BYTES} bytes (1 MiB)")


def validate_document(doc: Any, *, allow_system_fields: bool = False) -> bytes:
    """Raise ``InvalidValueError`` unless *doc* may be stored as a document; return its encoding.

    *doc* must be a dict. Top-level field names must not start with "$" or "_", except that with
    ``allow_system_fields`` the two system fields ``_id`` (a str) and ``_creationTime`` (a float) may
    appear (they need not). Then every ``validate_value`` rule applies (``check_document``), and the
    encoded size ``len(encode_document(doc))`` must be at most ``MAX_DOCUMENT_BYTES``. The returned bytes
    are exactly ``encode_document(doc)``, so a caller that needs them need not encode twice. The engine
    stores documents with ``engine.doccodec``, whose ``encode_document`` applies the same rules and
    measures the limit on its own (stored) bytes. Cost O(size of doc).
    """
    check_document(doc, allow_system_fields=allow_system_fields)
    data = encode_document(doc)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise document_too_large(len(data))
    return data


# ------------------------------------------------------------------------------------------- Convex JSON


def _b64(raw: bytes) -> str:
    return _b2a(raw, newline=False).decode("ascii")


#: The four float64 values that need the "$float" form (NaN is always written canonically).
_NAN_B64 = _b64(_F64_LE.pack(math.nan))  # 0x7ff8000000000000 -> "AAAAAAAA+H8="
_POS_INF_B64 = _b64(_F64_LE.pack(math.inf))
_NEG_INF_B64 = _b64(_F64_LE.pack(-math.inf))
_NEG_ZERO_B64 = _b64(_F64_LE.pack(-0.0))
assert _NAN_B64 == "AAAAAAAA+H8="


def _special_float_b64(f: float) -> str:
    if f != f:
        return _NAN_B64
    if f == math.inf:
        return _POS_INF_B64
    if f == -math.inf:
        return _NEG_INF_B64
    return _NEG_ZERO_B64


def _int_json(v: int) -> dict:
    if v < INT64_MIN or v > INT64_MAX:
        raise _Bad(f"integer {v} is outside the int64 range [-2**63, 2**63-1]")
    return {"$integer": _b64(v.to_bytes(8, "little", signed=True))}


def _to_json(v: Any, depth: int, strict_str: bool) -> Any:
    """Convex-JSON form of *v*. Returns *v* itself (shared, not copied) when nothing inside needs
    rewriting, so plain data costs one walk and no allocation."""
    t = type(v)
    if t is str:
        if strict_str and not v.isascii() and not _utf8_ok(v):
            raise _Bad(_SURROGATE_MSG)
        return v
    if v is None or t is bool:
        return v
    if t is float:
        if _isfinite(v) and (v or _copysign(1.0, v) > 0.0):
            return v
        return {"$float": _special_float_b64(v)}
    if t is int:
        return _int_json(v)
    if t is dict:
        if depth >= MAX_CODEC_DEPTH:
            raise _Bad(f"value is nested more than {MAX_CODEC_DEPTH} levels deep")
        out = None
        for k, x in v.items():
            if type(k) is not str and not isinstance(k, str):
                raise _Bad(f"object field name {k!r} is not a string")
            if k[:1] == "$":
                raise _Bad(f"object field name {k!r} must not start with '$'")
            if strict_str and not k.isascii() and not _utf8_ok(k):
                raise _Bad(f"object field name {k!r}: " + _SURROGATE_MSG)
            tx = type(x)
            if tx is bool or x is None or (tx is str and (not strict_str or x.isascii())):
                continue
            if tx is float and _isfinite(x) and (x or _copysign(1.0, x) > 0.0):
                continue
            try:
                y = _to_json(x, depth + 1, strict_str)
            except _Bad as e:
                e.parts.append(k)
                raise
            if y is not x:
                if out is None:
                    out = dict(v)
                out[k] = y
        return v if out is None else out
    if t is list:
        if depth >= MAX_CODEC_DEPTH:
            raise _Bad(f"value is nested more than {MAX_CODEC_DEPTH} levels deep")
        out = None
        for i, x in enumerate(v):
            tx = type(x)
            if tx is bool or x is None or (tx is str and (not strict_str or x.isascii())):
                continue
            if tx is float and _isfinite(x) and (x or _copysign(1.0, x) > 0.0):
                continue
            try:
                y = _to_json(x, depth + 1, strict_str)
            except _Bad as e:
                e.parts.append(i)
                raise
            if y is not x:
                if out is None:
                    out = list(v)
                out[i] = y
        return v if out is None else out
    if t is bytes:
        return {"$bytes": _b64(v)}
    return _to_json(_normalise_subclass(v), depth, strict_str)


def _normalise_subclass(v: Any) -> Any:
    """A value of a subclass of a Convex Python type, converted to the base type; _Bad otherwise."""
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, bytes):
        return bytes(v)
    if isinstance(v, list):
        return list(v)
    if isinstance(v, dict):
        return dict(v)
    raise _Bad(_not_a_value(v))


def to_json(value: Any) -> Any:
    """The Convex JSON ("convex_encoded_json") form of *value*, as JSON-able Python objects.

    int64 -> ``{"$integer": b64(8 bytes LE two's complement)}``; bytes -> ``{"$bytes": b64}``; float64
    -> a plain number, except NaN, +inf, -inf and -0.0 -> ``{"$float": b64(8 bytes LE IEEE)}`` (every NaN
    becomes the canonical quiet NaN "AAAAAAAA+H8="); null/bool/str/list/dict as themselves.
    The result may share unchanged lists/dicts with *value*: treat it as read-only. Raises
    ``InvalidValueError`` (with path) for anything that is not a Convex value or cannot be represented
    (non-str keys, keys starting with "$", ints outside int64, lone surrogates, nesting beyond
    ``MAX_CODEC_DEPTH``). Limits such as field counts are ``validate_value``'s job. Cost O(size).
    """
    try:
        return _to_json(value, 0, True)
    except _Bad as e:
        raise e.error() from None


_SPECIAL_KEYS = ("$integer", "$float", "$bytes")


def _decode_b64(s: Any, key: str, length: int | None) -> bytes:
    if type(s) is not str:
        raise _Bad(f"{key} must hold a base64 string, got {value_type_name(s)}")
    try:
        raw = _a2b(s, strict_mode=True)
    except (binascii.Error, ValueError):
        raise _Bad(f"{key} holds invalid base64 {s[:40]!r}") from None
    if _b64(raw) != s:  # whitespace, missing padding or non-zero trailing bits: one value, one spelling
        raise _Bad(f"{key} holds non-canonical base64 {s[:40]!r}")
    if length is not None and len(raw) != length:
        raise _Bad(f"{key} must hold exactly {length} bytes, got {len(raw)}")
    return raw


def _special(key: str, payload: Any) -> Any:
    """Decode a one-key special object ``{key: payload}``; _Bad for unknown or malformed forms."""
    if key == "$integer":
        return int.from_bytes(_decode_b64(payload, key, 8), "little", signed=True)
    if key == "$float":
        f = _F64_LE.unpack(_decode_b64(payload, key, 8))[0]
        if _isfinite(f) and (f or _copysign(1.0, f) > 0.0):
            raise _Bad(f"$float may only encode NaN, Infinity, -Infinity or -0; got the ordinary number {f!r}")
        return f
    if key == "$bytes":
        return _decode_b64(payload, key, None)
    if key in ("$set", "$map"):
        raise _Bad(f"{key} is an obsolete Convex encoding and is not supported")
    raise _Bad(f"object field name {key!r} must not start with '$'")


def _from_json(o: Any, depth: int) -> Any:
    t = type(o)
    if t is str:
        if not o.isascii() and not _utf8_ok(o):
            raise _Bad(_SURROGATE_MSG)
        return o
    if o is None or t is bool or t is float:
        return o
    if t is int:
        try:
            return float(o)
        except OverflowError:
            raise _Bad(f"JSON number {o} is too large for a float64") from None
    if t is list:
        if depth >= MAX_CODEC_DEPTH:
            raise _Bad(f"value is nested more than {MAX_CODEC_DEPTH} levels deep")
        out = []
        for i, x in enumerate(o):
            try:
                out.append(_from_json(x, depth + 1))
            except _Bad as e:
                e.parts.append(i)
                raise
        return out
    if t is dict:
        if len(o) == 1:
            for k, x in o.items():
                if type(k) is str and k[:1] == "$":
                    return _special(k, x)
        if depth >= MAX_CODEC_DEPTH:
            raise _Bad(f"value is nested more than {MAX_CODEC_DEPTH} levels deep")
        res = {}
        for k, x in o.items():
            if type(k) is not str:
                raise _Bad(f"object field name {k!r} is not a string")
            if k[:1] == "$":
                raise _Bad(f"object field name {k!r} must not start with '$'")
            if not k.isascii() and not _utf8_ok(k):
                raise _Bad(f"object field name {k!r}: " + _SURROGATE_MSG)
            try:
                res[k] = _from_json(x, depth + 1)
            except _Bad as e:
                e.parts.append(k)
                raise
        return res
    raise _Bad(f"{type(o).__name__} is not a JSON value")


def from_json(obj: Any) -> Any:
    """The Convex value a Convex-JSON object (as produced by ``json.loads``) denotes.

    Every plain JSON number is a float64 (``1`` and ``1.0`` both give ``1.0``; Python ints too large for
    a float64 are rejected); only ``{"$integer": ...}`` yields an int. An object with exactly one key
    among "$integer", "$float", "$bytes" is the special form: base64 must be canonical standard base64
    of the right length (8 bytes for $integer/$float); "$float" must encode NaN, +-inf or -0.0 (an
    ordinary number there is rejected, as the official clients do). Any other field name starting with
    "$" (including the obsolete "$set"/"$map") is rejected. Always builds new containers. Raises
    ``InvalidValueError`` with the path of the problem. Cost O(size).
    """
    try:
        return _from_json(obj, 0)
    except _Bad as e:
        raise e.error() from None


def _to_clean(v: Any, depth: int) -> Any:
    t = type(v)
    if t is str:
        if not v.isascii() and not _utf8_ok(v):
            raise _Bad(_SURROGATE_MSG)
        return v
    if v is None or t is bool:
        return v
    if t is float:
        if _isfinite(v):
            return v
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
    if t is int:
        if v < INT64_MIN or v > INT64_MAX:
            raise _Bad(f"integer {v} is outside the int64 range [-2**63, 2**63-1]")
        return str(v)
    if t is bytes:
        return _b64(v)
    if t is list or t is dict:
        if depth >= MAX_CODEC_DEPTH:
            raise _Bad(f"value is nested more than {MAX_CODEC_DEPTH} levels deep")
        if t is list:
            out_l = []
            for i, x in enumerate(v):
                try:
                    out_l.append(_to_clean(x, depth + 1))
                except _Bad as e:
                    e.parts.append(i)
                    raise
            return out_l
        out_d = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise _Bad(f"object field name {k!r} is not a string")
            try:
                out_d[str(k)] = _to_clean(x, depth + 1)
            except _Bad as e:
                e.parts.append(k)
                raise
        return out_d
    return _to_clean(_normalise_subclass(v), depth)


def to_clean_json(value: Any) -> Any:
    """The "clean" JSON export form (HTTP ``format: "json"``): int64 -> decimal string, bytes -> standard
    base64 string, NaN/+inf/-inf -> "NaN"/"Infinity"/"-Infinity", everything else plain (-0.0 stays a
    plain -0.0). Lossy by design (an int and a numeric string look alike), so there is no inverse.
    Always builds new containers. Raises ``InvalidValueError`` (with path) for non-Convex values.
    Cost O(size)."""
    try:
        return _to_clean(value, 0)
    except _Bad as e:
        raise e.error() from None


# ------------------------------------------------------------------------------------------- storage

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False)
_encode_json = _ENCODER.encode


def _reject_constant(name: str) -> Any:
    raise InvalidValueError(f"stored value contains the non-JSON constant {name}")


def _storage_hook(d: dict) -> Any:
    if len(d) == 1:
        for k, x in d.items():
            if k[:1] == "$":
                try:
                    return _special(k, x)
                except _Bad as e:
                    raise e.error() from None
    else:
        for k in d:
            if k[:1] == "$":
                raise InvalidValueError(f"stored object has a field name {k!r} starting with '$'")
    return d


# Plain JSON numbers are float64 (the encoder never writes an int as a plain number).
_PLAIN_DECODER = json.JSONDecoder(parse_int=float, parse_constant=_reject_constant)
_SPECIAL_DECODER = json.JSONDecoder(parse_int=float, parse_constant=_reject_constant, object_hook=_storage_hook)


def encode_value(value: Any) -> bytes:
    """Compact UTF-8 Convex JSON of *value* (``to_json`` then ``json.dumps`` without spaces, non-ASCII
    kept as UTF-8). Exactly inverted by ``decode_value``. Raises ``InvalidValueError`` (with path) for
    what ``to_json`` rejects. Does not check the Convex limits (``validate_value``). Cost O(size); plain
    data (no ints, bytes or special floats) is serialised without building any intermediate object."""
    try:
        text = _encode_json(_to_json(value, 0, False))
    except _Bad as e:
        raise e.error() from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        to_json(value)  # locates the lone surrogate and raises with its path
        raise InvalidValueError(_SURROGATE_MSG) from None


def decode_value(data: bytes) -> Any:
    """Inverse of ``encode_value``. Raises ``InvalidValueError`` for bytes that are not such an encoding
    (bad UTF-8, bad JSON, malformed special forms, "$" field names). It does not re-check the Convex
    limits: storage holds only values that passed validation. Cost O(len(data))."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidValueError(f"decode_value needs bytes, got {type(data).__name__}")
    try:
        text = bytes(data).decode("utf-8")
        if '"$' not in text:  # no special form and no "$" field name anywhere: the C parser does it all
            return _PLAIN_DECODER.decode(text)
        return _SPECIAL_DECODER.decode(text)
    except InvalidValueError:
        raise
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError
        raise InvalidValueError(f"not an encoded Convex value: {e}") from None


def encode_document(doc: dict) -> bytes:
    """``encode_value`` of a document (which must be a dict): the JSON document form, field order
    preserved. The engine stores documents with ``engine.doccodec`` (binary); this form was the storage
    format of older data folders (which open refuses) and remains for tests and tools. Cost O(size)."""
    if not isinstance(doc, dict):
        raise InvalidValueError(f"a document must be an object (dict), got {value_type_name(doc)}")
    return encode_value(doc)


def decode_document(data: bytes) -> dict:
    """Inverse of ``encode_document``; raises ``InvalidValueError`` if *data* does not encode an object.
    Cost O(len(data))."""
    doc = decode_value(data)
    if type(doc) is not dict:
        raise InvalidValueError(f"stored document is a {value_type_name(doc)}, not an object")
    return doc


# ------------------------------------------------------------------------------------------- equality


def _kind(v: Any) -> type:
    t = type(v)
    if t in _BASE_TYPES:
        return t
    for base in (bool, int, float, str, bytes, list, dict):
        if isinstance(v, base):
            return base
    raise InvalidValueError(_not_a_value(v))


_BASE_TYPES = frozenset((type(None), bool, int, float, str, bytes, list, dict))


def _equal(a: Any, b: Any) -> bool:
    ta = type(a)
    tb = type(b)
    if ta is not tb or ta not in _BASE_TYPES:
        ta = _kind(a)
        if ta is not _kind(b):
            return False
    if ta is float:
        if a == b:
            return a != 0.0 or _copysign(1.0, a) == _copysign(1.0, b)
        return a != a and b != b
    if ta is list:
        if len(a) != len(b):
            return False
        for x, y in zip(a, b):
            if x is not y and not _equal(x, y):
                return False
        return True
    if ta is dict:
        if len(a) != len(b):
            return False
        for k, x in a.items():
            if k not in b:
                return False
            y = b[k]
            if x is not y and not _equal(x, y):
                return False
        return True
    return a == b


def values_equal(a: Any, b: Any) -> bool:
    """Strict Convex equality: same type at every node (``1``, ``1.0`` and ``True`` are three different
    values), NaN equals NaN (any payload), -0.0 differs from 0.0, object field order is irrelevant, array
    order matters. Raises ``InvalidValueError`` if a non-Convex value is reached while comparing (the
    walk stops at the first difference, so not every non-value is noticed). Cost O(size) worst case."""
    return a is b or _equal(a, b)
