# cython: language_level=3
# Twin of engine/encoding.py. Names, signatures, docstrings, ABI and on-disk/wire formats must match;
# tests/parity enforces this. Change the Python reference first.
"""Cython twin of ``engine.encoding`` (the order-preserving key codec).

What is accelerated and how:
- ``encode_key`` / ``index_key`` / ``index_key_for_document`` write tags and payloads straight into one C
  buffer (on the stack up to 512 bytes, which covers every index key), with no intermediate bytes objects:
  int64 and float64 payloads are computed on C integers, ASCII strings are copied from the str object's
  own storage, and the 0x00 -> 0x00 0xFF escape is a ``memchr`` scan. The error path of an element is not
  built while encoding; a chain of C path nodes on the stack is turned into the same ``"[1].a[0]"`` string
  only when an error is raised.
- ``decode_key`` walks the bytes with a C cursor; payloads without escapes are sliced in one copy.
- ``compare_values`` and ``extract_field`` dispatch on exact built-in types first.
Values of subclasses of the built-in types take a slow path that performs the reference's own Python
operations, so they behave exactly as in the reference. Format, order and errors are the reference's.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcpy

import math
import struct
from operator import itemgetter

from engine.encoding import UNDEFINED
from engine.model.errors import IndexKeyTooLargeError, InvalidValueError
from engine.model.types import Interval, prefix_end


cdef extern from "Python.h":
    int PyUnicode_IS_ASCII(object)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    object PyUnicode_AsUTF8String(object)
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    long long PyLong_AsLongLongAndOverflow(object, int*) except? -1
    double PyFloat_AS_DOUBLE(object)
    int Py_EnterRecursiveCall(const char*) except -1
    void Py_LeaveRecursiveCall()
    object PyUnicode_Split(object, object, Py_ssize_t)
    PyObject* PyDict_GetItemWithError(object, object) except? NULL


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

cdef enum:
    C_MAX_INDEX_KEY_BYTES = 480
    C_MAX_NESTING_DEPTH = 64
    STACK_BYTES = 512

MAX_INDEX_KEY_BYTES = C_MAX_INDEX_KEY_BYTES
MAX_NESTING_DEPTH = C_MAX_NESTING_DEPTH

TAG_UNDEFINED = 0x01
TAG_NULL = 0x02
TAG_INT = 0x03
TAG_FLOAT = 0x04
TAG_BOOL = 0x05
TAG_STRING = 0x06
TAG_BYTES = 0x07
TAG_ARRAY = 0x08
TAG_OBJECT = 0x09

cdef enum:
    T_UNDEFINED = 0x01
    T_NULL = 0x02
    T_INT = 0x03
    T_FLOAT = 0x04
    T_BOOL = 0x05
    T_STRING = 0x06
    T_BYTES = 0x07
    T_ARRAY = 0x08
    T_OBJECT = 0x09

cdef uint64_t SIGN64 = (<uint64_t>1) << 63
cdef uint64_t CANONICAL_NAN_BITS = 0x7FF8000000000000ULL
cdef object _UNDEF = UNDEFINED
cdef object _FIRST = itemgetter(0)
cdef object _INT64_MIN = -(1 << 63)
cdef object _INT64_MAX = (1 << 63) - 1
cdef object _PY_SIGN = 1 << 63
cdef object _U64 = struct.Struct(">Q")


# ----------------------------------------------------------------------------------------------- buffer


cdef struct Buf:
    unsigned char* p
    Py_ssize_t n
    Py_ssize_t cap
    bint heap


cdef inline void buf_init(Buf* b, unsigned char* stack, Py_ssize_t cap) noexcept:
    b.p = stack
    b.n = 0
    b.cap = cap
    b.heap = False


cdef inline void buf_free(Buf* b) noexcept:
    if b.heap:
        free(b.p)
        b.heap = False


cdef int buf_grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = b.n + extra
    cdef Py_ssize_t cap = b.cap * 2
    cdef unsigned char* q
    if cap < need:
        cap = need
    if b.heap:
        q = <unsigned char*>realloc(b.p, cap)
        if q == NULL:
            raise MemoryError()
    else:
        q = <unsigned char*>malloc(cap)
        if q == NULL:
            raise MemoryError()
        memcpy(q, b.p, b.n)
        b.heap = True
    b.p = q
    b.cap = cap
    return 0


cdef inline int buf_reserve(Buf* b, Py_ssize_t extra) except -1:
    if b.n + extra > b.cap:
        buf_grow(b, extra)
    return 0


cdef inline int buf_byte(Buf* b, unsigned char c) except -1:
    if b.n + 1 > b.cap:
        buf_grow(b, 1)
    b.p[b.n] = c
    b.n += 1
    return 0


cdef inline int buf_u64(Buf* b, unsigned char tag, uint64_t x) except -1:
    cdef unsigned char* q
    cdef int i
    if b.n + 9 > b.cap:
        buf_grow(b, 9)
    q = b.p + b.n
    q[0] = tag
    for i in range(8):
        q[8 - i] = <unsigned char>(x & 0xFF)
        x >>= 8
    b.n += 9
    return 0


cdef int buf_escaped(Buf* b, const unsigned char* s, Py_ssize_t n) except -1:
    """Append *s* with every 0x00 written 0x00 0xFF, then the terminator 0x00 0x01."""
    cdef const unsigned char* z
    cdef Py_ssize_t chunk
    buf_reserve(b, n + 2)
    while True:
        z = <const unsigned char*>memchr(s, 0, n)
        if z == NULL:
            memcpy(b.p + b.n, s, n)
            b.n += n
            break
        chunk = z - s + 1
        buf_reserve(b, n + 3)
        memcpy(b.p + b.n, s, chunk)
        b.n += chunk
        b.p[b.n] = 0xFF
        b.n += 1
        s += chunk
        n -= chunk
    b.p[b.n] = 0
    b.p[b.n + 1] = 1
    b.n += 2
    return 0


# ----------------------------------------------------------------------------------------------- paths


cdef struct PathNode:
    PathNode* parent
    Py_ssize_t index      # >= 0: "[index]"; -1: ".name" (or "name" at the root)
    PyObject* name


cdef str _path(PathNode* node):
    """The reference's error path ("[1].a[0]") for *node*; built only when an error is raised."""
    parts = []
    while node != NULL:
        if node.index >= 0:
            parts.append(f"[{node.index}]")
        else:
            parts.append(<object>node.name)
            if node.parent != NULL:
                parts.append(".")
        node = node.parent
    parts.reverse()
    return "".join(parts)


cdef object _invalid(str message, PathNode* node):
    return InvalidValueError(message, _path(node))


# ----------------------------------------------------------------------------------------------- encode


cdef bytes _utf8_slow(object s, PathNode* node):
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid("string is not valid Unicode (lone surrogate)", node) from None


cdef int _encode_str(Buf* b, object s, PathNode* node) except -1:
    """Escaped, terminated UTF-8 payload of the exact str *s* (no tag)."""
    cdef bytes raw
    if PyUnicode_IS_ASCII(s):
        buf_escaped(b, <const unsigned char*>PyUnicode_DATA(s), PyUnicode_GET_LENGTH(s))
        return 0
    try:
        raw = PyUnicode_AsUTF8String(s)
    except UnicodeEncodeError:
        raise _invalid("string is not valid Unicode (lone surrogate)", node) from None
    buf_escaped(b, <const unsigned char*>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
    return 0


cdef inline uint64_t _float_bits(double d) noexcept:
    cdef uint64_t bits
    if d != d:
        bits = CANONICAL_NAN_BITS
    else:
        memcpy(&bits, &d, 8)
    if bits & SIGN64:
        return ~bits
    return bits ^ SIGN64


cdef int _encode_object(Buf* b, object v, int depth, PathNode* node) except -1:
    cdef PathNode child
    cdef object raw
    fields = []
    for name, item in v.items():
        if not isinstance(name, str):
            raise _invalid(f"object field name {name!r} is not a string", node)
        if not name:
            raise _invalid("object field names must be non-empty", node)
        if type(name) is str:
            if PyUnicode_IS_ASCII(name):
                raw = PyBytes_FromStringAndSize(<const char*>PyUnicode_DATA(name), PyUnicode_GET_LENGTH(name))
            else:
                try:
                    raw = PyUnicode_AsUTF8String(name)
                except UnicodeEncodeError:
                    raise _invalid("string is not valid Unicode (lone surrogate)", node) from None
        else:
            raw = _utf8_slow(name, node)
        fields.append((raw, name, item))
    fields.sort(key=_FIRST)
    buf_byte(b, T_OBJECT)
    child.parent = node
    child.index = -1
    for raw, name, item in fields:
        if type(raw) is bytes:
            buf_escaped(b, <const unsigned char*>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
        else:
            _append_slow_escape(b, raw)
        child.name = <PyObject*>name
        _encode_value(b, item, depth + 1, &child)
    buf_reserve(b, 2)
    b.p[b.n] = 0
    b.p[b.n + 1] = 1
    b.n += 2
    return 0


cdef int _append_slow_escape(Buf* b, object raw) except -1:
    """The reference's ``_escape`` done with the object's own methods (bytes subclasses)."""
    cdef bytes out = bytes(raw.replace(b"\x00", b"\x00\xff") + b"\x00\x01")
    cdef Py_ssize_t n = PyBytes_GET_SIZE(out)
    buf_reserve(b, n)
    memcpy(b.p + b.n, PyBytes_AS_STRING(out), n)
    b.n += n
    return 0


cdef int _encode_value(Buf* b, object v, int depth, PathNode* node) except -1:
    cdef type t = type(v)
    cdef int overflow = 0
    cdef long long i
    cdef Py_ssize_t k, m
    cdef PathNode child
    if t is str:
        buf_byte(b, T_STRING)
        return _encode_str(b, v, node)
    if t is float:
        buf_u64(b, T_FLOAT, _float_bits(PyFloat_AS_DOUBLE(v)))
        return 0
    if t is int:
        i = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow:
            raise _invalid(f"integer {v} is outside int64", node)
        buf_u64(b, T_INT, (<uint64_t>i) ^ SIGN64)
        return 0
    if v is None:
        return buf_byte(b, T_NULL)
    if v is _UNDEF:
        if depth > 0:
            raise _invalid("undefined is only allowed as a top-level key element", node)
        return buf_byte(b, T_UNDEFINED)
    if t is bool:
        buf_reserve(b, 2)
        b.p[b.n] = T_BOOL
        b.p[b.n + 1] = 1 if v is True else 0
        b.n += 2
        return 0
    if t is bytes:
        buf_byte(b, T_BYTES)
        return buf_escaped(b, <const unsigned char*>PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))
    if t is list:
        if depth >= C_MAX_NESTING_DEPTH:
            raise _invalid(f"nesting deeper than {C_MAX_NESTING_DEPTH}", node)
        buf_byte(b, T_ARRAY)
        child.parent = node
        child.name = NULL
        k = 0
        # Index each time: the list may change length under a misbehaving element (never in practice).
        while k < len(<list>v):
            child.index = k
            _encode_value(b, (<list>v)[k], depth + 1, &child)
            k += 1
        return buf_byte(b, 0)
    if t is dict:
        if depth >= C_MAX_NESTING_DEPTH:
            raise _invalid(f"nesting deeper than {C_MAX_NESTING_DEPTH}", node)
        return _encode_object(b, v, depth, node)
    return _encode_subclass(b, v, depth, node)


cdef int _encode_subclass(Buf* b, object v, int depth, PathNode* node) except -1:
    """Values whose type is a subclass of a built-in type: the reference's isinstance chain and ops."""
    cdef PathNode child
    cdef Py_ssize_t k
    if isinstance(v, bool):
        buf_reserve(b, 2)
        b.p[b.n] = T_BOOL
        b.p[b.n + 1] = 1 if v else 0
        b.n += 2
    elif isinstance(v, int):
        if v < _INT64_MIN or v > _INT64_MAX:
            raise _invalid(f"integer {v} is outside int64", node)
        buf_u64(b, T_INT, <uint64_t>_U64.unpack(_U64.pack(v + _PY_SIGN))[0])
    elif isinstance(v, float):
        if v != v:
            buf_u64(b, T_FLOAT, _float_bits(float("nan")))
        else:
            buf_u64(b, T_FLOAT, _float_bits(PyFloat_AS_DOUBLE(v)))
    elif isinstance(v, str):
        buf_byte(b, T_STRING)
        _append_slow_escape(b, _utf8_slow(v, node))
    elif isinstance(v, bytes):
        buf_byte(b, T_BYTES)
        _append_slow_escape(b, v)
    elif isinstance(v, list):
        if depth >= C_MAX_NESTING_DEPTH:
            raise _invalid(f"nesting deeper than {C_MAX_NESTING_DEPTH}", node)
        buf_byte(b, T_ARRAY)
        child.parent = node
        child.name = NULL
        for k, item in enumerate(v):
            child.index = k
            _encode_value(b, item, depth + 1, &child)
        buf_byte(b, 0)
    elif isinstance(v, dict):
        if depth >= C_MAX_NESTING_DEPTH:
            raise _invalid(f"nesting deeper than {C_MAX_NESTING_DEPTH}", node)
        _encode_object(b, v, depth, node)
    else:
        raise _invalid(f"{type(v).__name__} is not a Convex value", node)
    return 0


cdef int _encode_elements(Buf* b, object values) except -1:
    """Encode every element of the tuple/list *values* at the top level (paths "[i]")."""
    cdef PathNode node
    cdef Py_ssize_t i = 0
    node.parent = NULL
    node.name = NULL
    if type(values) is tuple:
        for i in range(len(<tuple>values)):
            node.index = i
            _encode_value(b, (<tuple>values)[i], 0, &node)
    elif type(values) is list:
        while i < len(<list>values):
            node.index = i
            _encode_value(b, (<list>values)[i], 0, &node)
            i += 1
    else:
        for i, v in enumerate(values):
            node.index = i
            _encode_value(b, v, 0, &node)
    return 0


cdef bytes _encode_tuple(object values):
    cdef unsigned char stack[STACK_BYTES]
    cdef Buf b
    buf_init(&b, stack, STACK_BYTES)
    try:
        _encode_elements(&b, values)
        return PyBytes_FromStringAndSize(<const char*>b.p, b.n)
    finally:
        buf_free(&b)


def encode_key(values):
    """Encode a key tuple (or list) of values; bytewise order of results = tuple order.

    Cost O(total encoded size). ``()`` -> ``b""``. Raises ``InvalidValueError`` for anything that is not a
    key element (see the module docstring); the error's ``path`` names the offending element, e.g.
    ``"[1].a[0]"`` -> element 1, field a, index 0.
    """
    if not isinstance(values, (tuple, list)):
        raise InvalidValueError(f"a key must be a tuple or list of values, got {type(values).__name__}")
    return _encode_tuple(values)


# ----------------------------------------------------------------------------------------------- decode


cdef object _bad(str message, Py_ssize_t pos):
    return InvalidValueError(f"malformed key: {message} at byte {pos}")


cdef bytes _decode_escaped(const unsigned char* d, Py_ssize_t n, Py_ssize_t* pos):
    """Read an escaped, terminated payload starting at pos[0]; return the raw bytes, advance pos."""
    cdef Py_ssize_t p = pos[0]
    cdef Py_ssize_t z
    cdef const unsigned char* q
    cdef unsigned char follow
    cdef unsigned char stack[STACK_BYTES]
    cdef Buf b
    cdef bint escaped = False
    buf_init(&b, stack, STACK_BYTES)
    try:
        while True:
            q = <const unsigned char*>memchr(d + p, 0, n - p) if p < n else NULL
            if q == NULL or (q - d) + 1 >= n:
                raise _bad("unterminated string/bytes payload", n)
            z = q - d
            follow = d[z + 1]
            if follow == 0x01:
                pos[0] = z + 2
                if not escaped:
                    return PyBytes_FromStringAndSize(<const char*>(d + p), z - p)
                buf_reserve(&b, z - p)
                memcpy(b.p + b.n, d + p, z - p)
                b.n += z - p
                return PyBytes_FromStringAndSize(<const char*>b.p, b.n)
            elif follow == 0xFF:
                escaped = True
                buf_reserve(&b, z + 1 - p)
                memcpy(b.p + b.n, d + p, z + 1 - p)
                b.n += z + 1 - p
                p = z + 2
            else:
                raise _bad(f"0x00 followed by {format(<int>follow, '#04x')} in a string/bytes payload", z)
    finally:
        buf_free(&b)


cdef inline uint64_t _load_u64(const unsigned char* q) noexcept:
    cdef uint64_t x = 0
    cdef int i
    for i in range(8):
        x = (x << 8) | q[i]
    return x


cdef object _decode_value(const unsigned char* d, Py_ssize_t n, Py_ssize_t* pos, int depth):
    cdef Py_ssize_t p = pos[0]
    cdef Py_ssize_t start, after
    cdef unsigned char tag, bv
    cdef uint64_t bits
    cdef double f
    cdef bytes raw, prev
    if p >= n:
        raise _bad("missing element", p)
    tag = d[p]
    p += 1
    if tag == T_NULL:
        pos[0] = p
        return None
    if tag == T_UNDEFINED:
        if depth > 0:
            raise _bad("undefined inside an array/object", p - 1)
        pos[0] = p
        return _UNDEF
    if tag == T_INT:
        if p + 8 > n:
            raise _bad("truncated int64", p)
        pos[0] = p + 8
        return <int64_t>(_load_u64(d + p) ^ SIGN64)
    if tag == T_FLOAT:
        if p + 8 > n:
            raise _bad("truncated float64", p)
        bits = _load_u64(d + p)
        if bits & SIGN64:
            bits = bits ^ SIGN64
        else:
            bits = ~bits
        memcpy(&f, &bits, 8)
        if f != f and bits != CANONICAL_NAN_BITS:
            raise _bad("non-canonical NaN", p)
        pos[0] = p + 8
        return f
    if tag == T_BOOL:
        if p >= n:
            raise _bad("truncated boolean", p)
        bv = d[p]
        if bv > 1:
            raise _bad(f"boolean payload {format(<int>bv, '#04x')}", p)
        pos[0] = p + 1
        return bv == 1
    if tag == T_STRING:
        start = p
        pos[0] = p
        raw = _decode_escaped(d, n, pos)
        try:
            return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), NULL)
        except UnicodeDecodeError:
            raise _bad("string payload is not valid UTF-8", start) from None
    if tag == T_BYTES:
        pos[0] = p
        return _decode_escaped(d, n, pos)
    if tag == T_ARRAY:
        if depth >= C_MAX_NESTING_DEPTH:
            raise _bad(f"nesting deeper than {C_MAX_NESTING_DEPTH}", p - 1)
        items = []
        while True:
            if p >= n:
                raise _bad("unterminated array", p)
            if d[p] == 0:
                pos[0] = p + 1
                return items
            pos[0] = p
            items.append(_decode_value(d, n, pos, depth + 1))
            p = pos[0]
    if tag == T_OBJECT:
        if depth >= C_MAX_NESTING_DEPTH:
            raise _bad(f"nesting deeper than {C_MAX_NESTING_DEPTH}", p - 1)
        obj = {}
        prev = None
        while True:
            if p >= n:
                raise _bad("unterminated object", p)
            if d[p] == 0 and p + 1 < n and d[p + 1] == 0x01:
                pos[0] = p + 2
                return obj
            start = p
            pos[0] = p
            raw = _decode_escaped(d, n, pos)
            if prev is not None and raw <= prev:
                raise _bad("object field names not strictly increasing", start)
            try:
                name = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), NULL)
            except UnicodeDecodeError:
                raise _bad("field name is not valid UTF-8", start) from None
            prev = raw
            obj[name] = _decode_value(d, n, pos, depth + 1)
            p = pos[0]
    raise _bad(f"unknown type tag {format(<int>tag, '#04x')}", p - 1)


def decode_key(data):
    """Exact inverse of ``encode_key``: ``b""`` -> ``()``. Cost O(len(data)).

    Accepts only canonical encodings (canonical NaN, boolean payload 0/1, every 0x00 in a payload followed
    by 0xFF or ending it as ``00 01``, sorted unique non-empty field names, valid UTF-8, no nested
    UNDEFINED, nesting within ``MAX_NESTING_DEPTH``); anything else raises
    ``InvalidValueError`` whose message gives the byte offset.
    """
    cdef bytes buf
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t n
    cdef const unsigned char* d
    if type(data) is bytes:
        buf = <bytes>data
    elif isinstance(data, (bytes, bytearray, memoryview)):
        buf = bytes(data)
    else:
        raise InvalidValueError(f"a key must be bytes, got {type(data).__name__}")
    d = <const unsigned char*>PyBytes_AS_STRING(buf)
    n = PyBytes_GET_SIZE(buf)
    out = []
    while pos < n:
        out.append(_decode_value(d, n, &pos, 0))
    return tuple(out)


# ----------------------------------------------------------------------------------------------- compare


cdef int _rank(object v) except -1:
    cdef type t = type(v)
    if t is str:
        return 5
    if t is int:
        return 2
    if t is float:
        return 3
    if v is _UNDEF:
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


cdef int _cmp_float(double a, double b) noexcept:
    cdef bint a_nan = a != a
    cdef bint b_nan = b != b
    cdef uint64_t ba, bb
    if a_nan or b_nan:
        return (1 if a_nan else 0) - (1 if b_nan else 0)
    if a < b:
        return -1
    if a > b:
        return 1
    if a == 0.0:  # both zero: -0.0 < +0.0
        memcpy(&ba, &a, 8)
        memcpy(&bb, &b, 8)
        ba >>= 63
        bb >>= 63
        return 0 if ba == bb else (-1 if ba else 1)
    return 0


cdef int _compare(object a, object b) except -2:
    cdef int ra = _rank(a)
    cdef int rb = _rank(b)
    cdef int c
    cdef Py_ssize_t la, lb
    if ra != rb:
        return -1 if ra < rb else 1
    if ra <= 1:
        return 0
    if ra == 3:
        return _cmp_float(a, b)
    if ra == 7 or ra == 8:
        Py_EnterRecursiveCall(" in compare_values")
        try:
            if ra == 7:
                for x, y in zip(a, b):
                    c = _compare(x, y)
                    if c:
                        return c
                la = len(a)
                lb = len(b)
                return (la > lb) - (la < lb)
            ka = sorted(a)
            kb = sorted(b)
            for na, nb in zip(ka, kb):
                if na != nb:
                    return -1 if na < nb else 1
                c = _compare(a[na], b[nb])
                if c:
                    return c
            la = len(ka)
            lb = len(kb)
            return (la > lb) - (la < lb)
        finally:
            Py_LeaveRecursiveCall()
    # int, bool, str, bytes: Python's own order is the Convex order.
    return -1 if a < b else (1 if a > b else 0)


def compare_values(a, b):
    """-1, 0 or 1 as *a* sorts before, with, or after *b* in the Convex value order (module docstring).

    Computed directly from the values, independently of the encoding. Lists and tuples are both treated
    as arrays, so key tuples compare with this too (tuple order = array order); UNDEFINED is accepted
    anywhere and is least. Cost O(size of the smaller value) plus sorting object fields
    (O(f log f) per object). Raises ``InvalidValueError`` on a non-value type. Strings are compared by
    code point, which equals UTF-8 byte order for every encodable string.
    """
    return _compare(a, b)


# ----------------------------------------------------------------------------------------------- index keys


cdef bytes _index_key_of(object values, object doc_id):
    """Encode the elements of the tuple/list *values* then the str *doc_id*; enforce the size limit."""
    cdef unsigned char stack[STACK_BYTES]
    cdef Buf b
    cdef PathNode node
    cdef Py_ssize_t length
    buf_init(&b, stack, STACK_BYTES)
    try:
        _encode_elements(&b, values)
        node.parent = NULL
        node.name = NULL
        node.index = len(values)
        _encode_value(&b, doc_id, 0, &node)
        length = b.n
        if length <= C_MAX_INDEX_KEY_BYTES:
            return PyBytes_FromStringAndSize(<const char*>b.p, b.n)
    finally:
        buf_free(&b)
    raise IndexKeyTooLargeError(
        f"index key is {length} bytes, more than the limit of {C_MAX_INDEX_KEY_BYTES}; "
        f"index smaller values (document {doc_id!r})"
    )


def index_key(values, doc_id):
    """``encode_key((*values, doc_id))``: the key of one document in an index over ``len(values)`` fields.

    The trailing id makes every key unique; all keys of one index have the same arity, so they are
    prefix-free. Cost O(encoded size). Raises ``InvalidValueError`` for bad values or a non-str id, and
    ``IndexKeyTooLargeError`` when the key is longer than ``MAX_INDEX_KEY_BYTES`` (exactly
    ``MAX_INDEX_KEY_BYTES`` is allowed).
    """
    if not isinstance(doc_id, str):
        raise InvalidValueError(f"document id must be a string, got {type(doc_id).__name__}")
    if type(values) is not tuple and type(values) is not list:
        values = (*values,)
    return _index_key_of(values, doc_id)


def split_index_key(key):
    """Inverse of ``index_key``: ``(values, doc_id)``. Cost O(len(key)).

    Raises ``InvalidValueError`` if *key* is malformed, empty, or its last element is not a string.
    """
    cdef tuple t = decode_key(key)
    cdef Py_ssize_t n = len(t)
    if not n or not isinstance(t[n - 1], str):
        raise InvalidValueError("malformed index key: it must end with a string document id")
    return t[:n - 1], t[n - 1]


cdef object _extract(object doc, object path):
    cdef PyObject* found
    cdef object cur = doc
    if type(path) is str and type(doc) is dict and (<str>path).find(".") < 0:
        found = PyDict_GetItemWithError(<dict>doc, path)
        if found == NULL:
            return _UNDEF
        return <object>found
    for part in path.split("."):
        if not isinstance(cur, dict):
            return _UNDEF
        if type(cur) is dict:
            found = PyDict_GetItemWithError(<dict>cur, part)
            if found == NULL:
                return _UNDEF
            cur = <object>found
        else:
            cur = cur.get(part, _UNDEF)
        if cur is _UNDEF:
            return _UNDEF
    return cur


def extract_field(doc, path):
    """The value at dotted *path* ("a.b.c") inside *doc*; ``UNDEFINED`` if a step is missing or lands on
    something that is not an object. Cost O(number of path segments).

    Segments are split on every "."; "" is a single (empty) segment and so is normally UNDEFINED.
    """
    return _extract(doc, path)


def index_key_for_document(doc, fields, doc_id):
    """``index_key`` of the values at *fields* (dotted paths, missing -> UNDEFINED) followed by *doc_id*.

    Cost O(encoded size + total path length). Raises as ``index_key`` does.
    """
    cdef list values
    if type(fields) is tuple:
        values = [_extract(doc, f) for f in <tuple>fields]
    else:
        values = [_extract(doc, f) for f in fields]
    if not isinstance(doc_id, str):
        raise InvalidValueError(f"document id must be a string, got {type(doc_id).__name__}")
    return _index_key_of(values, doc_id)


def document_keys(doc, indexes, doc_id):
    """*doc*'s key in each of *indexes* (objects with ``index_id`` and ``key_fields``, e.g.
    ``catalog.IndexInfo``): ``{index_id: index_key_for_document(doc, ix.key_fields, doc_id)}``, in
    iteration order. One call per staged write.

    Cost O(total encoded size). Raises as ``index_key`` does (the first failing index wins; a non-str
    *doc_id* is refused even with no index).
    """
    cdef dict out = {}
    cdef list values
    cdef object fields
    if not isinstance(doc_id, str):
        raise InvalidValueError(f"document id must be a string, got {type(doc_id).__name__}")
    for ix in indexes:
        fields = ix.key_fields
        if type(fields) is tuple:
            values = [_extract(doc, f) for f in <tuple>fields]
        else:
            values = [_extract(doc, f) for f in fields]
        out[ix.index_id] = _index_key_of(values, doc_id)
    return out


# ----------------------------------------------------------------------------------------------- intervals


def prefix_interval(values):
    """Every key whose first ``len(values)`` elements equal *values*. ``()`` -> ``Interval.all()``.

    Cost O(encoded size). Raises ``InvalidValueError`` for bad values.
    """
    return Interval.prefix(encode_key(values))


def range_interval(eq_values, lower, upper):
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


cdef tuple _bound(object b, str side):
    if not isinstance(b, (tuple, list)) or len(b) != 2 or not isinstance(b[1], bool):
        raise InvalidValueError(f"{side} bound must be a (value, inclusive: bool) pair, got {b!r}")
    return b[0], b[1]
