"""Ripple's embedded engine: a reactive, transactional document database in the style of Convex.

The public surface is small; import heavy parts lazily::

    import engine
    db = engine.open_database("data/")            # LMDB by default; None for in-memory
    doc_id = db.mutate(lambda tx: tx.insert("messages", {"body": "hi"}))
    db.read(lambda tx: tx.get(doc_id))

See ``engine.database`` for the full API and ``architecture.md`` for the layers.
"""
from __future__ import annotations

from engine.model.types import Interval, Timestamp
from engine.model.errors import (ConflictError, DocumentNotFoundError, InvalidIdError, InvalidValueError, QueryError,
                           ReadOnlyError, RippleError, SchemaValidationError, TooOldError, UnknownIndexError,
                           UnknownTableError)

__all__ = [
    "open_database", "Database", "DatabaseConfig", "RetryPolicy", "Interval", "Timestamp", "UNDEFINED",
    "v", "define_schema", "define_table",
    "RippleError", "ConflictError", "DocumentNotFoundError", "InvalidIdError", "InvalidValueError",
    "QueryError", "ReadOnlyError", "SchemaValidationError", "TooOldError", "UnknownIndexError",
    "UnknownTableError",
]


def __getattr__(name: str):  # lazy: importing `engine` stays cheap
    if name in ("open_database", "Database"):
        from engine import database

        return getattr(database, name)
    if name in ("DatabaseConfig", "RetryPolicy"):
        from engine import config

        return getattr(config, name)
    if name in ("v", "define_schema", "define_table"):
        from engine.model import schema

        return getattr(schema, name)
    if name == "UNDEFINED":
        from engine.encoding import UNDEFINED

        return UNDEFINED
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
