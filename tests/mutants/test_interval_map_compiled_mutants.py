"""Compiled mutants of the interval-map twin's fast paths, which the differential machine must kill.

Role: evidence that ``tests/differential/test_interval_map_stateful.py`` catches bugs inside the compiled
code that no Python subclass can reach: the 8-byte prefix comparisons (a tie must fall back to the whole
strings), the shared prefix of all bounds (a key above it, prefixes recomputed when it shrinks) and the
interleaved ``stab_many`` (a lane skipping a key, a full lane stack dropping its key). Each mutant is the
real ``ext/interval_map.pyx`` with one edit (``tests/mutants/compiled.py``), built as its own module; the
unchanged state machine drives it against the model and must fail. A surviving mutant fails here.

Also the converse, so the lane-stack fallback is not dead code under test: the twin rebuilt with lane
stacks of 2 entries (every stab_many then overflows and takes the fallback) must pass the machine.

Who uses it: pytest only; skipped when the Cython twin is not built (nothing compiled to mutate).

Invariants: reproducible runs (the settings of ``test_interval_twin_mutants``: derandomized, no example
database, no shrinking).
"""
from __future__ import annotations

import pytest
from hypothesis.stateful import run_state_machine_as_test

from engine._impl import implementations
from tests.differential.test_interval_map_stateful import make_interval_map_machine
from tests.mutants.compiled import build_variant
from tests.mutants.test_interval_twin_mutants import MUTANT_SETTINGS

pytestmark = pytest.mark.skipif("cy" not in implementations("interval_map"),
                                reason="the Cython twin is not built: no compiled code to mutate")

SMALL_LANE_STACKS = ("DEF LANE_STACK = 128", "DEF LANE_STACK = 2")

#: label -> edits of ext/interval_map.pyx (each old text occurs exactly once there).
MUTANTS: dict[str, list[tuple[str, str]]] = {
    # _stab_into: a start-prefix tie decides "start <= key" without comparing the whole strings.
    "stab-start-tie-decides": [(
        "\n                if h.spfx < kx or (h.spfx == kx and _cmp_raw(cold[n].sp, cold[n].sl, kp, kl) <= 0):",
        "\n                if h.spfx <= kx:")],
    # _stab_lanes: on an end-prefix tie the end is compared inclusively (<= for <).
    "lanes-end-tie-inclusive": [(
        "                                cold[n].end == NULL or _cmp_raw(kp, kl, cold[n].ep, cold[n].el) < 0)):",
        "                                cold[n].end == NULL or _cmp_raw(kp, kl, cold[n].ep, cold[n].el) <= 0)):")],
    # _stab_lanes: the sweep stops one key early (the last key of a stab_many is never stabbed).
    "lanes-skip-last-key": [("elif next_key == nkeys:", "elif next_key >= nkeys - 1:")],
    # _stab_lanes: a lane whose stack is full drops its key instead of stabbing it alone.
    "lanes-overflow-drops-key": [SMALL_LANE_STACKS, (
        "                                self._stab_into(kp, kl, out)\n", "")],
    # _key_prefix: a key above the shared prefix is treated as below every bound (misses unbounded ends).
    "key-above-prefix-as-below": [("                return TOP\n", "                return 0\n")],
    # _shrink_prefix: the shared prefix shrinks but the stored start/end prefixes are not recomputed.
    "prefix-shrink-not-recomputed": [(
        "            if self._cold[i].start != NULL:\n                self._set_prefixes(i)\n",
        "            pass\n")],
}


@pytest.mark.parametrize("label", sorted(MUTANTS))
def test_interval_map_machine_kills_compiled_mutant(label: str) -> None:
    mutant = build_variant("interval_map", label, MUTANTS[label])
    with pytest.raises(AssertionError):
        run_state_machine_as_test(make_interval_map_machine(mutant.IntervalMap), settings=MUTANT_SETTINGS)


def test_tiny_lane_stacks_take_the_fallback_and_stay_correct() -> None:
    variant = build_variant("interval_map", "lane-stack-2", [SMALL_LANE_STACKS])
    run_state_machine_as_test(make_interval_map_machine(variant.IntervalMap), settings=MUTANT_SETTINGS)
