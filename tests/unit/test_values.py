"""Properties of the Convex value model (``engine.model.values``).

The backbone: Convex JSON and the storage encoding invert exactly (int vs float, -0.0, NaN, bytes, field
order survive); plain JSON numbers are float64; every limit holds exactly at its boundary and fails one
past it; non-values are rejected with the path of the problem; ``values_equal`` is Convex's strict
equality and agrees with the key codec's notion of "same value".
"""
from __future__ import annotations

import base64
import collections
import copy
import enum
import json
import math
import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.encoding import UNDEFINED, encode_key
from engine.model import values as V
from engine.model.errors import InvalidValueError, RippleError
from engine.testing.strategies_values import (
    SPECIAL_FLOATS,
    SPECIAL_INTS,
    convex_values,
    documents,
    field_names,
    scalars,
    value_depth,
)

NAN = math.nan
NEG_NAN = struct.unpack("<d", struct.pack("<Q", 0xFFF8000000000000))[0]
PAYLOAD_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000001))[0]


def identical(a, b) -> bool:
    """values_equal plus: object field order is the same at every level (what exact round trips keep)."""
    if not V.values_equal(a, b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return all(identical(x, y) for x, y in zip(a, b))
    return True


def nested_lists(depth: int):
    v: object = 1
    for _ in range(depth):
        v = [v]
    return v


def nested_objects(depth: int):
    v: object = 1
    for _ in range(depth):
        v = {"a": v}
    return v


def b64_f64(f: float) -> str:
    return base64.b64encode(struct.pack("<d", f)).decode()


# ------------------------------------------------------------------------------------ strategy sanity


@given(convex_values())
def test_strategy_values_are_all_valid(v):
    V.validate_value(v)
    assert value_depth(v) <= V.MAX_DEPTH


@given(documents())
def test_strategy_documents_are_all_valid(doc):
    data = V.validate_document(doc)
    assert data == V.encode_document(doc)


# ------------------------------------------------------------------------------------ Convex JSON


@given(convex_values())
@example(float("nan"))
@example(NEG_NAN)
@example(PAYLOAD_NAN)
@example(-0.0)
@example(math.inf)
@example(-math.inf)
@example(V.INT64_MIN)
@example(V.INT64_MAX)
@example(b"\x00\xff")
@example({"a": [1, 1.0, True, None, b""]})
@example({"x$": {"_a": []}})
def test_from_json_inverts_to_json_exactly(v):
    back = V.from_json(V.to_json(v))
    assert identical(back, v)


@given(convex_values())
def test_to_json_survives_a_strict_json_text_round_trip(v):
    text = json.dumps(V.to_json(v), allow_nan=False)  # no NaN/Infinity literals ever
    assert identical(V.from_json(json.loads(text)), v)


def _special_objects(j, out):
    if isinstance(j, dict):
        if any(k.startswith("$") for k in j):
            out.append(j)
        for x in j.values():
            _special_objects(x, out)
    elif isinstance(j, list):
        for x in j:
            _special_objects(x, out)
    return out


@given(convex_values())
def test_to_json_emits_dollar_keys_only_as_one_key_special_forms_and_never_plain_ints(v):
    j = V.to_json(v)
    for obj in _special_objects(j, []):
        assert len(obj) == 1 and next(iter(obj)) in ("$integer", "$float", "$bytes")

    def walk(x):
        assert type(x) is not int
        if isinstance(x, float):  # plain numbers are only ordinary floats: finite, and never -0.0
            assert math.isfinite(x) and (x != 0.0 or math.copysign(1.0, x) == 1.0)
        elif isinstance(x, list):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for y in x.values():
                walk(y)

    walk(j)


@pytest.mark.parametrize(
    "value, encoded",
    [
        (1, {"$integer": "AQAAAAAAAAA="}),
        (123, {"$integer": "ewAAAAAAAAA="}),
        (0, {"$integer": "AAAAAAAAAAA="}),
        (-1, {"$integer": "//////////8="}),
        (V.INT64_MAX, {"$integer": "/////////38="}),
        (V.INT64_MIN, {"$integer": "AAAAAAAAAIA="}),
        (NAN, {"$float": "AAAAAAAA+H8="}),
        (NEG_NAN, {"$float": "AAAAAAAA+H8="}),
        (PAYLOAD_NAN, {"$float": "AAAAAAAA+H8="}),
        (math.inf, {"$float": "AAAAAAAA8H8="}),
        (-math.inf, {"$float": "AAAAAAAA8P8="}),
        (-0.0, {"$float": "AAAAAAAAAIA="}),
        (b"hello", {"$bytes": "aGVsbG8="}),
        (b"", {"$bytes": ""}),
    ],
)
def test_known_vectors_match_the_protocol_spec(value, encoded):
    assert V.to_json(value) == encoded
    assert V.values_equal(V.from_json(encoded), value)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != 0.0 or math.copysign(1, f) > 0))
def test_ordinary_floats_are_plain_json_numbers(f):
    j = V.to_json(f)
    assert type(j) is float and j == f and math.copysign(1.0, j) == math.copysign(1.0, f)


@given(st.integers(min_value=-(10 ** 300), max_value=10 ** 300))
def test_from_json_reads_every_plain_json_number_as_float64(i):
    got = V.from_json(i)
    assert type(got) is float and got == float(i)
    nested = V.from_json({"a": [i, {"b": i}]})
    assert type(nested["a"][0]) is float and type(nested["a"][1]["b"]) is float


def test_from_json_of_json_text_one_and_one_point_zero_agree():
    assert V.values_equal(V.from_json(json.loads("1")), 1.0)
    assert V.values_equal(V.from_json(json.loads("1.0")), 1.0)
    assert not V.values_equal(V.from_json(json.loads("1")), 1)


def test_from_json_rejects_ints_too_large_for_a_float64():
    with pytest.raises(InvalidValueError, match="too large"):
        V.from_json({"a": [10 ** 400]})


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != 0.0 or math.copysign(1, f) > 0))
def test_from_json_rejects_float_special_form_for_ordinary_values(f):
    with pytest.raises(InvalidValueError, match=r"\$float"):
        V.from_json({"$float": b64_f64(f)})


@pytest.mark.parametrize(
    "obj",
    [
        {"$integer": "AQAAAAAAAA=="},  # 7 bytes
        {"$integer": "AQAAAAAAAAAA"},  # 9 bytes
        {"$integer": "not base64!!"},
        {"$integer": "AQAAAAAAAAA"},  # missing padding
        {"$integer": "AQAAAAAAAAB="},  # non-zero trailing bits
        {"$integer": " AQAAAAAAAAA="},
        {"$integer": 1},
        {"$float": "AAAAAAAA+H8"},
        {"$float": "AAAAAAAA-H8="},  # url-safe alphabet
        {"$bytes": "a"},
        {"$bytes": None},
        {"$bytes": "é"},
        {"$set": []},
        {"$map": []},
        {"$commitTs": None},
        {"$other": 1},
        {"$integer": "AQAAAAAAAAA=", "x": 1},  # not a special form: an object with a "$" field
        {"a": {"$b": 1, "c": 2}},
        (1, 2),
        {1: 2},
        b"bytes are not JSON",
        "\ud800",
    ],
)
def test_from_json_rejects_malformed_input(obj):
    with pytest.raises(InvalidValueError):
        V.from_json(obj)


def test_from_json_error_names_the_path():
    with pytest.raises(InvalidValueError) as ei:
        V.from_json({"author": {"tags": [1, 2, 3, {"$integer": "x"}]}})
    assert ei.value.path == "author.tags[3]"


_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6),
              st.sampled_from(["AQAAAAAAAAA=", "AAAAAAAA+H8=", "AAAAAAAAAIA=", "", "$integer"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["$integer", "$float", "$bytes", "$set", "a", "$", ""]), inner, max_size=2),
    ),
    max_leaves=8,
)


@given(_JSONISH)
def test_from_json_on_arbitrary_json_returns_an_encodable_value_or_raises_invalid_value(obj):
    try:
        v = V.from_json(obj)
    except InvalidValueError:
        return
    assert V.values_equal(V.from_json(V.to_json(v)), v)


# ------------------------------------------------------------------------------------ clean JSON


def test_clean_json_uses_strings_for_ints_bytes_and_special_floats():
    got = V.to_clean_json({"i": 123, "big": V.INT64_MIN, "b": b"hi", "n": NAN, "p": math.inf, "m": -math.inf,
                           "f": 1.5, "z": -0.0, "s": "x", "t": True, "nil": None, "arr": [1, [2.0]]})
    assert got == {"i": "123", "big": "-9223372036854775808", "b": "aGk=", "n": "NaN", "p": "Infinity",
                   "m": "-Infinity", "f": 1.5, "z": -0.0, "s": "x", "t": True, "nil": None, "arr": ["1", [2.0]]}
    assert math.copysign(1.0, got["z"]) == -1.0


@given(convex_values())
def test_clean_json_is_always_strict_json(v):
    text = json.dumps(V.to_clean_json(v), allow_nan=False)
    json.loads(text)


# ------------------------------------------------------------------------------------ storage encoding


@given(convex_values())
@example(NAN)
@example(-0.0)
@example(V.INT64_MIN)
@example("é\u2028\x00\"\\")
@example({"a": {"b": [b"\xff"]}})
def test_decode_value_inverts_encode_value_exactly(v):
    data = V.encode_value(v)
    assert isinstance(data, bytes)
    assert identical(V.decode_value(data), v)


@given(documents())
def test_decode_document_inverts_encode_document_and_is_canonical(doc):
    data = V.encode_document(doc)
    back = V.decode_document(data)
    assert identical(back, doc)
    assert V.encode_document(back) == data


@given(convex_values())
def test_storage_encoding_is_the_compact_utf8_convex_json(v):
    expected = json.dumps(V.to_json(v), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert V.encode_value(v) == expected


@given(documents())
def test_encoding_does_not_mutate_or_alias_the_input(doc):
    before = copy.deepcopy(doc)
    V.encode_document(doc)
    V.to_json(doc)
    assert identical(doc, before)


@given(st.binary(max_size=40) | st.sampled_from([b'{"$integer":"x"}', b'{"a":NaN}', b"[1", b'{"$x":1}',
                                                   b'{"a":1,"$b":2}', b"\xff", b'"x"', b"[]"]))
def test_decode_document_rejects_garbage_only_with_invalid_value_error(data):
    try:
        doc = V.decode_document(data)
    except InvalidValueError:
        return
    assert isinstance(doc, dict)


def test_decode_document_rejects_non_objects_and_non_bytes():
    with pytest.raises(InvalidValueError):
        V.decode_document(b"[1.0]")
    with pytest.raises(InvalidValueError):
        V.decode_value(12)  # type: ignore[arg-type]


def test_plain_numbers_in_storage_decode_as_floats():
    assert V.values_equal(V.decode_document(b'{"a":1}'), {"a": 1.0})


@pytest.mark.parametrize("bad, path", [
    ({"a": (1, 2)}, "a"), ({"a": [0, {1, 2}]}, "a[1]"), ({"a": {"b": 2 ** 63}}, "a.b"),
    ({"a": [object()]}, "a[0]"), ({"s": "\udc00"}, "s"), ({"a": {"$b": 1}}, "a"), ({"a": {3: 1}}, "a"),
    ({"u": UNDEFINED}, "u"),
])
def test_encoding_rejects_non_values_with_the_path(bad, path):
    with pytest.raises(InvalidValueError) as ei:
        V.encode_document(bad)
    assert ei.value.path == path
    with pytest.raises(InvalidValueError):
        V.to_json(bad)


def test_encoding_guards_against_runaway_nesting():
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(InvalidValueError, match="nested"):
        V.encode_value(cyclic)
    assert V.values_equal(V.decode_value(V.encode_value(nested_lists(V.MAX_CODEC_DEPTH))),
                          nested_lists(V.MAX_CODEC_DEPTH))


# ------------------------------------------------------------------------------------ validation


@given(st.sampled_from([nested_lists, nested_objects]))
def test_depth_16_is_accepted_and_17_rejected(make):
    V.validate_value(make(V.MAX_DEPTH))
    with pytest.raises(InvalidValueError, match="nested more than 16"):
        V.validate_value(make(V.MAX_DEPTH + 1))


def test_a_document_counts_as_one_level_of_nesting():
    V.validate_document({"x": nested_objects(V.MAX_DEPTH - 1)})
    with pytest.raises(InvalidValueError) as ei:
        V.validate_document({"x": nested_objects(V.MAX_DEPTH)})
    assert ei.value.path == "x" + ".a" * (V.MAX_DEPTH - 1)


def test_empty_containers_count_as_one_level():
    def wrap(v, times):
        for _ in range(times):
            v = [v]
        return v

    V.validate_value(wrap([], V.MAX_DEPTH - 1))  # depth 16: the empty list is the 16th level
    V.validate_value(wrap({}, V.MAX_DEPTH - 1))
    with pytest.raises(InvalidValueError):
        V.validate_value(wrap([], V.MAX_DEPTH))


def test_array_item_limit_boundary():
    V.validate_value(list(range(V.MAX_ARRAY_ITEMS)))
    with pytest.raises(InvalidValueError, match="8193 items") as ei:
        V.validate_value({"a": [[None] * (V.MAX_ARRAY_ITEMS + 1)]})
    assert ei.value.path == "a[0]"


def test_object_field_limit_boundary():
    V.validate_document({f"f{i}": i for i in range(V.MAX_FIELDS)})
    with pytest.raises(InvalidValueError, match="1025 fields"):
        V.validate_document({f"f{i}": i for i in range(V.MAX_FIELDS + 1)})
    with pytest.raises(InvalidValueError, match="1025 fields") as ei:
        V.validate_value({"n": {f"f{i}": i for i in range(V.MAX_FIELDS + 1)}})
    assert ei.value.path == "n"


def test_field_name_length_boundary():
    V.validate_value({"a" * V.MAX_FIELD_NAME_LEN: 1})
    with pytest.raises(InvalidValueError, match="1025 characters"):
        V.validate_value({"a" * (V.MAX_FIELD_NAME_LEN + 1): 1})


def test_document_size_boundary_is_exactly_one_mebibyte():
    overhead = len(V.encode_document({"a": ""}))
    at_limit = {"a": "x" * (V.MAX_DOCUMENT_BYTES - overhead)}
    assert len(V.validate_document(at_limit)) == V.MAX_DOCUMENT_BYTES
    over = {"a": "x" * (V.MAX_DOCUMENT_BYTES - overhead + 1)}
    with pytest.raises(InvalidValueError) as ei:
        V.validate_document(over)
    assert str(V.MAX_DOCUMENT_BYTES + 1) in str(ei.value) and str(V.MAX_DOCUMENT_BYTES) in str(ei.value)


def test_document_size_counts_utf8_bytes_not_characters():
    overhead = len(V.encode_document({"a": ""}))
    n = (V.MAX_DOCUMENT_BYTES - overhead) // 2 + 1  # "é" is 2 bytes: one past the limit
    with pytest.raises(InvalidValueError, match="too large"):
        V.validate_document({"a": "é" * n})
    V.validate_document({"a": "é" * (n - 1)})


@pytest.mark.parametrize("name", ["$x", "$", "", "a\x00", "a\nb", "\x1f", "a\x7f", "é", "\u2028", "a\ud800"])
def test_bad_field_names_are_rejected_anywhere(name):
    for value in ({name: 1}, {"ok": [{name: 1}]}):
        with pytest.raises(InvalidValueError):
            V.validate_value(value)
        with pytest.raises(InvalidValueError):
            V.validate_document(value)


@given(field_names())
def test_printable_ascii_names_not_starting_with_dollar_are_valid_in_nested_objects(name):
    V.validate_value({"x": {name: 1}})


@pytest.mark.parametrize("name", ["_x", "_", "_id", "_creationTime"])
def test_user_documents_may_not_use_underscore_fields(name):
    with pytest.raises(InvalidValueError, match="reserved") as ei:
        V.validate_document({name: "a"})
    assert ei.value.path == name
    V.validate_document({"nested": {name: "a"}})  # only the top level is reserved


def test_system_fields_are_allowed_only_when_asked_and_only_the_two_known_ones():
    full = {"_id": "abc", "_creationTime": 1.5, "body": "hi"}
    V.validate_document(full, allow_system_fields=True)
    V.validate_document({"body": "hi"}, allow_system_fields=True)
    with pytest.raises(InvalidValueError):
        V.validate_document(full)
    with pytest.raises(InvalidValueError):
        V.validate_document({"_other": 1}, allow_system_fields=True)
    with pytest.raises(InvalidValueError, match="_creationTime"):
        V.validate_document({"_id": "abc", "_creationTime": 1}, allow_system_fields=True)
    with pytest.raises(InvalidValueError, match="_id"):
        V.validate_document({"_id": 7, "_creationTime": 1.0}, allow_system_fields=True)


@pytest.mark.parametrize("bad, path", [
    ((1, 2), ""), ({1, 2}, ""), (object(), ""), (bytearray(b"x"), ""), (2 ** 63, ""), (-(2 ** 63) - 1, ""),
    ({"a": (1,)}, "a"), ({"author": {"tags": [1, 2, 3, {4}]}}, "author.tags[3]"),
    ([0, [1, {"k": 2 ** 64}]], "[1][1].k"), ({"u": UNDEFINED}, "u"), ({"s": ["\ud800"]}, "s[0]"),
    ({"a": {"b": {5: 1}}}, "a.b"),
])
def test_non_convex_values_are_rejected_with_their_path(bad, path):
    with pytest.raises(InvalidValueError) as ei:
        V.validate_value(bad)
    assert ei.value.path == path
    if path:
        assert f"(at {path})" in str(ei.value)


def test_validate_value_prefixes_the_given_path():
    with pytest.raises(InvalidValueError) as ei:
        V.validate_value({"b": [None, (1,)]}, path="args[0]")
    assert ei.value.path == "args[0].b[1]"


@given(st.sampled_from(SPECIAL_INTS))
def test_int64_extremes_are_valid_and_one_past_is_not(i):
    V.validate_value(i)
    if i in (V.INT64_MIN, V.INT64_MAX):
        with pytest.raises(InvalidValueError, match="int64"):
            V.validate_value(i + (1 if i > 0 else -1))


def test_validate_document_needs_a_dict():
    for bad in ([], "x", None, 1):
        with pytest.raises(InvalidValueError, match="object"):
            V.validate_document(bad)


def test_invalid_value_error_is_a_ripple_value_error():
    with pytest.raises(RippleError):
        V.validate_value((1,))
    with pytest.raises(ValueError):
        V.validate_value((1,))


class _Color(enum.IntEnum):
    RED = 1


def test_subclasses_of_convex_types_are_read_as_their_base_type():
    od = collections.OrderedDict([("b", 1), ("a", _Color.RED)])
    V.validate_document(od)
    back = V.decode_document(V.encode_document(od))
    assert type(back) is dict and type(back["a"]) is int and V.values_equal(back, {"a": 1, "b": 1})


# ------------------------------------------------------------------------------------ equality


@given(convex_values())
def test_values_equal_is_reflexive_on_copies(v):
    assert V.values_equal(v, copy.deepcopy(v))


@given(convex_values(small=True, max_leaves=5), convex_values(small=True, max_leaves=5))
def test_values_equal_agrees_with_the_key_codec_and_is_symmetric(a, b):
    same_key = encode_key((a,)) == encode_key((b,))
    assert V.values_equal(a, b) == same_key
    assert V.values_equal(b, a) == same_key


@given(convex_values(small=True, max_leaves=5), convex_values(small=True, max_leaves=5))
def test_values_equal_iff_encodings_equal_up_to_field_order(a, b):
    def sort_fields(v):
        if isinstance(v, dict):
            return {k: sort_fields(v[k]) for k in sorted(v)}
        if isinstance(v, list):
            return [sort_fields(x) for x in v]
        return v

    assert V.values_equal(a, b) == (V.encode_value(sort_fields(a)) == V.encode_value(sort_fields(b)))


@pytest.mark.parametrize("a, b, equal", [
    (1, 1.0, False), (1, True, False), (1.0, True, False), (0, False, False), (None, False, False),
    (NAN, NAN, True), (NAN, NEG_NAN, True), (NAN, PAYLOAD_NAN, True), (0.0, -0.0, False), (-0.0, -0.0, True),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True), ([1, 2], [2, 1], False), ({"a": 1}, {"a": 1.0}, False),
    ("a", b"a", False), ([], {}, False), ([NAN], [NAN], True), ({"a": None}, {}, False),
    (collections.OrderedDict(a=1), {"a": 1}, True),
])
def test_values_equal_is_strict_convex_equality(a, b, equal):
    assert V.values_equal(a, b) is equal
    assert V.values_equal(b, a) is equal


def test_values_equal_rejects_non_values():
    with pytest.raises(InvalidValueError):
        V.values_equal((1,), [1])


@pytest.mark.parametrize("value, name", [
    (None, "null"), (True, "boolean"), (1, "int64"), (1.0, "float64"), ("s", "string"), (b"b", "bytes"),
    ([], "array"), ({}, "object"), ((), "tuple"),
])
def test_value_type_name(value, name):
    assert V.value_type_name(value) == name


def test_format_path_builds_dotted_and_indexed_paths():
    assert V.format_path("", "author") == "author"
    assert V.format_path("author", "tags") == "author.tags"
    assert V.format_path("author.tags", 3) == "author.tags[3]"
    assert V.format_path("", 0) == "[0]"


@given(scalars())
def test_special_floats_and_scalars_survive_every_codec(v):
    assert V.values_equal(V.decode_value(V.encode_value(v)), v)
    assert V.values_equal(V.from_json(V.to_json(v)), v)


def test_all_special_floats_round_trip_bit_exactly_except_nan_payloads():
    for f in SPECIAL_FLOATS:
        back = V.decode_value(V.encode_value(f))
        if f != f:
            assert back != back
            assert struct.pack("<d", back) == struct.pack("<d", NAN)  # canonical quiet NaN
        else:
            assert struct.pack("<d", back) == struct.pack("<d", f)
