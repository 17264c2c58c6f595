"""Function registration and invocation (SDK side).

Decorators turn a handler ``fn(ctx, args)`` into a ``RegisteredFunction``: a record of kind, visibility
and validators, plus ``_ripple_invoke`` which a host calls with a bridge. Hosts discover functions by
the ``_ripple_function`` marker attribute, so the engine never imports this package.

Invariant: ``_ripple_invoke`` never raises for anything the user code does: it returns
``(True, result_json)`` or ``(False, error_json)``; only a broken bridge (a host bug) escapes.
"""
from __future__ import annotations

import json
import linecache
import traceback
from typing import Any, Callable

from engine.model.error_wire import error_payload
from engine.model.validator_json import validator_to_json
from engine.model.validators import Validator, v as _v
from engine.model.values import from_json, to_json

KINDS = ("query", "mutation", "action")
_MAX_STACK = 4096


def _as_validator(args: Any, where: str) -> Validator | None:
    if args is None:
        return None
    if isinstance(args, Validator):
        return args
    if isinstance(args, dict):
        return _v.object(args)
    raise TypeError(f"{where} must be a dict of validators or a validator, got {type(args).__name__}")


class RegisteredFunction:
    """A query, mutation or action as registered by a decorator. Not callable directly: hosts run it."""

    _ripple_function = True

    def __init__(self, handler: Callable[..., Any], kind: str, internal: bool, args: Any, returns: Any) -> None:
        if not callable(handler):
            raise TypeError(f"@{kind} needs a function, got {type(handler).__name__}")
        self.handler = handler
        self.kind = kind
        self.internal = internal
        self.args_validator = _as_validator(args, f"@{kind}(args=...)")
        self.returns_validator = _as_validator(returns, f"@{kind}(returns=...)")
        self.path: str | None = None  # set when a host loads the module
        self.__doc__ = handler.__doc__
        self.__name__ = getattr(handler, "__name__", "function")

    def __call__(self, *a: Any, **k: Any) -> Any:
        raise TypeError(f"{self.__name__} is a Ripple {self.kind}; call it through ctx.run_{self.kind}(...) "
                        "or the client, not directly")

    def describe(self, path: str) -> dict[str, Any]:
        return {
            "path": path, "kind": self.kind, "visibility": "internal" if self.internal else "public",
            "args": validator_to_json(self.args_validator) if self.args_validator is not None else None,
            "returns": validator_to_json(self.returns_validator) if self.returns_validator is not None else None,
        }

    def _ripple_invoke(self, kind: str, path: str, args_json: str, bridge: Any) -> tuple[bool, str]:
        """Run the handler with a context over *bridge*; ``(ok, json)``. Log capture is the caller's."""
        from ripple._capture import capture
        from ripple._context import make_context

        if kind != self.kind:
            return False, json.dumps({"code": "FunctionKindMismatch",
                                      "message": f"{path} is a {self.kind}, not a {kind}"})
        try:
            args = from_json(json.loads(args_json))
            ctx = make_context(kind, bridge, path, args_json)
            with capture(bridge.log):
                result = self.handler(ctx, args)
            return True, json.dumps(to_json(result))
        except Exception as exc:  # user code failed: a function error, never a host crash
            try:
                payload = error_payload(exc)
            except Exception as bad:  # e.g. ConvexError data that is not a Convex value
                payload = {"code": "Uncaught", "message": f"{type(exc).__name__} with unserialisable data: {bad}"}
            payload["stack"] = _format_stack(exc)[-_MAX_STACK:]
            return False, json.dumps(payload)


def _format_stack(exc: BaseException) -> str:
    """A plain traceback of the user's frames. Deliberately not ``traceback.format_exception``: since
    Python 3.13 that re-parses source lines (and, in the guest, would reach for the file system)."""
    lines = ["Traceback (most recent call last):"]
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None  # skip _ripple_invoke
    for frame, lineno in traceback.walk_tb(tb):
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}')
        src = linecache.getline(code.co_filename, lineno).strip()
        if src:
            lines.append(f"    {src}")
    lines.append(f"{type(exc).__name__}: {exc}")
    return "\n".join(lines)


def _decorator(kind: str, internal: bool) -> Callable[..., Any]:
    def register(fn: Callable[..., Any] | None = None, *, args: Any = None, returns: Any = None) -> Any:
        if fn is None:  # used as @query(args=..., returns=...)
            return lambda f: RegisteredFunction(f, kind, internal, args, returns)
        return RegisteredFunction(fn, kind, internal, args, returns)

    register.__name__ = ("internal_" if internal else "") + kind
    register.__doc__ = (f"Register a{'n internal' if internal else ' public'} {kind}: "
                        f"``@{register.__name__}`` or ``@{register.__name__}(args={{...}}, returns=v...)``.")
    return register


query = _decorator("query", False)
mutation = _decorator("mutation", False)
action = _decorator("action", False)
internal_query = _decorator("query", True)
internal_mutation = _decorator("mutation", True)
internal_action = _decorator("action", True)
