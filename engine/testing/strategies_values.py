"""Hypothesis strategies for Convex values and documents (``engine.model.values``).

Who may call it: tests only (unit, differential, contract, system); it imports ``hypothesis``, which the
engine itself never needs.

Invariants:
- Every value ``convex_values()`` draws passes ``engine.model.values.validate_value``: ints within int64, field
  names non-empty printable ASCII not starting with "$" (nested names may start with "_"), no lone
  surrogates, nesting depth <= ``MAX_DEPTH``, and containers far below the item/field limits.
- Every dict ``documents()`` draws passes ``engine.model.values.validate_document`` (top-level names start with
  neither "_" nor "$"; it stays far below 1 MiB).
- Edge cases are drawn deliberately and often: int64 extremes, 2**53 +- 1, every special float (NaN with
  other payloads and sign, +-inf, -0.0, subnormals, the largest finite doubles), empty and non-ASCII
  strings, bytes with 0x00/0xFF, empty containers.
- ``small=True`` draws from tiny alphabets so equal-but-distinct values (1 vs 1.0 vs True, 0.0 vs -0.0,
  two NaNs, re-ordered objects) collide often; use it for equality and change-detection properties.
"""
from __future__ import annotations

import math
import struct
from typing import Any

from hypothesis import strategies as st

from engine.model.values import INT64_MAX, INT64_MIN, MAX_DEPTH

__all__ = [
    "SPECIAL_FLOATS", "SPECIAL_INTS", "field_names", "user_field_names", "scalars", "convex_values",
    "documents", "value_depth",
]


def _bits(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


#: Floats a codec is most likely to get wrong.
SPECIAL_FLOATS = (
    0.0, -0.0, 1.0, -1.0, 0.5, math.inf, -math.inf, math.nan,
    _bits(0xFFF8000000000000),  # negative quiet NaN
    _bits(0x7FF0000000000001),  # signalling NaN with a payload
    _bits(0x7FFFFFFFFFFFFFFF),  # max-payload NaN
    5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
    2.0 ** 53, 2.0 ** 63, -(2.0 ** 63), 1e16, 0.1,
)
#: Ints at the int64 and float64-precision boundaries.
SPECIAL_INTS = (
    INT64_MIN, INT64_MIN + 1, -(2 ** 53) - 1, -256, -1, 0, 1, 123, 255, 256, 2 ** 53, 2 ** 53 + 1,
    INT64_MAX - 1, INT64_MAX,
)

_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(["", "a", "\x00", "\"", "\\", "$integer", "\u2028", "\U0001f600", "é", '"$x"']),
)
_BYTES = st.one_of(st.binary(max_size=12), st.sampled_from([b"", b"\x00", b"\xff", b"\x00\xff"]))

_PRINTABLE_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def field_names() -> st.SearchStrategy[str]:
    """Valid nested-object field names: 1..12 printable ASCII characters, not starting with "$"."""
    return st.one_of(
        st.text(_PRINTABLE_ASCII, min_size=1, max_size=12).filter(lambda s: s[0] != "$"),
        st.sampled_from(["a", "b", "_x", "x$", " ", "a.b", "[0]", "~"]),
    )


def user_field_names() -> st.SearchStrategy[str]:
    """Valid top-level user field names: as ``field_names()`` but not starting with "_" either."""
    return field_names().filter(lambda s: s[0] != "_")


def scalars(small: bool = False) -> st.SearchStrategy[Any]:
    """Non-container Convex values: null, booleans, int64, float64 (all specials), strings, bytes."""
    if small:
        return st.sampled_from([None, False, True, 0, 1, -1, 0.0, -0.0, 1.0, math.nan, _bits(0xFFF8000000000000),
                                math.inf, "", "a", "1", b"", b"a"])
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


def value_depth(v: Any) -> int:
    """Nesting depth as ``engine.model.values`` counts it: scalar 0, container 1 + deepest element."""
    if isinstance(v, list):
        return 1 + max((value_depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((value_depth(x) for x in v.values()), default=0)
    return 0


def convex_values(max_leaves: int = 12, small: bool = False) -> st.SearchStrategy[Any]:
    """Any valid Convex value: scalars, arrays and objects nested up to ``MAX_DEPTH``.

    *max_leaves* bounds the number of scalars per value; *small* uses collision-prone alphabets.
    """
    names = st.sampled_from(["a", "b", "_c"]) if small else field_names()
    width = 3 if small else 5
    return st.recursive(
        scalars(small),
        lambda inner: st.one_of(
            st.lists(inner, max_size=width),
            st.dictionaries(names, inner, max_size=width),
        ),
        max_leaves=max_leaves,
    ).filter(lambda v: value_depth(v) <= MAX_DEPTH)


def documents(max_fields: int = 6, max_leaves: int = 6, small: bool = False) -> st.SearchStrategy[dict]:
    """Valid user documents (no system fields): up to *max_fields* top-level fields of
    ``convex_values(max_leaves, small)``, nested at most ``MAX_DEPTH`` deep counting the document."""
    names = st.sampled_from(["a", "b", "c"]) if small else user_field_names()
    return st.dictionaries(names, convex_values(max_leaves, small), max_size=max_fields).filter(
        lambda d: value_depth(d) <= MAX_DEPTH)
