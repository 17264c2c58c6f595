"""Every error the engine raises on purpose, in one place.

Who may use it: every layer. Errors are records: they carry the data a caller needs (which table, which
field path, which conflicting commit) as attributes, and a message a person can act on.

It imports nothing but the standard library, so it sits at the bottom of the model layer (no other
module of ``engine.model`` is imported here). The wire form of errors, which needs Convex JSON, lives in
``engine.model.error_wire``.

All engine errors derive from ``RippleError``. Errors about bad input also derive from ``ValueError`` (or
``KeyError``/``PermissionError`` where that is the natural Python category), so generic handlers work.
"""
from __future__ import annotations

from typing import Any


class RippleError(Exception):
    """Base of every deliberate engine error."""


class InvalidValueError(RippleError, ValueError):
    """A value is not a Convex value, or breaks a limit (size, depth, fields, array length, field name).

    ``path`` is the dotted/indexed path inside the document where the problem is ("" for the root).
    """

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{message} (at {path})" if path else message)


class InvalidIdError(RippleError, ValueError):
    """A string is not a well-formed document id (bad length, alphabet, checksum, or unknown table)."""


class UnknownTableError(RippleError, KeyError):
    """A table name or number that the database does not know."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class UnknownIndexError(RippleError, KeyError):
    """An index name that the table does not have."""

    def __str__(self) -> str:
        return str(self.args[0])


class DocumentNotFoundError(RippleError, KeyError):
    """patch/replace/delete of a document id that does not exist at the transaction's snapshot."""

    def __str__(self) -> str:
        return str(self.args[0])


class SchemaValidationError(RippleError, ValueError):
    """A write (or an existing document, when a schema is installed) violates the table's validator.

    Carries ``table``, ``path`` (dotted field path, "" for the whole document) and ``expected``.
    """

    def __init__(self, table: str, path: str, expected: str, got: Any = None, message: str | None = None):
        self.table = table
        self.path = path
        self.expected = expected
        self.got = got
        where = f"field {path!r}" if path else "the document"
        super().__init__(message or f"Schema validation failed for table {table!r}: {where} must be {expected}, got {got!r}")


class SchemaDefinitionError(RippleError, ValueError):
    """A validator, table definition or schema is malformed (raised at definition or load time)."""


class ReadOnlyError(RippleError, PermissionError):
    """A write was attempted inside a read-only function (a query or ``db.read``)."""


class TooOldError(RippleError):
    """A read asked for a snapshot below the retention watermark: those versions may be gone."""

    def __init__(self, ts: int, watermark: int) -> None:
        self.ts = ts
        self.watermark = watermark
        super().__init__(f"timestamp {ts} is older than the retention watermark {watermark}; that snapshot is no longer retained")


class IndexKeyTooLargeError(RippleError, ValueError):
    """An index key would exceed ``encoding.MAX_INDEX_KEY_BYTES`` (LMDB's key limit bounds every strategy)."""


class QueryError(RippleError, ValueError):
    """A malformed query: bad index range expression, bad cursor, unique() with several results..."""


class ConflictError(RippleError):
    """Optimistic concurrency control failed on every attempt.

    ``conflict`` is the last ``engine.conflict.base.ConflictInfo`` (table, document id, conflicting commit
    ts, its writer); ``outcome`` is the full ``MutationOutcome`` with every attempt, when available.
    """

    def __init__(self, conflict: Any, attempts: int, outcome: Any = None, function_name: str | None = None) -> None:
        self.conflict = conflict
        self.attempts = attempts
        self.outcome = outcome
        c = conflict
        if c is None:
            msg = f"Data read or written in this mutation changed while it was being run (after {attempts} attempts)."
        else:
            same = function_name is not None and c.writer == function_name
            who = "Another call to this mutation" if same else f'A call to "{c.writer}"'
            msg = (
                f'Documents read from or written to the "{c.table}" table changed while this mutation was being run '
                f"and on every subsequent retry ({attempts} attempts). {who} changed the document with ID "
                f'"{c.document_id}" at timestamp {c.ts}.'
            )
        super().__init__(msg)


class PersistenceError(RippleError):
    """The durable store failed or is corrupt; the commit it concerned was not acknowledged."""


class DatabaseClosedError(RippleError):
    """An operation on a database that has been closed."""


# --------------------------------------------------------------------------------------------------------
# Functions: errors that cross the sandbox boundary. This module is bundled into the WebAssembly guest
# (it imports nothing but the standard library), so host and guest share one definition of each error;
# their wire form is ``engine.model.error_wire``.
# --------------------------------------------------------------------------------------------------------


class ConvexError(RippleError):
    """An error thrown on purpose by a function, carrying structured ``data`` (any Convex value) to the
    caller unchanged, as in Convex. Its message is the data when that is a string."""

    def __init__(self, data: Any = None) -> None:
        self.data = data
        self.logs: list[str] = []
        super().__init__(data if isinstance(data, str) else "ConvexError")


class FunctionError(RippleError):
    """A function call failed: the function raised, trapped, ran out of time or memory, or was called
    wrongly. ``code`` classifies it (see ``udf_wasm/ABI.md``), ``path`` names the function, ``logs`` holds
    the log lines it produced before failing, ``stack`` a trimmed traceback from the guest (may be "")."""

    def __init__(self, message: str, *, code: str = "Uncaught", path: str = "", logs: list[str] | None = None,
                 stack: str = "") -> None:
        self.code = code
        self.path = path
        self.logs = list(logs or [])
        self.stack = stack
        self.message = message
        super().__init__(message)


class FunctionNotFoundError(FunctionError):
    """No public (or, for internal callers, internal) function with that path is deployed."""


class ArgumentValidationError(FunctionError):
    """Arguments (or a return value, when ``which == "return value"``) failed the function's validator.

    Carries ``function``, ``arg_path`` (dotted path inside the arguments), ``expected`` and ``got``."""

    def __init__(self, function: str, arg_path: str, expected: str, got: Any, *, which: str = "argument") -> None:
        self.function = function
        self.arg_path = arg_path
        self.expected = expected
        self.got = got
        where = f"{which} {arg_path!r}" if arg_path else ("the arguments" if which == "argument" else which)
        super().__init__(f"{function}: {where} must be {expected}, got {got!r}",
                         code="ArgumentValidationError" if which == "argument" else "ReturnValidationError",
                         path=function)


class SyscallError(RippleError):
    """A syscall the host refused or failed, as the guest sees it (``code`` names the engine error class,
    e.g. "DocumentNotFoundError"). Raised inside user code; uncaught, it fails the function."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)
