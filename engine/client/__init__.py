"""Ripple's Python client for the Convex sync protocol (asyncio): ``RippleClient``.

Who may call it: anyone. It depends on ``engine.model.values`` and ``engine.model.errors`` only (plus the
``websockets`` package), so it runs against any Ripple or Convex-protocol server. See
``engine.client.sync_client`` for the guarantees.
"""
from engine.client.sync_client import (CallResult, ClientClosed, ClientError, ClientStats, ConnectionLost, ConvexError,
                                       FunctionCallError, RippleClient, Subscription, TransitionInfo, decode_ts,
                                       encode_ts, sync_url)

__all__ = ["RippleClient", "Subscription", "TransitionInfo", "CallResult", "ClientStats", "ClientError", "FunctionCallError",
           "ConnectionLost", "ClientClosed", "ConvexError", "decode_ts", "encode_ts", "sync_url"]
