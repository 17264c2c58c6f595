"""Properties of the reference document codec ``engine.doccodec`` (the twin is held to the same by
``tests/differential/test_doccodec_twins.py``).

Round trips keep types, -0.0, NaN and field order; the format is the one the module docstring spells
out, byte by byte; every malformed input is refused with ``InvalidValueError`` and a message naming what
is wrong and where, never another exception.
"""
from __future__ import annotations

import math
import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine import doccodec as D
from engine.model import values as V
from engine.model.errors import InvalidValueError
from engine.testing.strategies_values import documents
from tests.differential.test_doccodec_twins import VALID_DOCS, identical


def test_the_docstring_example_is_the_format():
    assert D.encode_document({"a": 1}) == bytes.fromhex("01 08 01 01 61 03 01 00 00 00 00 00 00 00")


def test_every_tag_byte_by_byte():
    doc = {"n": None, "f": False, "t": True, "i": -2, "x": -0.0, "s": "é", "b": b"\x00", "l": [], "o": {}}
    want = (b"\x01\x08\x09"
            b"\x01n\x00" b"\x01f\x01" b"\x01t\x02" b"\x01i\x03" + struct.pack("<q", -2) +
            b"\x01x\x04" + struct.pack("<d", -0.0) + b"\x01s\x05\x02\xc3\xa9" + b"\x01b\x06\x01\x00" +
            b"\x01l\x07\x00" + b"\x01o\x08\x00")
    assert D.encode_document(doc) == want
    assert identical(D.decode_document(want), doc)


def test_lengths_are_minimal_leb128():
    for n, varint in [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"), (16384, b"\x80\x80\x01")]:
        assert D.encode_document({"s": "x" * n}) == b"\x01\x08\x01\x01s\x05" + varint + b"x" * n


def test_every_nan_is_written_canonically_and_kept_a_nan():
    for bits in (0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0x7FFFFFFFFFFFFFFF):
        nan = struct.unpack("<d", struct.pack("<Q", bits))[0]
        data = D.encode_document({"f": nan})
        assert data.endswith(bytes.fromhex("000000000000f87f"))
        assert math.isnan(D.decode_document(data)["f"])


@given(VALID_DOCS)
@example({"_id": "x", "_creationTime": -0.0, "z": [1, 1.0, True, None, b"", ""], "a": {"_b": {"c": []}}})
def test_round_trip_keeps_types_order_and_is_canonical(doc):
    data = D.encode_document(doc)
    back = D.decode_document(data)
    assert identical(back, V.decode_document(V.encode_document(doc)))
    assert list(back) == list(doc)
    assert D.encode_document(back) == data


@given(documents())
def test_validation_is_the_models(doc):
    """Valid user documents are accepted as the model accepts them; a reserved name is refused the same."""
    D.encode_document(doc)
    bad = {"_x": 1, **doc}
    with pytest.raises(InvalidValueError) as a:
        D.encode_document(bad)
    with pytest.raises(InvalidValueError) as b:
        V.validate_document(bad, allow_system_fields=True)
    assert (str(a.value), a.value.path) == (str(b.value), b.value.path)


def test_the_size_limit_is_on_the_stored_bytes():
    # 1 MiB of JSON-escaped text is far more than 1 MiB of JSON, but fits as UTF-8 here: the limit
    # follows what is stored.
    doc = {"a": "\x01" * (V.MAX_DOCUMENT_BYTES - 9)}
    with pytest.raises(InvalidValueError, match="too large"):
        V.validate_document(doc)
    assert len(D.encode_document(doc)) == V.MAX_DOCUMENT_BYTES
    with pytest.raises(InvalidValueError, match=f"too large: {V.MAX_DOCUMENT_BYTES + 1} bytes"):
        D.encode_document({"a": "\x01" * (V.MAX_DOCUMENT_BYTES - 8)})


MALFORMED = [
    (b"", "no bytes at offset 0"),
    (b"\x02\x08\x00", "format version 0x02"),
    (b'{"a":1}', "ripple export"),
    (b"\x01", "a document must be an object at byte 1"),
    (b"\x01\x07\x00", "a document must be an object at byte 1"),
    (b"\x01\x08", "truncated length at byte 2"),
    (b"\x01\x08\x80\x00", "non-minimal length at byte 2"),
    (b"\x01\x08\xff\xff\xff\xff\x7f", "length does not fit in 32 bits"),
    (b"\x01\x08\xff\xff\xff\xff\xff\x01", "length longer than 5 bytes"),
    (b"\x01\x08\x05", "truncated container at byte 3"),
    (b"\x01\x08\x01\x01", "truncated field name"),
    (b"\x01\x08\x01\x01\xff\x00", "field name is not valid UTF-8"),
    (b"\x01\x08\x01\x01a", "truncated value at byte 5"),
    (b"\x01\x08\x01\x01a\x09", "unknown tag 0x09 at byte 5"),
    (b"\x01\x08\x01\x01a\x03\x00", "truncated number at byte 6"),
    (b"\x01\x08\x01\x01a\x04\x01\x00\x00\x00\x00\x00\xf0\x7f", "non-canonical NaN at byte 6"),
    (b"\x01\x08\x01\x01a\x05\x03ab", "truncated string at byte 7"),
    (b"\x01\x08\x01\x01a\x05\x02\xed\xa0", "string is not valid UTF-8"),  # an encoded surrogate
    (b"\x01\x08\x01\x01a\x06\x02a", "truncated bytes at byte 7"),
    (b"\x01\x08\x02\x01a\x00\x01a\x00", "repeated field name 'a' at byte 6"),
    (b"\x01\x08\x00\x00", "1 trailing bytes at byte 3"),
    (b"\x01\x08\x01\x01a" + b"\x07\x01" * 64 + b"\x00", "nested more than 64 levels deep"),
]


@pytest.mark.parametrize("data,why", MALFORMED)
def test_malformed_input_is_refused_with_what_and_where(data, why):
    with pytest.raises(InvalidValueError) as err:
        D.decode_document(data)
    assert why in str(err.value)


def test_non_bytes_and_bad_offsets_are_refused():
    data = D.encode_document({"a": 1})
    for bad in (None, "text", [1], 3):
        with pytest.raises(InvalidValueError, match="needs bytes"):
            D.decode_document(bad)  # type: ignore[arg-type]
    for offset in (-1, len(data)):
        with pytest.raises(InvalidValueError, match="no bytes at offset"):
            D.decode_document(data, offset)


@given(VALID_DOCS, st.data())
def test_every_strict_prefix_is_refused(doc, data):
    enc = D.encode_document(doc)
    cut = data.draw(st.integers(0, len(enc) - 1))
    with pytest.raises(InvalidValueError):
        D.decode_document(enc[:cut])


def test_offset_and_decode_many_read_past_a_prefix():
    docs = [{"a": 1}, {"b": [b"x"]}]
    stored = [b"\x00" * 8 + D.encode_document(d) for d in docs]
    assert [D.decode_document(s, 8) for s in stored] == D.decode_many(stored, 8) == docs
    assert D.decode_many([]) == []
    with pytest.raises(InvalidValueError):
        D.decode_many([stored[0], b"junk"], 8)
