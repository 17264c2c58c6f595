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


class AttemptRecord:
    """One execution of a mutation: its snapshot, verdict, what it read and what it tried to write.
    ``read_set`` maps an index's display name ("table.index") to the intervals read; ``write_set`` lists
    ``(kind, table, id)`` in first-write order.

    Immutable. The runner builds one per attempt of every mutation, and most are never looked at, so
    ``read_set`` and ``write_set`` may be given as zero-argument callables (``lazy``): they are
    materialized on first access, once (the transaction they read from is settled by then and no longer
    changes). Equality and repr use the materialized values.
    """

    __slots__ = ("begin_ts", "verdict", "commit_ts", "conflict", "mode", "_read_set", "_write_set")

    def __init__(self, begin_ts: Timestamp, verdict: "Verdict | None", commit_ts: "Timestamp | None",
                 conflict: "ConflictInfo | None", read_set: Any, write_set: Any,
                 mode: AttemptMode = AttemptMode.OPTIMISTIC) -> None:
        # verdict None: the function raised (no commit attempted).
        set_ = object.__setattr__
        set_(self, "begin_ts", begin_ts)
        set_(self, "verdict", verdict)
        set_(self, "commit_ts", commit_ts)
        set_(self, "conflict", conflict)
        set_(self, "mode", mode)
        set_(self, "_read_set", read_set)
        set_(self, "_write_set", write_set)

    @classmethod
    def lazy(cls, tx: Any, verdict: "Verdict | None", commit_ts: "Timestamp | None", conflict: "ConflictInfo | None",
             mode: AttemptMode = AttemptMode.OPTIMISTIC) -> "AttemptRecord":
        """The record of settled transaction *tx*, its read and write sets computed only when asked. O(1)."""
        return cls(tx.begin_ts, verdict, commit_ts, conflict, tx.read_set.intervals, tx.write_set, mode)

    @property
    def read_set(self) -> dict[str, list[Interval]]:
        value = self._read_set
        if callable(value):
            value = value()
            object.__setattr__(self, "_read_set", value)
        return value

    @property
    def write_set(self) -> list[tuple[str, str, str]]:
        value = self._write_set
        if callable(value):
            value = value()
            object.__setattr__(self, "_write_set", value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"AttemptRecord is immutable (cannot set {name!r})")

    def _key(self) -> tuple:
        return (self.begin_ts, self.verdict, self.commit_ts, self.conflict, self.read_set, self.write_set, self.mode)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, AttemptRecord) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  (holds dicts and lists, like the dataclass it replaces)

    def __repr__(self) -> str:
        return ("AttemptRecord(begin_ts={!r}, verdict={!r}, commit_ts={!r}, conflict={!r}, read_set={!r}, "
                "write_set={!r}, mode={!r})").format(*self._key())


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
