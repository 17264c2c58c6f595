"""Building blocks of kernel mutants: a kernel with some functions replaced, and broken kernel loops.

Who may use it: the mutant suites in this folder. A mutant kernel is injected into a strategy's one store
class exactly as ``engine._impl`` injects a real kernel, so a mutant breaks one rule and nothing else.
"""
from __future__ import annotations

from types import SimpleNamespace


def mutant_kernel(base, **broken):
    """*base*'s public API with the functions in *broken* replaced."""
    assert set(broken) <= set(base.__all__), sorted(broken)
    api = {n: getattr(base, n) for n in base.__all__}
    api.update(broken)
    api["__name__"] = f"mutant of {base.__name__}: {', '.join(sorted(broken)) or 'unchanged'}"
    return SimpleNamespace(**api)


def without_tombstones(versions: dict) -> dict:
    """A copy of a versions map with every tombstone removed (a scan over it resurrects deleted keys)."""
    return {k: [v for v in vs if v[1] is not None] for k, vs in versions.items()}


def gc_index_dropping_visible(versions_map, below_ts):
    """``gc_index`` that also drops the newest version ``<= below_ts`` (still visible at ``below_ts``)."""
    removed, emptied = 0, []
    for key, versions in versions_map.items():
        for j, (vts, _value) in enumerate(versions):
            if vts <= below_ts:
                removed += len(versions) - j  # BUG: also drops versions[j], still visible at below_ts
                del versions[j:]
                break
        if not versions:
            emptied.append(key)
    for key in emptied:
        del versions_map[key]
    return removed, emptied
