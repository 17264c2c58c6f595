"""Choose between the pure-Python reference kernels and their Cython twins.

Who may call it: ``engine.database`` (once, at open, to build its ``Kernels`` record), differential tests
and benchmarks (``implementations``). Nothing else picks implementations; callers receive kernels.

``ENGINE_IMPL`` (or ``EngineConfig.impl``) picks the default:
- ``auto`` (default): the Cython twin when it is importable and its ABI matches, else the reference.
- ``py``: the reference only.
- ``cy``: the Cython twin is required; a missing or stale native build raises ``NativeBuildError``.

Both twins are importable in one process; ``implementations(kernel)`` returns every usable one, so tests
can drive them side by side. A twin whose ``ABI`` string differs from the reference's is stale and never
used silently.
"""
from __future__ import annotations

import os
import warnings
from importlib import import_module
from types import ModuleType

#: kernel name -> reference module. The Cython twin of kernel K is ``engine._native.K``.
KERNELS: dict[str, str] = {
    "hlc": "engine.clock.hlc",
    "record": "engine.persistence.record",
    "keycodec": "engine.encoding",
    "doccodec": "engine.doccodec",
    "interval_set": "engine.conflict.interval_set",
    "interval_map": "engine.conflict.interval_map",
    "mvcc": "engine.index.mvcc_kernel",
    "mvcc_lmdb": "engine.index.mvcc_lmdb_kernel",
    "write_window": "engine.log.written_keys",
    "ids": "engine.ids",
}

MODES = ("auto", "py", "cy")


class NativeBuildError(ImportError):
    """ENGINE_IMPL=cy but a native twin is missing or stale."""


def mode_from_env() -> str:
    mode = os.environ.get("ENGINE_IMPL", "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"ENGINE_IMPL must be one of {MODES}, got {mode!r}")
    return mode


def _native(kernel: str, reference: ModuleType) -> tuple[ModuleType | None, str | None]:
    """Import the twin; return (module, None) or (None, reason it cannot be used)."""
    try:
        cy = import_module(f"engine._native.{kernel}")
    except ImportError as exc:
        return None, f"engine._native.{kernel} is not built ({exc}); run `make build`"
    want = getattr(reference, "ABI", None)
    got = getattr(cy, "ABI", None)
    if got != want:
        return None, f"engine._native.{kernel} is stale: ABI {got!r} != reference {want!r}; run `make build`"
    return cy, None


def implementations(kernel: str) -> dict[str, ModuleType]:
    """Every usable implementation of *kernel*: always ``"py"``, plus ``"cy"`` when built and current."""
    reference = import_module(KERNELS[kernel])
    found = {"py": reference}
    cy, _ = _native(kernel, reference)
    if cy is not None:
        found["cy"] = cy
    return found


def resolve(kernel: str, mode: str | None = None) -> tuple[str, ModuleType]:
    """The implementation *mode* selects for *kernel*, as ``(name, module)``. Raises NativeBuildError for
    ``cy`` without a usable twin; ``auto`` falls back to the reference (with a warning if the twin is stale)."""
    mode = mode or mode_from_env()
    if mode not in MODES:
        raise ValueError(f"impl must be one of {MODES}, got {mode!r}")
    reference = import_module(KERNELS[kernel])
    if mode == "py":
        return "py", reference
    cy, reason = _native(kernel, reference)
    if cy is not None:
        return "cy", cy
    if mode == "cy":
        raise NativeBuildError(f"ENGINE_IMPL=cy: {reason}")
    if reason and "stale" in reason:
        warnings.warn(reason, RuntimeWarning, stacklevel=2)
    return "py", reference


def resolve_all(mode: str | dict[str, str] | None = None) -> dict[str, tuple[str, ModuleType]]:
    """``resolve`` for every kernel (used at database open, so a broken build fails at once).

    *mode* is one mode for all kernels, or a dict kernel -> mode (kernels it omits use ENGINE_IMPL), so
    experiments and cross-twin tests can mix implementations.
    """
    if isinstance(mode, dict):
        unknown = set(mode) - set(KERNELS)
        if unknown:
            raise ValueError(f"unknown kernels in impl: {sorted(unknown)}; kernels are {sorted(KERNELS)}")
        return {k: resolve(k, mode.get(k)) for k in KERNELS}
    return {k: resolve(k, mode) for k in KERNELS}
