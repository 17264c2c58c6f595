"""Differential tests: every document-id twin against the pure-Python reference ``engine.ids``.

Role: the reference is the spec (its own properties live in ``tests/unit/test_ids.py``). Each twin from
``engine._impl.implementations("ids")`` other than "py" must give the identical outcome on the same input:
the same text from ``encode_id``, equal ``DecodedId``s (the reference's class) and table numbers from
``decode_id`` / ``table_number_of``, the same ``is_valid_id`` verdicts and ``fletcher16`` sums, and on failure
the same exception type and message.

Inputs aim at the format's boundaries: table numbers at every VInt length change, internal ids of all zeros
and all ones, every text length an id can have and the ones next to them, single-character substitutions
(a checksum or canonical-spelling failure), non-zero pad bits, over-long VInts, uppercase and non-ASCII
characters, non-str and non-bytes arguments.

Who uses it: pytest; ``tests/mutants/test_ids_twin_mutants.py`` runs ``properties`` against compiled
mutants of the twin and requires each to fail.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import ids as ref
from engine._impl import implementations
from engine.ids import ALPHABET, MAX_TABLE_NUMBER

TWINS = {name: mod for name, mod in implementations("ids").items() if name != "py"}

VINT_BOUNDARIES = [1, 2, 127, 128, 129, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, MAX_TABLE_NUMBER]
TABLE_NUMBERS = st.one_of(st.integers(1, MAX_TABLE_NUMBER), st.sampled_from(VINT_BOUNDARIES), st.integers(1, 300))
BAD_TABLE_NUMBERS = st.sampled_from([0, -1, MAX_TABLE_NUMBER + 1, 2 ** 64, 1.0, "1", None, True])
INTERNALS = st.one_of(st.binary(min_size=16, max_size=16), st.sampled_from([b"\x00" * 16, b"\xff" * 16]))
BAD_INTERNALS = st.one_of(st.binary(max_size=20).filter(lambda b: len(b) != 16), st.sampled_from(
    [None, "x" * 16, bytearray(15), memoryview(b"\x00" * 16)]))
IDS = st.builds(ref.encode_id, TABLE_NUMBERS, INTERNALS)


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except Exception as exc:  # the type and message are part of the contract
        return "raise", (type(exc), str(exc))


def same(name: str, twin: ModuleType, *args: Any) -> None:
    want = outcome(getattr(ref, name), *args)
    got = outcome(getattr(twin, name), *args)
    assert got == want, f"{name}{args!r}: twin {got!r} != reference {want!r}"


def _mutations(s: str, data: Any) -> str:
    """One of: a substituted character, a dropped or added character, an uppercased one, a swap."""
    kind = data.draw(st.sampled_from(["sub", "drop", "add", "upper", "swap", "tail"]))
    i = data.draw(st.integers(0, len(s) - 1))
    if kind == "sub":
        return s[:i] + data.draw(st.sampled_from(ALPHABET + "ILOU0!é")) + s[i + 1:]
    if kind == "drop":
        return s[:i] + s[i + 1:]
    if kind == "add":
        return s[:i] + data.draw(st.sampled_from(ALPHABET)) + s[i:]
    if kind == "upper":
        return s[:i] + s[i].upper() + s[i + 1:]
    if kind == "swap" and i + 1 < len(s):
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:-1] + data.draw(st.sampled_from(ALPHABET))  # the last character holds the pad bits


def properties(twin: ModuleType) -> dict[str, Callable[[], None]]:
    @given(TABLE_NUMBERS, INTERNALS)
    def encoding_agrees(n, internal):
        same("encode_id", twin, n, internal)
        same("encode_id", twin, n, bytearray(internal))
        text = ref.encode_id(n, internal)
        same("decode_id", twin, text)
        same("table_number_of", twin, text)
        same("is_valid_id", twin, text)

    @given(st.one_of(st.tuples(BAD_TABLE_NUMBERS, INTERNALS), st.tuples(TABLE_NUMBERS, BAD_INTERNALS)))
    def bad_encoder_arguments_agree(args):
        same("encode_id", twin, *args)

    @given(IDS, st.data())
    def mutated_ids_agree(text, data):
        bad = _mutations(text, data)
        same("decode_id", twin, bad)
        same("table_number_of", twin, bad)
        same("is_valid_id", twin, bad)

    @given(st.one_of(
        st.text(alphabet=ALPHABET, min_size=30, max_size=38),
        st.text(max_size=45),
        st.sampled_from([None, 5, b"0" * 31, ["a"], "0" * 31, "z" * 37, "1" + "0" * 30])))
    def arbitrary_strings_agree(s):
        same("decode_id", twin, s)
        same("table_number_of", twin, s)
        same("is_valid_id", twin, s)

    @given(st.integers(0, 2 ** 35), st.integers(0, 2), INTERNALS, st.booleans())
    def crafted_ids_agree(n, extra_groups, internal, good_checksum):
        # Hand-made spellings the encoder never writes: over-long VInts (trailing zero groups), VInts of
        # more than 5 bytes or above u32, table number 0, and wrong checksums, all with valid base32.
        vint = bytearray()
        x = n
        while x >= 0x80:
            vint.append((x & 0x7F) | 0x80)
            x >>= 7
        vint.append(x)
        for _ in range(extra_groups):
            vint[-1] |= 0x80
            vint.append(0)
        body = bytes(vint) + internal
        footer = ref.fletcher16(body) ^ (0 if good_checksum else 0x0101)
        text = ref._base32(body + footer.to_bytes(2, "little"))
        same("decode_id", twin, text)
        same("table_number_of", twin, text)
        same("is_valid_id", twin, text)

    @given(st.binary(max_size=23))
    def fletcher16_agrees(data):
        same("fletcher16", twin, data)

    return {f.__name__: f for f in (encoding_agrees, bad_encoder_arguments_agree, mutated_ids_agree,
                                    arbitrary_strings_agree, crafted_ids_agree, fletcher16_agrees)}


PROPERTIES = sorted(properties(ref))


def test_a_twin_is_built_wherever_cython_twins_are():
    # The full suite runs with ENGINE_IMPL=cy, where every kernel's twin must exist (no silent skip).
    assert TWINS or not implementations("keycodec").get("cy"), "engine._native.ids is missing; run `make build`"


@pytest.mark.parametrize("prop", PROPERTIES)
@pytest.mark.parametrize("twin", sorted(TWINS))
def test_twin_agrees_with_reference(twin, prop):
    properties(TWINS[twin])[prop]()


@pytest.mark.parametrize("twin", sorted(TWINS))
def test_twin_shares_the_reference_record_type_and_generator_output(twin):
    import random

    cy = TWINS[twin]
    text = ref.encode_id(7, b"\x01" * 16)
    assert type(cy.decode_id(text)) is ref.DecodedId and cy.decode_id(text) == ref.decode_id(text)
    a = ref.IdGenerator(random.Random(3))
    b = ref.IdGenerator(random.Random(3), codec=cy)
    for i in range(200):
        assert a.new_id(1 + i * 37 % 9000, 1.7e12 + i * 86_400_000.0) == b.new_id(1 + i * 37 % 9000, 1.7e12 + i * 86_400_000.0)
