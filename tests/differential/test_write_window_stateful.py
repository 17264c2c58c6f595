"""The write window against an obviously-correct model: same verdicts, attribution at the earliest
conflicting commit, TOO_OLD exactly when the window cannot answer, rollback and trim consistent."""
from __future__ import annotations

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
key_writes = st.lists(st.builds(KeyWrite, st.sampled_from(INDEXES), small_keys, st.sampled_from(["d1", "d2", "d3"])), max_size=5)


def make_machine(interval_set_cls):
    class WindowMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.window = WriteWindow()
            self.commits: list[tuple[int, str, list[KeyWrite]]] = []  # the model: every commit ever
            self.purged = 0
            self.ts = 0

        @rule(keys=key_writes, gap=st.integers(1, 3), writer=st.sampled_from(["f", "g"]))
        def commit(self, keys, gap, writer):
            self.ts += gap
            self.window.append(self.ts, writer, keys)
            self.commits.append((self.ts, writer, keys))

        @precondition(lambda self: self.commits)
        @rule(back=st.integers(0, 3))
        def rollback(self, back):
            live = [c for c in self.commits if c[0] > self.purged]
            if not live:
                return
            cut = live[max(0, len(live) - 1 - back)][0]
            self.window.rollback_from(cut)
            self.commits = [c for c in self.commits if c[0] < cut]

        @rule(keep=st.integers(0, 4))
        def trim(self, keep):
            live = [c[0] for c in self.commits if c[0] > self.purged]
            if len(live) <= keep:
                return
            through = live[len(live) - keep - 1]
            self.window.trim(through)
            self.purged = max(self.purged, through)

        @rule(reads=read_sets, back=st.integers(0, 8), ahead=st.integers(0, 3))
        def verdicts_match_model(self, reads, back, ahead):
            from_ts = max(0, self.ts - back)
            to_ts = self.ts + ahead
            rs = {}
            for index, ivs in reads.items():
                s = interval_set_cls()
                for iv in ivs:
                    s.add(iv)
                rs[index] = s
            got = self.window.is_stale(rs, from_ts, to_ts)
            if to_ts <= from_ts:
                assert got.verdict is Verdict.COMMIT
                return
            if from_ts < self.purged:
                assert got.verdict is Verdict.TOO_OLD
                return
            hits = [(ts, w, kw) for ts, w, kws in self.commits if from_ts < ts <= to_ts for kw in kws
                    if any(iv.contains(kw.key) for iv in reads.get(kw.index, ()))]
            if not hits:
                assert got.verdict is Verdict.COMMIT, got
                return
            assert got.verdict is Verdict.CONFLICT
            first = min(h[0] for h in hits)
            allowed = {(kw.index, kw.key, kw.document_id, w) for ts, w, kw in hits if ts == first}
            c = got.conflict
            assert c.ts == first, (c, first)
            assert (c.index, c.key, c.document_id, c.writer) in allowed
            assert c.table == c.index.split(".")[0]

        @rule(back=st.integers(0, 6))
        def commits_between_matches(self, back):
            from_ts = max(0, self.ts - back)
            if from_ts < self.purged:
                return
            got = [c.ts for c in self.window.commits_between(from_ts, self.ts)]
            assert got == [ts for ts, _, _ in self.commits if from_ts < ts <= self.ts]

        @invariant()
        def valid(self):
            self.window.check_invariants()

    return WindowMachine


for _name, _mod in implementations("interval_set").items():
    globals()[f"TestWriteWindow_{_name}"] = make_machine(_mod.IntervalSet).TestCase
