"""Typed, frozen knobs of each index strategy (recorded with experiment results; never a global).

Who may use it: ``engine.index.registry`` maps each strategy name to its options class
(``INDEX_OPTIONS``); the store classes read their own options; ``DatabaseConfig.index_options`` carries one
of these from a caller or an experiment's ``[engine.index_options]`` table. Standard library only, so the
configuration layer can import it without loading LMDB.

Invariants: every field has a default (``Options()`` is the strategy's default behaviour) and is checked
in ``__post_init__``, so a bad value fails when the configuration is built, not deep inside a store.
"""
from __future__ import annotations

from dataclasses import dataclass


def _int_at_least(owner: str, name: str, value: object, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{owner}.{name} must be an int >= {low}, got {value!r}")


@dataclass(frozen=True, slots=True)
class MemBtreeOptions:
    """Knobs of ``"mem-btree"``. ``leaf_capacity``: keys per B-tree leaf (>= 2; tests use 4 to force
    splits and merges; 512 keeps the leaf directory short and a leaf insert a small memmove)."""

    leaf_capacity: int = 512

    def __post_init__(self) -> None:
        _int_at_least("MemBtreeOptions", "leaf_capacity", self.leaf_capacity, 2)


@dataclass(frozen=True, slots=True)
class LmdbBtreeOptions:
    """Knobs of ``"lmdb-btree"``.

    - ``max_readers``: LMDB reader slots (the most threads reading at once), >= 1.
    - ``gc_chunk``: entries examined per gc write transaction (the writer lock is free between chunks), >= 1.
    - ``skip_limit``: versions of one key a scan steps over before it seeks instead, >= 0 (0 = always
      seek). Stepping is a C-level cursor step, several times cheaper than a seek, so only long runs of
      old versions (hot keys between gc passes) are worth skipping with O(log n) seeks.
    """

    max_readers: int = 126
    gc_chunk: int = 10_000
    skip_limit: int = 8

    def __post_init__(self) -> None:
        _int_at_least("LmdbBtreeOptions", "max_readers", self.max_readers, 1)
        _int_at_least("LmdbBtreeOptions", "gc_chunk", self.gc_chunk, 1)
        _int_at_least("LmdbBtreeOptions", "skip_limit", self.skip_limit, 0)
