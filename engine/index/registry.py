"""Index strategies by name: the one place that maps a configuration string to an ``IndexStore`` factory.

Who may call it: database open (``open_index_store(config.index_strategy, IndexConfig(...))``),
experiments (the name comes from ``config.toml``) and the contract suite, which runs against every entry of
``INDEX_STRATEGIES``. Adding a strategy means adding one entry here; nothing else chooses strategies.

Invariants: every factory takes an ``IndexConfig`` and returns a fresh, open ``IndexStore`` whose ``name``
equals its key here; each store class says whether its contents survive reopen (``persistent``); each
strategy has one typed options class (``INDEX_OPTIONS``) and one kernel (``INDEX_KERNELS``).
"""
from __future__ import annotations

from typing import Any, Callable

from engine.index.base import IndexConfig, IndexStore
from engine.index.options import LmdbBtreeOptions, MemBtreeOptions


def _mem_btree(config: IndexConfig, kernel: Any = None) -> IndexStore:
    from engine.index.mem_btree import MemBTreeStore

    return MemBTreeStore(config, kernel=kernel)


def _lmdb_btree(config: IndexConfig, kernel: Any = None, shared_env: Any = None) -> IndexStore:
    if not config.path and shared_env is None:
        raise ValueError("index strategy 'lmdb-btree' needs IndexConfig.path: the directory of its LMDB environment")
    from engine.index.lmdb_btree import LmdbBTreeStore

    return LmdbBTreeStore(config, kernel=kernel, shared_env=shared_env)


#: strategy name -> the kernel (``engine._impl.KERNELS``) that runs its hot loops; the database passes the
#: resolved module (reference or Cython twin) to the strategy's one store class as *kernel*.
INDEX_KERNELS = {"mem-btree": "mvcc", "lmdb-btree": "mvcc_lmdb"}

#: strategy name -> its typed options class (``IndexConfig.options``; ``DatabaseConfig.index_options``).
INDEX_OPTIONS: dict[str, type] = {"mem-btree": MemBtreeOptions, "lmdb-btree": LmdbBtreeOptions}


#: name -> factory. Imports are deferred so that choosing "mem-btree" never loads LMDB.
INDEX_STRATEGIES: dict[str, Callable[..., IndexStore]] = {
    "mem-btree": _mem_btree,
    "lmdb-btree": _lmdb_btree,
}


def open_index_store(name: str, config: IndexConfig | None = None, kernel: Any = None,
                     shared_env: Any = None) -> IndexStore:
    """Open the index strategy *name* with *config* (default ``IndexConfig()``).

    *shared_env*: an ``engine.lmdb_env.SharedLmdbEnv`` to keep the indexes in, shared with the "lmdb"
    persistence (strategy "lmdb-btree" only; ValueError for another).

    *kernel* is the module implementing the strategy's kernel (``INDEX_KERNELS[name]`` resolved through
    ``engine._impl``: the reference or its Cython twin); None means the pure-Python reference.
    Raises ValueError naming the valid strategies for an unknown *name*, ValueError when a file-backed
    strategy gets no ``config.path``, and ValueError when ``config.options`` is not the strategy's options
    type (``INDEX_OPTIONS``). Runtime: that of the strategy's open.
    """
    factory = INDEX_STRATEGIES.get(name)
    if factory is None:
        valid = ", ".join(repr(n) for n in sorted(INDEX_STRATEGIES))
        raise ValueError(f"unknown index strategy {name!r}; valid strategies: {valid}")
    config = config if config is not None else IndexConfig()
    cls = INDEX_OPTIONS[name]
    if config.options is not None and type(config.options) is not cls:
        raise ValueError(f"index strategy {name!r} takes {cls.__name__} options, got {type(config.options).__name__}")
    if shared_env is not None:
        if name != "lmdb-btree":
            raise ValueError(f"index strategy {name!r} cannot use a shared LMDB environment")
        return factory(config, kernel, shared_env)
    return factory(config, kernel)
