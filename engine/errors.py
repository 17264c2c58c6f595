"""Every error the engine raises on purpose, in one place.

Who may use it: every layer. Errors are records: they carry the data a caller needs (which table, which
field path, which conflicting commit) as attributes, and a message a person can act on.

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
