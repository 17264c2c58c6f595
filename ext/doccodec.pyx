# cython: language_level=3
# Twin of engine/doccodec.py. Names, signatures, docstrings, ABI and the byte format must match;
# tests/parity enforces this. Change the Python reference first.
"""Cython twin of ``engine.doccodec`` (the binary document codec).

What is accelerated and how:
- ``encode_document`` validates and encodes in one pass into one C buffer (on the stack up to 2 KiB):
  exact built-in types are dispatched on first, dict and list items are walked with borrowed references,
  ASCII strings are copied from the str object's own storage, numbers are written from C integers.
  Subclasses of the built-in types are converted to their base type first, as the reference does.
  Whenever the walk meets anything the rules refuse, it stops and lets
  ``engine.model.values.check_document`` raise: that is how every error keeps the reference's
  message, path and precedence (top-level system-field rules first, then the first bad value in walk
  order), without the fast path building any of them.
- ``decode_document`` / ``decode_many`` walk the bytes with a C cursor and build the Python objects
  directly (no intermediate slices); malformed input raises the reference's messages. Short ASCII field
  names are looked up in a small direct-mapped cache of str objects (a pure cache: strs are immutable),
  so the names every document repeats are neither decoded nor hashed again.
Format, order and errors are the reference's.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_New, PyDict_Next, PyDict_SetItem
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy

from engine.model import values as _values
from engine.model.errors import InvalidValueError, RippleError


cdef extern from "Python.h":
    int PyUnicode_IS_ASCII(object)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    object PyUnicode_AsUTF8String(object)
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    long long PyLong_AsLongLongAndOverflow(object, int*) except? -1
    double PyFloat_AS_DOUBLE(object)
    object PyFloat_FromDouble(double)
    object PyLong_FromLongLong(long long)
    Py_ssize_t PyDict_GET_SIZE(object)
    Py_ssize_t PyList_GET_SIZE(object)
    PyObject* PyList_GET_ITEM(object, Py_ssize_t)
    int PyDict_Contains(object, object) except -1


#: Kernel format identifier; the Cython twin must carry the same string.
ABI = "doccodec/1"
#: The version byte every encoded document starts with.
FORMAT_VERSION = 1
#: What a database written with this codec records about its documents (``check_document_format``).
DATABASE_FORMAT = b"ripple-binary-document/1"

TAG_NULL = 0x00
TAG_FALSE = 0x01
TAG_TRUE = 0x02
TAG_INT = 0x03
TAG_FLOAT = 0x04
TAG_STRING = 0x05
TAG_BYTES = 0x06
TAG_ARRAY = 0x07
TAG_OBJECT = 0x08

#: The kernel's public API: its Cython twin must export exactly these names (tests/parity).
__all__ = [
    "ABI", "FORMAT_VERSION", "DATABASE_FORMAT",
    "TAG_NULL", "TAG_FALSE", "TAG_TRUE", "TAG_INT", "TAG_FLOAT", "TAG_STRING", "TAG_BYTES", "TAG_ARRAY",
    "TAG_OBJECT",
    "encode_document", "decode_document", "decode_many",
]

cdef enum:
    T_NULL = 0x00
    T_FALSE = 0x01
    T_TRUE = 0x02
    T_INT = 0x03
    T_FLOAT = 0x04
    T_STRING = 0x05
    T_BYTES = 0x06
    T_ARRAY = 0x07
    T_OBJECT = 0x08
    C_VERSION = 1
    STACK_BYTES = 2048
    # engine.model.values limits (checked equal at import below)
    C_MAX_DEPTH = 16
    C_MAX_FIELDS = 1024
    C_MAX_ARRAY_ITEMS = 8192
    C_MAX_FIELD_NAME_LEN = 1024
    C_MAX_CODEC_DEPTH = 64
    C_MAX_DOCUMENT_BYTES = 1048576

assert (C_MAX_DEPTH, C_MAX_FIELDS, C_MAX_ARRAY_ITEMS, C_MAX_FIELD_NAME_LEN, C_MAX_CODEC_DEPTH,
        C_MAX_DOCUMENT_BYTES) == (_values.MAX_DEPTH, _values.MAX_FIELDS, _values.MAX_ARRAY_ITEMS,
                                  _values.MAX_FIELD_NAME_LEN, _values.MAX_CODEC_DEPTH, _values.MAX_DOCUMENT_BYTES)

cdef uint64_t CANONICAL_NAN_BITS = 0x7FF8000000000000ULL
cdef uint64_t EXP_MASK = 0x7FF0000000000000ULL
cdef uint64_t MANT_MASK = 0x000FFFFFFFFFFFFFULL
cdef object _check_document = _values.check_document
cdef object _too_large = _values.document_too_large


# ----------------------------------------------------------------------------------------------- buffer


cdef struct Buf:
    unsigned char* p
    Py_ssize_t n
    Py_ssize_t cap
    bint heap


cdef int buf_grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = b.n + extra
    cdef Py_ssize_t cap = b.cap * 2
    cdef unsigned char* q
    if cap < need:
        cap = need
    if b.heap:
        q = <unsigned char*>realloc(b.p, cap)
    else:
        q = <unsigned char*>malloc(cap)
        if q != NULL:
            memcpy(q, b.p, b.n)
    if q == NULL:
        raise MemoryError()
    b.p = q
    b.cap = cap
    b.heap = True
    return 0


cdef inline int buf_reserve(Buf* b, Py_ssize_t extra) except -1:
    if b.n + extra > b.cap:
        buf_grow(b, extra)
    return 0


cdef inline void put_varint(Buf* b, size_t n) noexcept:
    """Caller reserved 5 bytes."""
    while n >= 0x80:
        b.p[b.n] = <unsigned char>((n & 0x7F) | 0x80)
        b.n += 1
        n >>= 7
    b.p[b.n] = <unsigned char>n
    b.n += 1


cdef inline void put_u64(Buf* b, unsigned char tag, uint64_t x) noexcept:
    """Caller reserved 9 bytes."""
    cdef unsigned char* q = b.p + b.n
    cdef int i
    q[0] = tag
    for i in range(8):
        q[1 + i] = <unsigned char>(x & 0xFF)
        x >>= 8
    b.n += 9


cdef inline int put_blob(Buf* b, unsigned char tag, const char* s, Py_ssize_t n) except -1:
    buf_reserve(b, n + 6)
    b.p[b.n] = tag
    b.n += 1
    put_varint(b, <size_t>n)
    memcpy(b.p + b.n, s, n)
    b.n += n
    return 0


# ----------------------------------------------------------------------------------------------- encoding

# _enc returns OK, or REFUSED when the value breaks a rule (the reference validator then raises).
cdef enum:
    OK = 0
    REFUSED = 1


cdef int _enc_str(Buf* b, object s) except -1:
    cdef object raw
    if PyUnicode_IS_ASCII(s):
        put_blob(b, T_STRING, <const char*>PyUnicode_DATA(s), PyUnicode_GET_LENGTH(s))
        return OK
    try:
        raw = PyUnicode_AsUTF8String(s)
    except UnicodeEncodeError:
        return REFUSED  # a lone surrogate
    put_blob(b, T_STRING, PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
    return OK


cdef int _enc_name(Buf* b, object k, int top, object value) except -1:
    """A field name (and, at the top level, the system-field rules for its value)."""
    cdef const unsigned char* s
    cdef Py_ssize_t n, i
    if type(k) is not str:
        if not isinstance(k, str):
            return REFUSED
        k = str(k)
    if not PyUnicode_IS_ASCII(k):
        return REFUSED
    n = PyUnicode_GET_LENGTH(k)
    if n == 0 or n > C_MAX_FIELD_NAME_LEN:
        return REFUSED
    s = <const unsigned char*>PyUnicode_DATA(k)
    for i in range(n):
        if s[i] < 0x20 or s[i] > 0x7E:
            return REFUSED
    if s[0] == 0x24:  # '$'
        return REFUSED
    if top and s[0] == 0x5F:  # '_': only the system fields, with their types
        if k == "_id":
            if not isinstance(value, str):
                return REFUSED
        elif k == "_creationTime":
            if not isinstance(value, float):
                return REFUSED
        else:
            return REFUSED
    buf_reserve(b, n + 5)
    put_varint(b, <size_t>n)
    memcpy(b.p + b.n, s, n)
    b.n += n
    return OK


cdef int _enc(Buf* b, object v, int level) except -1:
    cdef type t = type(v)
    cdef int overflow = 0
    cdef long long i64
    cdef double d
    cdef uint64_t bits
    cdef Py_ssize_t n, i, pos
    cdef PyObject* key
    cdef PyObject* item
    if t is str:
        return _enc_str(b, v)
    if v is None:
        buf_reserve(b, 1)
        b.p[b.n] = T_NULL
        b.n += 1
        return OK
    if t is bool:
        buf_reserve(b, 1)
        b.p[b.n] = T_TRUE if v is True else T_FALSE
        b.n += 1
        return OK
    if t is float:
        d = PyFloat_AS_DOUBLE(v)
        if d != d:
            bits = CANONICAL_NAN_BITS
        else:
            memcpy(&bits, &d, 8)
        buf_reserve(b, 9)
        put_u64(b, T_FLOAT, bits)
        return OK
    if t is int:
        i64 = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow:
            return REFUSED
        buf_reserve(b, 9)
        put_u64(b, T_INT, <uint64_t>i64)
        return OK
    if t is bytes:
        put_blob(b, T_BYTES, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))
        return OK
    if t is dict:
        if level >= C_MAX_DEPTH:
            return REFUSED
        n = PyDict_GET_SIZE(v)
        if n > C_MAX_FIELDS:
            return REFUSED
        buf_reserve(b, 6)
        b.p[b.n] = T_OBJECT
        b.n += 1
        put_varint(b, <size_t>n)
        pos = 0
        while PyDict_Next(v, &pos, &key, &item):
            if _enc_name(b, <object>key, level == 0, <object>item) != OK:
                return REFUSED
            if _enc(b, <object>item, level + 1) != OK:
                return REFUSED
        return OK
    if t is list:
        if level >= C_MAX_DEPTH:
            return REFUSED
        n = PyList_GET_SIZE(v)
        if n > C_MAX_ARRAY_ITEMS:
            return REFUSED
        buf_reserve(b, 6)
        b.p[b.n] = T_ARRAY
        b.n += 1
        put_varint(b, <size_t>n)
        for i in range(n):
            item = PyList_GET_ITEM(v, i)
            if _enc(b, <object>item, level + 1) != OK:
                return REFUSED
        return OK
    return _enc_subclass(b, v, level)


cdef int _enc_subclass(Buf* b, object v, int level) except -1:
    """Subclasses of the built-in types, read as their base type (the reference's rule)."""
    cdef Py_ssize_t n
    if isinstance(v, dict):
        if level >= C_MAX_DEPTH:
            return REFUSED
        items = list(v.items())  # an OrderedDict's own order, not the underlying dict's
        n = len(items)
        if n > C_MAX_FIELDS:
            return REFUSED
        buf_reserve(b, 6)
        b.p[b.n] = T_OBJECT
        b.n += 1
        put_varint(b, <size_t>n)
        for k, x in items:
            if _enc_name(b, k, level == 0, x) != OK or _enc(b, x, level + 1) != OK:
                return REFUSED
        return OK
    if isinstance(v, list):
        if level >= C_MAX_DEPTH:
            return REFUSED
        items = list(v)
        n = len(items)
        if n > C_MAX_ARRAY_ITEMS:
            return REFUSED
        buf_reserve(b, 6)
        b.p[b.n] = T_ARRAY
        b.n += 1
        put_varint(b, <size_t>n)
        for x in items:
            if _enc(b, x, level + 1) != OK:
                return REFUSED
        return OK
    if isinstance(v, bool):
        return _enc(b, bool(v), level)
    if isinstance(v, int):
        return _enc(b, int(v), level)
    if isinstance(v, float):
        return _enc(b, float(v), level)
    if isinstance(v, str):
        return _enc(b, str(v), level)
    if isinstance(v, bytes):
        return _enc(b, bytes(v), level)
    return REFUSED


def encode_document(doc):
    """The stored bytes of *doc* (a document, system fields allowed), validating it on the way.

    Raises ``InvalidValueError`` exactly as ``engine.model.values.validate_document(doc,
    allow_system_fields=True)`` would (same rules, order, messages, paths), except that the size limit
    ``MAX_DOCUMENT_BYTES`` applies to the returned bytes. Field order is kept; subclasses of the built-in
    types are written as their base type. Cost O(size of doc).
    """
    cdef unsigned char stack[STACK_BYTES]
    cdef Buf b
    cdef int status
    if not isinstance(doc, dict):
        _check_document(doc, allow_system_fields=True)  # raises: not a dict
        raise RippleError("internal error: doccodec refused a non-dict the reference validator accepts")
    b.p = stack
    b.n = 0
    b.cap = STACK_BYTES
    b.heap = False
    try:
        b.p[0] = C_VERSION
        b.n = 1
        status = _enc(&b, doc, 0)
        if status == OK:
            if b.n > C_MAX_DOCUMENT_BYTES:
                raise _too_large(b.n)
            return PyBytes_FromStringAndSize(<char*>b.p, b.n)
    finally:
        if b.heap:
            free(b.p)
    _check_document(doc, allow_system_fields=True)  # raises the reference's error
    raise RippleError("internal error: doccodec refused a document the reference validator accepts")


# ----------------------------------------------------------------------------------------------- decoding


class _Malformed(Exception):
    """Internal: the bytes are not an encoding; carries the reason and the byte offset."""

    def __init__(self, why, pos):
        super().__init__(why)
        self.why = why
        self.pos = pos


cdef struct Cur:
    const unsigned char* p
    Py_ssize_t pos
    Py_ssize_t end


cdef Py_ssize_t _varint(Cur* c) except -1:
    cdef uint64_t n = 0
    cdef unsigned char x
    cdef int i
    cdef Py_ssize_t start = c.pos
    for i in range(5):
        if start + i >= c.end:
            raise _Malformed("truncated length", start)
        x = c.p[start + i]
        n |= (<uint64_t>(x & 0x7F)) << (7 * i)
        if not (x & 0x80):
            if x == 0 and i > 0:
                raise _Malformed("non-minimal length", start)
            if n >= (<uint64_t>1) << 32:
                raise _Malformed("length does not fit in 32 bits", start)
            c.pos = start + i + 1
            return <Py_ssize_t>n
    raise _Malformed("length longer than 5 bytes", start)


cdef object _utf8(Cur* c, str what):
    cdef Py_ssize_t n = _varint(c)
    cdef Py_ssize_t at = c.pos
    if n > c.end - at:
        raise _Malformed(f"truncated {what}", at)
    try:
        s = PyUnicode_DecodeUTF8(<const char*>(c.p + at), n, NULL)
    except UnicodeDecodeError:
        raise _Malformed(f"{what} is not valid UTF-8", at) from None
    c.pos = at + n
    return s


cdef enum:
    NAME_CACHE_SLOTS = 1024   # a power of two
    NAME_CACHE_MAX_LEN = 48

# slot -> a strong reference to an ASCII str (or NULL); filled by _field_name, never emptied.
cdef PyObject* _names[NAME_CACHE_SLOTS]


cdef object _field_name(Cur* c):
    """A field name: from the cache when it holds these exact ASCII bytes, else decoded (and cached)."""
    cdef Py_ssize_t n, at, i
    cdef uint32_t h = 2166136261u
    cdef const unsigned char* s
    cdef PyObject* hit
    cdef bint ascii = True
    if c.pos < c.end and c.p[c.pos] < 0x80:  # one-byte length: the name is shorter than 128 bytes
        n = c.p[c.pos]
        at = c.pos + 1
        if 0 < n <= NAME_CACHE_MAX_LEN and n <= c.end - at:
            s = c.p + at
            for i in range(n):
                h = (h ^ s[i]) * 16777619u
                if s[i] >= 0x80:
                    ascii = False
            if ascii:
                h &= NAME_CACHE_SLOTS - 1
                hit = _names[h]
                if hit != NULL and PyUnicode_GET_LENGTH(<object>hit) == n and \
                        memcmp(PyUnicode_DATA(<object>hit), s, n) == 0:
                    c.pos = at + n
                    return <object>hit
                name = PyUnicode_DecodeUTF8(<const char*>s, n, NULL)
                Py_INCREF(name)
                Py_XDECREF(_names[h])
                _names[h] = <PyObject*>name
                c.pos = at + n
                return name
    return _utf8(c, "field name")


cdef inline uint64_t _u64le(const unsigned char* q) noexcept:
    cdef uint64_t x = 0
    cdef int i
    for i in range(7, -1, -1):
        x = (x << 8) | q[i]
    return x


cdef object _dec(Cur* c, int depth):
    cdef unsigned char tag
    cdef uint64_t bits
    cdef double d
    cdef Py_ssize_t n, i, at
    cdef list items
    cdef dict obj
    if c.pos >= c.end:
        raise _Malformed("truncated value", c.pos)
    tag = c.p[c.pos]
    c.pos += 1
    if tag == T_STRING:
        return _utf8(c, "string")
    if tag == T_NULL:
        return None
    if tag == T_FALSE:
        return False
    if tag == T_TRUE:
        return True
    if tag == T_INT or tag == T_FLOAT:
        if c.pos + 8 > c.end:
            raise _Malformed("truncated number", c.pos)
        bits = _u64le(c.p + c.pos)
        if tag == T_INT:
            c.pos += 8
            return PyLong_FromLongLong(<long long><int64_t>bits)
        if (bits & EXP_MASK) == EXP_MASK and (bits & MANT_MASK) != 0 and bits != CANONICAL_NAN_BITS:
            raise _Malformed("non-canonical NaN", c.pos)
        c.pos += 8
        memcpy(&d, &bits, 8)
        return PyFloat_FromDouble(d)
    if tag == T_BYTES:
        n = _varint(c)
        if n > c.end - c.pos:
            raise _Malformed("truncated bytes", c.pos)
        at = c.pos
        c.pos += n
        return PyBytes_FromStringAndSize(<const char*>(c.p + at), n)
    if tag == T_ARRAY or tag == T_OBJECT:
        if depth >= C_MAX_CODEC_DEPTH:
            raise _Malformed(f"nested more than {C_MAX_CODEC_DEPTH} levels deep", c.pos - 1)
        n = _varint(c)
        if n > c.end - c.pos:  # every element takes at least one byte
            raise _Malformed("truncated container", c.pos)
        if tag == T_ARRAY:
            items = PyList_New(n)
            for i in range(n):
                x = _dec(c, depth + 1)
                Py_INCREF(x)
                PyList_SET_ITEM(items, i, x)
            return items
        obj = PyDict_New()
        for i in range(n):
            at = c.pos
            name = _field_name(c)
            if PyDict_Contains(obj, name):
                raise _Malformed(f"repeated field name {name!r}", at)
            PyDict_SetItem(obj, name, _dec(c, depth + 1))
        return obj
    raise _Malformed(f"unknown tag 0x{tag:02x}", c.pos - 1)


cdef bytes _as_bytes(object data):
    if type(data) is bytes:
        return <bytes>data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise InvalidValueError(f"decode_document needs bytes, got {type(data).__name__}")


cdef dict _decode_at(bytes data, object offset):
    cdef Cur c
    cdef Py_ssize_t start, length = PyBytes_GET_SIZE(data)
    cdef unsigned char version
    if offset < 0 or offset >= length:
        raise InvalidValueError(f"not a stored document: no bytes at offset {offset} (length {length})")
    start = offset
    c.p = <const unsigned char*>PyBytes_AS_STRING(data)
    c.end = length
    version = c.p[start]
    if version != C_VERSION:
        hint = (" (a '{' here is the JSON document format of Ripple before the binary codec: export the "
                "database with that version, `ripple export`, and `ripple import` it)") if version == 0x7B else ""
        raise InvalidValueError(f"not a stored document: format version 0x{version:02x}, expected "
                                f"0x{C_VERSION:02x}{hint}")
    try:
        if start + 1 >= length or c.p[start + 1] != T_OBJECT:
            raise _Malformed("a document must be an object", start + 1)
        c.pos = start + 1
        doc = _dec(&c, 0)
        if c.pos != length:
            raise _Malformed(f"{length - c.pos} trailing bytes", c.pos)
    except _Malformed as e:
        raise InvalidValueError(f"malformed stored document: {e.why} at byte {e.pos - start}") from None
    return <dict>doc


def decode_document(data, offset=0):
    """The document stored in ``data[offset:]`` (``offset`` skips a prefix such as the by_id value's
    version timestamp without copying). Builds new Python objects (dict, list, str, bytes, int, float).

    Raises ``InvalidValueError`` for anything that is not exactly one encoded document: a non-bytes
    argument (bytearray and memoryview are accepted), another format version (the message names the
    export/import migration for the old JSON format), an unknown tag, truncation, trailing bytes, a
    non-minimal length, a non-canonical NaN, invalid UTF-8, a repeated field name, or nesting deeper than
    ``MAX_CODEC_DEPTH``. The message gives the byte offset (relative to *offset*). Cost O(len(data)).
    """
    return _decode_at(_as_bytes(data), offset)


def decode_many(items, offset=0):
    """``[decode_document(x, offset) for x in items]``, in one call (the twin decodes the batch without a
    Python step per document). Raises as ``decode_document`` on the first bad item. Cost O(total bytes)."""
    cdef list out = []
    for x in items:
        out.append(_decode_at(_as_bytes(x), offset))
    return out
