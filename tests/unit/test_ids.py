"""Properties of document ids (``engine.ids``).

The backbone: decode inverts encode for every table number and internal id; text length follows the
VInt length; every id has exactly one accepted spelling, so a single mistyped character is always caught;
decoding anything else fails only with ``InvalidIdError``; generation is a pure function of the injected
RNG and clock readings.
"""
from __future__ import annotations

import base64
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import ids
from engine.ids import ALPHABET, MAX_TABLE_NUMBER, DecodedId, IdGenerator, decode_id, encode_id
from engine.model.errors import InvalidIdError, RippleError

VINT_BOUNDARIES = [1, 2, 127, 128, 129, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, MAX_TABLE_NUMBER]
TABLE_NUMBERS = st.one_of(st.integers(1, MAX_TABLE_NUMBER), st.sampled_from(VINT_BOUNDARIES), st.integers(1, 300))
INTERNALS = st.one_of(st.binary(min_size=16, max_size=16), st.sampled_from([b"\x00" * 16, b"\xff" * 16]))
IDS = st.builds(encode_id, TABLE_NUMBERS, INTERNALS)


def raw_to_text(raw: bytes) -> str:
    """Base32-encode arbitrary bytes the way ids are written (test-side reference, via the RFC codec)."""
    rfc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return base64.b32encode(raw).decode().rstrip("=").translate(str.maketrans(rfc, ALPHABET))


def with_footer(body: bytes) -> bytes:
    return body + ids.fletcher16(body).to_bytes(2, "little")


def expected_length(table_number: int) -> int:
    vint_len = 1
    while table_number >= 1 << (7 * vint_len):
        vint_len += 1
    return -(-(vint_len + 18) * 8 // 5)


@given(TABLE_NUMBERS, INTERNALS)
def test_decode_inverts_encode(table_number, internal):
    s = encode_id(table_number, internal)
    assert decode_id(s) == DecodedId(table_number, internal)
    assert ids.table_number_of(s) == table_number
    assert ids.is_valid_id(s)


@given(TABLE_NUMBERS, INTERNALS)
def test_text_is_lowercase_crockford_and_its_length_follows_the_table_number(table_number, internal):
    s = encode_id(table_number, internal)
    assert set(s) <= set(ALPHABET)
    assert len(s) == expected_length(table_number)
    if table_number < 128:
        assert len(s) == 31
    elif table_number < 16384:
        assert len(s) == 32


def test_known_vector_from_the_reference_backend():
    # Convex's id_v6 stability vector: table 1017, internal[0] = 251, internal[i] = internal[i-1] * 251 mod 256.
    internal = [251]
    for _ in range(15):
        internal.append(internal[-1] * 251 % 256)
    assert encode_id(1017, bytes(internal)) == "z43zp6c3e75gkmz1kfwj6mbbx5sw281h"
    assert decode_id("z43zp6c3e75gkmz1kfwj6mbbx5sw281h") == DecodedId(1017, bytes(internal))


def test_fletcher16_uses_sums_mod_256():
    assert ids.fletcher16(b"") == 0
    assert ids.fletcher16(b"\x01\x02") == (4 << 8) | 3  # c0: 1, 3; c1: 1, 4
    assert ids.fletcher16(b"\xff\xff") == (0xFD << 8) | 0xFE  # mod 256, not 255: 0xff + 0xff = 0x1fe -> 0xfe


def _assert_all_substitutions_rejected(s: str, positions) -> None:
    # A substitution changes one byte or two adjacent ones (or only pad bits); fletcher16 mod 256 detects
    # every such change, and the canonical-spelling check catches the pad bits.
    for i in positions:
        for c in ALPHABET:
            if c != s[i]:
                with pytest.raises(InvalidIdError):
                    decode_id(s[:i] + c + s[i + 1:])


@given(IDS, st.data())
def test_every_single_character_substitution_is_rejected(s, data):
    i = data.draw(st.integers(0, len(s) - 1))
    _assert_all_substitutions_rejected(s, [i])


@pytest.mark.parametrize("table_number", VINT_BOUNDARIES)
def test_every_substitution_at_every_position_is_rejected_for_each_vint_size(table_number):
    s = encode_id(table_number, random.Random(table_number).randbytes(16))
    _assert_all_substitutions_rejected(s, range(len(s)))


@given(IDS, st.data())
def test_other_single_character_edits_never_crash_and_never_give_the_same_id(s, data):
    original = decode_id(s)
    i = data.draw(st.integers(0, len(s) - 1))
    c = data.draw(st.characters())
    for mutated in (s[:i] + c + s[i + 1:], s[:i] + s[i + 1:], s[:i] + c + s[i:], s.upper(), s + c):
        if mutated == s:
            continue
        try:
            got = decode_id(mutated)
        except InvalidIdError:
            continue
        assert got != original


@given(st.text(alphabet=st.sampled_from(ALPHABET + "ilouILOU0Z=- "), min_size=28, max_size=40))
def test_decoding_arbitrary_strings_fails_only_with_invalid_id_error(s):
    try:
        d = decode_id(s)
    except InvalidIdError:
        return
    assert encode_id(d.table_number, d.internal) == s


@given(st.binary(min_size=17, max_size=24))
def test_decoding_arbitrary_bytes_is_one_to_one(raw):
    for text in (raw_to_text(raw), raw_to_text(with_footer(raw[:-2]))):
        try:
            d = decode_id(text)
        except InvalidIdError:
            continue
        assert encode_id(d.table_number, d.internal) == text


@pytest.mark.parametrize("bad", [None, 123, b"x" * 31, ["a"]])
def test_non_strings_are_rejected(bad):
    with pytest.raises(InvalidIdError, match="must be a string"):
        decode_id(bad)
    assert not ids.is_valid_id(bad)


@pytest.mark.parametrize("length", [0, 1, 30, 33, 35, 38, 100, 10_000])
def test_lengths_no_id_has_are_rejected(length):
    with pytest.raises(InvalidIdError, match="characters"):
        decode_id("0" * length)


@pytest.mark.parametrize("char", ["i", "l", "o", "u", "A", "Z", "=", "-", " ", "é"])
def test_characters_outside_the_alphabet_are_rejected(char):
    s = encode_id(5, bytes(range(16)))
    with pytest.raises(InvalidIdError, match="not in the id alphabet"):
        decode_id(s[:10] + char + s[11:])


def test_uppercase_spelling_is_rejected():
    s = encode_id(5, bytes(range(16)))
    with pytest.raises(InvalidIdError):
        decode_id(s.upper())


def test_nonzero_padding_bits_are_rejected_as_non_canonical():
    s = encode_id(5, bytes(range(16)))  # 19 bytes = 152 bits in 31 chars = 155 bits: 3 pad bits
    last = ALPHABET.index(s[-1])
    assert last & 0b111 == 0
    mutated = s[:-1] + ALPHABET[last | 0b001]
    with pytest.raises(InvalidIdError, match="canonical"):
        decode_id(mutated)


def test_overlong_vint_is_rejected_as_non_canonical():
    # Table number 1 written in two VInt bytes (0x81 0x00) with a correct checksum.
    text = raw_to_text(with_footer(b"\x81\x00" + bytes(16)))
    assert len(text) == 32
    with pytest.raises(InvalidIdError, match="canonical"):
        decode_id(text)


def test_table_number_zero_is_rejected():
    with pytest.raises(InvalidIdError, match="table number 0"):
        decode_id(raw_to_text(with_footer(b"\x00" + bytes(16))))


def test_table_numbers_beyond_32_bits_and_vints_beyond_5_bytes_are_rejected():
    too_big = bytes([0xFF, 0xFF, 0xFF, 0xFF, 0x1F])  # 2**35 - 1
    with pytest.raises(InvalidIdError, match="32 bits"):
        decode_id(raw_to_text(with_footer(too_big + bytes(16))))
    endless = bytes([0x80] * 5 + [0x01])
    with pytest.raises(InvalidIdError, match="more than 5 bytes"):
        decode_id(raw_to_text(with_footer(endless + bytes(15))))


def test_vint_length_must_match_the_text_length():
    # A 1-byte table number followed by 17 bytes of internal id: 20 bytes -> 32 chars, but a 1-byte VInt
    # means a 31-char id.
    with pytest.raises(InvalidIdError, match="do not fit"):
        decode_id(raw_to_text(with_footer(b"\x05" + bytes(17))))


def test_bad_checksum_is_rejected():
    body = b"\x05" + bytes(range(16))
    footer = ids.fletcher16(body) ^ 1
    with pytest.raises(InvalidIdError, match="checksum"):
        decode_id(raw_to_text(body + footer.to_bytes(2, "little")))


@pytest.mark.parametrize("table_number, internal", [
    (0, bytes(16)), (MAX_TABLE_NUMBER + 1, bytes(16)), (-1, bytes(16)), (True, bytes(16)), (1.0, bytes(16)),
    (1, bytes(15)), (1, bytes(17)), (1, "x" * 16),
])
def test_encode_rejects_bad_inputs(table_number, internal):
    with pytest.raises(InvalidIdError):
        encode_id(table_number, internal)


def test_invalid_id_error_is_a_ripple_value_error():
    with pytest.raises(RippleError):
        decode_id("nope")
    with pytest.raises(ValueError):
        decode_id("nope")


# ------------------------------------------------------------------------------------ generator


@given(st.integers(0, 2 ** 32), st.lists(st.tuples(TABLE_NUMBERS, st.floats(0, 5e12)), min_size=1, max_size=8))
def test_generator_is_deterministic_for_a_seed(seed, calls):
    a = IdGenerator(random.Random(seed))
    b = IdGenerator(random.Random(seed))
    assert [a.new_id(t, ms) for t, ms in calls] == [b.new_id(t, ms) for t, ms in calls]


@given(st.integers(0, 2 ** 32), TABLE_NUMBERS, st.floats(-1e15, 1e16, allow_nan=False))
def test_generated_ids_carry_table_number_random_bytes_and_clamped_day(seed, table_number, now_ms):
    s = IdGenerator(random.Random(seed)).new_id(table_number, now_ms)
    d = decode_id(s)
    assert d.table_number == table_number
    assert d.internal[:14] == random.Random(seed).randbytes(14)
    assert d.days_since_epoch == min(max(int(now_ms // 86_400_000), 0), 65535)


def test_generated_ids_differ_across_calls_and_seeds():
    g = IdGenerator(random.Random(7))
    many = {g.new_id(1, 1.7e12) for _ in range(1000)}
    assert len(many) == 1000
    assert IdGenerator(random.Random(1)).new_id(1, 0.0) != IdGenerator(random.Random(2)).new_id(1, 0.0)


def test_generator_day_examples():
    g = IdGenerator(random.Random(0))
    assert decode_id(g.new_id(3, 86_400_000 * 19_000 + 5.5)).days_since_epoch == 19_000
    assert decode_id(g.new_id(3, 86_399_999.9)).days_since_epoch == 0
    assert decode_id(g.new_id(3, -1.0)).days_since_epoch == 0
    assert decode_id(g.new_id(3, 1e300)).days_since_epoch == 65535


def test_generator_rejects_bad_arguments():
    with pytest.raises(TypeError):
        IdGenerator(None)  # type: ignore[arg-type]
    g = IdGenerator(random.Random(0))
    with pytest.raises(InvalidIdError):
        g.new_id(0, 0.0)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            g.new_id(1, bad)
