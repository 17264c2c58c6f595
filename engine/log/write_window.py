"""Write window: recent commits as the index keys they changed, for OCC validation and invalidation.

Who may call it: the committer appends (and rolls back a batch whose durable write failed); the
subscription manager reads commits in order and checks new subscriptions; the database trims it. It never
touches disk: the durable commit log is ``engine.persistence``; this window is derived, in-memory state.

Structure: per index, one ``WrittenKeys`` of the injected kernel (``engine.log.written_keys``, or its
Cython twin ``engine._native.write_window``; ``engine._impl`` chooses, the database passes it in): that
index's writes in KEY order with the maximum commit ts per subtree, so one read interval is checked in
O(log w) without looking at the writes outside it or older than the snapshot. Beside it, the commits in ts
order (``commits_between``, attribution of the writer) and the short list of whole-index invalidations.

Invariants (``check_invariants``):
- Commit timestamps strictly increase; every commit in ``(purged_ts, max_ts]`` is present.
- Every per-index entry belongs to a listed commit (``purged_ts < ts <= max_ts``), and each index's kernel
  holds its own invariants (key order, per-subtree maximum ts).
- Each entry carries both the old and the new index key of every changed document (an update moves a
  document between keys; both positions matter to readers of either).
- Indexes are identified by an opaque hashable identity (the catalog's index id, or
  ``engine.catalog.absent_table_key``), never by name: a schema change that drops or redefines an index
  gives the new definition a new id, and the commit that drops one writes its *whole* range (``whole``),
  so no interleaving of schema changes can hide a conflict.

Cost of ``is_stale(read_set, from_ts, to_ts)``: O(whole-index invalidations in the window + Σ over read
indexes of (1 + intervals · log w)) for w writes of that index in the window, whatever the snapshot's age;
an index with nothing newer than ``from_ts`` costs O(1). (Writes newer than ``to_ts``, only possible when
the subscription manager checks behind commits in flight, can add a path each; see the kernel.)

Attribution: a CONFLICT names *a* conflicting write, chosen deterministically: the earliest whole-index
invalidation of a read index if there is one; else, for the first index of ``read_set`` (its iteration
order) that has a conflicting write, the one with the smallest key (and of that key's writes the earliest).
It used to be "the earliest conflicting write by commit ts"; that needs the minimum ts above ``from_ts`` in a
key range, which a per-subtree maximum cannot give in O(log w), and no caller depends on which write is
named, only that it is a real one.
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Hashable, Iterable, Iterator, Mapping, NamedTuple, Sequence

from engine.conflict.base import COMMIT, CheckResult, ConflictInfo, Verdict
from engine.model.types import Timestamp


class KeyWrite(NamedTuple):
    """One changed index key of one commit: the old or new key of ``document_id`` in index ``index``
    (its identity); ``index_name`` ("table.index") is for display only. A named tuple, not a dataclass:
    the committer makes several per commit, and a tuple is the cheapest immutable record to build."""

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


class WriteWindow:
    """Recent commits' index keys, per index, with a purge watermark.

    ``purged_ts``: every commit with ts > purged_ts is present. A check whose ``from_ts`` is below it
    cannot be answered (commits may be missing) and gets ``Verdict.TOO_OLD``. ``kernel``: the module
    providing ``WrittenKeys`` (``engine._impl.resolve("write_window")``); None means the reference.
    """

    def __init__(self, purged_ts: Timestamp = Timestamp(0), kernel: ModuleType | None = None) -> None:
        if kernel is None:
            from engine.log import written_keys as kernel
        self.kernel: ModuleType = kernel
        self._new_index = kernel.WrittenKeys
        self._indexes: dict[Hashable, object] = {}
        self._names: dict[Hashable, str] = {}
        self._whole: list[tuple[int, Hashable, str]] = []   # (ts, index identity, name), ts ascending
        self._commits: list[WindowCommit] = []
        self._commit_ts: list[int] = []
        self._commits_start = 0
        self._writers: dict[int, str] = {}
        self.purged_ts: Timestamp = purged_ts
        self.max_ts: Timestamp = purged_ts
        # The committer mutates while the subscription manager reads; the kernels are not thread-safe and a
        # check must not interleave with a trim. Uncontended, this lock costs well under a microsecond.
        self._lock = threading.RLock()

    # ---- writer side (the committer) ----------------------------------------------------------

    def _append_unlocked(self, ts: Timestamp, writer: str, keys: Sequence[KeyWrite],
                         whole: Sequence[tuple[Hashable, str]] = ()) -> WindowCommit:
        """Record commit *ts*; return it as a ``WindowCommit``. Raises ValueError unless ts > max_ts.
        O(len(keys) · log w)."""
        if ts <= self.max_ts:
            raise ValueError(f"write window: commit ts {ts} not above max_ts {self.max_ts}")
        for ident, name in whole:
            self._whole.append((ts, ident, name))
        for kw in keys:
            wk = self._indexes.get(kw.index)
            if wk is None:
                wk = self._indexes[kw.index] = self._new_index()
            if kw.index_name and kw.index not in self._names:
                self._names[kw.index] = kw.index_name
            wk.add(kw.key, ts, kw.document_id)  # type: ignore[attr-defined]
        commit = WindowCommit(ts, writer, tuple(keys), tuple(whole))
        self._commits.append(commit)
        self._commit_ts.append(ts)
        self._writers[ts] = writer
        self.max_ts = ts
        return commit

    def _rollback_from_unlocked(self, ts: Timestamp) -> None:
        """Forget commits with ts >= *ts* (their durable write failed; they never happened)."""
        for wk in self._indexes.values():
            wk.drop_from(ts)  # type: ignore[attr-defined]
        self._forget_empty_indexes()
        self._whole = [w for w in self._whole if w[0] < ts]
        cut = bisect.bisect_left(self._commit_ts, ts, self._commits_start)
        for c in self._commits[cut:]:
            self._writers.pop(c.ts, None)
        del self._commits[cut:], self._commit_ts[cut:]
        self.max_ts = Timestamp(self._commit_ts[-1]) if len(self._commit_ts) > self._commits_start else self.purged_ts

    def _trim_unlocked(self, through_ts: Timestamp) -> None:
        """Drop commits with ts <= *through_ts*; afterwards ``purged_ts >= through_ts``. O(indexes) plus
        O(log w) per dropped write: amortised O(log w) per write ever appended."""
        if through_ts <= self.purged_ts:
            return
        through_ts = Timestamp(min(through_ts, self.max_ts))
        dropped = 0
        for wk in self._indexes.values():
            dropped += wk.drop_through(through_ts)  # type: ignore[attr-defined]
        if dropped:
            self._forget_empty_indexes()
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

    def _forget_empty_indexes(self) -> None:
        """Drop the kernels (and display names) of indexes with no write left, so identities of dropped
        indexes do not accumulate. O(indexes)."""
        empty = [ident for ident, wk in self._indexes.items() if not len(wk)]  # type: ignore[arg-type]
        for ident in empty:
            del self._indexes[ident]
            self._names.pop(ident, None)

    # ---- reader side ---------------------------------------------------------------------------

    def _is_stale_unlocked(self, read_set: Mapping[Hashable, object], from_ts: Timestamp, to_ts: Timestamp) -> CheckResult:
        """Check reads made at snapshot *from_ts* against every write in ``(from_ts, to_ts]``.

        *read_set* maps index identity -> an interval set with ``bounds() -> (starts, ends)`` (the
        interval-set kernel's canonical intervals). Returns CONFLICT with *a* conflicting write as
        attribution (which one: see the module docstring), ``TOO_OLD`` if ``from_ts < purged_ts``, else
        COMMIT. Old and new keys both count; a commit that invalidated a whole index (``whole``) conflicts
        with every non-empty read of it. Cost: O(Σ over read indexes of (1 + intervals · log w)).
        """
        if to_ts <= from_ts:
            return COMMIT
        if from_ts < self.purged_ts:
            return CheckResult(Verdict.TOO_OLD)
        for wts, ident, name in self._whole:  # schema changes: rare, so a short list
            if from_ts < wts <= to_ts and read_set.get(ident):
                return CheckResult(Verdict.CONFLICT, ConflictInfo(
                    table=_table_of(_display(ident, name)), index=_display(ident, name), document_id="",
                    key=b"", ts=Timestamp(wts), writer=self._writers.get(wts, "?"), index_id=ident))
        indexes = self._indexes
        for index, intervals in read_set.items():
            wk = indexes.get(index)
            if wk is None:
                continue
            # Hot call: one kernel call per read index, O(intervals · log w) inside.
            starts, ends = intervals.bounds()  # type: ignore[attr-defined]
            hit = wk.first_conflict(starts, ends, from_ts, to_ts)  # type: ignore[attr-defined]
            if hit is not None:
                key, ts, doc_id = hit
                name = _display(index, self._names.get(index, ""))
                return CheckResult(Verdict.CONFLICT, ConflictInfo(
                    table=_table_of(name), index=name, document_id=doc_id, key=key,
                    ts=Timestamp(ts), writer=self._writers.get(ts, "?"), index_id=index))
        return COMMIT

    def _commits_between_unlocked(self, from_ts: Timestamp, to_ts: Timestamp) -> Iterator[WindowCommit]:
        """Commits with from_ts < ts <= to_ts, ascending. Raises LookupError if from_ts < purged_ts."""
        if from_ts < self.purged_ts:
            raise LookupError(f"write window purged through {self.purged_ts}; cannot list commits after {from_ts}")
        lo = bisect.bisect_right(self._commit_ts, from_ts, self._commits_start)
        hi = bisect.bisect_right(self._commit_ts, to_ts, lo)
        return iter(self._commits[lo:hi])

    # ---- locked public surface -------------------------------------------------------------------

    def append(self, ts: Timestamp, writer: str, keys: Sequence[KeyWrite],
               whole: Sequence[tuple[Hashable, str]] = ()) -> WindowCommit:
        """Record commit *ts* with its written keys and the indexes it invalidated whole; return the
        ``WindowCommit`` recorded (what subscriptions are stabbed with). Raises ValueError unless
        ts > max_ts. O(len(keys) · log w)."""
        with self._lock:
            return self._append_unlocked(ts, writer, keys, whole)

    def rollback_from(self, ts: Timestamp) -> None:
        """Forget commits with ts >= *ts* (their durable write failed; they never happened)."""
        with self._lock:
            self._rollback_from_unlocked(ts)

    def trim(self, through_ts: Timestamp) -> None:
        """Drop commits with ts <= *through_ts*; afterwards ``purged_ts >= through_ts``."""
        with self._lock:
            self._trim_unlocked(through_ts)

    def is_stale(self, read_set: Mapping[Hashable, object], from_ts: Timestamp, to_ts: Timestamp) -> CheckResult:
        """See ``_is_stale_unlocked``: COMMIT, CONFLICT (attributed to a conflicting write) or TOO_OLD."""
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
        listed = {(c.ts, kw.index, kw.key, kw.document_id) for c in self._commits[self._commits_start:]
                  for kw in c.keys}
        held = 0
        for ident, wk in self._indexes.items():
            wk.check_invariants()  # type: ignore[attr-defined]
            for key, ts, doc_id in wk.entries():  # type: ignore[attr-defined]
                assert self.purged_ts < ts <= self.max_ts, f"{ident}: write at {ts} outside the window"
                assert (ts, ident, key, doc_id) in listed, f"{ident}: write at {ts} without a listed commit"
                held += 1
        assert held == sum(len(c.keys) for c in self._commits[self._commits_start:]), (
            "per-index writes do not match the listed commits' keys")

    def debug_state(self) -> dict:
        return {
            "purged_ts": self.purged_ts,
            "max_ts": self.max_ts,
            "commits": [(c.ts, c.writer, [(k.index, k.key, k.document_id) for k in c.keys])
                        for c in self._commits[self._commits_start:]],
            "indexes": {ident: wk.debug_state() for ident, wk in self._indexes.items()},  # type: ignore[attr-defined]
        }


def keys_of(commits: Iterable[WindowCommit]) -> dict[Hashable, list[bytes]]:
    """All written keys of several commits, grouped by index identity (for stabbing)."""
    out: dict[Hashable, list[bytes]] = {}
    for c in commits:
        for kw in c.keys:
            out.setdefault(kw.index, []).append(kw.key)
    return out
