"""Outcomes of conflict checks: the closed ``Verdict`` enum and the ``ConflictInfo`` attribution record.

Who may use it: ``engine.log`` produces these, the committer and the database report them, tests compare
them. Holds no policy and no timestamps beyond what a verdict reports.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from engine.model.types import Timestamp


class Verdict(enum.Enum):
    COMMIT = "commit"        # nothing written since the snapshot overlaps the read set
    CONFLICT = "conflict"    # a write in (begin_ts, commit_ts] falls inside a read interval
    TOO_OLD = "too_old"      # the snapshot fell out of the write window's retention: retry, nobody to blame


@dataclass(frozen=True, slots=True)
class ConflictInfo:
    """Who broke a read set: the first conflicting write found.

    ``index`` is the index's display name ("table.index"), ``index_id`` its identity (conflicts are
    decided by identity, never by name), ``key`` the written index key that fell inside a read interval
    (``b""`` when the whole index was invalidated, e.g. dropped by a schema change), ``ts`` the
    conflicting commit's timestamp, ``writer`` its writer (function name).
    """

    table: str
    index: str
    document_id: str
    key: bytes
    ts: Timestamp
    writer: str
    index_id: object = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A verdict with its attribution (``conflict`` is set iff verdict is CONFLICT)."""

    verdict: Verdict
    conflict: ConflictInfo | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.COMMIT


COMMIT = CheckResult(Verdict.COMMIT)
