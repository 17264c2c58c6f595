"""Explicit configuration of a database, recorded with every experiment result. Never a global knob.

Who may use it: ``engine.database.open_database`` and anything that records results (``to_dict``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal


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
    extra: dict = field(default_factory=dict)

    def resolved_index(self) -> str:
        if self.index is not None:
            return self.index
        return "mem-btree" if self.persistence == "memory" else "lmdb-btree"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["index"] = self.resolved_index()
        return d
