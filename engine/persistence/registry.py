"""Persistence strategies by name, and the one way the engine opens a store.

Who may call it: database open, experiments and benchmarks (which record the strategy name with their
results), and the contract suite (which runs every entry of ``PERSISTENCE_STRATEGIES``).

Invariants:
- Every value of ``PERSISTENCE_STRATEGIES`` is a class implementing ``engine.persistence.base.Persistence``
  with a ``name`` equal to its key and a boolean ``persistent`` (whether data survives close/reopen of
  the same ``config.path``; the contract suite uses it to decide which durability checks apply).
- ``DEFAULT_STRATEGY`` ("lmdb") is a key of the table.
- File strategies (``persistent``) refuse ``config.path=None`` with a ``ValueError``; "memory" ignores it.
- Every strategy has one typed options class (``PERSISTENCE_OPTIONS``); a store given options of another
  type raises ``ValueError`` at open.
"""
from __future__ import annotations

from typing import Callable

from engine.persistence.base import Persistence, PersistenceConfig
from engine.persistence.lmdb_store import LmdbPersistence
from engine.persistence.memory import MemoryPersistence
from engine.persistence.options import LmdbPersistenceOptions, MemoryPersistenceOptions, SqlitePersistenceOptions
from engine.persistence.sqlite_store import SqlitePersistence

PERSISTENCE_STRATEGIES: dict[str, Callable[[PersistenceConfig], Persistence]] = {
    "lmdb": LmdbPersistence,
    "sqlite": SqlitePersistence,
    "memory": MemoryPersistence,
}

DEFAULT_STRATEGY = "lmdb"

#: strategy name -> its typed options class (``PersistenceConfig.options``;
#: ``DatabaseConfig.persistence_options``).
PERSISTENCE_OPTIONS: dict[str, type] = {
    "lmdb": LmdbPersistenceOptions,
    "sqlite": SqlitePersistenceOptions,
    "memory": MemoryPersistenceOptions,
}


def open_persistence(name: str, config: PersistenceConfig, codec: object = None, shared_env: object = None) -> Persistence:
    """Open (creating if needed) the store of strategy *name* with *config*.

    *shared_env*: an ``engine.lmdb_env.SharedLmdbEnv`` to keep the log in (strategy "lmdb" only; the
    database wires the same one into the "lmdb-btree" index store so a batch is one write transaction);
    ``config.path`` is then ignored. ValueError for another strategy.

    Cost: whatever the strategy's open costs (file strategies create the directory and files, and run
    one small write transaction to stamp/check a format tag). Raises ``ValueError`` listing the valid
    names for an unknown *name*, ``ValueError`` if a file strategy gets no ``config.path``, and
    ``PersistenceError`` if the files cannot be opened or hold another format.
    """
    try:
        factory = PERSISTENCE_STRATEGIES[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(PERSISTENCE_STRATEGIES))
        raise ValueError(f"unknown persistence strategy {name!r}; valid names: {valid}") from None
    if getattr(factory, "persistent", False) and config.path is None and shared_env is None:
        raise ValueError(f"persistence strategy {name!r} stores files and needs PersistenceConfig.path (got None)")
    # *codec* is the commit-record codec kernel (reference or Cython twin); None: the reference.
    if shared_env is not None:
        if name != "lmdb":
            raise ValueError(f"persistence strategy {name!r} cannot use a shared LMDB environment")
        return factory(config, codec=codec, shared_env=shared_env)
    return factory(config, codec=codec)
