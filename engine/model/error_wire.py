"""The wire form of engine errors: what crosses the sandbox boundary when a function or a syscall fails.

Role: turn an exception into a plain payload ``{"code", "message"}`` (plus ``"data"`` in Convex JSON
for a ``ConvexError``) and back. Both sides of the boundary use it: the hosts (``udf_wasm``, the
reference host) encode syscall failures and decode function failures; the guest SDK does the reverse.

Who may call it: the function hosts, the syscall layer and the SDK. Standard library and
``engine.model`` only (the wasm guest bundles it). It sits above ``errors`` and ``values``, which is
what keeps those two independent of each other.

Invariants:
- ``error_from_payload(error_payload(e))`` has the class of *e* for every class in
  ``REBUILDABLE_ERRORS``, ``ConvexError`` (data round-trips through Convex JSON) and
  ``InvalidValueError``; any other engine error comes back as ``SyscallError`` with its class name as
  ``code``. A non-engine exception becomes code ``Uncaught``.
- Both functions are pure; the caller serialises the payload.
"""
from __future__ import annotations

from typing import Any

from engine.model.errors import (ConvexError, DocumentNotFoundError, FunctionError, IndexKeyTooLargeError,
                                 InvalidIdError, InvalidValueError, QueryError, ReadOnlyError, RippleError,
                                 SyscallError, UnknownIndexError, UnknownTableError)
from engine.model.values import from_json, to_json

#: Engine errors the guest can rebuild by class name from a syscall failure, so user code may catch the
#: specific class in both hosts. Others arrive as SyscallError with the class name as ``code``.
REBUILDABLE_ERRORS: dict[str, type[RippleError]] = {
    cls.__name__: cls
    for cls in (InvalidIdError, UnknownTableError, UnknownIndexError, DocumentNotFoundError, ReadOnlyError,
                QueryError, IndexKeyTooLargeError)
}


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The wire form of an error: ``{"code", "message"}`` plus ``"data"`` (Convex JSON) for ConvexError.

    O(size of the ConvexError data); O(1) otherwise."""
    if isinstance(exc, ConvexError):
        return {"code": "ConvexError", "message": str(exc), "data": to_json(exc.data)}
    if isinstance(exc, SyscallError):
        return {"code": exc.code, "message": exc.message}
    if isinstance(exc, FunctionError):
        return {"code": exc.code, "message": exc.message}
    if isinstance(exc, RippleError):
        return {"code": type(exc).__name__, "message": str(exc)}
    return {"code": "Uncaught", "message": f"{type(exc).__name__}: {exc}"}


def error_from_payload(payload: dict[str, Any]) -> RippleError:
    """Rebuild the exception a payload describes (inverse of ``error_payload`` up to class: engine errors
    with extra constructor data come back as ``SyscallError`` carrying their class name as ``code``).

    Missing keys default to code ``Uncaught`` and an empty message. A malformed ``data`` raises
    ``InvalidValueError`` from ``from_json``."""
    code = str(payload.get("code", "Uncaught"))
    message = str(payload.get("message", ""))
    if code == "ConvexError":
        return ConvexError(from_json(payload.get("data")))
    cls = REBUILDABLE_ERRORS.get(code)
    if cls is not None:
        return cls(message)
    if code == "InvalidValueError":
        return InvalidValueError(message)
    return SyscallError(code, message)
