# cython: language_level=3
# Twin of engine/persistence/record.py. Names, signatures, docstrings, ABI and on-disk/wire formats must
# match; tests/parity enforces this. Change the Python reference first.
"""Cython twin of ``engine.persistence.record``: the version-1 commit-record codec, byte for byte.

What is accelerated and how:
- ``encode_record`` makes two passes over the writes: the first validates every field in the reference's
  order and sums the output size; the second writes straight into one preallocated ``bytes`` object (no
  ``struct`` packs, no part list, no join, no ``body + crc`` copy). Names are read through
  ``PyUnicode_AsUTF8AndSize`` (no temporary ``bytes`` for ASCII names).
- ``decode_record`` parses the record with C pointer arithmetic and builds each ``DocumentWrite`` and the
  ``CommitRecord`` without running the frozen dataclasses' Python ``__init__`` (it fills their slots with
  ``PyObject_GenericSetAttr``, which is what that ``__init__`` does through ``object.__setattr__``); this
  fast path is only taken when the dataclasses still have exactly the expected fields and no
  ``__post_init__``, otherwise the classes are called normally.
- The CRC of a typical (small) record is computed in C (table-driven CRC-32, slice-by-8, the same
  polynomial, initial value and final xor as ``zlib.crc32`` with its default start of 0), so no Python
  call and no memoryview per record; from 4 KiB up ``zlib.crc32`` itself is called (faster per byte, and
  it releases the GIL). Both give the same value, which the differential tests check on both sides of
  the threshold.

Errors: the same ``PersistenceError`` messages as the reference. Failed encodes are explained by the same
slow field-by-field walk (a port of the reference's ``_explain``). Deliberate difference: a value that is a
multi-byte-item buffer (e.g. ``array('i')``) is stored with its byte length; the reference writes its
item count as the length and so emits a record its own decoder rejects.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.number cimport PyNumber_Index
from cpython.object cimport PyObject, PyObject_GenericSetAttr, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.unicode cimport PyUnicode_Check, PyUnicode_DecodeUTF8
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

import dataclasses
import zlib

from engine.model.errors import PersistenceError
from engine.persistence.base import CommitRecord, DocumentWrite

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t* size) except NULL

ABI = "record/1"

#: The kernel's public API: its Cython twin must export exactly these names (tests/parity).
__all__ = [
    "ABI",
    "FORMAT_VERSION",
    "MIN_RECORD_BYTES",
    "encode_record",
    "decode_record",
]

#: The version byte this module writes and the only one it reads.
FORMAT_VERSION = 1

_MAX_U64 = (1 << 64) - 1
_MAX_U16 = 0xFFFF
_MAX_U32 = 0xFFFFFFFF

cdef enum:
    _HEAD_SIZE = 13          # version, ts, writer length
    _TOMB_SIZE = 9           # prev_ts, flag
    _C_MIN_RECORD_BYTES = 21
    _MIN_WRITE_BYTES = 13    # two empty names, prev_ts and a tombstone flag

#: Smallest possible record: header, empty writer, zero writes, CRC.
MIN_RECORD_BYTES = _HEAD_SIZE + 4 + 4


# ---------------------------------------------------------------- CRC-32 (zlib's), slice-by-8

cdef uint32_t _CRC[8][256]


cdef void _crc_init() noexcept:
    cdef uint32_t c
    cdef int i, k
    for i in range(256):
        c = <uint32_t>i
        for k in range(8):
            if c & 1:
                c = (c >> 1) ^ 0xEDB88320u
            else:
                c = c >> 1
        _CRC[0][i] = c
    for i in range(256):
        c = _CRC[0][i]
        for k in range(1, 8):
            c = _CRC[0][c & 0xFF] ^ (c >> 8)
            _CRC[k][i] = c


_crc_init()


cdef uint32_t _crc32(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    cdef uint32_t c = 0xFFFFFFFFu
    cdef uint32_t a, b
    while n >= 8:
        a = (<uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)) ^ c
        b = <uint32_t>p[4] | (<uint32_t>p[5] << 8) | (<uint32_t>p[6] << 16) | (<uint32_t>p[7] << 24)
        c = (_CRC[7][a & 0xFF] ^ _CRC[6][(a >> 8) & 0xFF] ^ _CRC[5][(a >> 16) & 0xFF] ^ _CRC[4][a >> 24]
             ^ _CRC[3][b & 0xFF] ^ _CRC[2][(b >> 8) & 0xFF] ^ _CRC[1][(b >> 16) & 0xFF] ^ _CRC[0][b >> 24])
        p += 8
        n -= 8
    while n > 0:
        c = _CRC[0][(c ^ p[0]) & 0xFF] ^ (c >> 8)
        p += 1
        n -= 1
    return c ^ 0xFFFFFFFFu


cdef object _zlib_crc32 = zlib.crc32

cdef enum:
    # Below this many bytes the C table wins (no Python call, no memoryview); above it zlib's own
    # (braided/SIMD) crc32 is about 3x faster per byte and releases the GIL by itself.
    _ZLIB_CRC_FROM = 4096


cdef inline uint32_t _crc_of(object owner, const uint8_t* p, Py_ssize_t n) except? 0xFFFFFFFF:
    """CRC-32 of the first *n* bytes of the bytes object *owner*, whose buffer starts at *p*."""
    if n < _ZLIB_CRC_FROM:
        return _crc32(p, n)
    return <uint32_t>_zlib_crc32(memoryview(owner)[:n])


# ---------------------------------------------------------------- big-endian helpers

cdef inline void _put16(uint8_t* p, uint16_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 8)
    p[1] = <uint8_t>v


cdef inline void _put32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 24)
    p[1] = <uint8_t>(v >> 16)
    p[2] = <uint8_t>(v >> 8)
    p[3] = <uint8_t>v


cdef inline void _put64(uint8_t* p, uint64_t v) noexcept nogil:
    _put32(p, <uint32_t>(v >> 32))
    _put32(p + 4, <uint32_t>v)


cdef inline uint16_t _get16(const uint8_t* p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t _get32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint64_t _get64(const uint8_t* p) noexcept nogil:
    return (<uint64_t>_get32(p) << 32) | _get32(p + 4)


cdef inline uint64_t _u64(object v) except? 0:
    """*v* as a u64: OverflowError if out of range, TypeError if not an integer (never truncates a float)."""
    if type(v) is not int:
        v = PyNumber_Index(v)
    return <uint64_t>v


# ---------------------------------------------------------------- dataclass construction

def _fast_path_ok(cls, names):
    return (tuple(f.name for f in dataclasses.fields(cls)) == names
            and getattr(cls, "__slots__", None) is not None
            and not hasattr(cls, "__post_init__"))


cdef bint _FAST_DW = _fast_path_ok(DocumentWrite, ("table", "id", "value", "prev_ts"))
cdef bint _FAST_CR = _fast_path_ok(CommitRecord, ("ts", "writer", "writes"))
cdef tuple _EMPTY = ()


cdef inline object _new_write(object table, object doc_id, object value, object prev):
    if not _FAST_DW:
        return DocumentWrite(table, doc_id, value, prev)
    cdef object obj = (<PyTypeObject*>DocumentWrite).tp_new(<type>DocumentWrite, <PyObject*>_EMPTY, NULL)
    PyObject_GenericSetAttr(obj, "table", table)
    PyObject_GenericSetAttr(obj, "id", doc_id)
    PyObject_GenericSetAttr(obj, "value", value)
    PyObject_GenericSetAttr(obj, "prev_ts", prev)
    return obj


cdef inline object _new_record(object ts, object writer, object writes):
    if not _FAST_CR:
        return CommitRecord(ts, writer, writes)
    cdef object obj = (<PyTypeObject*>CommitRecord).tp_new(<type>CommitRecord, <PyObject*>_EMPTY, NULL)
    PyObject_GenericSetAttr(obj, "ts", ts)
    PyObject_GenericSetAttr(obj, "writer", writer)
    PyObject_GenericSetAttr(obj, "writes", writes)
    return obj


# ---------------------------------------------------------------- encode

cdef inline Py_ssize_t _value_len(object value) except -1:
    cdef Py_buffer view
    cdef Py_ssize_t n
    if PyBytes_Check(value):
        return PyBytes_GET_SIZE(value)
    PyObject_GetBuffer(value, &view, PyBUF_SIMPLE)  # TypeError for str, int, ...
    n = view.len
    PyBuffer_Release(&view)
    return n


cdef bytes _encode(object rec):
    cdef Py_ssize_t wlen, tl, il, vl, total, pos, k, nw
    cdef const char* s
    cdef uint64_t c_ts, c_prev
    cdef uint8_t* out
    cdef Py_buffer view
    cdef bytes result

    ts = rec.ts
    if ts == 0:
        raise PersistenceError("cannot encode commit record: ts 0 is reserved (\"before any commit\")")
    writer = rec.writer
    if not PyUnicode_Check(writer):
        raise TypeError("writer is not a str")
    PyUnicode_AsUTF8AndSize(writer, &wlen)
    writes = rec.writes
    c_ts = _u64(ts)
    if wlen > 0xFFFFFFFF:
        raise OverflowError("writer too long")
    nw = len(writes)
    if type(writes) is not tuple:
        writes = tuple(writes)  # a snapshot: the second pass must see what the first one measured
    if nw > 0xFFFFFFFF or len(writes) != nw:
        raise OverflowError("write count does not fit or changed")

    # Pass 1: validate in the reference's order and size the output.
    total = _HEAD_SIZE + wlen + 4 + 4
    for w in <tuple>writes:
        table = w.table
        doc_id = w.id
        if not PyUnicode_Check(table) or not PyUnicode_Check(doc_id):
            raise TypeError("name is not a str")
        PyUnicode_AsUTF8AndSize(table, &tl)
        PyUnicode_AsUTF8AndSize(doc_id, &il)
        prev = w.prev_ts
        if prev is not None and prev == 0:
            raise PersistenceError(
                f"cannot encode commit record at ts {ts}: write {w.table!r}/{w.id!r} has prev_ts 0, "
                "which is not a commit timestamp (use None for an insert)")
        value = w.value
        if tl > 0xFFFF or il > 0xFFFF:
            raise OverflowError("name too long")
        if prev is not None:
            _u64(prev)
        total += 2 + tl + 2 + il + _TOMB_SIZE
        if value is not None:
            vl = _value_len(value)
            if vl > 0xFFFFFFFF:
                raise OverflowError("value too long")
            total += 4 + vl

    # Pass 2: write. Every length is re-read and bounds-checked, so a value mutated by another thread
    # between the passes cannot overrun the buffer.
    result = PyBytes_FromStringAndSize(NULL, total)
    out = <uint8_t*>PyBytes_AS_STRING(result)
    out[0] = 1
    _put64(out + 1, c_ts)
    _put32(out + 9, <uint32_t>wlen)
    s = PyUnicode_AsUTF8AndSize(writer, &wlen)
    memcpy(out + _HEAD_SIZE, s, wlen)
    pos = _HEAD_SIZE + wlen
    _put32(out + pos, <uint32_t>nw)
    pos += 4
    for w in <tuple>writes:
        s = PyUnicode_AsUTF8AndSize(w.table, &tl)
        if pos + 2 + tl > total - 4:
            raise RuntimeError("commit record changed while it was being encoded")
        _put16(out + pos, <uint16_t>tl)
        memcpy(out + pos + 2, s, tl)
        pos += 2 + tl
        s = PyUnicode_AsUTF8AndSize(w.id, &il)
        if pos + 2 + il + _TOMB_SIZE > total - 4:
            raise RuntimeError("commit record changed while it was being encoded")
        _put16(out + pos, <uint16_t>il)
        memcpy(out + pos + 2, s, il)
        pos += 2 + il
        prev = w.prev_ts
        c_prev = 0 if prev is None else _u64(prev)
        _put64(out + pos, c_prev)
        value = w.value
        if value is None:
            out[pos + 8] = 0
            pos += _TOMB_SIZE
        else:
            out[pos + 8] = 1
            pos += _TOMB_SIZE
            if PyBytes_Check(value):
                vl = PyBytes_GET_SIZE(value)
                if pos + 4 + vl > total - 4:
                    raise RuntimeError("commit record changed while it was being encoded")
                _put32(out + pos, <uint32_t>vl)
                memcpy(out + pos + 4, PyBytes_AS_STRING(value), vl)
            else:
                PyObject_GetBuffer(value, &view, PyBUF_SIMPLE)
                vl = view.len
                if pos + 4 + vl > total - 4:
                    PyBuffer_Release(&view)
                    raise RuntimeError("commit record changed while it was being encoded")
                _put32(out + pos, <uint32_t>vl)
                memcpy(out + pos + 4, view.buf, vl)
                PyBuffer_Release(&view)
            pos += 4 + vl
    if pos != total - 4:
        raise RuntimeError("commit record changed while it was being encoded")
    _put32(out + pos, _crc_of(result, out, pos))
    return result


def encode_record(rec):
    """Serialise *rec* into the version-1 layout above.

    Cost: O(total bytes); one ``b"".join`` plus one CRC pass over the body (values are copied twice: into
    the body, then body + CRC, which is a memcpy). Raises ``PersistenceError`` if the record cannot be
    represented; the fast path does no per-field validation and, on failure, ``_explain`` re-walks the
    record to name the offending field.
    """
    try:
        return _encode(rec)
    except (UnicodeError, AttributeError, TypeError, OverflowError) as exc:
        raise PersistenceError(f"cannot encode commit record: {_explain(rec, exc)}") from exc


def _explain(rec, exc):
    """Slow path: find which field made ``encode_record`` fail and say so in words."""
    ts = getattr(rec, "ts", None)
    if not isinstance(ts, int) or not 0 < ts <= _MAX_U64:
        return f"ts {ts!r} is not a u64 commit timestamp in 1..2^64-1"
    writer = getattr(rec, "writer", None)
    if not isinstance(writer, str):
        return f"at ts {ts}: writer {writer!r} is not a str"
    try:
        if len(writer.encode("utf-8")) > _MAX_U32:
            return f"at ts {ts}: writer is longer than 2^32-1 bytes"
    except UnicodeError:
        return f"at ts {ts}: writer {writer!r} is not encodable as UTF-8"
    try:
        writes = list(getattr(rec, "writes"))
    except TypeError:
        return f"at ts {ts}: writes is not a sequence"
    for n, w in enumerate(writes):
        if not isinstance(w, DocumentWrite):
            return f"at ts {ts}: write #{n} is {type(w).__name__}, not DocumentWrite"
        for field_name in ("table", "id"):
            text = getattr(w, field_name)
            if not isinstance(text, str):
                return f"at ts {ts}: write #{n} {field_name} {text!r} is not a str"
            try:
                if len(text.encode("utf-8")) > _MAX_U16:
                    return f"at ts {ts}: write #{n} {field_name} is longer than 65535 UTF-8 bytes"
            except UnicodeError:
                return f"at ts {ts}: write #{n} {field_name} {text!r} is not encodable as UTF-8"
        prev = w.prev_ts
        if prev is not None and (not isinstance(prev, int) or not 0 < prev <= _MAX_U64):
            return f"at ts {ts}: write #{n} prev_ts {prev!r} is not None or a u64 in 1..2^64-1"
        value = w.value
        if value is not None:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                return f"at ts {ts}: write #{n} value is {type(value).__name__}, not bytes"
            if len(value) > _MAX_U32:
                return f"at ts {ts}: write #{n} value is longer than 2^32-1 bytes"
    return f"at ts {ts}: {type(exc).__name__}: {exc}"


# ---------------------------------------------------------------- decode

cdef inline str _utf8(const uint8_t* p, Py_ssize_t n):
    return PyUnicode_DecodeUTF8(<const char*>p, n, NULL)


def decode_record(data):
    """Parse one record produced by ``encode_record``.

    Accepts any bytes-like object (copied once if not ``bytes``). Cost: O(len(data)): one CRC pass, then
    one parse pass that copies each name and value out. Raises ``PersistenceError`` naming the problem on
    a wrong version, a checksum mismatch, a truncated or overlong body, a bad flag byte, invalid UTF-8 or
    ts 0. The checks run in that order: version first (so a future format gets a clear message rather than
    a checksum error), then CRC, then structure.
    """
    cdef const uint8_t* p
    cdef Py_ssize_t n, end, pos, stop, length, i
    cdef uint32_t stored_crc, actual_crc, count
    cdef uint64_t ts, prev
    cdef uint8_t flag
    if not PyBytes_Check(data):
        try:
            data = bytes(data)
        except TypeError as exc:
            raise PersistenceError(f"commit record must be bytes, got {type(data).__name__}") from exc
    n = PyBytes_GET_SIZE(data)
    if n < _C_MIN_RECORD_BYTES:
        raise PersistenceError(f"commit record truncated: {n} bytes, a record has at least {MIN_RECORD_BYTES}")
    p = <const uint8_t*>PyBytes_AS_STRING(data)
    if p[0] != 1:
        raise PersistenceError(f"unsupported commit record format version {p[0]} (this build reads {FORMAT_VERSION})")
    end = n - 4
    stored_crc = _get32(p + end)
    actual_crc = _crc_of(data, p, end)
    if stored_crc != actual_crc:
        raise PersistenceError(
            f"commit record checksum mismatch (stored {stored_crc:#010x}, computed {actual_crc:#010x}): "
            "the record is corrupt or truncated")
    try:
        ts = _get64(p + 1)
        length = _get32(p + 9)
        if ts == 0:
            raise PersistenceError("corrupt commit record: ts 0 is reserved")
        pos = _HEAD_SIZE
        stop = pos + length
        if stop + 4 > end:
            raise PersistenceError(f"corrupt commit record at ts {ts}: writer length {length} overruns the record")
        writer = _utf8(p + pos, length)
        pos = stop
        count = _get32(p + pos)
        pos += 4
        # Refuse absurd counts before looping: bounds the work a corrupt-but-checksummed input can cause.
        if <uint64_t>count * _MIN_WRITE_BYTES > <uint64_t>(end - pos):
            raise PersistenceError(f"corrupt commit record at ts {ts}: {count} writes cannot fit in {end - pos} bytes")
        writes = PyTuple_New_(count)
        for i in range(count):
            if pos + 2 > end:
                raise PersistenceError(f"corrupt commit record at ts {ts}: truncated inside write #{i}")
            length = _get16(p + pos)
            pos += 2
            stop = pos + length
            if stop + 2 > end:
                raise PersistenceError(f"corrupt commit record at ts {ts}: table name of write #{i} overruns the record")
            table = _utf8(p + pos, length)
            pos = stop
            length = _get16(p + pos)
            pos += 2
            stop = pos + length
            if stop + _TOMB_SIZE > end:
                raise PersistenceError(f"corrupt commit record at ts {ts}: id of write #{i} overruns the record")
            doc_id = _utf8(p + pos, length)
            pos = stop
            prev = _get64(p + pos)
            flag = p[pos + 8]
            pos += _TOMB_SIZE
            if flag == 0:
                value = None
            elif flag == 1:
                if pos + 4 > end:
                    raise PersistenceError(f"corrupt commit record at ts {ts}: value length of write #{i} missing")
                length = _get32(p + pos)
                pos += 4
                stop = pos + length
                if stop > end:
                    raise PersistenceError(f"corrupt commit record at ts {ts}: value of write #{i} overruns the record")
                value = PyBytes_FromStringAndSize(<const char*>(p + pos), length)
                pos = stop
            else:
                raise PersistenceError(f"corrupt commit record at ts {ts}: write #{i} has flag byte {flag} (expected 0 or 1)")
            _tuple_set(writes, i, _new_write(table, doc_id, value, prev if prev else None))
        if pos != end:
            raise PersistenceError(f"corrupt commit record at ts {ts}: {end - pos} unexpected bytes after the last write")
    except UnicodeDecodeError as exc:
        raise PersistenceError(f"corrupt commit record: invalid UTF-8 in a name ({exc.reason})") from exc
    return _new_record(ts, writer, writes)


# Tuple building without a list + tuple() copy: PyTuple_New, then SET_ITEM (which steals a reference).

cdef inline tuple PyTuple_New_(Py_ssize_t n):
    return PyTuple_New(n)


cdef inline void _tuple_set(tuple t, Py_ssize_t i, object v) noexcept:
    Py_INCREF(v)
    PyTuple_SET_ITEM(t, i, v)
