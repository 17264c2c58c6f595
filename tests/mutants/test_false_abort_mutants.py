"""The serializability oracle's second side: committers that abort too much must fail it.

Role: evidence that ``engine.testing.serializability`` bounds false aborts. Aborting every contended
transaction keeps every committed history serializable, so a one-sided oracle passes such a committer;
each mutant here does a variant of that on a real database, and the unchanged oracle
(``tests/system/test_serializability.run_one``) must reject it with its false-abort error.

Who uses it: pytest only. The mutants live here, never in ``engine``.

How the mutants are injected: through the public surface of the parts they break - ``WriteWindow.is_stale``
(the OCC check the committer calls) is wrapped for the duration of one test with ``monkeypatch``, and the
interval-set class a database builds read sets from is swapped as in ``test_occ_mutants``. Runs are
reproducible (derandomized, no example database) and the mutants hold no state between calls.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.conflict.base import CheckResult, ConflictInfo, Verdict
from engine.conflict.interval_set import IntervalSet
from engine.log.write_window import WriteWindow
from tests.system.test_serializability import memory_db, run_one

MUTANT_SETTINGS = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                           report_multiple_bugs=False, phases=(Phase.explicit, Phase.generate),
                           suppress_health_check=list(HealthCheck))

REAL_IS_STALE = WriteWindow.is_stale


def conflict_on_any_concurrent_commit(self, read_set, from_ts, to_ts):
    """A "pessimistic" window: if anything at all committed since the snapshot, CONFLICT - blaming the
    first key of the first such commit, so the attribution itself names a real write of the window."""
    result = REAL_IS_STALE(self, read_set, from_ts, to_ts)
    if result.verdict is Verdict.COMMIT and to_ts > from_ts:
        for commit in self.commits_between(from_ts, to_ts):
            kw = commit.keys[0]
            name = kw.index_name
            return CheckResult(Verdict.CONFLICT, ConflictInfo(name.split(".", 1)[0], name, kw.document_id,
                                                              kw.key, commit.ts, commit.writer, kw.index))
    return result


def too_old_on_any_concurrent_commit(self, read_set, from_ts, to_ts):
    """Hides the same over-aborting behind TOO_OLD ("retry, nobody to blame"), which carries no attribution."""
    result = REAL_IS_STALE(self, read_set, from_ts, to_ts)
    if result.verdict is Verdict.COMMIT and to_ts > from_ts and self.commits_between(from_ts, to_ts):
        return CheckResult(Verdict.TOO_OLD)
    return result


class ConflictsOnAnyWriteToAReadIndex(IntervalSet):
    """Coarse conflict detection: any write to an index the transaction read counts, wherever its key."""

    def bounds(self):
        # the write window walks these: one interval holding every key, whenever anything was read
        return ([b""], [None]) if len(self) else ([], [])


def _oracle_on_memory(interval_set_cls=None):
    @MUTANT_SETTINGS
    @given(st.data())
    def oracle(data):
        run_one(data, memory_db(interval_set_cls))

    return oracle


@pytest.mark.parametrize("window_mutant", [conflict_on_any_concurrent_commit, too_old_on_any_concurrent_commit],
                         ids=["conflict-on-any-concurrent-commit", "too-old-on-any-concurrent-commit"])
def test_oracle_rejects_a_window_that_aborts_every_contended_transaction(monkeypatch, window_mutant):
    monkeypatch.setattr(WriteWindow, "is_stale", window_mutant)
    with pytest.raises(AssertionError, match="false aborts"):
        _oracle_on_memory()()


def test_oracle_rejects_index_granularity_conflict_detection():
    with pytest.raises(AssertionError, match="false aborts"):
        _oracle_on_memory(ConflictsOnAnyWriteToAReadIndex)()


def test_the_unmutated_window_passes_the_same_search():
    """Control: the same search against the real window finds no false abort, so the kills above are the
    mutants' doing and not the oracle rejecting everything."""
    _oracle_on_memory()()
