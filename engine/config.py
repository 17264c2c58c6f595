"""Explicit configuration of a database, recorded with every experiment result. Never a global knob.

Who may use it: ``engine.database.open_database`` and anything that records results (``to_dict``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: What a mutation does once its optimistic attempts are spent: "serialize" runs it once more holding
#: the committer (nothing else commits meanwhile, so it cannot conflict); "fail" raises ConflictError.
Fallback = Literal["serialize", "fail"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the mutation runner retries a mutation that lost an OCC race; recorded with results.

    - ``optimistic_attempts``: attempts run optimistically (concurrently with other commits) before the
      fallback; Convex makes 1 + 4 optimistic attempts and then gives up.
    - ``backoff_ms``: (first, cap) of the jittered exponential pause between optimistic attempts.
    - ``fallback``: after the optimistic attempts, "serialize" (default: a mutation cannot starve; the
      price is that other writers pause while it runs) or "fail" (``ConflictError``; for experiments that
      measure raw OCC abort rates).
    """

    # Measured on the 16-thread hot counter (lmdb, cy): 3 attempts with (0.5, 4) ms backoff -> ~1.4k/s,
    # 2 with (0.1, 1) -> ~1.6k/s, 1 -> ~2.1k/s: under heavy contention optimistic retries are wasted work.
    # Two keep one optimistic retry, which usually succeeds under light contention (a serialized attempt
    # pauses every other writer).
    optimistic_attempts: int = 2
    backoff_ms: tuple[float, float] = (0.1, 1.0)
    fallback: Fallback = "serialize"

    def __post_init__(self) -> None:
        if not isinstance(self.optimistic_attempts, int) or self.optimistic_attempts < 1:
            raise ValueError(f"RetryPolicy.optimistic_attempts must be an int >= 1, got {self.optimistic_attempts!r}")
        first, cap = self.backoff_ms
        if not (0 <= first <= cap):
            raise ValueError(f"RetryPolicy.backoff_ms must be (first, cap) with 0 <= first <= cap, got {self.backoff_ms!r}")
        object.__setattr__(self, "backoff_ms", (float(first), float(cap)))
        if self.fallback not in ("serialize", "fail"):
            raise ValueError(f'RetryPolicy.fallback must be "serialize" or "fail", got {self.fallback!r}')


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
    - ``retry``: the mutation runner's ``RetryPolicy`` (optimistic attempts, backoff, and the fallback
      that guarantees progress under contention).
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
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    write_window_ms: int = 300_000
    seed: int = 0
    subscriptions: Literal["thread", "inline"] = "thread"
    map_size: int = 1 << 36
    index_options: Any = None
    persistence_options: Any = None

    def __post_init__(self) -> None:
        if isinstance(self.retry, dict):  # from an experiment's TOML
            object.__setattr__(self, "retry", RetryPolicy(**self.retry))
        elif not isinstance(self.retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy (or a dict of its fields), got {self.retry!r}")

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
