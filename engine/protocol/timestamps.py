"""Protocol timestamps (``docs/protocol.md`` §2): u64 nanoseconds, sent as padded base64 of 8 LE bytes.

Who may call it: the server, the client, tests, tools. Standard library only.

Two units meet here, and every name says which it takes:

- *wire ns*: the protocol's u64 "nanoseconds since the epoch" (at most ``2**63 - 1``), what both
  official clients compare. ``encode_ts_ns`` / ``decode_ts_ns`` convert it to and from the 12-character
  text form.
- *HLC*: the engine's commit timestamp ``(physical ms << 16) | logical``. It maps to wire ns as
  ``ms * 1_000_000 + logical``; ``logical < 2**16 < 10**6``, so the map is strictly increasing and
  invertible on everything the server produces. ``encode_hlc`` / ``decode_hlc`` go straight between an
  HLC value and the text form.

Invariants: ``decode_ts_ns(encode_ts_ns(n)) == n`` for every ``0 <= n < 2**63``; decoding accepts only
the canonical text (the one ``encode_ts_ns`` writes), so two timestamps are equal exactly when their
texts are, and anything else raises ``ProtocolError``. Every function here is O(1).
"""
from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

from engine.protocol.errors import ProtocolError

MAX_TS_NS = 2**63 - 1
"""The largest wire timestamp (i64::MAX, as the Convex backend allows)."""

ZERO_TS = "AAAAAAAAAAA="
"""Wire ns 0: the ``ts`` of the initial state version every socket starts from."""

_TS_TEXT_CHARS = 12  # base64 of 8 bytes, padded


def encode_ts_ns(ns: int) -> str:
    """Wire ns -> text. Raises ``ProtocolError`` outside ``0 <= ns <= MAX_TS_NS``."""
    ns = int(ns)
    if not 0 <= ns <= MAX_TS_NS:
        raise ProtocolError(f"timestamp {ns} is outside 0..2^63-1 nanoseconds")
    return base64.b64encode(struct.pack("<Q", ns)).decode("ascii")


def decode_ts_ns(text: Any) -> int:
    """Text -> wire ns. Raises ``ProtocolError`` unless *text* is the canonical padded base64 of 8
    little-endian bytes holding at most ``MAX_TS_NS``."""
    if not isinstance(text, str) or len(text) != _TS_TEXT_CHARS:
        raise ProtocolError(f"malformed timestamp {text!r}: expected base64 of 8 little-endian bytes")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"malformed timestamp {text!r}: expected base64 of 8 little-endian bytes") from None
    if len(raw) != 8:
        raise ProtocolError(f"malformed timestamp {text!r}: expected base64 of 8 little-endian bytes")
    (ns,) = struct.unpack("<Q", raw)
    if ns > MAX_TS_NS:
        raise ProtocolError(f"malformed timestamp {text!r}: over 2^63-1 nanoseconds")
    if base64.b64encode(raw).decode("ascii") != text:  # unused low bits set: not the canonical form
        raise ProtocolError(f"malformed timestamp {text!r}: not canonical base64")
    return ns


def hlc_to_ts_ns(hlc: int) -> int:
    """Engine HLC -> wire ns (``ms * 10^6 + logical``), strictly increasing."""
    hlc = int(hlc)
    return (hlc >> 16) * 1_000_000 + (hlc & 0xFFFF)


def ts_ns_to_hlc(ns: int) -> int:
    """Wire ns -> engine HLC; inverse of ``hlc_to_ts_ns``. A value we did not produce (a wall-clock ns
    reading with more than 65535 ns past its millisecond) rounds down to the last HLC of its millisecond,
    which keeps the map monotone."""
    ms, logical = divmod(int(ns), 1_000_000)
    return (ms << 16) | min(logical, 0xFFFF)


def encode_hlc(hlc: int) -> str:
    """Engine HLC -> text."""
    return encode_ts_ns(hlc_to_ts_ns(hlc))


def decode_hlc(text: Any) -> int:
    """Text -> engine HLC. Raises ``ProtocolError`` when malformed."""
    return ts_ns_to_hlc(decode_ts_ns(text))


__all__ = ["MAX_TS_NS", "ZERO_TS", "encode_ts_ns", "decode_ts_ns", "hlc_to_ts_ns", "ts_ns_to_hlc", "encode_hlc",
           "decode_hlc"]
