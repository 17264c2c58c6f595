"""The write window against an obviously-correct model, with every write-window kernel side by side.

Role: one hypothesis state machine drives the model (a plain list of every commit ever made) and one
``WriteWindow`` per kernel from ``engine._impl.implementations("write_window")`` (the reference
``engine.log.written_keys`` and, when built, the Cython twin), each fed read sets of the interval-set twin
of the same name. Every check must give the model's verdict and exactly the model's attribution; TOO_OLD
exactly when the window cannot answer; ``commits_between`` the model's commits; and, with several kernels,
the per-index trees must be identical (same entries, same per-subtree maximum ts: the twins build the very
same treap), so the twin is compared with the reference structurally, not only by answers.

What it exercises: commits with repeated keys across and within commits, whole-index invalidations
(schema changes), rollbacks of the newest commits (which must lower the per-subtree maxima), trims (which
delete the oldest entries), and checks whose ``to_ts`` lies behind the newest commit (the subscription
manager's case, where entries newer than ``to_ts`` must be skipped) as well as ahead of it.

Attribution contract (``engine.log.write_window``): a whole-index invalidation of a read index first (the
earliest); else the first index of the read set, in its iteration order, with a conflicting write, and there
the conflicting write with the smallest key, then the smallest ts, then the earliest in its commit.

Who uses it: pytest; ``tests/mutants/test_write_window_twin_mutants.py`` reuses ``make_machine``.
"""
from __future__ import annotations

from types import ModuleType
from typing import Hashable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engine._impl import implementations
from engine.conflict.base import Verdict
from engine.log.write_window import KeyWrite, WriteWindow
from engine.model.types import Interval

INDEXES = ["t.by_id", "t.by_x", "u.by_id"]
small_keys = st.lists(st.sampled_from([b"\x00", b"a", b"b", b"\xff"]), min_size=0, max_size=3).map(b"".join)
intervals = st.one_of(
    st.builds(Interval.point, small_keys),
    st.builds(Interval.prefix, small_keys),
    st.builds(Interval, small_keys, st.one_of(st.none(), small_keys)),
    st.just(Interval.all()),
)
read_sets = st.dictionaries(st.sampled_from(INDEXES), st.lists(intervals, max_size=4), max_size=3)
# The identity doubles as the display name ("table.index"), so attribution's names can be checked too.
key_writes = st.lists(st.builds(lambda ix, key, doc: KeyWrite(ix, key, doc, ix), st.sampled_from(INDEXES), small_keys,
                                st.sampled_from(["d1", "d2", "d3"])), max_size=5)
wholes = st.lists(st.sampled_from(INDEXES), max_size=1, unique=True)

#: name -> (write-window kernel, interval-set class): every built kernel, each with its namesake set.
SUBJECTS: dict[str, tuple[ModuleType, type]] = {
    name: (mod, implementations("interval_set").get(name, implementations("interval_set")["py"]).IntervalSet)
    for name, mod in implementations("write_window").items()
}


def make_machine(subjects: dict[str, tuple[ModuleType, type]], check_invariants: bool = True,
                 compare_trees: bool = True):
    """A machine driving one ``WriteWindow`` per ``name -> (kernel, interval-set class)`` against the model.
    ``check_invariants=False`` and ``compare_trees=False`` leave only behaviour (verdicts, attributions,
    listings, sizes) as the oracle; the mutant suite uses that to show the behavioural checks alone have
    teeth."""

    class WindowMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.windows = {name: WriteWindow(kernel=kernel) for name, (kernel, _) in subjects.items()}
            # the model: every commit ever made and not rolled back, (ts, writer, keys, whole identities)
            self.commits: list[tuple[int, str, list[KeyWrite], list[Hashable]]] = []
            self.purged = 0
            self.ts = 0

        @rule(keys=key_writes, whole=wholes, gap=st.integers(1, 3), writer=st.sampled_from(["f", "g"]))
        def commit(self, keys, whole, gap, writer):
            self.ts += gap
            for w in self.windows.values():
                w.append(self.ts, writer, keys, [(ix, ix) for ix in whole])
            self.commits.append((self.ts, writer, keys, whole))

        @precondition(lambda self: self.commits)
        @rule(back=st.integers(0, 3))
        def rollback(self, back):
            live = [c for c in self.commits if c[0] > self.purged]
            if not live:
                return
            cut = live[max(0, len(live) - 1 - back)][0]
            for w in self.windows.values():
                w.rollback_from(cut)
            self.commits = [c for c in self.commits if c[0] < cut]

        @rule(keep=st.integers(0, 4))
        def trim(self, keep):
            live = [c[0] for c in self.commits if c[0] > self.purged]
            if len(live) <= keep:
                return
            through = live[len(live) - keep - 1]
            for w in self.windows.values():
                w.trim(through)
            self.purged = max(self.purged, through)

        def expected(self, reads: dict, from_ts: int, to_ts: int):
            """The model's answer: None (COMMIT) or (index, key, ts, document_id, writer)."""
            live = [c for c in self.commits if from_ts < c[0] <= to_ts]
            read = {ix for ix, ivs in reads.items() if any(not iv.is_empty() for iv in ivs)}
            for ts, writer, _keys, whole in live:  # ascending ts: the earliest whole invalidation
                for ix in whole:
                    if ix in read:
                        return ix, b"", ts, "", writer
            for ix, ivs in reads.items():
                hits = [(kw.key, ts, pos, kw.document_id, writer) for ts, writer, keys, _ in live
                        for pos, kw in enumerate(keys)
                        if kw.index == ix and any(iv.contains(kw.key) for iv in ivs)]
                if hits:
                    key, ts, _pos, doc, writer = min(hits)
                    return ix, key, ts, doc, writer
            return None

        @rule(reads=read_sets, span=st.integers(0, 11))
        def verdicts_match_model(self, reads, span):
            # every recent snapshot, each checked up to span later: behind the newest commit and ahead of it
            for back in range(0, 9):
                if self.ts - back >= 0:
                    self.check(reads, self.ts - back, self.ts - back + span)

        @rule(order=st.permutations(INDEXES), span=st.integers(0, 11))
        def full_range_reads_match_model(self, order, span):
            # reading every key of every index: the witness is the smallest key newer than each snapshot
            reads = {ix: [Interval.all()] for ix in order}
            for back in range(0, 9):
                if self.ts - back >= 0:
                    self.check(reads, self.ts - back, self.ts - back + span)

        def check(self, reads, from_ts, to_ts):
            want = self.expected(reads, from_ts, to_ts)
            for name, w in self.windows.items():
                set_cls = subjects[name][1]
                rs = {}
                for index, ivs in reads.items():
                    s = set_cls()
                    for iv in ivs:
                        s.add(iv)
                    if s:  # a ReadSet never holds an empty interval set
                        rs[index] = s
                got = w.is_stale(rs, from_ts, to_ts)
                if to_ts <= from_ts:
                    assert got.verdict is Verdict.COMMIT, (name, got)
                    continue
                if from_ts < self.purged:
                    assert got.verdict is Verdict.TOO_OLD, (name, got)
                    continue
                if want is None:
                    assert got.verdict is Verdict.COMMIT, (name, got)
                    continue
                assert got.verdict is Verdict.CONFLICT, (name, got, want)
                c = got.conflict
                assert (c.index_id, c.key, c.ts, c.document_id, c.writer) == want, (name, c, want)
                assert c.index == want[0] and c.table == c.index.split(".")[0], (name, c)

        @rule(back=st.integers(0, 6))
        def commits_between_matches(self, back):
            from_ts = max(0, self.ts - back)
            if from_ts < self.purged:
                return
            for name, w in self.windows.items():
                got = [(c.ts, c.writer, list(c.keys)) for c in w.commits_between(from_ts, self.ts)]
                assert got == [(ts, wr, keys) for ts, wr, keys, _ in self.commits if from_ts < ts <= self.ts], name

        @invariant()
        def windows_agree(self):
            live = [c for c in self.commits if c[0] > self.purged]
            states = []
            for name, w in self.windows.items():
                if check_invariants:
                    w.check_invariants()
                assert len(w) == len(live), (name, len(w), len(live))
                states.append(w.debug_state()["indexes"])
            # the twins build the very same trees: entries, per-subtree max ts and depth all equal
            if compare_trees:
                assert all(s == states[0] for s in states[1:]), "the kernels' trees differ"

    return WindowMachine


TestWriteWindow = make_machine(SUBJECTS).TestCase
