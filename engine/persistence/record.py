"""The commit-record codec: ``CommitRecord`` <-> a compact, checksummed byte string.

Who may call it: the persistence strategies (``memory``, ``lmdb_store``, ``sqlite_store``) when they store
and load log entries, and tools that inspect a log. Nothing else should depend on the byte layout. A
Cython twin (``engine._native``) will mirror ``encode_record``/``decode_record`` byte for byte, which is
why the functions are flat loops over precompiled ``struct.Struct`` objects and ``ABI`` names the format.

Layout (all integers big-endian, unsigned), version 1::

    offset  size      field
    0       1         format version, always 1 for this ABI
    1       8         ts: commit timestamp (u64, never 0)
    9       4         W = byte length of writer
    13      W         writer, UTF-8
    13+W    4         N = number of writes
    then N times:
            2         T = byte length of table
            T         table, UTF-8
            2         I = byte length of id
            I         id, UTF-8
            8         prev_ts (u64; 0 means "None": commit ts 0 is never used, so 0 is free)
            1         flag: 0 = tombstone (value None), 1 = value present
            4         V = byte length of value            (only when flag == 1)
            V         value bytes                          (only when flag == 1)
    end-4   4         CRC32 (``zlib.crc32``) of every byte before it

Invariants:
- ``decode_record(encode_record(r)) == r`` for every encodable record (``writes`` comes back a tuple and
  ``value`` comes back as ``bytes``).
- ``decode_record`` raises ``PersistenceError`` (never ``IndexError``/``struct.error``/``UnicodeError``)
  on any input that is not exactly one well-formed record. In particular:
  * every single-byte change is detected, because CRC32 detects every error burst of at most 32 bits;
  * every truncation is detected *without relying on the CRC*: the layout is self-delimiting (each
    variable-length field is preceded by its length), so a strict prefix of a valid body can never parse
    as a complete body, and the decoder insists on consuming the body exactly.
- ``encode_record`` raises ``PersistenceError`` for a record the layout cannot represent (ts 0 or beyond
  u64, prev_ts 0 or beyond u64, a name longer than its length field, non-UTF-8-encodable text such as a
  lone surrogate, a value that is not bytes). It never emits bytes that ``decode_record`` rejects.
"""
from __future__ import annotations

import struct
import zlib

from engine.model.errors import PersistenceError
from engine.persistence.base import CommitRecord, DocumentWrite

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

# Precompiled layouts: one Struct per fixed-width run, so each write costs a handful of C-level packs.
_HEAD = struct.Struct(">BQI")       # version, ts, writer length
_U32 = struct.Struct(">I")          # write count, CRC
_U16 = struct.Struct(">H")          # table / id length
_TOMB = struct.Struct(">QB")        # prev_ts, flag (0)
_VALUE = struct.Struct(">QBI")      # prev_ts, flag (1), value length

_HEAD_SIZE = _HEAD.size             # 13
_TOMB_SIZE = _TOMB.size             # 9
#: Smallest possible record: header, empty writer, zero writes, CRC.
MIN_RECORD_BYTES = _HEAD_SIZE + 4 + 4
#: Smallest possible encoded write: two empty names, prev_ts and a tombstone flag.
_MIN_WRITE_BYTES = 2 + 2 + _TOMB_SIZE


def encode_record(rec: CommitRecord) -> bytes:
    """Serialise *rec* into the version-1 layout above.

    Cost: O(total bytes); one ``b"".join`` plus one CRC pass over the body (values are copied twice: into
    the body, then body + CRC, which is a memcpy). Raises ``PersistenceError`` if the record cannot be
    represented; the fast path does no per-field validation and, on failure, ``_explain`` re-walks the
    record to name the offending field.
    """
    try:
        ts = rec.ts
        if ts == 0:
            raise PersistenceError("cannot encode commit record: ts 0 is reserved (\"before any commit\")")
        writer = rec.writer.encode("utf-8")
        writes = rec.writes
        parts = [_HEAD.pack(FORMAT_VERSION, ts, len(writer)), writer, _U32.pack(len(writes))]
        append = parts.append
        for w in writes:
            table = w.table.encode("utf-8")
            doc_id = w.id.encode("utf-8")
            prev = w.prev_ts
            if prev is None:
                prev = 0
            elif prev == 0:
                raise PersistenceError(
                    f"cannot encode commit record at ts {ts}: write {w.table!r}/{w.id!r} has prev_ts 0, "
                    "which is not a commit timestamp (use None for an insert)")
            value = w.value
            append(_U16.pack(len(table)))
            append(table)
            append(_U16.pack(len(doc_id)))
            append(doc_id)
            if value is None:
                append(_TOMB.pack(prev, 0))
            else:
                append(_VALUE.pack(prev, 1, len(value)))
                append(value)
        body = b"".join(parts)
    except (struct.error, UnicodeError, AttributeError, TypeError) as exc:
        raise PersistenceError(f"cannot encode commit record: {_explain(rec, exc)}") from exc
    return body + _U32.pack(zlib.crc32(body))


def _explain(rec: object, exc: BaseException) -> str:
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


def decode_record(data: bytes) -> CommitRecord:
    """Parse one record produced by ``encode_record``.

    Accepts any bytes-like object (copied once if not ``bytes``). Cost: O(len(data)): one CRC pass, then
    one parse pass that copies each name and value out. Raises ``PersistenceError`` naming the problem on
    a wrong version, a checksum mismatch, a truncated or overlong body, a bad flag byte, invalid UTF-8 or
    ts 0. The checks run in that order: version first (so a future format gets a clear message rather than
    a checksum error), then CRC, then structure.
    """
    if not isinstance(data, bytes):
        try:
            data = bytes(data)
        except TypeError as exc:
            raise PersistenceError(f"commit record must be bytes, got {type(data).__name__}") from exc
    n = len(data)
    if n < MIN_RECORD_BYTES:
        raise PersistenceError(f"commit record truncated: {n} bytes, a record has at least {MIN_RECORD_BYTES}")
    if data[0] != FORMAT_VERSION:
        raise PersistenceError(f"unsupported commit record format version {data[0]} (this build reads {FORMAT_VERSION})")
    end = n - 4
    (stored_crc,) = _U32.unpack_from(data, end)
    actual_crc = zlib.crc32(memoryview(data)[:end])
    if stored_crc != actual_crc:
        raise PersistenceError(
            f"commit record checksum mismatch (stored {stored_crc:#010x}, computed {actual_crc:#010x}): "
            "the record is corrupt or truncated")
    try:
        _, ts, length = _HEAD.unpack_from(data, 0)
        if ts == 0:
            raise PersistenceError("corrupt commit record: ts 0 is reserved")
        pos = _HEAD_SIZE
        stop = pos + length
        if stop + 4 > end:
            raise PersistenceError(f"corrupt commit record at ts {ts}: writer length {length} overruns the record")
        writer = data[pos:stop].decode("utf-8")
        pos = stop
        (count,) = _U32.unpack_from(data, pos)
        pos += 4
        # Refuse absurd counts before looping: bounds the work a corrupt-but-checksummed input can cause.
        if count * _MIN_WRITE_BYTES > end - pos:
            raise PersistenceError(f"corrupt commit record at ts {ts}: {count} writes cannot fit in {end - pos} bytes")
        writes = []
        for _ in range(count):
            if pos + 2 > end:
                raise PersistenceError(f"corrupt commit record at ts {ts}: truncated inside write #{len(writes)}")
            (length,) = _U16.unpack_from(data, pos)
            pos += 2
            stop = pos + length
            if stop + 2 > end:
                raise PersistenceError(f"corrupt commit record at ts {ts}: table name of write #{len(writes)} overruns the record")
            table = data[pos:stop].decode("utf-8")
            pos = stop
            (length,) = _U16.unpack_from(data, pos)
            pos += 2
            stop = pos + length
            if stop + _TOMB_SIZE > end:
                raise PersistenceError(f"corrupt commit record at ts {ts}: id of write #{len(writes)} overruns the record")
            doc_id = data[pos:stop].decode("utf-8")
            pos = stop
            prev, flag = _TOMB.unpack_from(data, pos)
            pos += _TOMB_SIZE
            if flag == 0:
                value = None
            elif flag == 1:
                if pos + 4 > end:
                    raise PersistenceError(f"corrupt commit record at ts {ts}: value length of write #{len(writes)} missing")
                (length,) = _U32.unpack_from(data, pos)
                pos += 4
                stop = pos + length
                if stop > end:
                    raise PersistenceError(f"corrupt commit record at ts {ts}: value of write #{len(writes)} overruns the record")
                value = data[pos:stop]
                pos = stop
            else:
                raise PersistenceError(f"corrupt commit record at ts {ts}: write #{len(writes)} has flag byte {flag} (expected 0 or 1)")
            writes.append(DocumentWrite(table, doc_id, value, prev if prev else None))
        if pos != end:
            raise PersistenceError(f"corrupt commit record at ts {ts}: {end - pos} unexpected bytes after the last write")
    except UnicodeDecodeError as exc:
        raise PersistenceError(f"corrupt commit record: invalid UTF-8 in a name ({exc.reason})") from exc
    except struct.error as exc:  # unreachable given the explicit bounds checks; kept as a backstop
        raise PersistenceError(f"corrupt commit record: {exc}") from exc
    return CommitRecord(ts, writer, tuple(writes))
