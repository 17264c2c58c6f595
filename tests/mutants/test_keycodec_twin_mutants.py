"""Mutants of the key-codec twin that the differential properties must kill (the oracle's teeth).

Each mutant is a module-like wrapper around the built twin (``engine._native.keycodec``; the reference
when no twin is built) with exactly one rule broken. ``tests/differential/test_keycodec_twins.py``'s
``PROPERTIES`` are run against it; at least one must fail. A surviving mutant is a failing test here,
meaning the differential suite could not see that bug.

Mutants:
- ``negative_float_not_inverted``: the float transform flips only the sign bit for negative numbers too
  (forgets to invert all bits), so negative floats sort in reverse.
- ``escape_drops_ff``: strings and bytes write 0x00 bare instead of 0x00 0xFF.
- ``decode_accepts_noncanonical_nan``: decoding canonicalises any NaN instead of rejecting it.
- ``compare_ignores_zero_sign``: ``compare_values(-0.0, 0.0) == 0``.
- ``size_limit_exclusive``: ``index_key`` rejects a key of exactly ``MAX_INDEX_KEY_BYTES``.
- ``extract_missing_is_null``: ``extract_field`` returns None instead of UNDEFINED for a missing step.
"""
from __future__ import annotations

import struct
from types import ModuleType
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, Phase, settings

from engine import encoding as ref
from engine._impl import implementations
from engine.model.errors import IndexKeyTooLargeError, InvalidValueError
from tests.differential.test_keycodec_twins import PROPERTIES, make_properties

BASE = implementations("keycodec").get("cy", ref)
_U64 = struct.Struct(">Q")
_DOUBLE = struct.Struct(">d")
_SIGN = 1 << 63


def _mutant(**overrides: Callable[..., Any]) -> ModuleType:
    mod = ModuleType("keycodec_mutant")
    for name in ref.__all__:
        setattr(mod, name, getattr(BASE, name))
    for name, fn in overrides.items():
        setattr(mod, name, fn)
    return mod


def _encoder(float_bits: Callable[[float], int] | None = None, escape: Callable[[bytes], bytes] | None = None):
    """An ``encode_key`` that delegates to the twin except for floats and/or str/bytes payloads."""

    def element(v: Any) -> bytes:
        if float_bits is not None and type(v) is float:
            return bytes([ref.TAG_FLOAT]) + _U64.pack(float_bits(v))
        if escape is not None and type(v) in (str, bytes):
            raw = v.encode("utf-8") if type(v) is str else v
            return bytes([ref.TAG_STRING if type(v) is str else ref.TAG_BYTES]) + escape(raw)
        if type(v) is list:
            return bytes([ref.TAG_ARRAY]) + b"".join(element(x) for x in v) + b"\x00"
        if type(v) is dict and all(type(k) is str and k for k in v):
            BASE.encode_key((v,))  # let the twin reject what it rejects
            out = [bytes([ref.TAG_OBJECT])]
            for k in sorted(v, key=lambda k: k.encode("utf-8")):
                raw = k.encode("utf-8")
                out.append(escape(raw) if escape is not None else raw.replace(b"\x00", b"\x00\xff") + b"\x00\x01")
                out.append(element(v[k]))
            return b"".join(out) + b"\x00\x01"
        return BASE.encode_key((v,))

    def encode_key(values):
        if not isinstance(values, (tuple, list)):
            return BASE.encode_key(values)
        BASE.encode_key(values)  # same errors as the twin
        return b"".join(element(v) for v in values)

    return encode_key


def _float_bits_forgetting_inversion(v: float) -> int:
    bits = 0x7FF8000000000000 if v != v else _U64.unpack(_DOUBLE.pack(v))[0]
    return bits ^ _SIGN  # BUG: negative numbers must have every bit inverted


def _escape_without_ff(raw: bytes) -> bytes:
    return raw + b"\x00\x01"  # BUG: every 0x00 must be written 0x00 0xFF


def _decode_accepting_any_nan(data):
    data = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    for _ in range(64):
        try:
            return BASE.decode_key(data)
        except InvalidValueError as exc:
            msg = str(exc)
            if "non-canonical NaN" not in msg:
                raise
            pos = int(msg.rsplit(" ", 1)[1])
            data = data[:pos] + _U64.pack(0x7FF8000000000000 ^ _SIGN) + data[pos + 8:]  # BUG: must reject
    return BASE.decode_key(data)


def _compare_ignoring_zero_sign(a, b):
    if type(a) is float and type(b) is float and a == 0.0 and b == 0.0:
        return 0  # BUG: -0.0 sorts just below +0.0
    return BASE.compare_values(a, b)


def _index_key_exclusive_limit(values, doc_id):
    key = BASE.index_key(values, doc_id)
    if len(key) >= ref.MAX_INDEX_KEY_BYTES:  # BUG: exactly MAX_INDEX_KEY_BYTES is allowed
        raise IndexKeyTooLargeError(
            f"index key is {len(key)} bytes, more than the limit of {ref.MAX_INDEX_KEY_BYTES}; "
            f"index smaller values (document {doc_id!r})"
        )
    return key


def _extract_missing_is_null(doc, path):
    v = BASE.extract_field(doc, path)
    return None if v is ref.UNDEFINED else v  # BUG: a missing step is UNDEFINED, not null


MUTANTS = {
    "negative_float_not_inverted": lambda: _mutant(encode_key=_encoder(float_bits=_float_bits_forgetting_inversion)),
    "escape_drops_ff": lambda: _mutant(encode_key=_encoder(escape=_escape_without_ff)),
    "decode_accepts_noncanonical_nan": lambda: _mutant(decode_key=_decode_accepting_any_nan),
    "compare_ignores_zero_sign": lambda: _mutant(compare_values=_compare_ignoring_zero_sign),
    "size_limit_exclusive": lambda: _mutant(index_key=_index_key_exclusive_limit),
    "extract_missing_is_null": lambda: _mutant(extract_field=_extract_missing_is_null),
}

_RUN = settings(
    max_examples=200, derandomize=True, database=None, deadline=None, print_blob=False,
    phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck),
)


def _killed_by(mutant: ModuleType) -> list[str]:
    """Names of the properties that fail on *mutant* (stops at the first: one kill is enough)."""
    for name, prop in make_properties(mutant).items():
        try:
            _RUN(prop)()
        except AssertionError:
            return [name]
    return []


def test_the_unmutated_wrapper_survives():
    """Guard against a vacuous kill: the wrapper with no override must pass every property."""
    assert _killed_by(_mutant()) == []


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_killed_by_the_differential_properties(name):
    killers = _killed_by(MUTANTS[name]())
    assert killers, f"mutant {name} survived all of {PROPERTIES}"
