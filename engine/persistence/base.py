"""The durable commit log seam: records, the ``Persistence`` protocol and its configuration.

Who may call it: the committer (``append``), database open/replay and inspection (``load_log``,
``max_ts``, globals). Strategies live beside this file (``memory``, ``lmdb_store``, ``sqlite_store``) and
are chosen by name through ``engine.persistence.registry``.

Invariants every strategy keeps (checked by ``tests/contract/test_persistence_contract.py``):
- Record timestamps strictly increase across the whole log; ``append`` refuses a batch that would break
  this (``PersistenceError``) and writes nothing of it.
- ``append`` is atomic (all records of the batch or none survive a crash) and, with
  ``durability="full"``, durable when it returns.
- ``max_ts()`` never decreases, including across close/reopen; it is the max of the last record's ts and
  the ``max_ts`` high-water mark stored with ``bump_max_ts``.
- Document values are opaque bytes here (serialised by ``engine.doccodec``); persistence never parses them.

Do not confuse this durable log with the in-memory write window (``engine.log``), which only holds recent
index keys for conflict checks and subscriptions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Literal, Protocol, Sequence

from engine.model.types import Timestamp

Durability = Literal["full", "none"]


@dataclass(frozen=True, slots=True)
class DocumentWrite:
    """One document change inside a commit.

    ``value`` is the serialised new document (``engine.doccodec.encode_document``) or None for a delete
    (tombstone). ``prev_ts`` is the commit ts of the version this write replaces, None for an insert.
    """

    table: str
    id: str
    value: bytes | None
    prev_ts: Timestamp | None


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """One commit: its timestamp, every document write, and who wrote it (a function name or "system")."""

    ts: Timestamp
    writer: str
    writes: tuple[DocumentWrite, ...]


@dataclass(frozen=True, slots=True)
class PersistenceConfig:
    """Explicit configuration for a persistence strategy (recorded with experiment results).

    ``path``: a directory for file-backed strategies (created if missing); ignored by ``memory``.
    ``durability``: "full" syncs before ``append`` returns; "none" (experiments only) does not.
    ``map_size``: LMDB map size in bytes (virtual address space, not disk).
    ``options``: the strategy's typed knobs (an instance of
    ``engine.persistence.registry.PERSISTENCE_OPTIONS[name]``); None means that strategy's defaults.
    Options of another strategy's type are a ValueError at open.
    """

    path: str | None = None
    durability: Durability = "full"
    map_size: int = 1 << 36
    options: Any = None


class Persistence(Protocol):
    """A durable, append-only commit log plus a few named globals."""

    name: str

    def append(self, records: Sequence[CommitRecord]) -> None:
        """Atomically (and, with durability "full", durably) append *records*.

        Their timestamps must strictly increase and exceed ``max_ts()``; otherwise ``PersistenceError`` is
        raised and nothing is written. An empty sequence is a no-op. Cost: one storage transaction.
        """
        ...

    def load_log(self, start_ts: Timestamp = Timestamp(0), end_ts: Timestamp | None = None) -> Iterator[CommitRecord]:
        """Yield records with ``start_ts <= ts < end_ts`` (end None = unbounded) in ascending ts order."""
        ...

    def get_record(self, ts: Timestamp) -> CommitRecord | None:
        """The record committed exactly at *ts*, or None. O(log n)."""
        ...

    def max_ts(self) -> Timestamp:
        """Highest timestamp ever persisted (record or high-water mark); 0 for an empty store."""
        ...

    def bump_max_ts(self, ts: Timestamp) -> None:
        """Durably raise the high-water mark to *ts* (no-op if not higher)."""
        ...

    def get_global(self, key: str) -> bytes | None:
        """A named global (the retention watermark; the catalog and schema of databases written before
        catalog changes were commits), or None if never set."""
        ...

    def put_global(self, key: str, value: bytes) -> None:
        """Durably set a named global."""
        ...

    def close(self) -> None:
        """Release files and handles; idempotent. Any later call raises ``DatabaseClosedError``."""
        ...
