"""Hypothesis strategies for key-codec values and tuples, plus a strict equality for comparing them.

Who may call it: tests only (unit, differential, contract); it imports ``hypothesis``, which the engine
itself never needs.

Invariants:
- ``key_values()`` yields only values ``engine.encoding.encode_key`` accepts inside a tuple: no nested
  UNDEFINED, ints within int64, non-empty field names, no lone surrogates. ``key_tuples()`` adds
  UNDEFINED as a possible top-level element.
- ``small=True`` draws from a tiny alphabet (a few ints, floats, strings, bytes, field names) so equal
  values, shared prefixes and near-ties are common; the default draws edge cases (int64 extremes, NaN with
  payloads and sign, +-inf, -0.0, subnormals, strings and bytes with 0x00/0xFF) among ordinary values.
- ``values_identical`` is equality that distinguishes 1 / 1.0 / True, -0.0 / 0.0 and list / tuple, and
  treats every NaN as equal to every NaN (the codec canonicalises NaN).
"""
from __future__ import annotations

import math
import struct
from typing import Any

from hypothesis import strategies as st

from engine.encoding import UNDEFINED

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


def _bits_to_float(bits: int) -> float:
    return struct.unpack(">d", struct.pack(">Q", bits))[0]


#: Floats the order is most likely to get wrong.
SPECIAL_FLOATS = (
    0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan,
    _bits_to_float(0xFFF8000000000000),  # negative quiet NaN
    _bits_to_float(0x7FF0000000000001),  # signalling NaN with payload
    _bits_to_float(0x7FFFFFFFFFFFFFFF),  # max-payload NaN
    5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 2.0 ** 63, -(2.0 ** 63),
)
SPECIAL_INTS = (INT64_MIN, INT64_MIN + 1, -256, -1, 0, 1, 255, 256, INT64_MAX - 1, INT64_MAX)

# Characters around the escape byte and UTF-8 boundaries, plus anything else except surrogates.
_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\x00", "\x01", "\x7f", "\x80", "\xff", "\u0100", "\uffff", "\U0001f600", "a"]),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=8,
)
_BYTES = st.one_of(
    st.binary(max_size=8),
    st.lists(st.sampled_from([0x00, 0x01, 0xFE, 0xFF]), max_size=6).map(bytes),
)
_FIELD_NAMES = _TEXT.filter(bool)

_SMALL_INTS = st.sampled_from([-1, 0, 1, 2])
_SMALL_FLOATS = st.sampled_from([-math.inf, -1.0, -0.0, 0.0, 1.0, math.inf, math.nan])
_SMALL_TEXT = st.sampled_from(["", "\x00", "a", "a\x00", "a\x00b", "ab", "b"])
_SMALL_BYTES = st.sampled_from([b"", b"\x00", b"\x00\xff", b"a", b"\xff"])
_SMALL_FIELD_NAMES = st.sampled_from(["a", "a\x00", "b", "ab"])


def _scalars(small: bool) -> st.SearchStrategy[Any]:
    if small:
        return st.one_of(st.none(), st.booleans(), _SMALL_INTS, _SMALL_FLOATS, _SMALL_TEXT, _SMALL_BYTES)
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(INT64_MIN, INT64_MAX),
        st.sampled_from(SPECIAL_INTS),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(SPECIAL_FLOATS),
        _TEXT,
        _BYTES,
    )


def key_values(small: bool = False) -> st.SearchStrategy[Any]:
    """Any Convex value (no UNDEFINED), nested arrays/objects included; ``small`` -> collision-prone."""
    names = _SMALL_FIELD_NAMES if small else _FIELD_NAMES
    width = 3 if small else 4
    return st.recursive(
        _scalars(small),
        lambda inner: st.one_of(
            st.lists(inner, max_size=width),
            st.dictionaries(names, inner, max_size=width),
        ),
        max_leaves=6 if small else 12,
    )


def key_elements(small: bool = False) -> st.SearchStrategy[Any]:
    """A top-level key element: ``key_values(small)`` or UNDEFINED."""
    return st.one_of(st.just(UNDEFINED), key_values(small))


def key_tuples(min_size: int = 0, max_size: int = 4, small: bool = False) -> st.SearchStrategy[tuple]:
    """Tuples of ``key_elements(small)`` with length in ``[min_size, max_size]``."""
    return st.lists(key_elements(small), min_size=min_size, max_size=max_size).map(tuple)


def small_key_values() -> st.SearchStrategy[Any]:
    """``key_values(small=True)``."""
    return key_values(small=True)


def small_key_tuples(min_size: int = 0, max_size: int = 4) -> st.SearchStrategy[tuple]:
    """``key_tuples(min_size, max_size, small=True)``."""
    return key_tuples(min_size, max_size, small=True)


def values_identical(a: Any, b: Any) -> bool:
    """Strict structural equality: same types at every node, NaN == NaN, -0.0 != 0.0. O(size)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if a != a or b != b:
            return a != a and b != b
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(values_identical(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(values_identical(a[k], b[k]) for k in a)
    return a == b
