"""Mutant tests: deliberately broken record codecs that the differential properties must catch.

Role: evidence that ``tests/differential/test_record_twins.py`` has teeth. Each mutant wraps the Cython twin
(the reference when the twin is not built) and breaks exactly one rule of the format; the differential
properties, run with the mutant in place of the twin, must fail. A mutant that survives fails here.

Who uses it: pytest only. The mutants live here, never in ``engine``.

Invariants: runs are reproducible (``derandomize=True``, no example database, no shrinking).
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from engine._impl import implementations
from engine.model.errors import PersistenceError
from engine.persistence.base import CommitRecord, DocumentWrite
from tests.differential import test_record_twins as diff

IMPLS = implementations("record")
TWIN = IMPLS.get("cy", IMPLS["py"])

MUTANT_SETTINGS = settings(
    max_examples=300, deadline=None, database=None, derandomize=True, print_blob=False,
    report_multiple_bugs=False, phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _empty_value_is_a_tombstone(rec):
    """Encoder mutant: a present-but-empty value b"" is written as a tombstone (flag 0)."""
    writes = tuple(DocumentWrite(w.table, w.id, None if w.value == b"" else w.value, w.prev_ts) for w in rec.writes)
    return TWIN.encode_record(CommitRecord(rec.ts, rec.writer, writes))


def _lenient_decode(data):
    """Decoder mutant: a record followed by junk is accepted (tries every shorter prefix)."""
    data = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        return TWIN.decode_record(data)
    except PersistenceError:
        if isinstance(data, bytes):
            for n in range(len(data) - 1, TWIN.MIN_RECORD_BYTES - 1, -1):
                try:
                    return TWIN.decode_record(data[:n])
                except PersistenceError:
                    pass
        raise


MUTANTS = {
    "empty-value-as-tombstone": SimpleNamespace(encode_record=_empty_value_is_a_tombstone,
                                                decode_record=TWIN.decode_record, MIN_RECORD_BYTES=21),
    "accepts-trailing-junk": SimpleNamespace(encode_record=TWIN.encode_record,
                                             decode_record=_lenient_decode, MIN_RECORD_BYTES=21),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_differential_properties_kill_the_mutant(mutant, monkeypatch):
    monkeypatch.setattr(diff, "IMPLS", {"py": IMPLS["py"], "mutant": MUTANTS[mutant]})
    monkeypatch.setattr(diff, "NAMES", ["py", "mutant"])

    @MUTANT_SETTINGS
    @given(diff.records, diff.st.data())
    def properties(rec, data):
        diff.test_identical_bytes_and_cross_decoding.hypothesis.inner_test(rec)
        diff.test_corruptions_are_rejected_identically.hypothesis.inner_test(rec, data)

    with pytest.raises(AssertionError):
        properties()


def test_unbroken_wrapper_survives(monkeypatch):
    """Control: the twin itself, passed through the same plumbing, survives."""
    monkeypatch.setattr(diff, "IMPLS", {"py": IMPLS["py"], "twin": TWIN})
    monkeypatch.setattr(diff, "NAMES", ["py", "twin"])

    @settings(MUTANT_SETTINGS, max_examples=60)
    @given(diff.records, diff.st.data())
    def properties(rec, data):
        diff.test_identical_bytes_and_cross_decoding.hypothesis.inner_test(rec)
        diff.test_corruptions_are_rejected_identically.hypothesis.inner_test(rec, data)

    properties()
