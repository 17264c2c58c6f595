"""The Ripple function SDK: what an app's function files import.

    from ripple import query, mutation, action, internal_query, internal_mutation, internal_action, v

    @mutation(args={"body": v.string(), "author": v.string()})
    def send_message(ctx, args):
        return ctx.db.insert("messages", {"body": args["body"], "author": args["author"]})

The same SDK runs in the in-process reference host and inside the WebAssembly guest; it reaches the
database only through a *bridge* object implementing the syscall ABI (``udf_wasm/ABI.md``), so a function
behaves identically in both hosts. Values are Python values of the engine's Convex model (int is int64,
float is float64, bytes, str, bool, None, list, dict). Validators are the engine's own (``engine.model.validators``).
"""
from engine.model.errors import (ConvexError, DocumentNotFoundError, InvalidIdError, InvalidValueError, QueryError,
                                 ReadOnlyError, RippleError, SyscallError)
from engine.model.schema import define_schema, define_table
from engine.model.validators import v

from ripple._functions import (RegisteredFunction, action, internal_action, internal_mutation, internal_query,
                               mutation, query)

__all__ = [
    "query", "mutation", "action", "internal_query", "internal_mutation", "internal_action", "v",
    "define_schema", "define_table", "ConvexError", "RegisteredFunction",
    "RippleError", "SyscallError", "DocumentNotFoundError", "InvalidIdError", "InvalidValueError", "QueryError",
    "ReadOnlyError",
]
