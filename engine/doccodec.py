"""The binary document codec: how the engine stores a document (reference kernel; twin ``ext/doccodec.pyx``).

Role: turn a Convex document into the bytes the commit log and the ``by_id`` index store, and those bytes
straight back into Python objects. It is not the key codec (``engine.encoding``): key bytes sort like
values, these bytes only have to be small and fast to read; nothing compares them. Convex JSON
(``engine.model.values.to_json``/``from_json``) stays the wire format.

Who may call it: the engine, through the kernel the database selects (``engine._impl`` kernel
``doccodec``, carried by ``engine.documents.DocumentKeys``): transactions stage writes with
``encode_document``, reads, replay, migration and inspection decode with ``decode_document``. Tests and
tools may call it directly. It imports only ``engine.model`` and the standard library.

Format (version 1), byte by byte::

    document := 0x01 value              the format version byte, then an object value
    value    := tag payload
      0x00 null      (no payload)
      0x01 false     (no payload)
      0x02 true      (no payload)
      0x03 int64     8 bytes, little-endian two's complement
      0x04 float64   8 bytes, little-endian IEEE-754 bits; every NaN is written as the canonical quiet
                     NaN 0x7FF8000000000000 (the only NaN decoding accepts); -0.0 keeps its sign bit
      0x05 string    n:varint, then n bytes of UTF-8
      0x06 bytes     n:varint, then n raw bytes
      0x07 array     n:varint, then n values
      0x08 object    n:varint, then n fields in the document's order; a field is
                     k:varint, k bytes of UTF-8 (the name), then its value
    varint   := unsigned LEB128: 7 bits per byte, least significant first, high bit set on every byte
                but the last; minimal (no trailing 0x00 continuation) and at most 5 bytes (< 2**32)

Example: ``{"a": 1}`` is ``01 08 01 01 61 03 01 00 00 00 00 00 00 00``.

Invariants (tests/unit/test_doccodec.py, tests/differential/test_doccodec_twins.py):
- ``decode_document(encode_document(d))`` equals ``d`` under ``values_equal`` and keeps field order; an
  int stays an int, a float a float, bytes stay bytes, -0.0 its sign, every NaN a NaN.
- Canonical: one document has one encoding, and every byte string ``decode_document`` accepts is the
  encoding of what it returns (unknown tags, truncation, trailing bytes, non-minimal varints, a
  non-canonical NaN, invalid UTF-8 and repeated field names are all refused with ``InvalidValueError``).
- ``encode_document`` validates exactly as ``engine.model.values.validate_document(doc,
  allow_system_fields=True)``: the same rules, checked in the same order, raising the same errors with
  the same messages and paths. The one difference is the size limit: ``MAX_DOCUMENT_BYTES`` is measured
  on these bytes, the stored size (a document is usually smaller here than in JSON; an array of many
  short floats can be larger).
- Decoding does not re-check the Convex limits (storage holds only values that passed validation); it
  guards only against runaway nesting (``MAX_CODEC_DEPTH`` containers).
- The format version is the first byte of every document; a database records the format it was written
  in (``DATABASE_FORMAT``, checked at open by ``engine.database.recovery.check_document_format``).
"""
from __future__ import annotations

import math
import struct
from typing import Any, Iterable

from engine.model import values
from engine.model.errors import InvalidValueError
from engine.model.values import MAX_CODEC_DEPTH, MAX_DOCUMENT_BYTES

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

_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_CANONICAL_NAN = _F64.pack(math.nan)
assert _CANONICAL_NAN == bytes.fromhex("000000000000f87f")
_SCALARS = {None: bytes([TAG_NULL]), False: bytes([TAG_FALSE]), True: bytes([TAG_TRUE])}


# ------------------------------------------------------------------------------------------- encoding


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _encode(out: list[bytes], v: Any) -> None:
    """Append the encoding of *v* (already validated) to *out*. Subclasses are written as their base."""
    if v is None or isinstance(v, bool):
        out.append(_SCALARS[None if v is None else bool(v)])
    elif isinstance(v, int):
        out.append(bytes([TAG_INT]) + _I64.pack(int(v)))
    elif isinstance(v, float):
        out.append(bytes([TAG_FLOAT]) + (_CANONICAL_NAN if v != v else _F64.pack(v)))
    elif isinstance(v, str):
        raw = str(v).encode("utf-8")
        out.append(bytes([TAG_STRING]) + _varint(len(raw)) + raw)
    elif isinstance(v, bytes):
        out.append(bytes([TAG_BYTES]) + _varint(len(v)) + bytes(v))
    elif isinstance(v, list):
        out.append(bytes([TAG_ARRAY]) + _varint(len(v)))
        for x in v:
            _encode(out, x)
    else:  # a dict (validation admits nothing else)
        out.append(bytes([TAG_OBJECT]) + _varint(len(v)))
        for k, x in v.items():
            name = str(k).encode("utf-8")
            out.append(_varint(len(name)) + name)
            _encode(out, x)


def encode_document(doc: Any) -> bytes:
    """The stored bytes of *doc* (a document, system fields allowed), validating it on the way.

    Raises ``InvalidValueError`` exactly as ``engine.model.values.validate_document(doc,
    allow_system_fields=True)`` would (same rules, order, messages, paths), except that the size limit
    ``MAX_DOCUMENT_BYTES`` applies to the returned bytes. Field order is kept; subclasses of the built-in
    types are written as their base type. Cost O(size of doc).
    """
    values.check_document(doc, allow_system_fields=True)
    out = [bytes([FORMAT_VERSION])]
    _encode(out, doc)
    data = b"".join(out)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise values.document_too_large(len(data))
    return data


# ------------------------------------------------------------------------------------------- decoding


class _Malformed(Exception):
    """Internal: the bytes are not an encoding; carries the reason and the byte offset."""

    def __init__(self, why: str, pos: int) -> None:
        super().__init__(why)
        self.why = why
        self.pos = pos


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    n = 0
    for i in range(5):
        if pos + i >= len(data):
            raise _Malformed("truncated length", pos)
        b = data[pos + i]
        n |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            if b == 0 and i > 0:
                raise _Malformed("non-minimal length", pos)
            if n >= 1 << 32:
                raise _Malformed("length does not fit in 32 bits", pos)
            return n, pos + i + 1
    raise _Malformed("length longer than 5 bytes", pos)


def _read_utf8(data: bytes, pos: int, what: str) -> tuple[str, int]:
    n, pos = _read_varint(data, pos)
    end = pos + n
    if end > len(data):
        raise _Malformed(f"truncated {what}", pos)
    try:
        return data[pos:end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise _Malformed(f"{what} is not valid UTF-8", pos) from None


def _decode(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if pos >= len(data):
        raise _Malformed("truncated value", pos)
    tag = data[pos]
    pos += 1
    if tag == TAG_NULL:
        return None, pos
    if tag == TAG_FALSE:
        return False, pos
    if tag == TAG_TRUE:
        return True, pos
    if tag == TAG_INT or tag == TAG_FLOAT:
        if pos + 8 > len(data):
            raise _Malformed("truncated number", pos)
        if tag == TAG_INT:
            return _I64.unpack_from(data, pos)[0], pos + 8
        f = _F64.unpack_from(data, pos)[0]
        if f != f and data[pos:pos + 8] != _CANONICAL_NAN:
            raise _Malformed("non-canonical NaN", pos)
        return f, pos + 8
    if tag == TAG_STRING:
        return _read_utf8(data, pos, "string")
    if tag == TAG_BYTES:
        n, pos = _read_varint(data, pos)
        if pos + n > len(data):
            raise _Malformed("truncated bytes", pos)
        return data[pos:pos + n], pos + n
    if tag == TAG_ARRAY or tag == TAG_OBJECT:
        if depth >= MAX_CODEC_DEPTH:
            raise _Malformed(f"nested more than {MAX_CODEC_DEPTH} levels deep", pos - 1)
        n, pos = _read_varint(data, pos)
        if n > len(data) - pos:  # every element takes at least one byte
            raise _Malformed("truncated container", pos)
        if tag == TAG_ARRAY:
            items = []
            for _ in range(n):
                item, pos = _decode(data, pos, depth + 1)
                items.append(item)
            return items, pos
        obj: dict[str, Any] = {}
        for _ in range(n):
            at = pos
            name, pos = _read_utf8(data, pos, "field name")
            if name in obj:
                raise _Malformed(f"repeated field name {name!r}", at)
            obj[name], pos = _decode(data, pos, depth + 1)
        return obj, pos
    raise _Malformed(f"unknown tag 0x{tag:02x}", pos - 1)


def _as_bytes(data: Any) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise InvalidValueError(f"decode_document needs bytes, got {type(data).__name__}")


def _decode_at(data: bytes, offset: int) -> dict:
    if offset < 0 or offset >= len(data):
        raise InvalidValueError(f"not a stored document: no bytes at offset {offset} (length {len(data)})")
    version = data[offset]
    if version != FORMAT_VERSION:
        hint = (" (a '{' here is the JSON document format of Ripple before the binary codec: export the "
                "database with that version, `ripple export`, and `ripple import` it)") if version == 0x7B else ""
        raise InvalidValueError(f"not a stored document: format version 0x{version:02x}, expected "
                                f"0x{FORMAT_VERSION:02x}{hint}")
    try:
        if offset + 1 >= len(data) or data[offset + 1] != TAG_OBJECT:
            raise _Malformed("a document must be an object", offset + 1)
        doc, end = _decode(data, offset + 1, 0)
        if end != len(data):
            raise _Malformed(f"{len(data) - end} trailing bytes", end)
    except _Malformed as e:
        raise InvalidValueError(f"malformed stored document: {e.why} at byte {e.pos - offset}") from None
    return doc


def decode_document(data: bytes, offset: int = 0) -> dict:
    """The document stored in ``data[offset:]`` (``offset`` skips a prefix such as the by_id value's
    version timestamp without copying). Builds new Python objects (dict, list, str, bytes, int, float).

    Raises ``InvalidValueError`` for anything that is not exactly one encoded document: a non-bytes
    argument (bytearray and memoryview are accepted), another format version (the message names the
    export/import migration for the old JSON format), an unknown tag, truncation, trailing bytes, a
    non-minimal length, a non-canonical NaN, invalid UTF-8, a repeated field name, or nesting deeper than
    ``MAX_CODEC_DEPTH``. The message gives the byte offset (relative to *offset*). Cost O(len(data)).
    """
    return _decode_at(_as_bytes(data), offset)


def decode_many(items: Iterable[bytes], offset: int = 0) -> list[dict]:
    """``[decode_document(x, offset) for x in items]``, in one call (the twin decodes the batch without a
    Python step per document). Raises as ``decode_document`` on the first bad item. Cost O(total bytes)."""
    return [_decode_at(_as_bytes(x), offset) for x in items]
