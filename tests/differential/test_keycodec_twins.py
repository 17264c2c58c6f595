"""Differential tests: every key-codec twin against the pure-Python reference ``engine.encoding``.

Role: the reference is the spec; its own properties live in ``tests/unit/test_encoding.py``. Here each
twin from ``engine._impl.implementations("keycodec")`` (other than "py") is driven side by side with the
reference on the same inputs, and must give the identical outcome: identical bytes from ``encode_key`` /
``index_key`` / ``index_key_for_document``, identical values from ``decode_key`` / ``split_index_key`` /
``extract_field`` (strict equality: types, NaN, -0.0), identical ``compare_values`` results, identical
``Interval``s, and on failure the identical exception type, message and ``path``.

Who uses it: pytest; ``tests/mutants/test_keycodec_twin_mutants.py`` runs ``PROPERTIES`` against broken
twins and requires at least one to fail.

Inputs aim at the codec's internal boundaries: small alphabets (collisions and shared prefixes), NaN with
payloads, +-0.0, +-inf, int64 extremes, strings and bytes with 0x00/0xFF, empty containers, nesting at
``MAX_NESTING_DEPTH`` +- 1, index keys of exactly ``MAX_INDEX_KEY_BYTES`` +- 2 bytes, garbage, truncated
and corrupted encodings, invalid values, subclasses of the built-in types, and non-bytes/non-tuple args.
"""
from __future__ import annotations

import enum
import math
from types import ModuleType
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import encoding as ref
from engine._impl import implementations
from engine.model.errors import IndexKeyTooLargeError, InvalidValueError
from engine.model.types import Interval
from engine.testing.strategies_keys import (
    SPECIAL_FLOATS,
    SPECIAL_INTS,
    key_elements,
    key_tuples,
    key_values,
    values_identical,
)

UNDEFINED = ref.UNDEFINED
TWINS = {name: mod for name, mod in implementations("keycodec").items() if name != "py"}

# ---- outcome comparison --------------------------------------------------------------------------

#: Errors whose messages are part of the contract (tests and users read them); for any other exception
#: type (e.g. TypeError from a non-iterable argument) only the type must match.
_MESSAGE_CHECKED = (InvalidValueError, IndexKeyTooLargeError)


def outcome(fn: Callable[..., Any], *args: Any) -> tuple:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the exception itself is the observable outcome
        if isinstance(exc, _MESSAGE_CHECKED):
            return ("err", type(exc), str(exc), getattr(exc, "path", None))
        return ("err", type(exc))


def _same_result(a: Any, b: Any) -> bool:
    if isinstance(a, (bytes, Interval, int)) and not isinstance(a, bool):
        return type(a) is type(b) and a == b
    return values_identical(a, b)


def assert_same(name: str, ref_fn: Callable[..., Any], twin_fn: Callable[..., Any], *args: Any) -> Any:
    want = outcome(ref_fn, *args)
    got = outcome(twin_fn, *args)
    if want[0] == "ok" and got[0] == "ok":
        assert _same_result(want[1], got[1]), f"{name}{args!r}: reference {want[1]!r} != twin {got[1]!r}"
    else:
        assert want == got, f"{name}{args!r}: reference {want!r} != twin {got!r}"
    return want[1] if want[0] == "ok" else None


def same(name: str, twin: ModuleType, *args: Any) -> Any:
    return assert_same(name, getattr(ref, name), getattr(twin, name), *args)


# ---- strategies ----------------------------------------------------------------------------------

DOC_IDS = st.sampled_from(["", "a", "a\x00", "b", "k57abc", "\xff", "\U0001f600", "x" * 32])
BAD_DOC_IDS = st.sampled_from([None, 7, b"id", ["a"], "\ud800"])


class _Color(enum.IntEnum):
    RED = 1
    BIG = (1 << 63) - 1


class _Str(str):
    pass


class _Bytes(bytes):
    pass


class _List(list):
    pass


class _Dict(dict):
    pass


class _Float(float):
    pass


class _Iterable:
    """A re-iterable that is neither tuple nor list (``index_key`` unpacks any iterable)."""

    def __init__(self, items: tuple) -> None:
        self.items = items

    def __iter__(self):
        return iter(self.items)

    def __repr__(self) -> str:
        return f"_Iterable({self.items!r})"


#: Values that are not key elements (or are subclasses the reference handles through isinstance).
ODD_VALUES = st.sampled_from([
    1 << 63, -(1 << 63) - 1, 1 << 64, [UNDEFINED], {"a": UNDEFINED}, {"": 1}, {1: 2}, {None: 1},
    "\ud800", {"\udfff": 1}, {"ok": "\ud800"}, (1, 2), bytearray(b"x"), memoryview(b"x"), {1, 2}, 1j,
    _Color.RED, _Color.BIG, _Str("a\x00"), _Bytes(b"\x00\xff"), _List([1, "a"]), _Dict({"b": 1, "a": 2}),
    _Float(-0.0), _Float("nan"), _Float(-2.5),
])

_SCALARS = st.one_of(
    st.sampled_from(SPECIAL_FLOATS), st.sampled_from(SPECIAL_INTS),
    st.sampled_from(["", "\x00", "\xff", "a\x00", "\x00\xff", b"", b"\x00", b"\xff", b"\x00\x01", None, True]),
)

#: Scalars next to the order's internal boundaries; every drawn value is compared with all of them.
BOUNDARY_SCALARS = (*SPECIAL_FLOATS, *SPECIAL_INTS, None, False, True, "", "\x00", "a", "a\x00", b"", b"\x00",
                    UNDEFINED, [], {})


def nested(depth: int, leaf: Any, kinds: list[bool]) -> Any:
    """*depth* arrays/objects around *leaf*; kinds[i] True -> object {"k": ...} at that level."""
    v = leaf
    for i in range(depth):
        v = {"k\x00"[: 1 + (i % 2)]: v} if kinds[i % len(kinds)] else [v]
    return v


DEEP_VALUES = st.builds(
    nested,
    st.integers(ref.MAX_NESTING_DEPTH - 2, ref.MAX_NESTING_DEPTH + 1),
    st.one_of(_SCALARS, st.just([]), st.just({})),
    st.lists(st.booleans(), min_size=1, max_size=4),
)

ANY_ELEMENTS = st.one_of(key_elements(), key_elements(small=True), _SCALARS, st.just([]), st.just({}))
MIXED_ELEMENTS = st.one_of(ANY_ELEMENTS, ODD_VALUES, DEEP_VALUES)
MIXED_TUPLES = st.lists(MIXED_ELEMENTS, max_size=4).map(tuple)

# Fragments that make decoder garbage likely to reach every error branch.
_FRAGMENTS = st.sampled_from([
    b"\x00", b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"\x06", b"\x07", b"\x08", b"\x09", b"\x0a",
    b"\xff", b"a", b"\x00\x01", b"\x00\xff", b"\x00\x02", b"\xc3\x28", b"\xed\xa0\x80",
    b"\x04\xff\xf8\x00\x00\x00\x00\x00\x00", b"\x04\x00\x07\xff\xff\xff\xff\xff\xff",
    b"\x04\xff\xf8\x00\x00\x00\x00\x00\x01", b"\x04\x80\x00\x00\x00\x00\x00\x00\x00",
    b"\x03\x80\x00\x00\x00\x00\x00\x00\x00", b"\x05\x00", b"\x05\x02", b"\x09a\x00\x01", b"\x09b\x00\x01",
])
GARBAGE = st.one_of(
    st.binary(max_size=40),
    st.lists(_FRAGMENTS, max_size=12).map(b"".join),
    st.integers(0, 70).map(lambda k: b"\x08" * k + b"\x00" * k),
    st.integers(0, 70).map(lambda k: b"\x09a\x00\x01" * k + b"\x02" + b"\x00\x01" * k),
)

PATH_PARTS = ["a", "b", "", "a\x00"]
PATHS = st.lists(st.sampled_from(PATH_PARTS), min_size=1, max_size=3).map(".".join)
DOCS = st.recursive(
    st.one_of(_SCALARS, st.just(UNDEFINED)),
    lambda inner: st.dictionaries(st.sampled_from(PATH_PARTS), inner, max_size=3),
    max_leaves=8,
).filter(lambda d: isinstance(d, dict)) | st.sampled_from([{}, None, [], "a", _Dict({"a": {"b": 1}})])

BOUNDS = st.one_of(
    st.none(),
    st.tuples(key_values(small=True), st.booleans()),
    st.tuples(st.sampled_from(SPECIAL_FLOATS + SPECIAL_INTS), st.booleans()),
    st.lists(key_values(small=True), min_size=2, max_size=2).map(lambda xs: [xs[0], True]),
    st.sampled_from([(1,), (1, 1), (1, True, 2), "ab", [1, None], ([UNDEFINED], True), (1 << 64, False)]),
)


# ---- properties ------------------------------------------------------------------------------------


def make_properties(twin: ModuleType) -> dict[str, Callable[[], None]]:
    """Hypothesis tests comparing *twin* with the reference; each is a zero-argument callable."""

    @given(st.one_of(key_tuples(max_size=5), key_tuples(max_size=5, small=True), MIXED_TUPLES))
    def encode_and_decode_agree(t):
        enc = same("encode_key", twin, t)
        same("encode_key", twin, list(t))
        if enc is not None:
            same("decode_key", twin, enc)
            same("decode_key", twin, bytearray(enc))
            same("decode_key", twin, memoryview(enc))
            same("prefix_interval", twin, t)

    @given(key_tuples(min_size=1, max_size=4), st.data())
    def truncated_and_corrupted_encodings_agree(t, data):
        full = ref.encode_key(t)
        cut = data.draw(st.integers(0, len(full) - 1))
        same("decode_key", twin, full[:cut])
        pos = data.draw(st.integers(0, len(full) - 1))
        byte = data.draw(st.sampled_from([0x00, 0x01, 0x02, 0x09, 0x0A, 0x7F, 0x80, 0xFF]) | st.integers(0, 255))
        same("decode_key", twin, full[:pos] + bytes([byte]) + full[pos + 1:])
        same("decode_key", twin, full[:pos] + full[pos + 1:])

    @given(GARBAGE)
    def garbage_decodes_agree(data):
        same("decode_key", twin, data)
        same("split_index_key", twin, data)

    @given(st.one_of(ANY_ELEMENTS, ODD_VALUES), st.one_of(ANY_ELEMENTS, ODD_VALUES))
    def compare_values_agree(a, b):
        same("compare_values", twin, a, b)
        same("compare_values", twin, b, a)
        same("compare_values", twin, a, a)
        for w in BOUNDARY_SCALARS:  # every near-tie of a drawn scalar, deterministically
            same("compare_values", twin, a, w)

    @given(key_tuples(max_size=3, small=True), key_tuples(max_size=3, small=True))
    def compare_values_agree_on_tuples(a, b):
        same("compare_values", twin, a, b)
        same("compare_values", twin, list(a), b)

    @given(st.one_of(key_tuples(max_size=3), key_tuples(max_size=3, small=True), MIXED_TUPLES),
           DOC_IDS | BAD_DOC_IDS)
    def index_keys_agree(values, doc_id):
        key = same("index_key", twin, values, doc_id)
        same("index_key", twin, list(values), doc_id)
        same("index_key", twin, _Iterable(values), doc_id)
        if key is not None:
            same("split_index_key", twin, key)

    @given(st.integers(-3, 3), DOC_IDS, st.sampled_from(["x", "\x00", "\xff", "\u0100"]),
           st.sampled_from([(), (None,), (1.5, "s"), (UNDEFINED, -0.0)]))
    def index_keys_at_the_size_limit_agree(delta, doc_id, pad_char, head):
        base = len(ref.encode_key((*head, "", doc_id)))
        unit = len(ref.encode_key((pad_char,))) - len(ref.encode_key(("",)))
        count = max(0, (ref.MAX_INDEX_KEY_BYTES + delta - base) // unit)
        values = (*head, pad_char * count)
        same("index_key", twin, values, doc_id)
        doc = {"f": pad_char * count, "g": {"h": head[0] if head else UNDEFINED}}
        same("index_key_for_document", twin, doc, ("g.h", "f"), doc_id)

    @given(DOCS, PATHS | st.sampled_from([".", "..", "a.", ".a"]))
    def extract_field_agrees(doc, path):
        same("extract_field", twin, doc, path)

    @given(DOCS, st.lists(PATHS, max_size=3), DOC_IDS | BAD_DOC_IDS)
    def index_key_for_document_agrees(doc, fields, doc_id):
        same("index_key_for_document", twin, doc, tuple(fields), doc_id)
        same("index_key_for_document", twin, doc, fields, doc_id)

    @given(DOCS, st.lists(st.lists(PATHS, max_size=3), max_size=4), DOC_IDS | BAD_DOC_IDS)
    def document_keys_agree(doc, field_lists, doc_id):
        # Index ids collide on purpose (i % 3): a later index with the same id overwrites the earlier.
        indexes = [_Ix(i % 3, tuple(f)) for i, f in enumerate(field_lists)]
        same("document_keys", twin, doc, indexes, doc_id)
        same("document_keys", twin, doc, tuple(indexes), doc_id)

    @given(key_tuples(max_size=2, small=True) | MIXED_TUPLES, BOUNDS, BOUNDS)
    def intervals_agree(eq, lower, upper):
        same("prefix_interval", twin, eq)
        same("range_interval", twin, eq, lower, upper)

    @given(st.sampled_from(["abc", 5, None, b"\x02", {"a": 1}, {1, 2}, bytearray(b"\x02"), "\x02", 3.5]))
    def non_sequence_and_non_bytes_arguments_agree(arg):
        same("encode_key", twin, arg)
        same("decode_key", twin, arg)
        same("split_index_key", twin, arg)
        same("prefix_interval", twin, arg)

    return {f.__name__: f for f in (
        encode_and_decode_agree, truncated_and_corrupted_encodings_agree, garbage_decodes_agree,
        compare_values_agree, compare_values_agree_on_tuples, index_keys_agree,
        index_keys_at_the_size_limit_agree, extract_field_agrees, index_key_for_document_agrees,
        document_keys_agree, intervals_agree, non_sequence_and_non_bytes_arguments_agree,
    )}


class _Ix:
    """What ``document_keys`` reads of an index: its id and key fields (``catalog.IndexInfo`` has both)."""

    def __init__(self, index_id: int, key_fields: tuple[str, ...]) -> None:
        self.index_id = index_id
        self.key_fields = key_fields


PROPERTIES = sorted(make_properties(ref))


@pytest.mark.parametrize("prop", PROPERTIES)
@pytest.mark.parametrize("twin", sorted(TWINS))
def test_twin_agrees_with_reference(twin, prop):
    make_properties(TWINS[twin])[prop]()


@pytest.mark.parametrize("twin", sorted(TWINS))
def test_twin_shares_the_reference_singleton_and_constants(twin):
    cy = TWINS[twin]
    assert cy.UNDEFINED is ref.UNDEFINED
    assert cy.ABI == ref.ABI
    assert cy.decode_key(cy.encode_key((UNDEFINED,)))[0] is ref.UNDEFINED
    assert type(cy.prefix_interval((1,))) is Interval


@pytest.mark.parametrize("twin", sorted(TWINS))
def test_twin_agrees_on_hand_picked_boundaries(twin):
    cy = TWINS[twin]
    for v in [*SPECIAL_FLOATS, *SPECIAL_INTS, -math.nan, "", b"", [], {}, "\x00\xff", b"\xff\x00"]:
        same("encode_key", cy, (v,))
        for w in [*SPECIAL_FLOATS, *SPECIAL_INTS]:
            same("compare_values", cy, v, w)
    for depth in range(ref.MAX_NESTING_DEPTH - 1, ref.MAX_NESTING_DEPTH + 2):
        for kinds in ([False], [True], [True, False]):
            v = nested(depth, 1, kinds)
            enc = same("encode_key", cy, (v,))
            same("decode_key", cy, enc if enc is not None else b"\x08" * depth + b"\x00" * depth)
    same("decode_key", cy, b"\x08" * 5000)
    same("encode_key", cy, (1, {"a": [0, 1 << 64]}))
    same("encode_key", cy, ({"b": {"\ud800": 1}},))
    same("encode_key", cy, ([UNDEFINED],))
