"""Properties of the order-preserving key codec (``engine.encoding``).

The backbone: decode inverts encode exactly; bytewise order of encodings equals ``compare_values`` order
of tuples; ``compare_values`` is a total order; index-key intervals contain exactly the keys whose values
satisfy the query; malformed input fails only with ``InvalidValueError``.
"""
from __future__ import annotations

import copy
import math
import pickle
import struct

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from engine import encoding as enc
from engine.encoding import (
    ABI,
    MAX_INDEX_KEY_BYTES,
    MAX_NESTING_DEPTH,
    UNDEFINED,
    compare_values,
    decode_key,
    encode_key,
    extract_field,
    index_key,
    index_key_for_document,
    prefix_interval,
    range_interval,
    split_index_key,
)
from engine.model.errors import IndexKeyTooLargeError, InvalidValueError
from engine.model.types import Interval
from engine.testing.strategies_keys import (
    key_elements,
    key_tuples,
    key_values,
    small_key_tuples,
    small_key_values,
    values_identical,
)


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


def bytes_cmp(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


DOC_IDS = st.sampled_from(["", "a", "a\x00", "b", "k57abc", "\xff"])


# ------------------------------------------------------------------------------------------ round trip


@given(key_tuples(max_size=5))
def test_decode_inverts_encode_exactly(t):
    got = decode_key(encode_key(t))
    assert isinstance(got, tuple)
    assert values_identical(got, t)


@given(small_key_tuples(max_size=5))
def test_decode_inverts_encode_on_collision_prone_values(t):
    assert values_identical(decode_key(encode_key(t)), t)


@given(key_tuples(), key_tuples())
def test_encoding_of_concatenation_is_concatenation_of_encodings(a, b):
    # Self-delimiting elements: this is what makes fixed-arity keys prefix-free and index keys splittable.
    assert encode_key(a + b) == encode_key(a) + encode_key(b)


def test_empty_tuple_encodes_to_empty_bytes_and_list_is_accepted_like_tuple():
    assert encode_key(()) == b""
    assert decode_key(b"") == ()
    assert encode_key([1, "a"]) == encode_key((1, "a"))


@given(st.floats(allow_nan=True).filter(math.isnan))
@example(struct.unpack(">d", bytes.fromhex("fff8000000000000"))[0])
@example(struct.unpack(">d", bytes.fromhex("7ff0000000000001"))[0])
def test_every_nan_encodes_to_the_one_canonical_nan(nan):
    assert encode_key((nan,)) == bytes([enc.TAG_FLOAT]) + bytes.fromhex("fff8000000000000")
    assert encode_key((nan,)) == encode_key((math.nan,))


def test_negative_zero_is_distinct_from_zero_and_sorts_just_below_it():
    neg, pos = encode_key((-0.0,)), encode_key((0.0,))
    assert neg != pos
    assert encode_key((-5e-324,)) < neg < pos < encode_key((5e-324,))
    assert math.copysign(1.0, decode_key(neg)[0]) == -1.0
    assert compare_values(-0.0, 0.0) == -1


def test_undefined_is_a_singleton_with_a_readable_repr_that_survives_copy_and_pickle():
    assert repr(UNDEFINED) == "UNDEFINED"
    assert type(UNDEFINED)() is UNDEFINED
    assert copy.deepcopy(UNDEFINED) is UNDEFINED
    assert pickle.loads(pickle.dumps(UNDEFINED)) is UNDEFINED
    assert decode_key(encode_key((UNDEFINED,)))[0] is UNDEFINED


def test_abi_names_the_format():
    assert ABI == "keycodec/2"


# ------------------------------------------------------------------------------------------ order


@given(key_tuples(), key_tuples())
def test_bytewise_order_of_encodings_equals_tuple_order(a, b):
    assert bytes_cmp(encode_key(a), encode_key(b)) == sign(compare_values(a, b))


@given(small_key_tuples(), small_key_tuples())
def test_bytewise_order_equals_tuple_order_when_ties_are_common(a, b):
    assert bytes_cmp(encode_key(a), encode_key(b)) == sign(compare_values(a, b))


@given(small_key_tuples(), small_key_tuples(), small_key_tuples())
def test_order_agrees_for_pairs_sharing_a_prefix(prefix, a, b):
    a, b = prefix + a, prefix + b
    assert bytes_cmp(encode_key(a), encode_key(b)) == sign(compare_values(a, b))


@given(small_key_tuples(), key_values(), small_key_tuples())
def test_a_proper_prefix_tuple_sorts_first(prefix, extra, tail):
    shorter, longer = prefix, prefix + (extra,) + tail
    assert compare_values(shorter, longer) == -1
    assert encode_key(shorter) < encode_key(longer)


@given(small_key_tuples(max_size=2), st.text(max_size=4), st.binary(max_size=4), small_key_tuples(max_size=2))
def test_string_or_bytes_with_appended_nul_sorts_just_after_it_in_any_context(prefix, s, b, tail):
    for x, y in ((s, s + "\x00"), (b, b + b"\x00"), ([s], [s + "\x00"]), ({"f": s}, {"f": s + "\x00"}),
                 ({"f" + s: 1}, {"f" + s + "\x00": 1})):
        lo, hi = prefix + (x,) + tail, prefix + (y,) + tail
        assert compare_values(lo, hi) == -1
        assert encode_key(lo) < encode_key(hi)


@given(small_key_tuples(), small_key_tuples())
def test_equal_values_and_only_equal_values_have_equal_encodings(a, b):
    assert (compare_values(a, b) == 0) == (encode_key(a) == encode_key(b))


@given(key_elements(small=True), key_elements(small=True))
def test_compare_values_is_antisymmetric_and_reflexive(a, b):
    assert compare_values(a, a) == 0
    assert compare_values(a, b) == -compare_values(b, a)
    assert compare_values(a, b) in (-1, 0, 1)


@given(key_elements(small=True), key_elements(small=True), key_elements(small=True))
def test_compare_values_is_transitive(a, b, c):
    ab, bc, ac = compare_values(a, b), compare_values(b, c), compare_values(a, c)
    if ab <= 0 and bc <= 0:
        assert ac <= 0
        if ab < 0 or bc < 0:
            assert ac < 0
    if ab == 0:
        assert ac == bc


INCREASING = [
    UNDEFINED,
    None,
    -(1 << 63), -1, 0, 1, 2, (1 << 63) - 1,
    -math.inf, -1e308, -1.0, -5e-324, -0.0, 0.0, 5e-324, 1.0, 2.0 ** 64, math.inf, math.nan,
    False, True,
    "", "\x00", "\x00\x00", "\x00\x01", "a", "a\x00", "a\x00b", "ab", "b", "\xff", "\u0100", "\U0001f600",
    b"", b"\x00", b"\x00\xff", b"\x01", b"\xff", b"\xff\x00",
    [], [None], [None, None], [0], [0, None], [1.0], [False], ["a"], ["a", None], ["a\x00"], [[]], [{}],
    {}, {"a": None}, {"a": None, "b": None}, {"a": 0}, {"a": True}, {"a": []}, {"a\x00": None},
    {"ab": None}, {"b": None},
]


def test_hand_examples_of_the_cross_type_order_are_strictly_increasing():
    for lo, hi in zip(INCREASING, INCREASING[1:]):
        assert compare_values(lo, hi) == -1, (lo, hi)
        assert encode_key((lo,)) < encode_key((hi,)), (lo, hi)


def test_one_one_point_zero_and_true_are_three_different_values_in_type_order():
    assert compare_values(1, 1.0) == -1 and compare_values(1.0, True) == -1
    # Type beats magnitude: the largest int sorts below the smallest float.
    assert encode_key(((1 << 63) - 1,)) < encode_key((-math.inf,))
    assert values_identical(decode_key(encode_key((1, 1.0, True))), (1, 1.0, True))


def test_object_fields_are_compared_in_sorted_name_order_regardless_of_insertion_order():
    assert encode_key(({"b": 1, "a": 2},)) == encode_key(({"a": 2, "b": 1},))
    assert compare_values({"b": 1, "a": 2}, {"a": 2, "b": 1}) == 0
    # {"a": 2, "b": 1} vs {"a": 1, "c": 0}: first differing pair is ("a", 2) vs ("a", 1).
    assert compare_values({"b": 1, "a": 2}, {"c": 0, "a": 1}) == 1
    assert encode_key(({"b": 1, "a": 2},)) > encode_key(({"c": 0, "a": 1},))


# ------------------------------------------------------------------------------------------ index keys


@given(small_key_tuples(max_size=3), DOC_IDS)
def test_split_index_key_inverts_index_key(values, doc_id):
    got_values, got_id = split_index_key(index_key(values, doc_id))
    assert values_identical(got_values, values) and got_id == doc_id


@given(st.integers(0, 3), st.booleans(), st.data())
def test_fixed_arity_index_keys_are_prefix_free(arity, small, data):
    a = data.draw(key_tuples(min_size=arity, max_size=arity, small=small))
    b = data.draw(key_tuples(min_size=arity, max_size=arity, small=small))
    # encode_key, not index_key: large values may exceed the index-key limit, the property still holds.
    ka, kb = encode_key(a + (data.draw(DOC_IDS),)), encode_key(b + (data.draw(DOC_IDS),))
    if ka != kb:
        assert not kb.startswith(ka) and not ka.startswith(kb)


@given(key_elements(small=True), key_elements(small=True))
def test_no_element_encoding_is_a_proper_prefix_of_another(a, b):
    ea, eb = encode_key((a,)), encode_key((b,))
    if ea != eb:
        assert not eb.startswith(ea)


@given(st.integers(1, 3), st.data())
def test_appending_any_suffix_to_fixed_arity_keys_preserves_their_order(arity, data):
    # The LMDB layout stores ``key || ~ts``; versions of different keys must never interleave.
    a = data.draw(small_key_tuples(min_size=arity, max_size=arity))
    b = data.draw(small_key_tuples(min_size=arity, max_size=arity))
    sa, sb = data.draw(st.binary(max_size=9)), data.draw(st.binary(max_size=9))
    ka, kb = encode_key(a), encode_key(b)
    assume(ka != kb)
    assert bytes_cmp(ka + sa, kb + sb) == bytes_cmp(ka, kb) == sign(compare_values(a, b))


@pytest.mark.parametrize(
    "shorter, longer",
    [("a", "a\x00"), ("", "\x00"), (b"a", b"a\x00"), (b"", b"\x00\xff"), ({}, {"\x00": None}),
     ({"a": "x"}, {"a": "x\x00"}), (["a"], ["a\x00"])],
)
def test_values_ending_in_nul_are_neither_prefixes_nor_inside_the_shorter_values_prefix_interval(shorter, longer):
    # Regression: with a bare 0x00 terminator enc("a") = 06 61 00 was a prefix of enc("a\x00").
    k_short, k_long = index_key((shorter,), "id"), index_key((longer,), "id")
    assert not encode_key((longer,)).startswith(encode_key((shorter,)))
    assert not prefix_interval((shorter,)).contains(k_long)
    assert range_interval((), (shorter, False), None).contains(k_long)
    assert not range_interval((), None, (shorter, True)).contains(k_long)
    assert range_interval((), None, (shorter, True)).contains(k_short)


def test_index_key_size_limit_is_inclusive_at_the_boundary():
    # tag + n bytes + 2-byte terminator for the value, tag + 2 + terminator for the id "id": n + 8 bytes.
    n = MAX_INDEX_KEY_BYTES - 8
    assert len(index_key(("x" * n,), "id")) == MAX_INDEX_KEY_BYTES
    with pytest.raises(IndexKeyTooLargeError):
        index_key(("x" * (n + 1),), "id")
    # NUL escaping counts: one "\x00" costs two bytes.
    with pytest.raises(IndexKeyTooLargeError):
        index_key(("x" * (n - 1) + "\x00",), "id")
    with pytest.raises(IndexKeyTooLargeError):
        index_key_for_document({"a": {"b": "x" * (n + 1)}}, ("a.b",), "id")


@given(key_tuples(max_size=3), DOC_IDS)
def test_index_key_raises_exactly_when_the_key_exceeds_the_limit(values, doc_id):
    raw = encode_key(values + (doc_id,))
    if len(raw) > MAX_INDEX_KEY_BYTES:
        with pytest.raises(IndexKeyTooLargeError):
            index_key(values, doc_id)
    else:
        assert index_key(values, doc_id) == raw


def test_index_key_requires_a_string_id_and_split_rejects_keys_not_ending_in_one():
    with pytest.raises(InvalidValueError):
        index_key((1,), 7)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        split_index_key(b"")
    with pytest.raises(InvalidValueError):
        split_index_key(encode_key(("a", 1)))


_PATH_SEGMENTS = st.sampled_from(["a", "b", "c"])


@given(st.lists(_PATH_SEGMENTS, min_size=1, max_size=3), small_key_values(), st.lists(_PATH_SEGMENTS, min_size=1, max_size=2))
def test_extract_field_follows_dotted_paths_and_is_undefined_when_a_step_is_missing(path, leaf, other):
    doc = leaf
    for seg in reversed(path):
        doc = {seg: doc}
    assert extract_field(doc, ".".join(path)) is leaf
    # Going past the leaf only works if the leaf is an object holding that field.
    deeper = extract_field(doc, ".".join(path + other))
    expected = leaf
    for seg in other:
        expected = expected.get(seg, UNDEFINED) if isinstance(expected, dict) else UNDEFINED
    assert deeper is expected
    assert extract_field(doc, "zz") is UNDEFINED


def test_extract_field_through_non_objects_and_null_is_undefined():
    doc = {"a": None, "b": [{"c": 1}], "d": {"e": 0}}
    assert extract_field(doc, "a.x") is UNDEFINED
    assert extract_field(doc, "b.c") is UNDEFINED
    assert extract_field(doc, "b.0") is UNDEFINED
    assert extract_field(doc, "d.e") == 0
    assert extract_field(doc, "a") is None


@given(st.dictionaries(_PATH_SEGMENTS, small_key_values(), max_size=3), DOC_IDS)
def test_index_key_for_document_is_index_key_of_extracted_fields(doc, doc_id):
    fields = ("a", "b.c", "c")
    expected = index_key(tuple(extract_field(doc, f) for f in fields), doc_id)
    assert index_key_for_document(doc, fields, doc_id) == expected
    values, got_id = split_index_key(expected)
    assert len(values) == 3 and got_id == doc_id


# ------------------------------------------------------------------------------------------ intervals


def _equal_prefix(t: tuple, eq: tuple) -> bool:
    return all(compare_values(x, y) == 0 for x, y in zip(t, eq))


def _in_bounds(v, lower, upper) -> bool:
    if lower is not None:
        c = compare_values(v, lower[0])
        if c < 0 or (c == 0 and not lower[1]):
            return False
    if upper is not None:
        c = compare_values(v, upper[0])
        if c > 0 or (c == 0 and not upper[1]):
            return False
    return True


def _neighbours(v) -> list:
    """*v* and values sorting just after it, or sharing its encoding as a prefix before the fix."""
    out = [v]
    if isinstance(v, (str, bytes)):
        nul = "\x00" if isinstance(v, str) else b"\x00"
        out += [v + nul, v + nul + nul, v[:-1]]
    elif isinstance(v, list):
        out += [v + [None], v[:-1]]
    elif isinstance(v, dict):
        out += [{**v, "\x00": None}, {**v, "zz": None}]
    return out


_BOUND = st.none() | st.tuples(key_elements(small=True), st.booleans())


@st.composite
def _range_case(draw):
    arity = draw(st.integers(1, 3))
    k = draw(st.integers(0, arity - 1))
    eq = draw(small_key_tuples(min_size=k, max_size=k))
    lower, upper = draw(_BOUND), draw(_BOUND)
    # Candidates: reuse the eq prefix, the bound values and their immediate neighbours often, so the
    # boundaries (including "x" vs "x" + NUL) are actually hit.
    near = [n for b in (lower, upper) if b is not None for n in _neighbours(b[0])]
    element = st.sampled_from(near) | key_elements(small=True) if near else key_elements(small=True)
    candidates = []
    for _ in range(draw(st.integers(1, 8))):
        head = eq if draw(st.booleans()) else draw(small_key_tuples(min_size=k, max_size=k))
        v = draw(element)
        tail = draw(small_key_tuples(min_size=arity - k - 1, max_size=arity - k - 1))
        candidates.append((head + (v,) + tail, draw(DOC_IDS)))
    return eq, lower, upper, candidates


@given(_range_case())
def test_range_interval_contains_exactly_the_keys_satisfying_eq_prefix_and_bounds(case):
    eq, lower, upper, candidates = case
    interval = range_interval(eq, lower, upper)
    for values, doc_id in candidates:
        expected = _equal_prefix(values, eq) and _in_bounds(values[len(eq)], lower, upper)
        assert interval.contains(index_key(values, doc_id)) == expected, (values, doc_id, interval)


@given(small_key_tuples(max_size=2), key_elements(small=True), key_elements(small=True), st.booleans(), st.booleans())
def test_contradictory_bounds_give_an_empty_interval(eq, x, y, lo_inc, hi_inc):
    c = compare_values(x, y)
    assume(c > 0 or (c == 0 and not (lo_inc and hi_inc)))
    assert range_interval(eq, (x, lo_inc), (y, hi_inc)).is_empty()


@given(small_key_tuples(max_size=3))
def test_range_interval_without_bounds_is_the_prefix_interval(eq):
    assert range_interval(eq, None, None) == prefix_interval(eq)


@given(small_key_tuples(max_size=2), st.lists(st.tuples(small_key_tuples(max_size=3), DOC_IDS), max_size=8))
def test_prefix_interval_contains_exactly_the_keys_with_that_prefix(eq, candidates):
    interval = prefix_interval(eq)
    for values, doc_id in candidates:
        for vals in (values, eq + values):
            full = vals + (doc_id,)  # the id is an element too: a short key may match eq through it
            expected = len(full) >= len(eq) and _equal_prefix(full, eq)
            assert interval.contains(index_key(vals, doc_id)) == expected


def test_prefix_interval_of_nothing_is_everything_and_range_bounds_follow_the_spec():
    assert prefix_interval(()) == Interval.all()
    e = encode_key
    assert range_interval((1,), (2, True), None).start == e((1, 2))
    assert range_interval((1,), (2, False), None).start == e((1, 3))[:-1] + bytes([e((1, 2))[-1] + 1])
    assert range_interval((1,), None, (2, False)).end == e((1, 2))
    # "> int64 max" starts at the float tag: every float, bool, ... but no int.
    r = range_interval((), ((1 << 63) - 1, False), None)
    assert r.start == bytes([enc.TAG_FLOAT]) and r.end is None
    assert r.contains(index_key((-math.inf,), "x")) and not r.contains(index_key(((1 << 63) - 1,), "x"))


def test_range_interval_rejects_malformed_bounds():
    for bad in ((1,), (1, 1), 5, (1, True, 2)):
        with pytest.raises(InvalidValueError):
            range_interval((), bad, None)


# ------------------------------------------------------------------------------------------ rejection


def _decode_or_invalid(data: bytes):
    """Decode must either succeed canonically or raise InvalidValueError; any other exception fails."""
    try:
        t = decode_key(data)
    except InvalidValueError:
        return None
    assert encode_key(t) == data
    return t


@given(st.binary(max_size=40))
def test_decode_of_arbitrary_bytes_is_canonical_or_invalid_value_error(data):
    _decode_or_invalid(data)


@given(st.lists(st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x08, 0x09, 0x0A, 0x61, 0xFF]), max_size=24))
def test_decode_of_tag_heavy_garbage_is_canonical_or_invalid_value_error(raw):
    _decode_or_invalid(bytes(raw))


@given(key_tuples(min_size=1), st.data())
def test_truncated_or_corrupted_encodings_fail_only_with_invalid_value_error(t, data):
    full = encode_key(t)
    cut = data.draw(st.integers(0, len(full) - 1))
    _decode_or_invalid(full[:cut])
    pos = data.draw(st.integers(0, len(full) - 1))
    byte = data.draw(st.integers(0, 255))
    _decode_or_invalid(full[:pos] + bytes([byte]) + full[pos + 1:])


@pytest.mark.parametrize(
    "data",
    [
        bytes([0x00]),                                  # terminator where a tag belongs
        bytes([0x0F]), bytes([0x10]), bytes([0xFF]),    # unknown tags
        bytes([enc.TAG_INT]) + bytes(7),                # truncated int64
        bytes([enc.TAG_FLOAT]) + bytes(3),              # truncated float64
        bytes([enc.TAG_FLOAT]) + bytes.fromhex("fff8000000000001"),  # non-canonical NaN
        bytes([enc.TAG_FLOAT]) + bytes.fromhex("0007ffffffffffff"),  # negative NaN, not canonicalised
        bytes([enc.TAG_BOOL]),                          # truncated boolean
        bytes([enc.TAG_BOOL, 0x02]),                    # boolean payload out of range
        bytes([enc.TAG_STRING]) + b"abc",               # unterminated string
        bytes([enc.TAG_STRING]) + b"\xc3\x28\x00",      # invalid UTF-8
        bytes([enc.TAG_BYTES]) + b"\x00\xff",           # escape without terminator
        bytes([enc.TAG_STRING]) + b"a\x00",             # terminator cut after its first byte
        bytes([enc.TAG_STRING]) + b"a\x00\x02",         # 0x00 followed by neither 0x01 nor 0xFF
        bytes([enc.TAG_STRING]) + b"a\x00" + bytes([enc.TAG_NULL]),  # bare 0x00 terminator
        bytes([enc.TAG_ARRAY, enc.TAG_NULL]),           # unterminated array
        bytes([enc.TAG_ARRAY, enc.TAG_UNDEFINED, 0]),   # nested undefined
        bytes([enc.TAG_OBJECT]) + b"a\x00\x01",         # field without a value
        bytes([enc.TAG_OBJECT]) + b"\x00",              # bare 0x00 object terminator
        bytes([enc.TAG_OBJECT]) + b"\x00" + bytes([enc.TAG_NULL]),  # bare 0x00, then another element
        bytes([enc.TAG_OBJECT]) + b"b\x00\x01\x02a\x00\x01\x02\x00\x01",  # fields out of order
        bytes([enc.TAG_OBJECT]) + b"a\x00\x01\x02a\x00\x01\x02\x00\x01",  # duplicate field
        bytes([enc.TAG_OBJECT]) + b"\xff\x00\x01\x02\x00\x01",  # field name not UTF-8
        bytes([enc.TAG_ARRAY]) * (MAX_NESTING_DEPTH + 1) + bytes(MAX_NESTING_DEPTH + 1),  # too deep
        bytes([enc.TAG_ARRAY]) * 5000,                  # hostile depth: must not hit RecursionError
    ],
)
def test_decode_rejects_specific_malformations_with_invalid_value_error(data):
    with pytest.raises(InvalidValueError):
        decode_key(data)


def test_nesting_exactly_at_the_limit_round_trips():
    v: object = []
    for _ in range(MAX_NESTING_DEPTH - 1):
        v = [v]
    assert values_identical(decode_key(encode_key((v,))), (v,))
    with pytest.raises(InvalidValueError):
        encode_key(([v],))


@pytest.mark.parametrize(
    "value",
    [
        1 << 63, -(1 << 63) - 1,            # outside int64
        [UNDEFINED], {"a": UNDEFINED},       # undefined below the top level
        {"": 1},                             # empty field name (would be ambiguous with the terminator)
        {1: 2},                              # non-string field name
        "\ud800", {"\udfff": 1},             # lone surrogates
        (1, 2), bytearray(b"x"), {1, 2}, object(),  # not Convex values
    ],
)
def test_encode_rejects_non_values_with_invalid_value_error(value):
    with pytest.raises(InvalidValueError):
        encode_key((value,))


def test_encode_error_path_points_at_the_offending_element():
    with pytest.raises(InvalidValueError) as info:
        encode_key((1, {"a": [0, 1 << 64]}))
    assert info.value.path == "[1].a[1]"


def test_encode_rejects_a_non_sequence_key():
    with pytest.raises(InvalidValueError):
        encode_key("abc")  # type: ignore[arg-type]
