"""Differential tests of the document codec: the model, the reference and every twin side by side.

Role: three implementations must agree on every input.
- The *model* is ``engine.model.values``: what a valid document is (``validate_document(doc,
  allow_system_fields=True)``, with its errors) and what it denotes (its JSON round trip).
- The *reference* is ``engine.doccodec``; each *twin* comes from ``engine._impl.implementations
  ("doccodec")``.
For every input: the reference and the twin give byte-identical encodings, or the identical error (type,
message, path); both refuse exactly what the model refuses, with the model's own error, except that the
size limit is measured on the stored (binary) bytes; what they decode is strictly identical (types,
NaN, -0.0, field order) to the model's reading of the same document; bytes written by one are read by
the other (the cross-read at codec level); on corrupted and garbage bytes both give the same outcome.

Who uses it: pytest; ``tests/mutants/test_doccodec_twin_mutants.py`` runs ``make_properties`` against
compiled broken twins and requires each to fail at least one property.
"""
from __future__ import annotations

import collections
import enum
import math
import struct
from types import ModuleType
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import doccodec as ref
from engine._impl import implementations
from engine.model import values as model
from engine.model.errors import InvalidValueError
from engine.testing.strategies_values import SPECIAL_FLOATS, SPECIAL_INTS, convex_values, documents

TWINS = {name: mod for name, mod in implementations("doccodec").items() if name != "py"}


# ---- strict comparison -------------------------------------------------------------------------


def identical(a: Any, b: Any) -> bool:
    """Same type at every node, NaN == NaN, -0.0 != 0.0, and the same field order."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if a != a or b != b:
            return a != a and b != b
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if type(a) is list:
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    return a == b


def outcome(fn: Callable[..., Any], *args: Any) -> tuple:
    try:
        return ("ok", fn(*args))
    except InvalidValueError as exc:
        return ("err", type(exc), str(exc), exc.path)
    except Exception as exc:  # noqa: BLE001 - the exception type is the observable outcome
        return ("err", type(exc))


def assert_same(what: str, want: tuple, got: tuple) -> None:
    if want[0] == "ok" and got[0] == "ok":
        assert identical(want[1], got[1]), f"{what}: reference {want[1]!r} != twin {got[1]!r}"
    else:
        assert want == got, f"{what}: reference {want!r} != twin {got!r}"


# ---- inputs --------------------------------------------------------------------------------------


class Color(enum.IntEnum):
    RED = 7


class Tag(str, enum.Enum):
    A = "tag-a"


class MyFloat(float):
    pass


class MyBytes(bytes):
    pass


class MyList(list):
    pass


def _reordered() -> collections.OrderedDict:
    od = collections.OrderedDict([("b", 1), ("a", [2.5]), ("c", None)])
    od.move_to_end("b")  # its order now differs from the underlying dict's insertion order
    return od


def _nested(depth: int) -> dict:
    v: Any = 1
    for _ in range(depth - 1):
        v = {"a": v}
    return {"x": v}


#: Values that break exactly one rule (or are unusual but valid), placed into documents below.
ODD_VALUES = st.sampled_from([
    (1, 2), {1, 2}, bytearray(b"ab"), object(), 2 ** 63, -(2 ** 63) - 1, "\ud800", "ok\udfffok",
    {"": 1}, {"$a": 1}, {"a\n": 1}, {"é": 1}, {"x" * 1025: 1}, {"x" * 1024: 1}, {1: 2},
    Color.RED, Tag.A, MyFloat(-0.0), MyBytes(b"\x00"), MyList([1, "a"]), _reordered(),
    [0] * 8193, [None] * 8192, {f"f{i}": i for i in range(1025)}, {f"f{i}": 0 for i in range(1024)},
    {"_inner": "fine"}, float("nan"), struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000001))[0],
])

TOP_LEVEL_ODDITIES = st.sampled_from([
    {}, {"_id": "abc"}, {"_id": 5}, {"_creationTime": 1.0}, {"_creationTime": 1}, {"_x": 1}, {"$x": 1},
    {"_id": Tag.A, "_creationTime": MyFloat(2.0)}, {"_id": "i", "_creationTime": float("nan")},
])


def _with_system_fields(doc: dict, draw_id: Any, draw_ct: Any) -> dict:
    out = dict(doc)
    if draw_id is not None:
        out["_id"] = draw_id
    if draw_ct is not None:
        out["_creationTime"] = draw_ct
    return out


VALID_DOCS = st.builds(
    _with_system_fields,
    st.one_of(documents(), documents(small=True), documents(max_fields=12, max_leaves=20)),
    st.one_of(st.none(), st.text(max_size=8).filter(model._utf8_ok)),
    st.one_of(st.none(), st.sampled_from(SPECIAL_FLOATS), st.floats()),
)


@st.composite
def odd_docs(draw: Any) -> Any:
    """Documents with one odd value somewhere (top level or nested), odd top levels, or non-dicts."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.sampled_from([None, [1], "doc", 3, (("a", 1),)]))
    base = dict(draw(documents(small=True)))
    if kind == 1:
        base.update(draw(TOP_LEVEL_ODDITIES))
        return base
    odd = draw(ODD_VALUES)
    if kind == 2:
        base[draw(st.sampled_from(["a", "z", "q"]))] = odd
    elif kind == 3:
        base["n"] = {"deep": [1, {"k": odd}]}
    else:
        base["d"] = _nested(draw(st.integers(14, 17)))["x"]
    return base


ANY_DOCS = st.one_of(VALID_DOCS, odd_docs())


def _corrupt(data: bytes, how: int, at: int, byte: int) -> bytes:
    at = at % (len(data) + 1)
    if how == 0:
        return data[:at]                                  # truncated
    if how == 1:
        return data[:at] + bytes([byte]) + data[at + 1:]   # one byte replaced
    if how == 2:
        return data[:at] + bytes([byte]) + data[at:]       # one byte inserted
    return data + bytes([byte])                            # trailing junk


GARBAGE = st.one_of(
    st.binary(max_size=40),
    st.binary(max_size=40).map(lambda b: b"\x01\x08" + b),
    st.sampled_from([b"", b"{}", b'{"a":1}', b"\x01", b"\x01\x08", b"\x01\x08\x80\x00", b"\x01\x08\x02\x01a\x00\x01a\x00",
                     b"\x01\x08\x01\x01a\x04\x01\x00\x00\x00\x00\x00\xf8\x7f", b"\x01\x08\x01\x01\xff\x00",
                     b"\x01\x08\x01\x01a\x05\x02\xed\xa0", b"\x01\x08\xff\xff\xff\xff\x7f", b"\x01\x07\x00",
                     b"\x01" + b"\x07\x01" * 70 + b"\x00", b"\x01\x08\x01\x01a\x09"]),
)


def _size_probe(delta: int) -> dict:
    """A document whose stored encoding is ``MAX_DOCUMENT_BYTES + delta`` bytes long: the version byte,
    object tag, field count, name length, name "a", bytes tag, a 3-byte length varint, then the bytes."""
    return {"a": b"x" * (model.MAX_DOCUMENT_BYTES + delta - 9)}


# ---- properties ----------------------------------------------------------------------------------


def make_properties(twin: ModuleType) -> dict[str, Callable[[], None]]:
    """Hypothesis tests comparing *twin* with the reference and the model; zero-argument callables."""

    @given(ANY_DOCS)
    def encode_agrees_with_reference_and_model(doc):
        want = outcome(ref.encode_document, doc)
        got = outcome(twin.encode_document, doc)
        assert_same(f"encode_document({doc!r:.200})", want, got)
        judged = _model_verdict(doc)
        if judged[0] == "err":
            assert got == judged, f"{doc!r:.200}: model refuses with {judged!r}, twin gives {got!r:.200}"
        else:
            assert got[0] == "ok", f"{doc!r:.200}: model accepts, twin refuses with {got!r}"
            assert identical(twin.decode_document(got[1]), judged[1]), f"{doc!r:.200}: decoded differs from the model"

    @given(VALID_DOCS, st.binary(max_size=9))
    def decode_agrees_and_cross_reads(doc, prefix):
        a, b = ref.encode_document(doc), twin.encode_document(doc)
        assert a == b
        for data in (a, bytearray(a), memoryview(a)):
            assert_same("decode_document", outcome(ref.decode_document, data), outcome(twin.decode_document, data))
        # written by one, read by the other (and re-encoded to the same bytes: one encoding per document)
        assert identical(twin.decode_document(a), ref.decode_document(b))
        assert twin.encode_document(ref.decode_document(b)) == a
        assert ref.encode_document(twin.decode_document(a)) == b
        shifted = prefix + a
        assert_same("decode_document(offset)", outcome(ref.decode_document, shifted, len(prefix)),
                    outcome(twin.decode_document, shifted, len(prefix)))
        assert_same("decode_many", outcome(ref.decode_many, [shifted, shifted], len(prefix)),
                    outcome(twin.decode_many, [shifted, shifted], len(prefix)))

    @given(VALID_DOCS, st.integers(0, 3), st.integers(0, 10 ** 6), st.integers(0, 255))
    def corrupted_bytes_give_the_same_outcome(doc, how, at, byte):
        data = _corrupt(ref.encode_document(doc), how, at, byte)
        want = outcome(ref.decode_document, data)
        assert_same(f"decode_document({data!r:.200})", want, outcome(twin.decode_document, data))
        if want[0] == "ok":  # canonical: accepted bytes are the encoding of what they decode to
            again = outcome(ref.encode_document, want[1])
            assert again[0] == "err" or again[1] == data, f"{data!r:.200} decodes but re-encodes differently"

    @given(GARBAGE, st.integers(-2, 3))
    def garbage_gives_the_same_outcome(data, offset):
        assert_same(f"decode_document({data!r:.200}, {offset})", outcome(ref.decode_document, data, offset),
                    outcome(twin.decode_document, data, offset))
        assert_same("decode_many", outcome(ref.decode_many, [data], offset), outcome(twin.decode_many, [data], offset))

    @given(st.integers(-3, 3))
    def size_limit_is_on_the_stored_bytes(delta):
        doc = _size_probe(delta)
        want = outcome(ref.encode_document, doc)
        got = outcome(twin.encode_document, doc)
        assert_same("encode_document(size probe)", want, got)
        fits = want[0] == "ok"
        assert fits == (delta <= 0), f"delta {delta}: reference outcome {want[:1]}"
        if fits:
            assert len(want[1]) == model.MAX_DOCUMENT_BYTES + delta
        else:
            assert "document is too large" in want[2] and f"{model.MAX_DOCUMENT_BYTES + delta} bytes" in want[2]

    @given(st.one_of(st.sampled_from(SPECIAL_INTS), st.integers(min_value=model.INT64_MIN, max_value=model.INT64_MAX)),
           st.sampled_from(SPECIAL_FLOATS))
    def numbers_are_written_byte_exact(i, f):
        data = twin.encode_document({"i": i, "f": f})
        fbits = 0x7FF8000000000000 if f != f else struct.unpack("<Q", struct.pack("<d", f))[0]
        assert data == b"\x01\x08\x02\x01i\x03" + struct.pack("<q", i) + b"\x01f\x04" + struct.pack("<Q", fbits)

    return {fn.__name__: fn for fn in (
        encode_agrees_with_reference_and_model, decode_agrees_and_cross_reads,
        corrupted_bytes_give_the_same_outcome, garbage_gives_the_same_outcome,
        size_limit_is_on_the_stored_bytes, numbers_are_written_byte_exact)}


def _model_verdict(doc: Any) -> tuple:
    """The model's judgement of *doc*: ("err", ...) for a rule other than the size, else ("ok", what
    the document denotes, read back through the model's own JSON storage form)."""
    try:
        model.check_document(doc, allow_system_fields=True)
    except InvalidValueError as exc:
        return ("err", type(exc), str(exc), exc.path)
    return ("ok", model.decode_document(model.encode_document(doc)))


PROPERTIES = sorted(make_properties(ref))


@pytest.mark.parametrize("prop", PROPERTIES)
def test_reference_agrees_with_the_model(prop):
    """The reference against itself and the model: the model-facing halves of every property."""
    make_properties(ref)[prop]()


@pytest.mark.skipif(not TWINS, reason="no doccodec twin is built")
@pytest.mark.parametrize("prop", PROPERTIES)
@pytest.mark.parametrize("twin", sorted(TWINS))
def test_twin_agrees_with_reference_and_model(twin, prop):
    make_properties(TWINS[twin])[prop]()
