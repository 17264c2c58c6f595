"""Typed, frozen knobs of each persistence strategy (recorded with experiment results; never a global).

Who may use it: ``engine.persistence.registry`` maps each strategy name to its options class
(``PERSISTENCE_OPTIONS``); each store reads its own options from ``PersistenceConfig.options``;
``DatabaseConfig.persistence_options`` carries one from a caller or an experiment's
``[engine.persistence_options]`` table. Standard library only (no LMDB or sqlite import).

Invariants: every field has a default (``Options()`` is the strategy's default behaviour) and is checked
in ``__post_init__``, so a bad value fails when the configuration is built.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Records per ``load_log`` chunk by default: one read transaction (LMDB) or pooled connection (sqlite)
#: per chunk, so replaying a long log never pins one snapshot for the whole replay.
DEFAULT_LOAD_CHUNK = 512


def _int_at_least(owner: str, name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{owner}.{name} must be an int >= {low}, got {value!r}")


@dataclass(frozen=True, slots=True)
class LmdbPersistenceOptions:
    """Knobs of ``"lmdb"``. ``max_readers``: LMDB reader slots (the most threads reading the log at once),
    >= 1. ``load_chunk``: records per ``load_log`` read transaction, >= 1."""

    max_readers: int = 126
    load_chunk: int = DEFAULT_LOAD_CHUNK

    def __post_init__(self) -> None:
        _int_at_least("LmdbPersistenceOptions", "max_readers", self.max_readers, 1)
        _int_at_least("LmdbPersistenceOptions", "load_chunk", self.load_chunk, 1)


@dataclass(frozen=True, slots=True)
class SqlitePersistenceOptions:
    """Knobs of ``"sqlite"``. ``load_chunk``: records per ``load_log`` query on one pooled connection, >= 1."""

    load_chunk: int = DEFAULT_LOAD_CHUNK

    def __post_init__(self) -> None:
        _int_at_least("SqlitePersistenceOptions", "load_chunk", self.load_chunk, 1)


@dataclass(frozen=True, slots=True)
class MemoryPersistenceOptions:
    """Knobs of ``"memory"``: none yet (the class exists so every strategy is configured the same way)."""


def require_options(strategy: str, cls: type, options: object) -> object:
    """*options*, or ``cls()`` for None; ValueError naming *cls* for options of another type. O(1)."""
    if options is None:
        return cls()
    if type(options) is not cls:
        raise ValueError(f"persistence strategy {strategy!r} takes {cls.__name__} options, "
                         f"got {type(options).__name__}")
    return options
