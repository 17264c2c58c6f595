"""The Convex sync protocol as Ripple speaks it, defined once for the server and the client
(``docs/protocol.md``).

Who may call it: ``engine.server``, ``engine.client``, tests, tools. One job per module:

- ``timestamps``: wire timestamps (u64 ns as padded base64) and the engine-HLC mapping.
- ``limits``: message sizes, counts and keepalive intervals, with their units in their names.
- ``messages``: message type names, the state version, and the checks on received messages.
- ``payloads``: function arguments and results in Convex JSON.
- ``errors``: ``ProtocolError``.

Invariant: nothing here imports the web stack (starlette, uvicorn, websockets, watchfiles) or any engine
package other than the model layer's ``engine.model.values`` / ``engine.model.errors`` (only ``payloads`` does);
``timestamps``, ``limits``, ``messages`` and ``errors`` use the standard library alone.
"""
from engine.protocol.errors import ProtocolError
from engine.protocol.limits import *  # noqa: F403 - the constants are the API
from engine.protocol.limits import __all__ as _limits_all
from engine.protocol.messages import *  # noqa: F403
from engine.protocol.messages import __all__ as _messages_all
from engine.protocol.payloads import *  # noqa: F403
from engine.protocol.payloads import __all__ as _payloads_all
from engine.protocol.timestamps import *  # noqa: F403
from engine.protocol.timestamps import __all__ as _timestamps_all

__all__ = ["ProtocolError", *_limits_all, *_messages_all, *_payloads_all, *_timestamps_all]
