"""Function arguments and results as they travel (``docs/protocol.md`` §9): Convex JSON, arguments as a
one-element array, results in the requested format.

Who may call it: the server (``engine.server.sync``, ``engine.server.http_api``), the client
(``engine.client.sync_client``). It imports only the value codec ``engine.model.values`` and
``engine.model.errors`` (the standard-library-only model layer), never the web stack.

Invariants: a malformed argument *shape* is the caller's function error (``InvalidValueError``, which
the server reports as ``QueryFailed`` or a failed response), not a protocol violation: the official
clients treat a function error as recoverable and a ``FatalError`` as the end of the client.
"""
from __future__ import annotations

from typing import Any

from engine.model.errors import InvalidValueError
from engine.model.values import from_json, to_clean_json, to_json

CONVEX_JSON_FORMAT = "convex_encoded_json"
"""The ``format`` value asking for Convex JSON results (anything else: clean JSON, §10)."""


def args_to_wire(args: dict | None) -> list:
    """An arguments object -> what the sync protocol sends: ``[<Convex JSON object>]``; O(size)."""
    return [to_json(args or {})]


def args_from_wire(args: Any) -> dict:
    """Convex-JSON args as sent: ``[ {...} ]`` (sync, npm HTTP) or ``{...}`` (Python HTTP); ``None`` is
    ``{}``. Raises ``InvalidValueError`` for another count or a non-object; O(size)."""
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
    return to_json(value) if fmt == CONVEX_JSON_FORMAT else to_clean_json(value)


__all__ = ["CONVEX_JSON_FORMAT", "args_to_wire", "args_from_wire", "encode_value"]
