"""Schema migration: turn a new schema into one catalog-changing commit, all or nothing.

Who may call it: the database (``Database.set_schema``), holding the committer (``Committer.serialized``)
so nothing commits between the checks and the commit.

How a schema change goes:
1. Plan on a *copy* of the current catalog: create the schema's tables, drop user indexes it no longer
   lists or lists with other fields (a redefined index is dropped and added under a new id), add new ones.
2. Check, before anything changes: every existing document of the schema's tables satisfies the new
   validators, and has a storable key in every added index (``IndexKeyTooLargeError`` otherwise).
3. Commit the change through the committer as one log record (``CatalogChange``): the committer
   backfills the added indexes from the log, drops the removed ones, installs the new catalog version,
   and invalidates the whole range of every dropped index (so transactions and subscriptions that read
   one conflict with, or re-run after, the change).
A failure in step 2 raises and leaves the live catalog, the schema, the indexes and the log untouched.
"""
from __future__ import annotations

from typing import Any, Callable

from engine.catalog import BY_ID, SYSTEM_INDEXES, CatalogChange, CatalogVersion, diff_catalogs
from engine.documents import DocumentKeys
from engine.model.errors import SchemaValidationError
from engine.model.types import Interval, Timestamp


def plan_schema_change(current: CatalogVersion, schema: Any) -> CatalogChange:
    """The catalog change that installs *schema* (None: keep the catalog, drop the schema). O(indexes)."""
    catalog = current.catalog.copy()
    if schema is not None:
        for table in schema.tables:
            t, _ = catalog.ensure_table(table)
            wanted = {d.name: tuple(d.fields) for d in schema.indexes(table)}
            for name, ix in list(t.indexes.items()):
                if name not in SYSTEM_INDEXES and wanted.get(name) != ix.fields:
                    catalog.remove_index(table, name)
            for name, fields in wanted.items():
                if name not in t.indexes:
                    catalog.add_index(table, name, fields)
    return diff_catalogs(current.catalog, catalog, schema)


def check_existing_documents(change: CatalogChange, current: CatalogVersion, at: Timestamp,
                             index_view: Callable[[int], Any], keys: DocumentKeys, validation_context: Any) -> None:
    """Step 2: raise ``SchemaValidationError`` for the first existing document the new schema rejects,
    ``IndexKeyTooLargeError`` for one whose key an added index cannot store. Reads the snapshot *at*.
    Cost: one pass over the documents of the schema's existing tables."""
    schema = change.schema
    added_by_table: dict[str, list] = {}
    for ix in change.backfill:
        added_by_table.setdefault(ix.table, []).append(ix)
    tables = set(added_by_table)
    if schema is not None and schema.schema_validation:
        tables |= {t for t in schema.tables if current.catalog.has_table(t)}
    for table in sorted(tables):
        if not current.catalog.has_table(table):
            continue
        by_id = current.catalog.table(table).indexes[BY_ID]
        for _, raw in index_view(by_id.index_id).scan(Interval.all(), at):
            doc = keys.decode_by_id(raw)
            if schema is not None and schema.schema_validation:
                user = {k: v for k, v in doc.items() if k not in ("_id", "_creationTime")}
                try:
                    schema.validate_document(table, user, validation_context)
                except SchemaValidationError as exc:
                    raise SchemaValidationError(
                        exc.table, exc.path, exc.expected, exc.got,
                        message=f"existing document {doc['_id']} violates the new schema: {exc}") from None
            for ix in added_by_table.get(table, ()):
                keys.index_key(ix, doc)
