"""Derived state from the durable log: index writes of logged commits, replay, backfill, rebuild.

Who may call it: the database at open (``IndexMaintainer.recover``), the committer for every committed
catalog change (``IndexMaintainer.prepare``, injected as ``prepare_indexes``), and ``verify`` (``rebuild``
into a fresh store). Nothing else writes the index store outside the committer.

The one derivation: ``commit_index_writes`` turns one logged commit into its index writes, with the
catalog in force at that commit; replay, backfill and verify all go through it, and the committer uses
the same ``engine.documents.document_index_writes`` for the documents it commits.

Invariants:
- After ``recover``, the index store has applied every logged commit, holds exactly the indexes of the
  current catalog (plus the reserved catalog index 0), and every catalog version is readable from index
  0, so ``history()`` is the catalog history (time travel shows the schema that held then).
- A catalog change's index work is idempotent: replaying a commit whose ``prepare`` already ran (a crash
  after it) finds the dropped indexes gone and the backfilled ones present, and does nothing twice.
  Backfill is atomic per index in the store (an index appears only once its history is complete), so a
  crash mid-backfill leaves it absent and the next open rebuilds it.
- The documents of a database are all in one storage format, recorded in the persistence global
  ``DOCUMENT_FORMAT_GLOBAL`` before the first commit (``check_document_format``); a database in another
  format is refused at open, before anything is read or written.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator

from engine.catalog import (BY_ID, CATALOG_INDEX_ID, CATALOG_KEY, CATALOG_TABLE, Catalog, CatalogChange,
                            CatalogHistory, CatalogVersion, IndexInfo, decode_catalog, diff_catalogs)
from engine.documents import DocumentKeys, by_id_value, document_index_writes, split_by_id_value
from engine import ids
from engine.model.errors import PersistenceError
from engine.persistence.base import CommitRecord
from engine.model.types import Timestamp

#: Commits applied per index-store transaction during replay.
REPLAY_CHUNK = 512
#: Persistence globals of databases written before catalog changes were commits (read once, upgraded).
LEGACY_CATALOG_GLOBAL = "catalog"
LEGACY_SCHEMA_GLOBAL = "schema"

#: Persistence global naming the storage format of the database's documents (``doccodec.DATABASE_FORMAT``).
DOCUMENT_FORMAT_GLOBAL = "document_format"

OldDoc = Callable[[str, Timestamp], "dict | None"]


def check_document_format(persistence: Any, docs: Any) -> None:
    """Refuse a database whose documents are not in *docs*' format (the document-codec kernel); record
    the format in a database that has no document yet.

    A database without the ``DOCUMENT_FORMAT_GLOBAL`` global was written either by this version before
    its first commit (a crash between creating the files and writing the global) or by a Ripple version
    that stored documents as JSON: the log tells which, by holding a document write or not. The JSON
    format is refused (``PersistenceError`` naming the migration: ``ripple export`` with the older
    version, then ``ripple import``); it is not upgraded in place. Cost O(1) for a database that records
    its format; otherwise O(records before the first document write).
    """
    recorded = persistence.get_global(DOCUMENT_FORMAT_GLOBAL)
    if recorded == docs.DATABASE_FORMAT:
        return
    if recorded is not None:
        raise PersistenceError(
            f"this database stores documents in the format {recorded.decode(errors='replace')!r}, which this "
            f"version of Ripple cannot read (it reads {docs.DATABASE_FORMAT.decode()!r}); open it with the "
            "version that wrote it")
    for rec in persistence.load_log(Timestamp(0)):
        if any(w.table != CATALOG_TABLE for w in rec.writes):
            raise PersistenceError(
                "this database was written by an older version of Ripple, which stored documents as JSON; this "
                f"version stores them in the binary format {docs.DATABASE_FORMAT.decode()!r} and does not "
                "convert a database in place. Migrate it: with the older version run `ripple export --data <db> "
                "<snapshot-folder>`, then with this version `ripple import --data <new-db> <snapshot-folder>`")
    persistence.put_global(DOCUMENT_FORMAT_GLOBAL, docs.DATABASE_FORMAT)


def catalog_of(rec: CommitRecord) -> bytes | None:
    """The catalog value a record commits, or None."""
    for w in rec.writes:
        if w.table == CATALOG_TABLE:
            return w.value
    return None


def commit_index_writes(keys: DocumentKeys, catalog: Catalog, rec: CommitRecord, old_doc: OldDoc,
                        only: set[int] | None = None) -> dict[int, list]:
    """Index id -> writes of one logged commit, derived with *catalog* (the one in force at ``rec.ts``,
    including any table the commit itself created). *old_doc(id, ts)* gives a document's previous version.
    *only* restricts the work to some index ids. O(writes × indexes of their tables)."""
    out: dict[int, list] = {}
    for w in rec.writes:
        if w.table == CATALOG_TABLE:
            if only is None or CATALOG_INDEX_ID in only:
                out.setdefault(CATALOG_INDEX_ID, []).append((CATALOG_KEY, by_id_value(rec.ts, w.value)))  # type: ignore[arg-type]
            continue
        if only is not None and not catalog.has_table(w.table):
            continue
        document_index_writes(keys, catalog.table(w.table), w.id, rec.ts, old_doc(w.id, rec.ts), w.value, out,
                              only=only)
    return out


def _decoded(keys: DocumentKeys, value: bytes | None) -> dict | None:
    return keys.decode(value) if value is not None else None


class IndexMaintainer:
    """Keeps an index store in step with the durable log. Holds no state of its own besides its parts."""

    def __init__(self, persistence: Any, store: Any, keys: DocumentKeys) -> None:
        self._log = persistence
        self._store = store
        self._keys = keys

    # ---- the walk over the whole log ------------------------------------------------------------

    def walk(self, initial: Catalog, end_ts: Timestamp | None = None,
             only: set[int] | None = None, tables: set[str] | None = None, follow_catalog: bool = True,
             ) -> Iterator[tuple[CommitRecord, Catalog, dict[int, list]]]:
        """Every logged commit with ts < *end_ts* from the start, with the catalog in force at it and its
        index writes (previous versions from an in-memory history of every document: O(live documents)
        memory). *tables* skips records that touch none of them; ``follow_catalog=False`` derives every
        commit with *initial* (backfill: the new index's definition applies to the whole history)."""
        catalog = initial
        history: dict[str, dict | None] = {}

        def old_doc(doc_id: str, ts: Timestamp) -> dict | None:
            return history.get(doc_id)

        for rec in self._log.load_log(Timestamp(0), end_ts):
            raw = catalog_of(rec) if follow_catalog else None
            if raw is not None:
                catalog = decode_catalog(rec.ts, raw).catalog
            if tables is not None:
                if not any(w.table in tables for w in rec.writes):
                    continue
                rec = CommitRecord(rec.ts, rec.writer, tuple(w for w in rec.writes if w.table in tables))
            writes = commit_index_writes(self._keys, catalog, rec, old_doc, only)
            for w in rec.writes:
                if w.table != CATALOG_TABLE:
                    history[w.id] = _decoded(self._keys, w.value)
            yield rec, catalog, writes

    # ---- catalog changes ------------------------------------------------------------------------

    def prepare(self, change: CatalogChange, through: Timestamp) -> None:
        """Make the store match a committed catalog change, before its commit is applied: drop removed
        indexes, backfill added indexes on existing tables from the log through *through*, open the rest.
        Idempotent (see the module invariants)."""
        for ix in change.dropped:
            self._store.drop_index(ix.index_id)
        present = set(self._store.index_ids())
        todo = [ix for ix in change.backfill if ix.index_id not in present]
        if todo and through > 0:
            self.backfill(todo, through, change.catalog)
        for ix in change.catalog.all_indexes():
            if ix.index_id not in present:
                self._store.open_index(ix.index_id)

    def backfill(self, indexes: list[IndexInfo], through: Timestamp, catalog: Catalog) -> None:
        """Write the full retained history (commits ``<= through``) of *indexes*, which exist in *catalog*
        and are absent from the store. Cost: one pass over the log."""
        only = {ix.index_id for ix in indexes}
        tables = {ix.table for ix in indexes}
        per_index: dict[int, list] = {i: [] for i in only}
        for rec, _, writes in self.walk(catalog, Timestamp(through + 1), only=only, tables=tables,
                                          follow_catalog=False):
            del _
            for index_id, w in writes.items():
                per_index[index_id].append((rec.ts, w))
        for ix in indexes:
            entries = per_index[ix.index_id]
            if entries:
                self._store.backfill(ix.index_id, entries)

    # ---- open ---------------------------------------------------------------------------------------

    def recover(self) -> CatalogHistory:
        """Bring the store up to the log's last commit and return the catalog history.

        The catalog at the store's applied ts comes from index 0 (or, for a database written before
        catalog changes were commits, from its legacy globals); indexes the store has but that catalog
        lacks are dropped, ones it lacks are backfilled; then every later commit is replayed in chunks,
        each catalog record doing its index work (``prepare``) at its place in the log."""
        applied = Timestamp(self._store.applied_ts())
        catalog = self.catalog_at(applied).catalog
        wanted = catalog.index_ids() | {CATALOG_INDEX_ID}
        present = set(self._store.index_ids())
        for stale in present - wanted:
            self._store.drop_index(stale)
        missing = [ix for ix in catalog.all_indexes() if ix.index_id not in present]
        if missing and applied > 0:
            self.backfill(missing, applied, catalog)
        for ix in missing:
            self._store.open_index(ix.index_id)
        self._store.open_index(CATALOG_INDEX_ID)
        self._replay(applied, catalog)
        return CatalogHistory(self.versions())

    def _replay(self, after: Timestamp, catalog: Catalog) -> None:
        chunk: list[tuple[Timestamp, dict[int, list]]] = []
        recent: dict[str, dict | None] = {}  # documents written earlier in the unapplied chunk

        def old_doc(doc_id: str, ts: Timestamp) -> dict | None:
            if doc_id in recent:
                return recent[doc_id]
            return self._doc_at(catalog, doc_id, Timestamp(ts - 1))

        def flush() -> None:
            if chunk:
                self._store.apply_batch(list(chunk))
                chunk.clear()
                recent.clear()

        for rec in self._log.load_log(Timestamp(after + 1)):
            raw = catalog_of(rec)
            if raw is not None:
                flush()
                new = decode_catalog(rec.ts, raw)
                self.prepare(diff_catalogs(catalog, new.catalog, new.schema), Timestamp(rec.ts - 1))
                catalog = new.catalog
            chunk.append((rec.ts, commit_index_writes(self._keys, catalog, rec, old_doc)))
            for w in rec.writes:
                if w.table != CATALOG_TABLE:
                    recent[w.id] = _decoded(self._keys, w.value)
            if len(chunk) >= REPLAY_CHUNK:
                flush()
        flush()

    def _doc_at(self, catalog: Catalog, doc_id: str, ts: Timestamp) -> dict | None:
        table = catalog.table_by_number(ids.table_number_of(doc_id))
        if table is None:
            return None
        raw = self._store.open_index(table.indexes[BY_ID].index_id).get(self._keys.id_key(doc_id), ts)
        return self._keys.decode_by_id(raw) if raw is not None else None

    # ---- catalog versions -------------------------------------------------------------------------

    def versions(self) -> list[CatalogVersion]:
        """Every retained catalog version, oldest first (from index 0); the legacy or empty catalog at
        ts 0 first when no catalog commit is older than the oldest retained one."""
        view = self._store.open_index(CATALOG_INDEX_ID)
        out = [decode_catalog(Timestamp(ts), split_by_id_value(raw)[1])
               for ts, raw in reversed(view.versions(CATALOG_KEY)) if raw is not None]
        if not out:
            return [self.legacy()]
        return out

    def catalog_at(self, ts: Timestamp) -> CatalogVersion:
        """The catalog version in force at *ts* per index 0 (the legacy/empty one if none is older)."""
        raw = self._store.open_index(CATALOG_INDEX_ID).get(CATALOG_KEY, ts) if ts > 0 else None
        if raw is None:
            return self.legacy()
        vts, body = split_by_id_value(raw)
        return decode_catalog(Timestamp(vts), body)

    def legacy(self) -> CatalogVersion:
        """The catalog of a database from before catalog commits (its globals), or the empty one."""
        raw = self._log.get_global(LEGACY_CATALOG_GLOBAL)
        if not raw:
            return CatalogVersion(Timestamp(0), Catalog(), None)
        schema = None
        raw_schema = self._log.get_global(LEGACY_SCHEMA_GLOBAL)
        obj = json.loads(raw_schema) if raw_schema else None
        if obj:
            from engine.model.schema import Schema

            schema = Schema.from_json(obj)
        return CatalogVersion(Timestamp(0), Catalog.from_json(raw), schema)

    def has_legacy_globals(self) -> bool:
        return bool(self._log.get_global(LEGACY_CATALOG_GLOBAL))


def rebuild(persistence: Any, store: Any, keys: DocumentKeys, through: Timestamp, catalog: Catalog) -> list[Timestamp]:
    """Replay the whole log through *through* into the empty *store* (for ``verify``), deriving every
    commit with *catalog* (the current one): each of its indexes gets its full history, as backfill gives
    an index added later. Returns the commit timestamps seen. Shares the walk with backfill."""
    maint = IndexMaintainer(persistence, store, keys)
    stamps: list[Timestamp] = []
    for rec, _, writes in maint.walk(catalog, Timestamp(through + 1), follow_catalog=False):
        store.apply_batch([(rec.ts, writes)])
        stamps.append(rec.ts)
    return stamps
