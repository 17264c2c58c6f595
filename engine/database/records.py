"""Plain records the database hands to callers: mutation outcomes with every attempt, log entries,
document versions, counters and the ``verify`` report. Data only; no behaviour beyond formatting.

Who may use them: anyone (applications, notebooks, experiments, the server); they are produced by the
mutation runner (``engine.database.runner``) and inspection (``engine.database.inspection``).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from engine.conflict.base import ConflictInfo, Verdict
from engine.model.types import Interval, Timestamp


class AttemptMode(enum.Enum):
    """How one attempt of a mutation ran."""

    OPTIMISTIC = "optimistic"    # concurrently with other commits, validated by OCC at commit
    SERIALIZED = "serialized"    # holding the committer: nothing else committed meanwhile


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One execution of a mutation: its snapshot, verdict, what it read and what it tried to write.
    ``read_set`` maps an index's display name ("table.index") to the intervals read."""

    begin_ts: Timestamp
    verdict: Verdict | None          # None: the function raised (no commit attempted)
    commit_ts: Timestamp | None
    conflict: ConflictInfo | None
    read_set: dict[str, list[Interval]]
    write_set: list[tuple[str, str, str]]
    mode: AttemptMode = AttemptMode.OPTIMISTIC


@dataclass(frozen=True, slots=True)
class MutationOutcome:
    value: Any
    commit_ts: Timestamp | None
    attempts: tuple[AttemptRecord, ...]

    @property
    def retries(self) -> int:
        return len(self.attempts) - 1


@dataclass(frozen=True, slots=True)
class WriteView:
    table: str
    id: str
    value: dict | None
    prev_ts: Timestamp | None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One commit of the durable log, decoded. ``catalog`` is the catalog/schema JSON a catalog-changing
    commit installed (None for other commits); its write to the reserved table is not in ``writes``."""

    ts: Timestamp
    writer: str
    writes: tuple[WriteView, ...]
    catalog: dict | None = None


@dataclass(frozen=True, slots=True)
class Version:
    ts: Timestamp
    value: dict | None   # None: deleted at ts


@dataclass
class Stats:
    commits: int = 0
    conflicts: int = 0
    too_old: int = 0
    retries: int = 0
    serialized: int = 0
    failed_mutations: int = 0
    user_errors: int = 0
    reads: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    indexes_checked: int
    snapshots_checked: int
    problems: tuple[str, ...] = field(default_factory=tuple)
