"""Sync protocol messages (``docs/protocol.md`` §3, §4): their type names, the state version, and the
checks both ends run on what they receive.

Who may call it: the server (``engine.server.sync``, ``engine.server.query_hub``), the client
(``engine.client.sync_client``), tests. Standard library only.

Invariants:

- Type names are ``StrEnum`` members, so they compare, hash and serialize exactly as the strings on the
  wire (``ClientMessage.CONNECT == "Connect"``; ``json.dumps`` writes ``"Connect"``).
- Every ``parse_*`` function either returns a well-formed value or raises ``ProtocolError`` naming the
  field; none of them has side effects, and each is O(size of its input).
- ``dumps`` is the one serializer for outgoing messages: compact, and refusing NaN (the protocol carries
  special floats only as ``{"$float": ...}``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from engine.protocol.errors import ProtocolError
from engine.protocol.limits import MAX_CLOSE_REASON_BYTES
from engine.protocol.timestamps import decode_ts_ns, encode_ts_ns

MAX_U32 = 2**32 - 1


class ClientMessage(StrEnum):
    """``type`` of a client->server message (§3)."""

    CONNECT = "Connect"
    MODIFY_QUERY_SET = "ModifyQuerySet"
    MUTATION = "Mutation"
    ACTION = "Action"
    AUTHENTICATE = "Authenticate"
    EVENT = "Event"


class ServerMessage(StrEnum):
    """``type`` of a server->client message (§4). ``TransitionChunk`` exists in the protocol, but Ripple
    never sends it (the Rust/Python client treats it as an error) and its client refuses it."""

    TRANSITION = "Transition"
    MUTATION_RESPONSE = "MutationResponse"
    ACTION_RESPONSE = "ActionResponse"
    AUTH_ERROR = "AuthError"
    FATAL_ERROR = "FatalError"
    PING = "Ping"
    TRANSITION_CHUNK = "TransitionChunk"


class QuerySetChange(StrEnum):
    """``type`` of one entry of ``ModifyQuerySet.modifications`` (§3.2)."""

    ADD = "Add"
    REMOVE = "Remove"


class StateChange(StrEnum):
    """``type`` of one entry of ``Transition.modifications`` (§4.1)."""

    QUERY_UPDATED = "QueryUpdated"
    QUERY_FAILED = "QueryFailed"
    QUERY_REMOVED = "QueryRemoved"


class TokenType(StrEnum):
    """``tokenType`` of ``Authenticate`` (§3.5)."""

    ADMIN = "Admin"
    USER = "User"
    NONE = "None"


INITIAL_CLOSE_REASON = "InitialConnect"
"""``Connect.lastCloseReason`` on a client's first socket (§3.1)."""


@dataclass(frozen=True, slots=True)
class StateVersion:
    """``{"querySet", "identity", "ts"}`` (§4.1), with ``ts`` in wire ns. Ordered fields; equality is
    the protocol's "startVersion equals the previous endVersion" (timestamps decode canonically, so
    equal ns means equal text)."""

    query_set: int
    identity: int
    ts_ns: int

    def to_json(self) -> dict:
        return {"querySet": self.query_set, "identity": self.identity, "ts": encode_ts_ns(self.ts_ns)}

    def to_json_text(self) -> str:
        """The same object as compact JSON text (for Transitions assembled from pre-serialized parts)."""
        return state_version_text(self.query_set, self.identity, self.ts_ns)


ZERO_VERSION = StateVersion(0, 0, 0)
"""The version every socket starts from, on both ends."""


def state_version_text(query_set: int, identity: int, ts_ns: int) -> str:
    """Compact JSON of a state version; O(1). Field order as the Convex backend writes it."""
    return '{"querySet":%d,"identity":%d,"ts":"%s"}' % (query_set, identity, encode_ts_ns(ts_ns))


def parse_u32(value: Any, field: str) -> int:
    """A query id, request id or version number: a JSON integer in 0..2^32-1 (not a float, not a bool)."""
    if type(value) is not int or not 0 <= value <= MAX_U32:
        raise ProtocolError(f"{field} must be an integer in 0..2^32-1, got {value!r}")
    return value


def parse_state_version(obj: Any, field: str = "state version") -> StateVersion:
    """A received ``StateVersion`` object -> ``StateVersion``; extra keys are ignored (§1)."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"malformed {field} {obj!r}: expected an object")
    return StateVersion(parse_u32(obj.get("querySet"), f"{field}.querySet"),
                        parse_u32(obj.get("identity"), f"{field}.identity"),
                        decode_ts_ns(obj.get("ts")))


def parse_log_lines(msg: dict, what: str) -> list[str]:
    """``logLines`` of a response or a modification: required, a list of strings (§4.1)."""
    lines = msg.get("logLines")
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise ProtocolError(f"{what} without a valid logLines list")
    return lines


def parse_message(frame: Any) -> dict:
    """One received WebSocket frame -> the message object. Raises ``ProtocolError`` for a binary frame,
    text that is not JSON, or JSON that is not an object with a string ``type`` (§1.1)."""
    if not isinstance(frame, str):
        raise ProtocolError("binary frames are not part of the sync protocol; send JSON text frames")
    try:
        msg = json.loads(frame)
    except ValueError as exc:  # json.JSONDecodeError, and RecursionError's cousin for deep nesting
        raise ProtocolError(f"malformed message (not JSON): {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("malformed message: expected a JSON object with a string \"type\"")
    return msg


def dumps(msg: dict) -> str:
    """An outgoing message as compact JSON text."""
    return json.dumps(msg, separators=(",", ":"), allow_nan=False)


def truncate_close_reason(reason: str) -> str:
    """*reason* cut to at most ``MAX_CLOSE_REASON_BYTES`` of UTF-8, never inside a character."""
    return reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


__all__ = ["MAX_U32", "ClientMessage", "ServerMessage", "QuerySetChange", "StateChange", "TokenType",
           "INITIAL_CLOSE_REASON", "StateVersion", "ZERO_VERSION", "state_version_text", "parse_u32",
           "parse_state_version", "parse_log_lines", "parse_message", "dumps", "truncate_close_reason"]
