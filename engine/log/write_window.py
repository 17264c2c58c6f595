"""Write window: recent commits as the index keys they changed, for OCC validation and invalidation.

Who may call it: the committer appends (and rolls back a batch whose durable write failed); the
subscription manager reads commits in order and checks new subscriptions; the database trims it. It never
touches disk: the durable commit log is ``engine.persistence``; this window is derived, in-memory state.

Invariants (``check_invariants``):
- Commit timestamps strictly increase; every commit in ``(purged_ts, max_ts]`` is present.
- Per index, the flat arrays ``ts``/``keys``/``doc_ids`` are parallel and ``ts`` is non-decreasing, so
  the writes in ``(from_ts, to_ts]`` of one index are one contiguous slice found by bisection.
- Each entry carries both the old and the new index key of every changed document (an update moves a
  document between keys; both positions matter to readers of either).
- Indexes are identified by an opaque hashable identity (the catalog's index id, or
  ``engine.catalog.absent_table_key``), never by name: a schema change that drops or redefines an index
  gives the new definition a new id, and the commit that drops one writes its *whole* range (``whole``),
  so no interleaving of schema changes can hide a conflict.

Cost of ``is_stale(read_set, from_ts, to_ts)``: O(Σ over read indexes of log(w) + writes in the window
slice × log |intervals|).
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Hashable, Iterable, Iterator, Mapping, Sequence

from engine.conflict.base import COMMIT, CheckResult, ConflictInfo, Verdict
from engine.model.types import Timestamp


@dataclass(frozen=True, slots=True)
class KeyWrite:
    """One changed index key of one commit: the old or new key of ``document_id`` in index ``index``
    (its identity); ``index_name`` ("table.index") is for display only."""

    index: Hashable
    key: bytes
    document_id: str
    index_name: str = ""


@dataclass(frozen=True, slots=True)
class WindowCommit:
    """One commit as the window sees it (what subscriptions are stabbed with). ``whole``: identities of
    indexes whose entire key range this commit invalidated (dropped or redefined indexes, created
    tables), as (identity, display name) pairs."""

    ts: Timestamp
    writer: str
    keys: tuple[KeyWrite, ...]
    whole: tuple[tuple[Hashable, str], ...] = ()

    def by_index(self) -> dict[Hashable, list[bytes]]:
        out: dict[Hashable, list[bytes]] = {}
        for kw in self.keys:
            out.setdefault(kw.index, []).append(kw.key)
        return out


def _display(index: Hashable, name: str) -> str:
    if name:
        return name
    if isinstance(index, tuple) and len(index) == 2 and index[0] == "absent-table":
        return f"{index[1]}.(table)"
    return str(index)


def _table_of(name: str) -> str:
    """Display names are "table.index"; table names never contain dots."""
    return name.split(".", 1)[0]


class _IndexWrites:
    """Parallel arrays of one index's writes in ts order. Trimming advances ``start`` and compacts lazily
    (so a trim is O(1) amortised, not a list shift per commit)."""

    __slots__ = ("ts", "keys", "doc_ids", "start")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.keys: list[bytes] = []
        self.doc_ids: list[str] = []
        self.start = 0

    def bounds(self, from_ts: int, to_ts: int) -> tuple[int, int]:
        """Slice of writes with from_ts < ts <= to_ts."""
        lo = bisect.bisect_right(self.ts, from_ts, self.start)
        hi = bisect.bisect_right(self.ts, to_ts, lo)
        return lo, hi

    def trim_below_or_at(self, ts: int) -> None:
        self.start = bisect.bisect_right(self.ts, ts, self.start)
        if self.start > 4096 and self.start * 2 > len(self.ts):
            del self.ts[: self.start], self.keys[: self.start], self.doc_ids[: self.start]
            self.start = 0

    def truncate_from(self, ts: int) -> None:
        """Drop writes with ts >= *ts* (rollback of a failed batch)."""
        cut = bisect.bisect_left(self.ts, ts, self.start)
        del self.ts[cut:], self.keys[cut:], self.doc_ids[cut:]

    def __len__(self) -> int:
        return len(self.ts) - self.start


class WriteWindow:
    """Recent commits' index keys, per index, with a purge watermark.

    ``purged_ts``: every commit with ts > purged_ts is present. A check whose ``from_ts`` is below it
    cannot be answered (commits may be missing) and gets ``Verdict.TOO_OLD``.
    """

    def __init__(self, purged_ts: Timestamp = Timestamp(0)) -> None:
        self._indexes: dict[Hashable, _IndexWrites] = {}
        self._names: dict[Hashable, str] = {}
        self._whole: list[tuple[int, Hashable, str]] = []   # (ts, index identity, name), ts ascending
        self._commits: list[WindowCommit] = []
        self._commit_ts: list[int] = []
        self._commits_start = 0
        self._writers: dict[int, str] = {}
        self.purged_ts: Timestamp = purged_ts
        self.max_ts: Timestamp = purged_ts
        # The committer mutates while the subscription manager reads; bisect-then-slice sequences must not
        # interleave with a trim's compaction. Uncontended, this lock costs well under a microsecond.
        self._lock = threading.RLock()

    # ---- writer side (the committer) ----------------------------------------------------------

    def _append_unlocked(self, ts: Timestamp, writer: str, keys: Sequence[KeyWrite],
                         whole: Sequence[tuple[Hashable, str]] = ()) -> None:
        """Record commit *ts*. Raises ValueError unless ts > max_ts. O(len(keys))."""
        if ts <= self.max_ts:
            raise ValueError(f"write window: commit ts {ts} not above max_ts {self.max_ts}")
        for ident, name in whole:
            self._whole.append((ts, ident, name))
        for kw in keys:
            iw = self._indexes.get(kw.index)
            if iw is None:
                iw = self._indexes[kw.index] = _IndexWrites()
                if kw.index_name:
                    self._names[kw.index] = kw.index_name
            iw.ts.append(ts)
            iw.keys.append(kw.key)
            iw.doc_ids.append(kw.document_id)
        commit = WindowCommit(ts, writer, tuple(keys), tuple(whole))
        self._commits.append(commit)
        self._commit_ts.append(ts)
        self._writers[ts] = writer
        self.max_ts = ts

    def _rollback_from_unlocked(self, ts: Timestamp) -> None:
        """Forget commits with ts >= *ts* (their durable write failed; they never happened)."""
        for iw in self._indexes.values():
            iw.truncate_from(ts)
        self._whole = [w for w in self._whole if w[0] < ts]
        cut = bisect.bisect_left(self._commit_ts, ts, self._commits_start)
        for c in self._commits[cut:]:
            self._writers.pop(c.ts, None)
        del self._commits[cut:], self._commit_ts[cut:]
        self.max_ts = Timestamp(self._commit_ts[-1]) if len(self._commit_ts) > self._commits_start else self.purged_ts

    def _trim_unlocked(self, through_ts: Timestamp) -> None:
        """Drop commits with ts <= *through_ts*; afterwards ``purged_ts >= through_ts``. O(indexes) amortised."""
        if through_ts <= self.purged_ts:
            return
        through_ts = Timestamp(min(through_ts, self.max_ts))
        for iw in self._indexes.values():
            iw.trim_below_or_at(through_ts)
        if self._whole and self._whole[0][0] <= through_ts:
            self._whole = [w for w in self._whole if w[0] > through_ts]
        new_start = bisect.bisect_right(self._commit_ts, through_ts, self._commits_start)
        for c in self._commits[self._commits_start:new_start]:
            self._writers.pop(c.ts, None)
        self._commits_start = new_start
        if self._commits_start > 4096 and self._commits_start * 2 > len(self._commits):
            del self._commits[: self._commits_start], self._commit_ts[: self._commits_start]
            self._commits_start = 0
        self.purged_ts = through_ts

    # ---- reader side ---------------------------------------------------------------------------

    def _is_stale_unlocked(self, read_set: Mapping[Hashable, object], from_ts: Timestamp, to_ts: Timestamp) -> CheckResult:
        """Check reads made at snapshot *from_ts* against every write in ``(from_ts, to_ts]``.

        *read_set* maps index identity -> an interval set with ``first_contained(keys) -> int``. Returns
        the earliest conflicting write (by commit ts) as attribution, ``TOO_OLD`` if ``from_ts <
        purged_ts``, else COMMIT. Old and new keys both count; a commit that invalidated a whole index
        (``whole``) conflicts with every non-empty read of it.
        """
        if to_ts <= from_ts:
            return COMMIT
        if from_ts < self.purged_ts:
            return CheckResult(Verdict.TOO_OLD)
        for wts, ident, name in self._whole:  # schema changes: rare, so a short list
            if from_ts < wts <= to_ts and ident in read_set:
                return CheckResult(Verdict.CONFLICT, ConflictInfo(
                    table=_table_of(_display(ident, name)), index=_display(ident, name), document_id="",
                    key=b"", ts=Timestamp(wts), writer=self._writers.get(wts, "?"), index_id=ident))
        best: tuple[int, Hashable, int] | None = None  # (ts, index, position)
        for index, intervals in read_set.items():
            iw = self._indexes.get(index)
            if iw is None:
                continue
            lo, hi = iw.bounds(from_ts, to_ts)
            if lo >= hi:
                continue
            # Hot loop: one call into the interval-set kernel per index, over a contiguous slice.
            i = intervals.first_contained(iw.keys[lo:hi])  # type: ignore[attr-defined]
            if i >= 0:
                pos = lo + i
                if best is None or iw.ts[pos] < best[0]:
                    best = (iw.ts[pos], index, pos)
        if best is None:
            return COMMIT
        ts, index, pos = best
        iw = self._indexes[index]
        name = _display(index, self._names.get(index, ""))
        info = ConflictInfo(
            table=_table_of(name), index=name, document_id=iw.doc_ids[pos], key=iw.keys[pos],
            ts=Timestamp(ts), writer=self._writers.get(ts, "?"), index_id=index,
        )
        return CheckResult(Verdict.CONFLICT, info)

    def _commits_between_unlocked(self, from_ts: Timestamp, to_ts: Timestamp) -> Iterator[WindowCommit]:
        """Commits with from_ts < ts <= to_ts, ascending. Raises LookupError if from_ts < purged_ts."""
        if from_ts < self.purged_ts:
            raise LookupError(f"write window purged through {self.purged_ts}; cannot list commits after {from_ts}")
        lo = bisect.bisect_right(self._commit_ts, from_ts, self._commits_start)
        hi = bisect.bisect_right(self._commit_ts, to_ts, lo)
        return iter(self._commits[lo:hi])


    # ---- locked public surface -------------------------------------------------------------------

    def append(self, ts: Timestamp, writer: str, keys: Sequence[KeyWrite],
               whole: Sequence[tuple[Hashable, str]] = ()) -> None:
        """Record commit *ts* with its written keys and the indexes it invalidated whole. Raises
        ValueError unless ts > max_ts. O(len(keys))."""
        with self._lock:
            self._append_unlocked(ts, writer, keys, whole)

    def rollback_from(self, ts: Timestamp) -> None:
        """Forget commits with ts >= *ts* (their durable write failed; they never happened)."""
        with self._lock:
            self._rollback_from_unlocked(ts)

    def trim(self, through_ts: Timestamp) -> None:
        """Drop commits with ts <= *through_ts*; afterwards ``purged_ts >= through_ts``."""
        with self._lock:
            self._trim_unlocked(through_ts)

    def is_stale(self, read_set: Mapping[Hashable, object], from_ts: Timestamp, to_ts: Timestamp) -> CheckResult:
        """See ``_is_stale_unlocked``: COMMIT, CONFLICT (earliest conflicting write) or TOO_OLD."""
        with self._lock:
            return self._is_stale_unlocked(read_set, from_ts, to_ts)

    def commits_between(self, from_ts: Timestamp, to_ts: Timestamp) -> list[WindowCommit]:
        """Commits with from_ts < ts <= to_ts, ascending. Raises LookupError if from_ts < purged_ts."""
        with self._lock:
            return list(self._commits_between_unlocked(from_ts, to_ts))

    def check_invariants(self) -> None:
        with self._lock:
            self._check_invariants_unlocked()

    def __len__(self) -> int:
        return len(self._commits) - self._commits_start

    def _check_invariants_unlocked(self) -> None:
        live = self._commit_ts[self._commits_start:]
        assert all(a < b for a, b in zip(live, live[1:])), "commit timestamps must strictly increase"
        assert all(w[0] in self._writers for w in self._whole), "whole-index write without a listed commit"
        assert all(t > self.purged_ts for t in live), "a commit at or below purged_ts is still listed"
        assert not live or live[-1] == self.max_ts, (live[-1:], self.max_ts)
        for name, iw in self._indexes.items():
            assert len(iw.ts) == len(iw.keys) == len(iw.doc_ids), name
            seg = iw.ts[iw.start:]
            assert all(a <= b for a, b in zip(seg, seg[1:])), f"{name}: ts not sorted"
            assert all(t in self._writers for t in seg), f"{name}: write without a listed commit"

    def debug_state(self) -> dict:
        return {
            "purged_ts": self.purged_ts,
            "max_ts": self.max_ts,
            "commits": [(c.ts, c.writer, [(k.index, k.key, k.document_id) for k in c.keys])
                        for c in self._commits[self._commits_start:]],
        }


def keys_of(commits: Iterable[WindowCommit]) -> dict[Hashable, list[bytes]]:
    """All written keys of several commits, grouped by index identity (for stabbing)."""
    out: dict[Hashable, list[bytes]] = {}
    for c in commits:
        for kw in c.keys:
            out.setdefault(kw.index, []).append(kw.key)
    return out
