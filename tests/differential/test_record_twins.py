"""Differential tests: every commit-record codec produces the same bytes and the same decode results.

Role: proves the Cython twin (``engine._native.record``) is byte-for-byte the reference
(``engine.persistence.record``): on random records (tombstones, empty write tuples, unicode names, large
values, ts and prev_ts at the u64 ends) every implementation encodes to identical bytes and every
implementation decodes every implementation's bytes to equal records; on corrupted, truncated,
structurally broken (with a recomputed CRC) and unencodable inputs every implementation raises
``PersistenceError`` with the same message.

Who uses it: pytest. The per-implementation properties (round trip, every byte flip, every truncation,
golden bytes) live in tests/unit/test_record_codec.py.
"""
from __future__ import annotations

import struct
import zlib
from typing import Any, Callable

from hypothesis import given
from hypothesis import strategies as st

from engine._impl import implementations
from engine.model.errors import PersistenceError
from engine.persistence.base import CommitRecord, DocumentWrite

IMPLS = implementations("record")
NAMES = list(IMPLS)
MAX_U64 = (1 << 64) - 1

# Small alphabets (so equal names and boundary lengths are common) plus arbitrary unicode.
names = st.one_of(st.sampled_from(["", "t", "users", "é", "名前", "\U0001f600", "a" * 255]), st.text(max_size=12))
values = st.one_of(
    st.none(), st.none(),
    st.binary(max_size=64),
    st.sampled_from([b"", b"\x00", b"\xff" * 200]),
    st.integers(0, 70_000).map(lambda n: bytes(range(256)) * (n // 256) + bytes(n % 256)),  # large
)
stamps = st.one_of(st.integers(1, MAX_U64), st.sampled_from([1, 2, (1 << 32) - 1, 1 << 32, MAX_U64 - 1, MAX_U64]))
writes = st.builds(DocumentWrite, table=names, id=names, value=values, prev_ts=st.one_of(st.none(), stamps))
records = st.builds(CommitRecord, ts=stamps, writer=names, writes=st.lists(writes, max_size=5).map(tuple))


def outcome(call: Callable[[], Any]) -> tuple:
    try:
        return ("ok", call())
    except PersistenceError as exc:
        return ("raise", str(exc))


def same(what: str, results: dict[str, tuple]) -> tuple:
    first = results[NAMES[0]]
    for n in NAMES[1:]:
        assert results[n] == first, f"{what}: {NAMES[0]} gave {first!r} but {n} gave {results[n]!r}"
    return first


def with_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


@given(records)
def test_identical_bytes_and_cross_decoding(rec):
    encoded = {n: IMPLS[n].encode_record(rec) for n in NAMES}
    same("encode", {n: ("ok", b) for n, b in encoded.items()})
    data = encoded["py"]
    for n in NAMES:
        back = IMPLS[n].decode_record(data)
        assert back == rec
        assert type(back.writes) is tuple and type(back) is CommitRecord
        assert all(type(w) is DocumentWrite for w in back.writes)
        assert all(w.value is None or type(w.value) is bytes for w in back.writes)
        assert hash(back) == hash(rec) if _hashable(rec) else True
        assert repr(back) == repr(rec)


def _hashable(rec: CommitRecord) -> bool:
    try:
        hash(rec)
        return True
    except TypeError:
        return False


@given(records, st.data())
def test_corruptions_are_rejected_identically(rec, data):
    enc = IMPLS["py"].encode_record(rec)
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "splice"]), label="kind")
    if kind == "flip":
        i = data.draw(st.integers(0, len(enc) - 1), label="index")
        bad = bytearray(enc)
        bad[i] ^= data.draw(st.integers(1, 255), label="mask")
        bad = bytes(bad)
    elif kind == "truncate":
        bad = enc[:data.draw(st.integers(0, len(enc) - 1), label="length")]
    elif kind == "extend":
        bad = enc + data.draw(st.binary(min_size=1, max_size=8), label="extra")
    else:
        i = data.draw(st.integers(0, len(enc)), label="at")
        bad = enc[:i] + data.draw(st.binary(max_size=8), label="insert") + enc[i + 1:]
    got = same(f"decode of {kind}", {n: outcome(lambda m=IMPLS[n]: m.decode_record(bad)) for n in NAMES})
    if bad != enc:
        assert got[0] == "raise"


@given(records, st.data())
def test_structural_damage_with_a_valid_crc_is_handled_identically(rec, data):
    """Recompute the CRC after damaging the body, so only the structural checks stand between the damage
    and a wrong record: every implementation must raise the same message or decode the same record."""
    body = bytearray(IMPLS["py"].encode_record(rec)[:-4])
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        op = data.draw(st.sampled_from(["set", "cut", "grow"]), label="op")
        i = data.draw(st.integers(0, len(body)), label="index")
        if op == "set" and i < len(body):
            body[i] = data.draw(st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xC3, 0xED, 0xFF]), label="byte")
        elif op == "cut":
            del body[i:i + data.draw(st.integers(1, 4), label="n")]
        else:
            body[i:i] = data.draw(st.binary(min_size=1, max_size=4), label="bytes")
    bad = with_crc(bytes(body))
    got = same("decode of damaged body", {n: outcome(lambda m=IMPLS[n]: m.decode_record(bad)) for n in NAMES})
    if got[0] == "ok":
        # whatever decodes must re-encode to exactly the input (the layout is canonical)
        assert IMPLS["py"].encode_record(got[1]) == bad


bad_fields = st.one_of(
    st.sampled_from([0, -1, MAX_U64 + 1, None, 1.5, "1"]).map(lambda ts: ("ts", ts)),
    st.sampled_from([None, b"w", 7, "\ud800"]).map(lambda w: ("writer", w)),
    st.sampled_from([None, 3, b"t", "\udfff", "t" * 65536, "é" * 32768]).map(lambda t: ("table", t)),
    st.sampled_from([None, 3, "\ud800x", "i" * 65536]).map(lambda i: ("id", i)),
    st.sampled_from([0, -1, MAX_U64 + 1, 1.0, "3", False]).map(lambda p: ("prev_ts", p)),
    st.sampled_from(["text", 12, 3.0, [1, 2]]).map(lambda v: ("value", v)),
    st.sampled_from(["not a write", None, 5]).map(lambda w: ("write", w)),
)


@given(records, st.lists(bad_fields, min_size=1, max_size=3), st.data())
def test_unencodable_records_are_refused_identically(rec, damage, data):
    ts, writer, ws = rec.ts, rec.writer, list(rec.writes)
    for field, bad in damage:
        if field == "ts":
            ts = bad
        elif field == "writer":
            writer = bad
        elif field == "write":
            ws.insert(data.draw(st.integers(0, len(ws)), label="at"), bad)
        else:
            if not ws:
                ws.append(DocumentWrite("t", "i", None, None))
            k = data.draw(st.integers(0, len(ws) - 1), label="which")
            if isinstance(ws[k], DocumentWrite):
                fields = {"table": ws[k].table, "id": ws[k].id, "value": ws[k].value, "prev_ts": ws[k].prev_ts}
                fields[field] = bad
                ws[k] = DocumentWrite(**fields)
    broken = CommitRecord(ts, writer, tuple(ws))
    same("encode of an unencodable record",
         {n: outcome(lambda m=IMPLS[n]: m.encode_record(broken)) for n in NAMES})


def test_bytes_like_inputs_and_garbage():
    rec = CommitRecord(MAX_U64, "w", (DocumentWrite("t", "i", b"v" * 300, MAX_U64), DocumentWrite("t", "", None, None)))
    data = IMPLS["py"].encode_record(rec)
    for n in NAMES:
        m = IMPLS[n]
        assert m.decode_record(bytearray(data)) == rec
        assert m.decode_record(memoryview(data)) == rec
        assert m.encode_record(CommitRecord(rec.ts, rec.writer, list(rec.writes))) == data
        assert m.encode_record(CommitRecord(1, "w", (DocumentWrite("t", "i", bytearray(b"ab"), None),))) == \
            m.encode_record(CommitRecord(1, "w", (DocumentWrite("t", "i", memoryview(b"ab"), None),)))
    for garbage in [b"", b"\x01", "not bytes", 12345, None, b"\x01" * 21, b"\x00" * 40]:
        same(f"decode {garbage!r:.20}", {n: outcome(lambda m=IMPLS[n]: m.decode_record(garbage)) for n in NAMES})


def test_both_twins_are_compared_when_the_native_build_exists():
    try:
        import engine._native.record  # noqa: F401
    except ImportError:
        return
    assert set(IMPLS) == {"py", "cy"}
