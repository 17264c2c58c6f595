"""Sizes, counts and intervals of the sync protocol (``docs/protocol.md`` §7, §8), units in every name.

Who may call it: the server (``engine.server``), the client (``engine.client``), tests. Standard library
only; constants, no behaviour. Each limit exists because an official client or the Convex backend
behaves that way; the section of ``docs/protocol.md`` that explains it is named next to it.
"""
from __future__ import annotations

MIB = 1024 * 1024

# ---- sizes (§8) -------------------------------------------------------------------------------------

MAX_CLIENT_MESSAGE_BYTES = 16 * MIB + 2000
"""What the server accepts in one client->server WebSocket message and in one HTTP request body
(16 MiB of function arguments plus room for the envelope)."""

MAX_SERVER_MESSAGE_BYTES = 64 * MIB
"""What a client accepts in one server->client message: the Rust/Python client's limit, which our client
uses too (so a Transition that breaks it breaks ours first)."""

MAX_CLOSE_REASON_BYTES = 123
"""A WebSocket close reason is at most 123 bytes of UTF-8 (RFC 6455: 125 minus the 2-byte code)."""

# ---- counts (§5) -------------------------------------------------------------------------------------

MAX_QUEUED_MUTATIONS = 1000
"""Mutations one socket may have queued on the server; past it a mutation fails with
``TooManyConcurrentMutations``."""

# ---- intervals (§7) ------------------------------------------------------------------------------------

SERVER_PING_IDLE_MS = 15_000
"""The server sends ``{"type":"Ping"}`` after this long with nothing sent (npm reconnects after 60 s
without an application message)."""

SERVER_WS_PING_INTERVAL_MS = 5_000
"""The server sends WebSocket ping frames this often (the Rust/Python client reconnects after 30 s
without any frame)."""

SERVER_WS_PONG_TIMEOUT_MS = 120_000
"""The server drops a client whose pong has not arrived this long after a ping."""

CLIENT_INACTIVITY_TIMEOUT_MS = 60_000
"""A client that received nothing for this long reconnects with reason ``InactiveServer`` (npm's
value; the server's pings keep a healthy connection well inside it)."""

__all__ = ["MIB", "MAX_CLIENT_MESSAGE_BYTES", "MAX_SERVER_MESSAGE_BYTES", "MAX_CLOSE_REASON_BYTES",
           "MAX_QUEUED_MUTATIONS", "SERVER_PING_IDLE_MS", "SERVER_WS_PING_INTERVAL_MS", "SERVER_WS_PONG_TIMEOUT_MS",
           "CLIENT_INACTIVITY_TIMEOUT_MS"]
