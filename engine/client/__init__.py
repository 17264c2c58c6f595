"""Ripple's Python client for the Convex sync protocol (asyncio): ``RippleClient``.

Who may call it: anyone. It depends on ``engine.protocol`` (the wire protocol, shared with the server),
``engine.model.values`` and ``engine.model.errors``, plus the ``websockets`` package (the ``server`` extra), so it
runs against any Ripple or Convex-protocol server. See ``engine.client.sync_client`` for the guarantees;
timestamps in its records (``TransitionInfo.end_ts``, ``Subscription.ts``) are wire nanoseconds, which
``engine.protocol.encode_ts_ns`` / ``decode_ts_ns`` convert.
"""
from engine.client.sync_client import (CallResult, ClientClosed, ClientError, ClientStats, ConnectionLost, ConvexError,
                                       FunctionCallError, RippleClient, Subscription, TransitionInfo, sync_url)

__all__ = ["RippleClient", "Subscription", "TransitionInfo", "CallResult", "ClientStats", "ClientError", "FunctionCallError",
           "ConnectionLost", "ClientClosed", "ConvexError", "sync_url"]
