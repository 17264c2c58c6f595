"""Explicit configuration of a database, recorded with every experiment result. Never a global knob.

Who may use it: ``engine.database.open_database`` and anything that records results (``to_dict``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """Everything that changes how a database behaves or performs.

    - ``persistence``: "lmdb" (default), "sqlite" or "memory" (``engine.persistence.registry``).
    - ``index``: "lmdb-btree" or "mem-btree" (``engine.index.registry``); None picks lmdb-btree for
      file-backed persistence and mem-btree for memory.
    - ``durability``: "full" (acknowledge after fsync) or "none" (experiments only; recorded).
    - ``impl``: kernel implementations, "auto" | "py" | "cy" (None: the ENGINE_IMPL variable), or a dict
      kernel -> mode to mix them.
    - ``group_commit_max_batch`` / ``group_commit_max_delay_ms``: see ``engine.txn.committer``.
    - ``max_retries``: OCC retries of a mutation before ``ConflictError`` (Convex uses 4).
    - ``retry_backoff_ms``: (first, cap) of the jittered exponential backoff between retries.
    - ``write_window_ms``: how much commit history (in HLC milliseconds) the in-memory write window
      keeps for OCC; a transaction open longer than this aborts as TOO_OLD and is retried.
    - ``seed``: seeds the document-id generator and retry jitter (determinism for experiments).
    - ``subscriptions``: "thread" (callbacks on a worker thread) or "inline" (run in ``wait_idle``).
    - ``index_options``: the index strategy's typed knobs, an instance of
      ``engine.index.registry.INDEX_OPTIONS[index]`` (e.g. ``LmdbBtreeOptions(skip_limit=0)``); None
      means that strategy's defaults. Another strategy's options are a ValueError at open.
    - ``persistence_options``: the same for the persistence strategy
      (``engine.persistence.registry.PERSISTENCE_OPTIONS``, e.g. ``LmdbPersistenceOptions``).
    """

    persistence: str = "lmdb"
    index: str | None = None
    durability: Literal["full", "none"] = "full"
    impl: str | dict[str, str] | None = None
    group_commit_max_batch: int = 256
    group_commit_max_delay_ms: float = 0.0
    max_retries: int = 4
    retry_backoff_ms: tuple[float, float] = (1.0, 100.0)
    write_window_ms: int = 300_000
    seed: int = 0
    subscriptions: Literal["thread", "inline"] = "thread"
    map_size: int = 1 << 36
    index_options: Any = None
    persistence_options: Any = None

    def resolved_index(self) -> str:
        if self.index is not None:
            return self.index
        return "mem-btree" if self.persistence == "memory" else "lmdb-btree"

    def resolved_index_options(self) -> Any:
        """``index_options``, or the defaults of the resolved index strategy for None. ValueError if they
        are another strategy's options (or the strategy is unknown). O(1)."""
        from engine.index.registry import INDEX_OPTIONS

        return _resolve_options("index", self.resolved_index(), INDEX_OPTIONS, self.index_options)

    def resolved_persistence_options(self) -> Any:
        """``persistence_options``, or the defaults of the persistence strategy for None. ValueError if
        they are another strategy's options (or the strategy is unknown). O(1)."""
        from engine.persistence.registry import PERSISTENCE_OPTIONS

        return _resolve_options("persistence", self.persistence, PERSISTENCE_OPTIONS, self.persistence_options)

    def to_dict(self) -> dict:
        """Every field as plain data, with the resolved index strategy and the options in effect (the
        defaults of the chosen strategies when none were given). ValueError for mismatched options."""
        d = asdict(self)
        d["index"] = self.resolved_index()
        d["index_options"] = asdict(self.resolved_index_options())
        d["persistence_options"] = asdict(self.resolved_persistence_options())
        return d


def _resolve_options(kind: str, name: str, table: dict[str, type], options: Any) -> Any:
    cls = table.get(name)
    if cls is None:
        raise ValueError(f"unknown {kind} strategy {name!r}; valid: {sorted(table)}")
    if options is None:
        return cls()
    if type(options) is not cls:
        raise ValueError(f"{kind} strategy {name!r} takes {cls.__name__} as {kind}_options, "
                         f"got {type(options).__name__}")
    return options
