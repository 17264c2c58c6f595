"""Compiled mutants of the write-window twin (``ext/write_window.pyx``) that the differential machine must kill.

Role: evidence that ``tests/differential/test_write_window_stateful.py`` has teeth against the bugs a treap
with per-subtree maxima is prone to. Each mutant is the twin's own source with exactly one textual change
(the original text must occur exactly once, so a mutant can never silently be the unchanged twin),
compiled into a temporary directory and plugged into the unchanged machine. A surviving mutant fails here.

Mutants and the oracle each must fall to:
- behaviour only (the model's verdicts and attributions; the subject's own ``check_invariants`` and the
  tree comparison with the reference are switched off, so a kill cannot come from the mutant judging itself):
  - ``insert-keeps-ancestor-max``: ``add`` does not raise ``max_ts`` on the nodes it descends through, so a
    new write under an old subtree is pruned away and its conflicts are missed;
  - ``snapshot-write-counts``: the ts bound is ``from_ts <= ts`` (a write at exactly the snapshot conflicts);
  - ``to-bound-exclusive``: the ts bound is ``ts < to_ts`` (a write at exactly ``to_ts`` is missed);
  - ``rollback-keeps-cut``: ``drop_from(ts)`` keeps the entries written at exactly *ts*;
- structure (the reference side by side, the tree comparison and ``check_invariants`` on):
  - ``split-forgets-max``: ``_split`` does not recompute ``max_ts`` of the nodes it cuts. A maximum left
    too high only costs time, never a verdict, so only the structural oracles can see it;
  - ``merge-forgets-max``: ``_merge`` does not recompute ``max_ts`` of a left root that absorbs the right
    tree, so a deletion can hide newer writes below a stale maximum. That is a wrong verdict, but it needs
    a trim or rollback to delete a node with the right shape: the behaviour-only search found it in a trial
    with 3000 examples, not within this suite's fixed 300, so here the structural oracles must kill it.

Who uses it: pytest only. Skipped when the twin is not built or Cython is missing. Runs are reproducible
(derandomized, no example database, no shrinking).
"""
from __future__ import annotations

import importlib.util
import pathlib
import warnings
from types import ModuleType

import pytest
from hypothesis.stateful import run_state_machine_as_test

from engine._impl import implementations
from tests.differential.test_write_window_stateful import make_machine
from tests.mutants.settings import INDEX_MUTANT_SETTINGS

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = ROOT / "ext" / "write_window.pyx"
WINDOW = implementations("write_window")
SETS = implementations("interval_set")

pytestmark = pytest.mark.skipif("cy" not in WINDOW, reason="engine._native.write_window is not built")

#: id -> (original text, mutated text, oracle): "behaviour" or "structure" (see the module docstring).
MUTANTS: dict[str, tuple[str, str, str]] = {
    "insert-keeps-ancestor-max": (
        "            if t > nodes[n].max_ts:\n                nodes[n].max_ts = t\n            parent = n\n",
        "            parent = n\n", "behaviour"),
    "snapshot-write-counts": ("        if f < nd.ts <= t:\n", "        if f <= nd.ts <= t:\n", "behaviour"),
    "to-bound-exclusive": ("        if f < nd.ts <= t:\n", "        if f < nd.ts < t:\n", "behaviour"),
    "rollback-keeps-cut": ("self._nodes[self._log[self._tail - 1]].ts >= t:",
                           "self._nodes[self._log[self._tail - 1]].ts > t:", "behaviour"),
    "merge-forgets-max": (
        "        nodes[a].right = _merge(nodes, nodes[a].right, b)\n        _update(nodes, a)\n",
        "        nodes[a].right = _merge(nodes, nodes[a].right, b)\n", "structure"),
    "split-forgets-max": (
        "        nodes[n].right = a\n        _update(nodes, n)\n", "        nodes[n].right = a\n", "structure"),
}


def _compile(mutant: str, where: pathlib.Path) -> ModuleType:
    """Build the twin's source with *mutant*'s change as a module of its own, and import it."""
    original, mutated, _ = MUTANTS[mutant]
    text = SOURCE.read_text()
    assert text.count(original) == 1, f"{mutant}: the text to mutate must occur exactly once in {SOURCE.name}"
    name = "write_window_mutant_" + mutant.replace("-", "_")
    pyx = where / f"{name}.pyx"
    pyx.write_text(text.replace(original, mutated))
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # toolchain chatter is not the subject of this test
        exts = cythonize([Extension(name, [str(pyx)])], quiet=True, build_dir=str(where / "c"),
                         compiler_directives={"language_level": 3, "binding": True, "embedsignature": False})
        cmd = Distribution({"ext_modules": exts}).get_command_obj("build_ext")
        cmd.build_lib = str(where / "lib")
        cmd.build_temp = str(where / "tmp")
        cmd.ensure_finalized()
        cmd.run()
        path = cmd.get_ext_fullpath(name)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_machine_kills_compiled_twin_mutant(mutant: str, tmp_path: pathlib.Path) -> None:
    pytest.importorskip("Cython")
    mod = _compile(mutant, tmp_path)
    cy_set = SETS.get("cy", SETS["py"]).IntervalSet
    if MUTANTS[mutant][2] == "behaviour":
        machine = make_machine({"mutant": (mod, cy_set)}, check_invariants=False, compare_trees=False)
    else:
        machine = make_machine({"py": (WINDOW["py"], SETS["py"].IntervalSet), "mutant": (mod, cy_set)})
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=INDEX_MUTANT_SETTINGS)


def test_unmutated_twin_survives_the_same_search() -> None:
    """Control: the same searches over the real twin pass, so the kills above are the mutations'."""
    cy_set = SETS["cy"].IntervalSet if "cy" in SETS else SETS["py"].IntervalSet
    run_state_machine_as_test(make_machine({"twin": (WINDOW["cy"], cy_set)}, check_invariants=False,
                                           compare_trees=False), settings=INDEX_MUTANT_SETTINGS)
    run_state_machine_as_test(make_machine({"py": (WINDOW["py"], SETS["py"].IntervalSet),
                                            "twin": (WINDOW["cy"], cy_set)}), settings=INDEX_MUTANT_SETTINGS)
