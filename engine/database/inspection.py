"""Inspection: the decoded commit log, a document's versions, and ``verify`` (indexes vs the log).

Who may call it: the database's inspection methods (``log``, ``history``, ``verify``); notebooks and
tests reach it through them. Read-only: it never changes the live store (``verify`` rebuilds into a
fresh in-memory store and compares).
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from engine import ids

from engine.catalog import BY_ID, CATALOG_INDEX_ID, CATALOG_TABLE, CatalogHistory
from engine.database.records import LogEntry, Version, VerifyReport, WriteView
from engine.database.recovery import rebuild
from engine.documents import DocumentKeys
from engine.index.base import IndexConfig
from engine.model.types import Interval, Timestamp


def log_entries(persistence: Any, keys: DocumentKeys, from_ts: Timestamp, to_ts: Timestamp | None) -> Iterator[LogEntry]:
    """Commit records with ``from_ts <= ts < to_ts`` (None: through the newest), values decoded."""
    for rec in persistence.load_log(Timestamp(from_ts), to_ts):
        catalog = None
        writes = []
        for w in rec.writes:
            if w.table == CATALOG_TABLE:
                catalog = json.loads(w.value) if w.value is not None else None
                continue
            writes.append(WriteView(w.table, w.id, keys.decode(w.value) if w.value is not None else None,
                                    w.prev_ts))
        yield LogEntry(rec.ts, rec.writer, tuple(writes), catalog)


def document_history(catalogs: CatalogHistory, index_view: Any, keys: DocumentKeys, doc_id: str) -> list[Version]:
    """Every retained version of a document, oldest first (value None: deleted at that ts)."""
    table = catalogs.current.catalog.table_by_number(ids.table_number_of(doc_id))
    if table is None:
        return []
    view = index_view(table.indexes[BY_ID].index_id)
    out = []
    for ts, raw in reversed(view.versions(keys.id_key(doc_id))):
        out.append(Version(Timestamp(ts), keys.decode_by_id(raw) if raw is not None else None))
    return out


def verify(persistence: Any, store: Any, keys: DocumentKeys, catalogs: CatalogHistory, latest: Timestamp,
           watermark: Timestamp, max_snapshots: int) -> VerifyReport:
    """Rebuild every index from the log into a fresh in-memory store and compare it with the live one at
    the newest snapshot and up to *max_snapshots* earlier commit timestamps (>= the watermark). The caller
    holds the committer. Cost: O(log size + Σ index sizes × snapshots)."""
    from engine.index.registry import open_index_store

    fresh = open_index_store("mem-btree", IndexConfig())
    try:
        stamps = [ts for ts in rebuild(persistence, fresh, keys, latest, catalogs.current.catalog) if ts >= watermark]
        step = max(1, len(stamps) // max_snapshots)
        check = sorted(set(stamps[::step][-max_snapshots:] + ([latest] if latest else [])))
        problems: list[str] = []
        indexes = [(ix.index_id, ix.full_name) for ix in catalogs.current.catalog.all_indexes()]
        indexes.append((CATALOG_INDEX_ID, "catalog history"))
        live_ids = set(store.index_ids())
        for index_id, name in indexes:
            if index_id not in live_ids:
                problems.append(f"{name} (id {index_id}) missing from the index store")
                continue
            fv = fresh.open_index(index_id)
            live = store.open_index(index_id)
            for ts in check:
                want = list(fv.scan(Interval.all(), ts))
                got = list(live.scan(Interval.all(), ts))
                if want != got:
                    problems.append(f"{name} at ts {ts}: live index has {len(got)} entries, log says {len(want)}")
                    break
        extra = live_ids - {i for i, _ in indexes}
        if extra:
            problems.append(f"index store holds indexes no catalog lists: {sorted(extra)}")
        return VerifyReport(not problems, len(indexes), len(check), tuple(problems))
    finally:
        fresh.close()
