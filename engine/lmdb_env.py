"""One LMDB environment shared by the durable log and the index store, so a commit batch is one write.

Role: when both storage strategies are LMDB (persistence ``"lmdb"``, index ``"lmdb-btree"``), the
database opens ONE ``SharedLmdbEnv`` and hands it to both stores. Each store keeps its own named
sub-databases in it; the committer can then append a batch's log records and apply its index writes in
a single LMDB write transaction (``LmdbPersistence.append_staged`` running the index store's
``stage_batch``), i.e. one commit and, with durability "full", one fsync per batch instead of two
transactions.

Who may call it: ``engine.database`` (constructs it and wires it into both stores) and the two LMDB
stores (``engine.persistence.lmdb_store``, ``engine.index.lmdb_btree``), which are siblings and never
import each other: this module sits below both, so they meet here and nowhere else.

Invariants:
- ``lock`` (re-entrant) is held around EVERY write transaction either store runs in the environment, and
  it is taken before LMDB's own writer mutex. One lock order (``lock`` -> LMDB writer) means a combined
  write, which holds ``lock`` while the index store stages its part inside the persistence's transaction,
  can never deadlock with the index store's own writes (gc, drop, backfill) from another thread.
- The environment's sync flags follow ``durable``: with durability "full" every write transaction of
  either store is synced when it commits (the index store's own, rare, transactions then pay an fsync
  too; its hot path rides in the log's transaction).
- Whoever opened it (the database) closes it, after closing both stores; a store's own ``close`` never
  closes a shared environment (it only stops using it). Closing twice is a no-op.
"""
from __future__ import annotations

import os
import threading

import lmdb

#: Named sub-databases the two stores may open together (log, globals, meta; index versions, index meta).
MAX_DBS = 8


class SharedLmdbEnv:
    """An open LMDB environment at *path* (a directory, created if missing), shared by two stores.

    ``durable``: open with ``sync=True, metasync=True`` (every commit fsyncs) or both off. Raises
    ``lmdb.Error`` if the environment cannot be opened (the caller turns it into its own error).
    Cost: one ``mdb_env_open``.
    """

    def __init__(self, path: str, *, map_size: int, max_readers: int, durable: bool) -> None:
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.durable = durable
        self.env = lmdb.open(path, map_size=map_size, subdir=True, max_dbs=MAX_DBS, max_readers=max_readers,
                             sync=durable, metasync=durable, writemap=False, lock=True)
        self.lock = threading.RLock()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the environment (the owner, after both stores closed). O(1); idempotent."""
        with self.lock:
            if not self._closed:
                self._closed = True
                self.env.close()
