"""Compiled mutants of the document-id twin (``ext/ids.pyx``) that the differential properties must kill.

Each mutant is the twin's source with exactly one edit (``tests.mutants.compiled.build_variant``: the edit
must match once, so a refactor fails loudly instead of testing an unmutated copy), compiled and run in
place of the twin through every property of ``tests/differential/test_ids_twins.py``; at least one must
fail. A surviving mutant fails here: the differential suite could not see that bug.

Mutants:
- ``pad_bits_ignored``: non-zero padding bits in the last character are accepted (two spellings per id).
- ``overlong_vint_accepted``: a table number with a trailing zero VInt group is accepted.
- ``checksum_low_byte_only``: only the low byte of the footer is compared.
- ``vint_group_off_by_one``: the encoder starts a second VInt byte at 0x100 instead of 0x80.
- ``table_zero_accepted``: table number 0 decodes.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.differential import test_ids_twins as diff
from tests.mutants.compiled import build_variant

MUTANTS: dict[str, list[tuple[str, str]]] = {
    "pad_bits_ignored": [("    if acc & (((<uint32_t>1) << pad_bits) - 1):", "    if False:")],
    "overlong_vint_accepted": [("    if pos > 1 and raw[pos - 1] == 0:", "    if False:")],
    "checksum_low_byte_only": [(
        "    if (raw[nbytes - 2] | (raw[nbytes - 1] << 8)) != (_fletcher(raw, nbytes - 2) ^ _VERSION):",
        "    if raw[nbytes - 2] != ((_fletcher(raw, nbytes - 2) ^ _VERSION) & 0xFF):")],
    "vint_group_off_by_one": [("    while t >= 0x80:", "    while t >= 0x100:")],
    "table_zero_accepted": [("    if table_number == 0:\n", "    if False:\n")],
}

_RUN = settings(max_examples=300, derandomize=True, database=None, deadline=None, print_blob=False,
                report_multiple_bugs=False, phases=(Phase.explicit, Phase.generate),
                suppress_health_check=list(HealthCheck))

def _run_all(twin) -> None:
    for prop in diff.properties(twin).values():
        _RUN(prop)()


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_differential_properties_kill_the_compiled_mutant(mutant):
    variant = build_variant("ids", mutant, MUTANTS[mutant])
    with pytest.raises(AssertionError):
        _run_all(variant)


def test_the_unmutated_twin_survives_the_same_search():
    _run_all(build_variant("ids", "unmutated", []))
