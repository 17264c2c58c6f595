"""Order-preserving key codec: Convex values and tuples of them <-> byte strings whose bytewise order is
the value order.

Role: every index key in the engine is produced here. Index strategies (``engine.index``), the conflict
checker (``engine.conflict``) and the query planner only ever see bytes and ``Interval``s built by this
module, so "sorted by bytes" must mean "sorted by value". ``compare_values`` is the same order written
directly over Python values; it is the reference the encoding is tested against and what in-memory
sorting and filters use.

Who may call it: anyone. It imports only ``engine.model.types`` and ``engine.model.errors``. A Cython twin
(``engine._native.keycodec``) exposes the same names and signatures; ``ABI`` names the format, and a twin
whose ``ABI`` differs is never used (see ``engine._impl``). Change ``ABI`` whenever a byte changes.

Values (Python form of Convex values):
    UNDEFINED (missing field; only at the top level of a key tuple), None (null), int (int64),
    float (float64), bool, str, bytes, list (array), dict[str, value] (object).
Anything else (tuple inside a value, bytearray, set, int outside int64, str with lone surrogates, empty
field names, UNDEFINED inside an array/object) is rejected with ``InvalidValueError``.

Total order (across types, as Convex orders them)::

    UNDEFINED < null < int64 < float64 < boolean < string < bytes < array < object

Within a type:
- int64: numerically.
- float64: IEEE total order with every NaN identified with the one canonical quiet NaN
  0x7ff8000000000000, which sorts above +inf; -0.0 sorts just below +0.0 and differs from it.
- boolean: false < true.
- string: by UTF-8 bytes (equivalently by code point); bytes: bytewise.
- array: lexicographically by element, a proper prefix first.
- object: lexicographically over its (field name, value) pairs in sorted field-name order, a proper
  prefix first (field names compared as strings, then values).
Tuples (keys) compare like arrays. Note 1, 1.0 and True are three different values (int < float < bool).

Encoding (one element = 1-byte tag + payload; the key is the concatenation of its elements; the empty
tuple is ``b""``):

    tag   type       payload
    0x01  UNDEFINED  (none)
    0x02  null       (none)
    0x03  int64      8 bytes big-endian, sign bit flipped
    0x04  float64    8 bytes big-endian IEEE bits; sign set -> invert all bits, else flip the sign bit
    0x05  boolean    one byte, 0x00 false / 0x01 true
    0x06  string     UTF-8 bytes, every 0x00 written 0x00 0xFF, then the terminator 0x00 0x01
    0x07  bytes      raw bytes, escaped and terminated as for strings
    0x08  array      the elements, then 0x00
    0x09  object     per field in sorted order: the name as an escaped+terminated string payload, then the
                     value element; then the terminator 0x00 0x01

Why two-byte terminators: with a bare 0x00 terminator (as in the FoundationDB tuple layer) "a" encodes to
``61 00`` and "a\x00" to ``61 00 FF 00``, so one encoding is a proper prefix of another. That breaks the
``key || suffix`` layouts of the index strategies and makes ``prefix_end``-based bounds wrong ("> 'a'"
would exclude "a\x00"). With ``00 01`` a payload ends at a pattern no payload contains (payload bytes are
non-zero or the pair ``00 FF``), so no lookahead is needed; ``00 01 < 00 FF < any non-zero byte`` keeps a
shorter string first. Arrays can keep a bare 0x00 because every element starts with a tag in 0x01..0x0F.
Objects cannot: a field name may start with an escaped NUL (``00 FF``), so they end with ``00 01`` too,
and an empty field name (payload ``00 01``) would read as the end of the object, so field names must be
non-empty (Convex forbids empty field names anyway).

Invariants (each is a property test in ``tests/unit/test_encoding.py``):
- ``decode_key(encode_key(t)) == t`` exactly (types preserved; NaN canonical), and ``decode_key`` accepts
  only canonical encodings, so ``encode_key(decode_key(b)) == b`` whenever it succeeds. Malformed input
  raises ``InvalidValueError`` and nothing else.
- ``sign(compare(a, b)) == sign(encode_key(a) <=> encode_key(b))`` for all key tuples; equal values have
  equal encodings.
- Element encodings form a prefix code: no element's encoding is a proper prefix of another's, and the
  decoder finds each element's end without looking past it. Hence ``encode_key(a + b) ==
  encode_key(a) + encode_key(b)``, keys of one fixed arity are prefix-free (``key || anything`` sorts as
  ``key``), and ``Interval.prefix(encode_key(t))`` holds exactly the keys that start with the elements t.
- Index keys always end with the document id (a string) and are at most ``MAX_INDEX_KEY_BYTES``.
- Nesting deeper than ``MAX_NESTING_DEPTH`` arrays/objects is rejected on encode and decode, so hostile
  input cannot exhaust the stack.
"""
from __future__ import annotations

import math
import struct
from typing import Any, Iterable

from engine.model.errors import IndexKeyTooLargeError, InvalidValueError
from engine.model.types import Interval, prefix_end

#: Format identifier; the Cython twin must carry the same string.
ABI = "keycodec/2"

#: The kernel's public API: its Cython twin must export exactly these names (tests/parity).
__all__ = [
    "ABI",
    "MAX_INDEX_KEY_BYTES",
    "MAX_NESTING_DEPTH",
    "TAG_UNDEFINED",
    "TAG_NULL",
    "TAG_INT",
    "TAG_FLOAT",
    "TAG_BOOL",
    "TAG_STRING",
    "TAG_BYTES",
    "TAG_ARRAY",
    "TAG_OBJECT",
    "UNDEFINED",
    "encode_key",
    "decode_key",
    "compare_values",
    "index_key",
    "split_index_key",
    "extract_field",
    "index_key_for_document",
    "document_keys",
    "prefix_interval",
    "range_interval",
]

#: Longest index key (bytes) ``index_key`` will produce; LMDB's 511-byte key limit minus room for the
#: 8-byte version suffix and headroom.
MAX_INDEX_KEY_BYTES = 480

#: Deepest array/object nesting the codec accepts (a top-level array is depth 1). A guard against
#: unbounded recursion; the value validator enforces Convex's own, stricter, document limits.
MAX_NESTING_DEPTH = 64

TAG_UNDEFINED = 0x01
TAG_NULL = 0x02
TAG_INT = 0x03
TAG_FLOAT = 0x04
TAG_BOOL = 0x05
TAG_STRING = 0x06
TAG_BYTES = 0x07
TAG_ARRAY = 0x08
TAG_OBJECT = 0x09

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_SIGN = 1 << 63
_ALL = (1 << 64) - 1
_CANONICAL_NAN_BITS = 0x7FF8000000000000
_DOUBLE = struct.Struct(">d")
_END = b"\x00\x01"  # terminator of string/bytes payloads and of objects
_U64 = struct.Struct(">Q")


class _Undefined:
    """Type of the ``UNDEFINED`` singleton (a missing field). Sorts before every other value."""

    __slots__ = ()
    _instance: "_Undefined | None" = None

    def __new__(cls) -> "_Undefined":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __reduce__(self) -> str:
        # pickle/copy resolve the module-level name, so the singleton survives round trips.
        return "UNDEFINED"


#: The "missing field" value. Legal only at the top level of a key tuple; sorts before null.
UNDEFINED = _Undefined()


# ----------------------------------------------------------------------------------------------- encode


def _escape(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def _utf8(s: str, path: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValueError("string is not valid Unicode (lone surrogate)", path) from None


def _encode_value(out: bytearray, v: Any, depth: int, path: str) -> None:
    if v is None:
        out.append(TAG_NULL)
    elif v is UNDEFINED:
        if depth > 0:
            raise InvalidValueError("undefined is only allowed as a top-level key element", path)
        out.append(TAG_UNDEFINED)
    elif isinstance(v, bool):
        out.append(TAG_BOOL)
        out.append(1 if v else 0)
    elif isinstance(v, int):
        if v < _INT64_MIN or v > _INT64_MAX:
            raise InvalidValueError(f"integer {v} is outside int64", path)
        out.append(TAG_INT)
        out += _U64.pack(v + _SIGN)
    elif isinstance(v, float):
        if v != v:
            bits = _CANONICAL_NAN_BITS
        else:
            bits = _U64.unpack(_DOUBLE.pack(v))[0]
        bits = bits ^ _ALL if bits & _SIGN else bits ^ _SIGN
        out.append(TAG_FLOAT)
        out += _U64.pack(bits)
    elif isinstance(v, str):
        out.append(TAG_STRING)
        out += _escape(_utf8(v, path))
    elif isinstance(v, bytes):
        out.append(TAG_BYTES)
        out += _escape(v)
    elif isinstance(v, list):
        if depth >= MAX_NESTING_DEPTH:
            raise InvalidValueError(f"nesting deeper than {MAX_NESTING_DEPTH}", path)
        out.append(TAG_ARRAY)
        for i, item in enumerate(v):
            _encode_value(out, item, depth + 1, f"{path}[{i}]")
        out.append(0)
    elif isinstance(v, dict):
        if depth >= MAX_NESTING_DEPTH:
            raise InvalidValueError(f"nesting deeper than {MAX_NESTING_DEPTH}", path)
        fields = []
        for name, item in v.items():
            if not isinstance(name, str):
                raise InvalidValueError(f"object field name {name!r} is not a string", path)
            if not name:
                raise InvalidValueError("object field names must be non-empty", path)
            fields.append((_utf8(name, path), name, item))
        fields.sort(key=lambda f: f[0])
        out.append(TAG_OBJECT)
        for raw, name, item in fields:
            out += _escape(raw)
            _encode_value(out, item, depth + 1, f"{path}.{name}" if path else name)
        out += _END
    else:
        raise InvalidValueError(f"{type(v).__name__} is not a Convex value", path)


def encode_key(values: tuple | list) -> bytes:
    """Encode a key tuple (or list) of values; bytewise order of results = tuple order.

    Cost O(total encoded size). ``()`` -> ``b""``. Raises ``InvalidValueError`` for anything that is not a
    key element (see the module docstring); the error's ``path`` names the offending element, e.g.
    ``"[1].a[0]"`` -> element 1, field a, index 0.
    """
    if not isinstance(values, (tuple, list)):
        raise InvalidValueError(f"a key must be a tuple or list of values, got {type(values).__name__}")
    out = bytearray()
    for i, v in enumerate(values):
        _encode_value(out, v, 0, f"[{i}]")
    return bytes(out)


# ----------------------------------------------------------------------------------------------- decode


def _bad(message: str, pos: int) -> InvalidValueError:
    return InvalidValueError(f"malformed key: {message} at byte {pos}")


def _decode_escaped(data: bytes, pos: int) -> tuple[bytes, int]:
    """Read an escaped, terminated payload starting at *pos*; return (raw bytes, position after it)."""
    chunks = []
    n = len(data)
    while True:
        z = data.find(b"\x00", pos)
        if z < 0 or z + 1 >= n:
            raise _bad("unterminated string/bytes payload", n)
        follow = data[z + 1]
        if follow == 0xFF:
            chunks.append(data[pos:z + 1])
            pos = z + 2
        elif follow == 0x01:
            chunks.append(data[pos:z])
            return b"".join(chunks), z + 2
        else:
            raise _bad(f"0x00 followed by {follow:#04x} in a string/bytes payload", z)


def _decode_str(data: bytes, pos: int) -> tuple[str, int]:
    raw, end = _decode_escaped(data, pos)
    try:
        return raw.decode("utf-8"), end
    except UnicodeDecodeError:
        raise _bad("string payload is not valid UTF-8", pos) from None


def _decode_value(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    n = len(data)
    if pos >= n:
        raise _bad("missing element", pos)
    tag = data[pos]
    pos += 1
    if tag == TAG_NULL:
        return None, pos
    if tag == TAG_UNDEFINED:
        if depth > 0:
            raise _bad("undefined inside an array/object", pos - 1)
        return UNDEFINED, pos
    if tag == TAG_INT:
        if pos + 8 > n:
            raise _bad("truncated int64", pos)
        return _U64.unpack_from(data, pos)[0] - _SIGN, pos + 8
    if tag == TAG_FLOAT:
        if pos + 8 > n:
            raise _bad("truncated float64", pos)
        bits = _U64.unpack_from(data, pos)[0]
        bits = bits ^ _SIGN if bits & _SIGN else bits ^ _ALL
        f = _DOUBLE.unpack(_U64.pack(bits))[0]
        if f != f and bits != _CANONICAL_NAN_BITS:
            raise _bad("non-canonical NaN", pos)
        return f, pos + 8
    if tag == TAG_BOOL:
        if pos >= n:
            raise _bad("truncated boolean", pos)
        b = data[pos]
        if b > 1:
            raise _bad(f"boolean payload {b:#04x}", pos)
        return b == 1, pos + 1
    if tag == TAG_STRING:
        return _decode_str(data, pos)
    if tag == TAG_BYTES:
        return _decode_escaped(data, pos)
    if tag == TAG_ARRAY:
        if depth >= MAX_NESTING_DEPTH:
            raise _bad(f"nesting deeper than {MAX_NESTING_DEPTH}", pos - 1)
        items = []
        while True:
            if pos >= n:
                raise _bad("unterminated array", pos)
            if data[pos] == 0:
                return items, pos + 1
            item, pos = _decode_value(data, pos, depth + 1)
            items.append(item)
    if tag == TAG_OBJECT:
        if depth >= MAX_NESTING_DEPTH:
            raise _bad(f"nesting deeper than {MAX_NESTING_DEPTH}", pos - 1)
        obj: dict[str, Any] = {}
        prev: bytes | None = None
        while True:
            if pos >= n:
                raise _bad("unterminated object", pos)
            if data[pos] == 0 and pos + 1 < n and data[pos + 1] == 0x01:
                return obj, pos + 2
            raw, after = _decode_escaped(data, pos)
            if prev is not None and raw <= prev:
                raise _bad("object field names not strictly increasing", pos)
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _bad("field name is not valid UTF-8", pos) from None
            prev = raw
            value, pos = _decode_value(data, after, depth + 1)
            obj[name] = value
    raise _bad(f"unknown type tag {tag:#04x}", pos - 1)


def decode_key(data: bytes) -> tuple:
    """Exact inverse of ``encode_key``: ``b""`` -> ``()``. Cost O(len(data)).

    Accepts only canonical encodings (canonical NaN, boolean payload 0/1, every 0x00 in a payload followed
    by 0xFF or ending it as ``00 01``, sorted unique non-empty field names, valid UTF-8, no nested
    UNDEFINED, nesting within ``MAX_NESTING_DEPTH``); anything else raises
    ``InvalidValueError`` whose message gives the byte offset.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidValueError(f"a key must be bytes, got {type(data).__name__}")
    data = bytes(data)
    out = []
    pos = 0
    n = len(data)
    while pos < n:
        v, pos = _decode_value(data, pos, 0)
        out.append(v)
    return tuple(out)


# ----------------------------------------------------------------------------------------------- compare


def _rank(v: Any) -> int:
    if v is UNDEFINED:
        return 0
    if v is None:
        return 1
    if isinstance(v, bool):
        return 4
    if isinstance(v, int):
        return 2
    if isinstance(v, float):
        return 3
    if isinstance(v, str):
        return 5
    if isinstance(v, bytes):
        return 6
    if isinstance(v, (list, tuple)):
        return 7
    if isinstance(v, dict):
        return 8
    raise InvalidValueError(f"{type(v).__name__} is not a Convex value")


def _cmp_float(a: float, b: float) -> int:
    a_nan = a != a
    b_nan = b != b
    if a_nan or b_nan:
        return (1 if a_nan else 0) - (1 if b_nan else 0)
    if a < b:
        return -1
    if a > b:
        return 1
    if a == 0.0:  # both zero: -0.0 < +0.0
        sa = math.copysign(1.0, a)
        sb = math.copysign(1.0, b)
        return -1 if sa < sb else (1 if sa > sb else 0)
    return 0


def _cmp_seq(a: Any, b: Any) -> int:
    for x, y in zip(a, b):
        c = compare_values(x, y)
        if c:
            return c
    return (len(a) > len(b)) - (len(a) < len(b))


def compare_values(a: Any, b: Any) -> int:
    """-1, 0 or 1 as *a* sorts before, with, or after *b* in the Convex value order (module docstring).

    Computed directly from the values, independently of the encoding. Lists and tuples are both treated
    as arrays, so key tuples compare with this too (tuple order = array order); UNDEFINED is accepted
    anywhere and is least. Cost O(size of the smaller value) plus sorting object fields
    (O(f log f) per object). Raises ``InvalidValueError`` on a non-value type. Strings are compared by
    code point, which equals UTF-8 byte order for every encodable string.
    """
    ra = _rank(a)
    rb = _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra <= 1:
        return 0
    if ra == 3:
        return _cmp_float(a, b)
    if ra == 7:
        return _cmp_seq(a, b)
    if ra == 8:
        ka = sorted(a)
        kb = sorted(b)
        for na, nb in zip(ka, kb):
            if na != nb:
                return -1 if na < nb else 1
            c = compare_values(a[na], b[nb])
            if c:
                return c
        return (len(ka) > len(kb)) - (len(ka) < len(kb))
    # int, bool, str, bytes: Python's own order is the Convex order.
    return -1 if a < b else (1 if a > b else 0)


# ----------------------------------------------------------------------------------------------- index keys


def index_key(values: tuple, doc_id: str) -> bytes:
    """``encode_key((*values, doc_id))``: the key of one document in an index over ``len(values)`` fields.

    The trailing id makes every key unique; all keys of one index have the same arity, so they are
    prefix-free. Cost O(encoded size). Raises ``InvalidValueError`` for bad values or a non-str id, and
    ``IndexKeyTooLargeError`` when the key is longer than ``MAX_INDEX_KEY_BYTES`` (exactly
    ``MAX_INDEX_KEY_BYTES`` is allowed).
    """
    if not isinstance(doc_id, str):
        raise InvalidValueError(f"document id must be a string, got {type(doc_id).__name__}")
    key = encode_key((*values, doc_id))
    if len(key) > MAX_INDEX_KEY_BYTES:
        raise IndexKeyTooLargeError(
            f"index key is {len(key)} bytes, more than the limit of {MAX_INDEX_KEY_BYTES}; "
            f"index smaller values (document {doc_id!r})"
        )
    return key


def split_index_key(key: bytes) -> tuple[tuple, str]:
    """Inverse of ``index_key``: ``(values, doc_id)``. Cost O(len(key)).

    Raises ``InvalidValueError`` if *key* is malformed, empty, or its last element is not a string.
    """
    t = decode_key(key)
    if not t or not isinstance(t[-1], str):
        raise InvalidValueError("malformed index key: it must end with a string document id")
    return t[:-1], t[-1]


def extract_field(doc: dict, path: str) -> Any:
    """The value at dotted *path* ("a.b.c") inside *doc*; ``UNDEFINED`` if a step is missing or lands on
    something that is not an object. Cost O(number of path segments).

    Segments are split on every "."; "" is a single (empty) segment and so is normally UNDEFINED.
    """
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, dict):
            return UNDEFINED
        cur = cur.get(part, UNDEFINED)
        if cur is UNDEFINED:
            return UNDEFINED
    return cur


def index_key_for_document(doc: dict, fields: tuple[str, ...], doc_id: str) -> bytes:
    """``index_key`` of the values at *fields* (dotted paths, missing -> UNDEFINED) followed by *doc_id*.

    Cost O(encoded size + total path length). Raises as ``index_key`` does.
    """
    return index_key(tuple([extract_field(doc, f) for f in fields]), doc_id)


def document_keys(doc: dict, indexes: Iterable[Any], doc_id: str) -> dict[int, bytes]:
    """*doc*'s key in each of *indexes* (objects with ``index_id`` and ``key_fields``, e.g.
    ``catalog.IndexInfo``): ``{index_id: index_key_for_document(doc, ix.key_fields, doc_id)}``, in
    iteration order. One call per staged write.

    Cost O(total encoded size). Raises as ``index_key`` does (the first failing index wins; a non-str
    *doc_id* is refused even with no index).
    """
    if not isinstance(doc_id, str):
        raise InvalidValueError(f"document id must be a string, got {type(doc_id).__name__}")
    return {ix.index_id: index_key_for_document(doc, ix.key_fields, doc_id) for ix in indexes}


# ----------------------------------------------------------------------------------------------- intervals


def prefix_interval(values: tuple) -> Interval:
    """Every key whose first ``len(values)`` elements equal *values*. ``()`` -> ``Interval.all()``.

    Cost O(encoded size). Raises ``InvalidValueError`` for bad values.
    """
    return Interval.prefix(encode_key(values))


def range_interval(eq_values: tuple, lower: tuple | None, upper: tuple | None) -> Interval:
    """Keys equal to *eq_values* on their first fields and in range on the next field.

    ``lower=(x, inclusive)`` keeps element > x (or >= x); ``upper=(y, inclusive)`` keeps element < y (or
    <= y); None leaves that side bounded only by the equality prefix. Byte bounds, with E = eq_values:
    ``>= x`` starts at enc(E+(x,)), ``> x`` at prefix_end(enc(E+(x,))), ``< y`` ends at enc(E+(y,)),
    ``<= y`` at prefix_end(enc(E+(y,))); open sides use ``prefix_interval(E)``'s bound. Contradictory
    bounds (x > y, or x == y unless both inclusive) give an empty interval (``is_empty()``); it is
    returned as computed, not normalised. Cost O(encoded size). Raises ``InvalidValueError`` for bad
    values or malformed bound pairs.
    """
    base = encode_key(eq_values)
    if lower is None:
        start = base
    else:
        x, inclusive = _bound(lower, "lower")
        lo = base + encode_key((x,))
        start = lo if inclusive else prefix_end(lo)
        if start is None:  # impossible: encodings start with a tag < 0xFF; kept for the type checker
            return Interval(base, base)
    if upper is None:
        end = prefix_end(base)
    else:
        y, inclusive = _bound(upper, "upper")
        hi = base + encode_key((y,))
        end = prefix_end(hi) if inclusive else hi
    return Interval(start, end)


def _bound(b: Any, side: str) -> tuple[Any, bool]:
    if not isinstance(b, (tuple, list)) or len(b) != 2 or not isinstance(b[1], bool):
        raise InvalidValueError(f"{side} bound must be a (value, inclusive: bool) pair, got {b!r}")
    return b[0], b[1]
