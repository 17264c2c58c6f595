# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython twin of ``engine.ids`` (document ids, Convex "id v6"): ``encode_id``, ``decode_id``,
``table_number_of``, ``is_valid_id`` and ``fletcher16``, byte-for-byte and error-for-error the
reference's (the format, its invariants and every message are specified there).

Who may call it: whoever the database hands it to through ``engine._impl`` (kernel ``ids``): the id
generator (``IdGenerator(rng, codec=...)``) and transactions (``table_number_of`` on every ``get``).

Why a twin: an insert encodes one id and every point read decodes one; in the reference each is a few
microseconds of Python big-int arithmetic. Here both are one pass over at most 23 bytes / 37 characters
on the stack. ``DecodedId`` and ``IdGenerator`` are the reference's classes (re-exported), so decoded
values compare equal across twins and a generator takes either twin as its ``codec``.
There is no decode memo: decoding is cheaper than a cache lookup would be.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from engine.ids import ALPHABET, ID_LENGTHS, MAX_TABLE_NUMBER, MS_PER_DAY, DecodedId, IdGenerator
from engine.model.errors import InvalidIdError

ABI = "ids/1"

__all__ = [
    "ABI", "ALPHABET", "MAX_TABLE_NUMBER", "ID_LENGTHS", "DecodedId", "encode_id", "decode_id", "table_number_of",
    "is_valid_id", "fletcher16", "IdGenerator", "MS_PER_DAY",
]

cdef const char* _ALPHA = b"0123456789abcdefghjkmnpqrstvwxyz"
cdef int _INTERNAL_LEN = 16
cdef int _FOOTER_LEN = 2
cdef int _VERSION = 0
# Crockford character -> 5-bit value, -1 outside the (lowercase) alphabet.
cdef signed char _VALUE[128]


cdef void _init_values() noexcept:
    cdef int i
    for i in range(128):
        _VALUE[i] = -1
    for i in range(32):
        _VALUE[<unsigned char>_ALPHA[i]] = i


_init_values()


cdef inline int _fletcher(const uint8_t* data, Py_ssize_t n) noexcept:
    cdef uint32_t c0 = 0, c1 = 0
    cdef Py_ssize_t i
    for i in range(n):
        c0 = (c0 + data[i]) & 0xFF
        c1 = (c1 + c0) & 0xFF
    return <int>((c1 << 8) | c0)


def fletcher16(data):
    """Fletcher-16 with both sums mod 256 (as the id format defines it), ``c1 << 8 | c0``. O(len)."""
    cdef const uint8_t[:] view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    if view.shape[0] == 0:
        return 0
    return _fletcher(&view[0], view.shape[0])


cdef object _check_table_number(object table_number):
    if type(table_number) is not int:
        raise InvalidIdError(f"table number must be an int, got {type(table_number).__name__}")
    if not 1 <= table_number <= MAX_TABLE_NUMBER:
        raise InvalidIdError(f"table number {table_number} is outside 1..{MAX_TABLE_NUMBER}")
    return table_number


def encode_id(table_number, internal):
    """The text id for (*table_number*, *internal*). O(1).

    *table_number* must be an int in ``1..MAX_TABLE_NUMBER``; *internal* must be exactly 16 bytes.
    Raises ``InvalidIdError`` otherwise.
    """
    cdef uint8_t raw[23]
    cdef char text[40]
    cdef Py_ssize_t n = 0, i, j
    cdef uint64_t t
    cdef int fl, shift
    cdef uint32_t acc = 0, nbits = 0
    cdef const uint8_t[:] view
    _check_table_number(table_number)
    if not isinstance(internal, (bytes, bytearray)) or len(internal) != _INTERNAL_LEN:
        raise InvalidIdError(f"internal id must be {_INTERNAL_LEN} bytes, got {internal!r:.60}")
    t = <uint64_t>table_number
    while t >= 0x80:
        raw[n] = <uint8_t>((t & 0x7F) | 0x80)
        n += 1
        t >>= 7
    raw[n] = <uint8_t>t
    n += 1
    view = internal
    for i in range(_INTERNAL_LEN):
        raw[n + i] = view[i]
    n += _INTERNAL_LEN
    fl = _fletcher(raw, n) ^ _VERSION
    raw[n] = <uint8_t>(fl & 0xFF)
    raw[n + 1] = <uint8_t>(fl >> 8)
    n += 2
    # base32, most significant bit first, zero pad bits at the end.
    i = 0
    for j in range(n):
        acc = (acc << 8) | raw[j]
        nbits += 8
        while nbits >= 5:
            nbits -= 5
            text[i] = _ALPHA[(acc >> nbits) & 31]
            i += 1
        acc &= ((<uint32_t>1) << nbits) - 1
    if nbits:
        text[i] = _ALPHA[(acc << (5 - nbits)) & 31]
        i += 1
    return text[:i].decode("ascii")


cdef object _decode(str s, bint want_number):
    """Decode *s* (any length): the ``DecodedId`` (or, with *want_number*, just the table number)."""
    cdef Py_ssize_t n = len(s), i, nbytes, pad_bits, pos
    cdef uint8_t raw[24]
    cdef uint32_t acc = 0, nbits = 0
    cdef Py_UCS4 c
    cdef int v, b
    cdef uint64_t table_number = 0
    if n != 31 and n != 32 and n != 34 and n != 36 and n != 37:
        shown = s if n <= 40 else s[:37] + "..."
        raise InvalidIdError(
            f"invalid document id {shown!r}: {n} characters; ids are 31, 32, 34, 36 or 37 characters long")
    nbytes = n * 5 // 8
    pad_bits = n * 5 - nbytes * 8
    pos = 0
    for i in range(n):
        c = s[i]
        v = _VALUE[c] if c < 128 else -1
        if v < 0:
            raise InvalidIdError(
                f"invalid document id {s!r}: character {c!r} is not in the id alphabet "
                f"(lowercase Crockford base32 {ALPHABET!r})")
        acc = (acc << 5) | <uint32_t>v
        nbits += 5
        if nbits >= 8 and pos < nbytes:
            nbits -= 8
            raw[pos] = <uint8_t>((acc >> nbits) & 0xFF)
            pos += 1
            acc &= ((<uint32_t>1) << nbits) - 1
    if acc & (((<uint32_t>1) << pad_bits) - 1):
        raise InvalidIdError(f"invalid document id {s!r}: not the canonical spelling of the id it encodes "
                             "(non-zero padding bits)")
    pos = 0
    while True:
        if pos >= 5:
            raise InvalidIdError(f"invalid document id {s!r}: the table number takes more than 5 bytes")
        b = raw[pos]
        table_number |= (<uint64_t>(b & 0x7F)) << (7 * pos)
        pos += 1
        if b < 0x80:
            break
    if table_number > <uint64_t>MAX_TABLE_NUMBER:
        raise InvalidIdError(f"invalid document id {s!r}: table number {table_number} does not fit in 32 bits")
    if table_number == 0:
        raise InvalidIdError(f"invalid document id {s!r}: table number 0 is not a table")
    if pos + _INTERNAL_LEN + _FOOTER_LEN != nbytes:
        raise InvalidIdError(
            f"invalid document id {s!r}: {n} characters do not fit a {pos}-byte table number "
            f"(expected {ID_LENGTHS[pos]})")
    if (raw[nbytes - 2] | (raw[nbytes - 1] << 8)) != (_fletcher(raw, nbytes - 2) ^ _VERSION):
        raise InvalidIdError(f"invalid document id {s!r}: checksum mismatch (mistyped or truncated id?)")
    if pos > 1 and raw[pos - 1] == 0:
        raise InvalidIdError(f"invalid document id {s!r}: not the canonical spelling of the id it encodes "
                             "(over-long table number)")
    if want_number:
        return <object>table_number
    return DecodedId(<object>table_number, (<char*>raw)[pos:nbytes - 2])


def decode_id(s):
    """Decode a text id. O(len(s)), and O(1) work for strings of the wrong length.

    Raises ``InvalidIdError`` (and nothing else) with a message saying what is wrong: not a str, a
    length that no id has, a character outside the lowercase Crockford alphabet, a malformed or too
    large table number, table number 0, a bad checksum, or a non-canonical spelling.
    """
    if not isinstance(s, str):
        raise InvalidIdError(f"a document id must be a string, got {type(s).__name__}")
    return _decode(s, False)


def table_number_of(s):
    """The table number inside id *s*. Same cost and errors as ``decode_id``."""
    if not isinstance(s, str):
        raise InvalidIdError(f"a document id must be a string, got {type(s).__name__}")
    return _decode(s, True)


def is_valid_id(s):
    """True iff ``decode_id(s)`` would succeed (any object may be passed). Same cost as ``decode_id``."""
    if not isinstance(s, str):
        return False
    try:
        _decode(s, True)
    except InvalidIdError:
        return False
    return True
