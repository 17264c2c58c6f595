"""The one error of the sync protocol layer: ``ProtocolError``.

Who may call it: ``engine.protocol`` (raises it), the server and the client (catch it). Standard library
only. A ``ProtocolError`` means a peer broke the wire contract (``docs/protocol.md``): the server answers
it with ``FatalError`` and a close, the client drops the socket and reconnects. It is never a function
error: those travel as failed responses and ``QueryFailed``.
"""
from __future__ import annotations


class ProtocolError(ValueError):
    """A message, field or timestamp that the protocol does not allow; the text names the problem."""


__all__ = ["ProtocolError"]
