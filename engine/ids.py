"""Document ids: the Convex "id v6" format (protocol spec §4.5), encode, decode and generate.

Role: every ``_id`` in Ripple is made by ``IdGenerator.new_id`` and read back by ``decode_id``; the table
number inside an id is how ``tx.get`` finds the table without a lookup.

Who may call it: anyone. It imports only ``engine.model.errors`` and the standard library. It never reads the
clock or a global RNG: the caller injects a seeded ``random.Random`` and the current time.

Format::

    binary = VInt(table_number) || internal (16 bytes) || footer (2 bytes)
    VInt    : 7 bits per byte, least significant group first, 0x80 = "more bytes follow" (1..5 bytes)
    internal: 14 random bytes || days since the Unix epoch as a 2-byte big-endian unsigned
    footer  : fletcher16(VInt || internal) XOR version (0), little-endian; fletcher16 keeps two byte
              sums mod 256, c0 += b; c1 += c0, and is c1 << 8 | c0
    text    : base32, Crockford alphabet in lowercase ("0123456789abcdefghjkmnpqrstvwxyz"), no
              padding, bits packed most significant first; trailing pad bits are zero

Invariants (each a property test in ``tests/unit/test_ids.py``):
- ``decode_id(encode_id(n, b)) == DecodedId(n, b)`` for every table number ``1 <= n < 2**32`` and every
  16-byte ``b``; text lengths are 31 chars (n < 2**7), 32 (< 2**14), 34 (< 2**21), 36 (< 2**28), 37.
- ``decode_id`` is one-to-one: it accepts a string only if re-encoding what it decoded gives the same
  string back (checked as "pad bits zero and VInt minimal", which is equivalent), so each id has exactly one spelling (no uppercase, no non-zero pad bits, no over-long
  VInt). Everything it rejects raises ``InvalidIdError`` and nothing else.
- ``IdGenerator`` output is a pure function of its RNG's state and the ``now_ms`` arguments.
- The only module-level mutable state is a bounded LRU memo of successful decodes (``decode_id`` is a
  pure function, and ``table_number_of`` runs on every ``get``).
"""
from __future__ import annotations

import functools
import math
import random
from operator import mul as _mul
from dataclasses import dataclass
from typing import Any

from engine.model.errors import InvalidIdError

#: Kernel ABI (``engine._impl``): the Cython twin ``engine._native.ids`` must declare the same string.
ABI = "ids/1"

__all__ = [
    "ABI", "ALPHABET", "MAX_TABLE_NUMBER", "ID_LENGTHS", "DecodedId", "encode_id", "decode_id", "table_number_of",
    "is_valid_id", "fletcher16", "IdGenerator", "MS_PER_DAY",
]

#: Crockford base32, lowercase: digits, then letters without i, l, o, u.
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Python's int(x, 32) reads the digits "0-9a-v"; translating Crockford to those digits lets the C
# parser do the bit packing (MSB first), after the alphabet has been checked.
_TO_INT_DIGITS = str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuv")
_ALPHABET_SET = frozenset(ALPHABET)

#: Largest table number (u32); 0 is not a table number.
MAX_TABLE_NUMBER = (1 << 32) - 1
_INTERNAL_LEN = 16
_RANDOM_LEN = 14
_FOOTER_LEN = 2
_VERSION = 0
MS_PER_DAY = 86_400_000

#: Text length of an id by VInt length (1..5 bytes) -> ceil((vint + 18) * 8 / 5).
ID_LENGTHS = {1: 31, 2: 32, 3: 34, 4: 36, 5: 37}
_VALID_TEXT_LENGTHS = frozenset(ID_LENGTHS.values())
# base32 text length -> (byte length, number of zero pad bits at the end of the last character).
_TEXT_SHAPE = {n: (n * 5 // 8, n * 5 - (n * 5 // 8) * 8) for n in _VALID_TEXT_LENGTHS}


def _base32(raw: bytes) -> str:
    """Crockford base32 of *raw*, MSB-first, no padding, zero pad bits. O(len)."""
    pad = -len(raw) * 8 % 5
    n = int.from_bytes(raw, "big") << pad
    chars = (len(raw) * 8 + pad) // 5
    return "".join([ALPHABET[(n >> shift) & 31] for shift in range(5 * (chars - 1), -1, -5)])


@dataclass(frozen=True, slots=True)
class DecodedId:
    """A decoded id: the table number and the 16-byte internal id."""

    table_number: int
    internal: bytes

    @property
    def days_since_epoch(self) -> int:
        """The creation day stored in the last two bytes of the internal id."""
        return int.from_bytes(self.internal[_RANDOM_LEN:], "big")


# _WEIGHTS[n] = (n, n-1, ..., 1): byte i of an n-byte input is added into c1 (n - i) times.
_WEIGHTS = {n: tuple(range(n, 0, -1)) for n in range(1, 24)}


def fletcher16(data: bytes) -> int:
    """Fletcher-16 with both sums mod 256 (as the id format defines it), ``c1 << 8 | c0``. O(len)."""
    # Computed in closed form: c0 = sum(b_i), c1 = sum((n - i) * b_i), both mod 256, which equals the
    # running-sum definition ``c0 += b; c1 += c0`` (the twin runs the sums).
    n = len(data)
    weights = _WEIGHTS.get(n) or range(n, 0, -1)
    return ((sum(map(_mul, data, weights)) & 0xFF) << 8) | (sum(data) & 0xFF)


def _vint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _check_table_number(table_number: object) -> int:
    if type(table_number) is not int:
        raise InvalidIdError(f"table number must be an int, got {type(table_number).__name__}")
    if not 1 <= table_number <= MAX_TABLE_NUMBER:
        raise InvalidIdError(f"table number {table_number} is outside 1..{MAX_TABLE_NUMBER}")
    return table_number


def encode_id(table_number: int, internal: bytes) -> str:
    """The text id for (*table_number*, *internal*). O(1).

    *table_number* must be an int in ``1..MAX_TABLE_NUMBER``; *internal* must be exactly 16 bytes.
    Raises ``InvalidIdError`` otherwise.
    """
    _check_table_number(table_number)
    if not isinstance(internal, (bytes, bytearray)) or len(internal) != _INTERNAL_LEN:
        raise InvalidIdError(f"internal id must be {_INTERNAL_LEN} bytes, got {internal!r:.60}")
    body = _vint(table_number) + bytes(internal)
    raw = body + (fletcher16(body) ^ _VERSION).to_bytes(2, "little")
    return _base32(raw)


def decode_id(s: str) -> DecodedId:
    """Decode a text id. O(len(s)), and O(1) work for strings of the wrong length.

    Raises ``InvalidIdError`` (and nothing else) with a message saying what is wrong: not a str, a
    length that no id has, a character outside the lowercase Crockford alphabet, a malformed or too
    large table number, table number 0, a bad checksum, or a non-canonical spelling.
    """
    if not isinstance(s, str):
        raise InvalidIdError(f"a document id must be a string, got {type(s).__name__}")
    n = len(s)
    if n not in _VALID_TEXT_LENGTHS:
        shown = s if n <= 40 else s[:37] + "..."
        raise InvalidIdError(
            f"invalid document id {shown!r}: {n} characters; ids are 31, 32, 34, 36 or 37 characters long")
    return _decode_checked_length(s)


@functools.lru_cache(maxsize=8192)  # pure function of s; failures are not cached (they raise)
def _decode_checked_length(s: str) -> DecodedId:
    n = len(s)
    if not _ALPHABET_SET.issuperset(s):
        bad = next(c for c in s if c not in _ALPHABET_SET)
        raise InvalidIdError(
            f"invalid document id {s!r}: character {bad!r} is not in the id alphabet "
            f"(lowercase Crockford base32 {ALPHABET!r})")
    nbytes, pad_bits = _TEXT_SHAPE[n]
    bits = int(s.translate(_TO_INT_DIGITS), 32)
    if bits & ((1 << pad_bits) - 1):
        raise InvalidIdError(f"invalid document id {s!r}: not the canonical spelling of the id it encodes "
                             "(non-zero padding bits)")
    raw = (bits >> pad_bits).to_bytes(nbytes, "big")
    # VInt table number.
    table_number = 0
    pos = 0
    while True:
        if pos >= 5:
            raise InvalidIdError(f"invalid document id {s!r}: the table number takes more than 5 bytes")
        b = raw[pos]
        table_number |= (b & 0x7F) << (7 * pos)
        pos += 1
        if b < 0x80:
            break
    if table_number > MAX_TABLE_NUMBER:
        raise InvalidIdError(f"invalid document id {s!r}: table number {table_number} does not fit in 32 bits")
    if table_number == 0:
        raise InvalidIdError(f"invalid document id {s!r}: table number 0 is not a table")
    if pos + _INTERNAL_LEN + _FOOTER_LEN != len(raw):
        raise InvalidIdError(
            f"invalid document id {s!r}: {n} characters do not fit a {pos}-byte table number "
            f"(expected {ID_LENGTHS[pos]})")
    body = raw[:-_FOOTER_LEN]
    footer = int.from_bytes(raw[-_FOOTER_LEN:], "little")
    if footer != fletcher16(body) ^ _VERSION:
        raise InvalidIdError(f"invalid document id {s!r}: checksum mismatch (mistyped or truncated id?)")
    # One spelling per id: the text is a bijection of the bytes once the pad bits are zero (checked
    # above), and the bytes are the canonical encoding once the VInt is minimal (no trailing 0x00 group).
    # Together these equal "re-encoding gives s back".
    if pos > 1 and raw[pos - 1] == 0:
        raise InvalidIdError(f"invalid document id {s!r}: not the canonical spelling of the id it encodes "
                             "(over-long table number)")
    return DecodedId(table_number, body[pos:])


def table_number_of(s: str) -> int:
    """The table number inside id *s*. Same cost and errors as ``decode_id``."""
    return decode_id(s).table_number


def is_valid_id(s: object) -> bool:
    """True iff ``decode_id(s)`` would succeed (any object may be passed). Same cost as ``decode_id``."""
    try:
        decode_id(s)  # type: ignore[arg-type]
    except InvalidIdError:
        return False
    return True


class IdGenerator:
    """Makes new ids from an injected RNG.

    Deterministic: two generators built on RNGs in the same state, asked for the same
    (table_number, now_ms) sequence, return the same ids. Not thread-safe (neither is the RNG).
    *codec* is the id kernel whose ``encode_id`` spells the ids (this module, or its twin
    ``engine._native.ids``: the same text either way).
    """

    __slots__ = ("_rng", "_encode")

    def __init__(self, rng: random.Random, codec: Any = None) -> None:
        if not isinstance(rng, random.Random):
            raise TypeError(f"IdGenerator needs a random.Random (seeded by the caller), got {type(rng).__name__}")
        self._rng = rng
        self._encode = encode_id if codec is None else codec.encode_id

    def new_id(self, table_number: int, now_ms: float) -> str:
        """A fresh id in table *table_number* created at *now_ms* (ms since the Unix epoch).

        Consumes 14 random bytes; the day number ``int(now_ms // 86_400_000)`` is clamped to 0..65535.
        Raises ``InvalidIdError`` for a bad table number and ``ValueError`` for a non-finite *now_ms*.
        O(1).
        """
        _check_table_number(table_number)
        if not math.isfinite(now_ms):
            raise ValueError(f"now_ms must be a finite number of milliseconds, got {now_ms!r}")
        days = min(max(int(now_ms // MS_PER_DAY), 0), 0xFFFF)
        internal = self._rng.randbytes(_RANDOM_LEN) + days.to_bytes(2, "big")
        return self._encode(table_number, internal)
