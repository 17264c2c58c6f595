"""Wire formats of the Convex protocol (see ``convex-protocol.md``), pure functions only.

Timestamps: the engine's HLC value ``(physical ms << 16) | logical`` maps to the protocol's u64
"nanoseconds" as ``ms * 1_000_000 + logical`` (logical < 65536 < 10^6), which preserves order and is
invertible; on the wire it is standard base64 of the 8 little-endian bytes, padded.
"""
from __future__ import annotations

import base64
import json
import struct
from typing import Any

from engine.model.errors import InvalidValueError
from engine.model.values import from_json, to_clean_json, to_json

ZERO_TS = "AAAAAAAAAAA="
MAX_MESSAGE_BYTES = 16 * 1024 * 1024 + 2000


class ProtocolError(ValueError):
    """A client broke the protocol (not a function error): the session reports it and closes."""


def hlc_to_wire_ns(ts: int) -> int:
    return (int(ts) >> 16) * 1_000_000 + (int(ts) & 0xFFFF)


def wire_ns_to_hlc(ns: int) -> int:
    ms, logical = divmod(int(ns), 1_000_000)
    if logical > 0xFFFF:  # a wall-clock ns value we did not produce: round down to its millisecond
        logical = 0xFFFF
    return (ms << 16) | logical


def encode_ts(ts: int) -> str:
    return base64.b64encode(struct.pack("<Q", hlc_to_wire_ns(ts))).decode()


def decode_ts(text: Any) -> int:
    """Wire ts (base64 of 8 LE bytes) -> engine HLC ts. Raises ProtocolError when malformed."""
    try:
        raw = base64.b64decode(text, validate=True)
        (ns,) = struct.unpack("<Q", raw)
    except (TypeError, ValueError, struct.error, base64.binascii.Error):
        raise ProtocolError(f"malformed timestamp {text!r}: expected base64 of 8 little-endian bytes") from None
    return wire_ns_to_hlc(ns)


def args_from_wire(args: Any) -> dict:
    """Convex-JSON args as sent: ``[ {...} ]`` (sync, npm HTTP) or ``{...}`` (Python HTTP)."""
    if isinstance(args, list):
        if len(args) != 1:
            raise InvalidValueError(f"expected exactly one argument object, got {len(args)} arguments")
        args = args[0]
    if args is None:
        args = {}
    value = from_json(args)
    if not isinstance(value, dict):
        raise InvalidValueError(f"function arguments must be an object, got {type(value).__name__}")
    return value


def encode_value(value: Any, fmt: str | None) -> Any:
    """A result in the requested format: Convex JSON, or the clean JSON of ``format: "json"``."""
    return to_json(value) if fmt == "convex_encoded_json" else to_clean_json(value)


def dumps(msg: dict) -> str:
    return json.dumps(msg, separators=(",", ":"), allow_nan=False)
