"""Unit tests for the commit-record codec (``engine.persistence.record``).

Covers: round trip over arbitrary records (hypothesis), a golden encoding that pins the byte layout the
Cython twin and existing logs depend on, detection of every single-byte corruption and every
truncation, structurally bad records that carry a *valid* CRC (so the structural checks themselves are
exercised), and refusal of records the layout cannot represent. Every test runs once per implementation
(``engine._impl.implementations("record")``: the reference and, when built, its Cython twin).
"""
from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, strategies as st

from engine.model.errors import PersistenceError
from engine.persistence.base import CommitRecord, DocumentWrite
from engine._impl import implementations

IMPLS = implementations("record")
#: Every property below runs against the reference and, when built, its Cython twin.
pytestmark = pytest.mark.parametrize("codec", list(IMPLS.values()), ids=list(IMPLS))

MAX_U64 = (1 << 64) - 1

names = st.text(max_size=16)
values = st.one_of(st.none(), st.binary(max_size=200))
writes = st.builds(
    DocumentWrite, table=names, id=names, value=values,
    prev_ts=st.one_of(st.none(), st.integers(1, MAX_U64)),
)
records = st.builds(
    CommitRecord, ts=st.integers(1, MAX_U64), writer=st.text(max_size=24),
    writes=st.lists(writes, max_size=6).map(tuple),
)


def with_crc(body: bytes) -> bytes:
    """Append a correct CRC, to build structurally bad records that pass the checksum."""
    return body + struct.pack(">I", zlib.crc32(body))


def test_abi_and_version_are_pinned(codec):
    assert codec.ABI == "record/1"
    assert codec.FORMAT_VERSION == 1


def test_golden_encoding(codec):
    rec = CommitRecord(0x0102030405060708, "fn", (
        DocumentWrite("t", "é", b"\x00\xff", 7),
        DocumentWrite("u", "", None, None),
    ))
    body = (
        b"\x01" + bytes.fromhex("0102030405060708") + b"\x00\x00\x00\x02" + b"fn"
        + b"\x00\x00\x00\x02"
        + b"\x00\x01t" + b"\x00\x02\xc3\xa9" + (7).to_bytes(8, "big") + b"\x01" + b"\x00\x00\x00\x02\x00\xff"
        + b"\x00\x01u" + b"\x00\x00" + (0).to_bytes(8, "big") + b"\x00"
    )
    data = codec.encode_record(rec)
    assert data == with_crc(body)
    assert codec.decode_record(data) == rec


def test_smallest_record(codec):
    data = codec.encode_record(CommitRecord(1, "", ()))
    assert len(data) == codec.MIN_RECORD_BYTES
    assert codec.decode_record(data) == CommitRecord(1, "", ())


@given(records)
def test_round_trip(codec, rec):
    data = codec.encode_record(rec)
    back = codec.decode_record(data)
    assert back == rec
    assert type(back.writes) is tuple
    assert all(w.value is None or type(w.value) is bytes for w in back.writes)
    # bytes-like inputs decode identically
    assert codec.decode_record(bytearray(data)) == rec
    assert codec.decode_record(memoryview(data)) == rec


def test_round_trip_large_value_and_list_writes(codec):
    big = bytes(range(256)) * 4096  # 1 MiB
    rec = CommitRecord(MAX_U64, "w", [DocumentWrite("t", "i", big, MAX_U64)])  # a list, not a tuple
    back = codec.decode_record(codec.encode_record(rec))
    assert back.writes == (DocumentWrite("t", "i", big, MAX_U64),)
    assert back.ts == MAX_U64


@given(records, st.data())
def test_every_single_byte_flip_is_detected(codec, rec, data):
    enc = codec.encode_record(rec)
    mask = data.draw(st.integers(1, 255), label="xor mask")
    for i in range(len(enc)):
        bad = bytearray(enc)
        bad[i] ^= mask
        with pytest.raises(PersistenceError):
            codec.decode_record(bytes(bad))


@given(records)
def test_every_truncation_is_detected(codec, rec):
    enc = codec.encode_record(rec)
    for n in range(len(enc)):
        with pytest.raises(PersistenceError):
            codec.decode_record(enc[:n])


@given(records, st.binary(min_size=1, max_size=8))
def test_trailing_garbage_is_detected(codec, rec, extra):
    with pytest.raises(PersistenceError):
        codec.decode_record(codec.encode_record(rec) + extra)


def test_truncated_body_with_recomputed_crc_is_detected(codec):
    # The structural check alone (no help from the CRC) rejects every strict prefix of a valid body.
    rec = CommitRecord(9, "writer", (DocumentWrite("t", "id", b"value", None), DocumentWrite("t", "x", None, 3)))
    body = codec.encode_record(rec)[:-4]
    for n in range(len(body)):
        with pytest.raises(PersistenceError):
            codec.decode_record(with_crc(body[:n]))


@pytest.mark.parametrize("body, message", [
    (b"\x02" + (1).to_bytes(8, "big") + b"\x00" * 8, "version 2"),
    (b"\x01" + (0).to_bytes(8, "big") + b"\x00" * 8, "ts 0"),
    (b"\x01" + (1).to_bytes(8, "big") + b"\x00\x00\x00\x09" + b"\x00" * 4, "writer length"),
    (b"\x01" + (1).to_bytes(8, "big") + b"\x00\x00\x00\x01\xff" + b"\x00" * 4, "UTF-8"),
    (b"\x01" + (1).to_bytes(8, "big") + b"\x00" * 4 + b"\xff\xff\xff\xff", "cannot fit"),
    (b"\x01" + (1).to_bytes(8, "big") + b"\x00" * 4 + b"\x00\x00\x00\x01"
     + b"\x00\x00\x00\x00" + b"\x00" * 8 + b"\x02", "flag byte 2"),
    (b"\x01" + (1).to_bytes(8, "big") + b"\x00" * 4 + b"\x00\x00\x00\x01"
     + b"\x00\x00\x00\x00" + b"\x00" * 8 + b"\x01" + b"\x00\x00\x00\x05ab", "overruns"),
])
def test_structural_corruption_with_valid_crc(codec, body, message):
    with pytest.raises(PersistenceError, match=message):
        codec.decode_record(with_crc(body))


@pytest.mark.parametrize("data", [b"", b"\x01", "not bytes", 12345, None])
def test_garbage_inputs_raise_persistence_error(codec, data):
    with pytest.raises(PersistenceError):
        codec.decode_record(data)


@pytest.mark.parametrize("rec, message", [
    (CommitRecord(0, "w", ()), "ts 0"),
    (CommitRecord(-1, "w", ()), "not a u64"),
    (CommitRecord(1 << 64, "w", ()), "not a u64"),
    (CommitRecord(None, "w", ()), "not a u64"),
    (CommitRecord(1, None, ()), "writer"),
    (CommitRecord(1, "\ud800", ()), "UTF-8"),
    (CommitRecord(1, "w", (DocumentWrite("t" * 65536, "i", None, None),)), "table is longer"),
    (CommitRecord(1, "w", (DocumentWrite("t", "\udfff", None, None),)), "id"),
    (CommitRecord(1, "w", (DocumentWrite("t", "i", None, 0),)), "prev_ts 0"),
    (CommitRecord(1, "w", (DocumentWrite("t", "i", None, 1 << 64),)), "prev_ts"),
    (CommitRecord(1, "w", (DocumentWrite("t", "i", "text", None),)), "not bytes"),
    (CommitRecord(1, "w", ("not a write",)), "not DocumentWrite"),
])
def test_unencodable_records_are_refused(codec, rec, message):
    with pytest.raises(PersistenceError, match=message):
        codec.encode_record(rec)


def test_largest_names_encode(codec):
    name = "n" * 65535
    rec = CommitRecord(1, "w" * 70000, (DocumentWrite(name, name, b"", 1),))
    assert codec.decode_record(codec.encode_record(rec)) == rec
