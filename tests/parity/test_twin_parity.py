"""Twin parity: every Cython twin exports the reference's names with the same signatures, docstrings and
constants; every ext/*.pyx source is built and current; and both twins are importable in one process.

Behavioural equivalence is the differential suites' job (tests/differential); this file checks the
contract that lets a twin slot in for its reference without any caller noticing.
"""
from __future__ import annotations

import inspect
import pathlib

import pytest

from engine import _impl

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = sorted(p.stem for p in (ROOT / "ext").glob("*.pyx"))
BUILT = sorted(k for k in _impl.KERNELS if "cy" in _impl.implementations(k))


def test_every_twin_source_is_built_and_current_and_nothing_else_is():
    """A .pyx that failed to build (or is stale) would otherwise hide behind the Python reference."""
    unknown = set(SOURCES) - set(_impl.KERNELS)
    assert not unknown, f"ext/ sources that are not registered kernels: {sorted(unknown)}"
    assert BUILT == SOURCES, f"built and current twins {BUILT} != sources in ext/ {SOURCES}; run `make build`"


def _params(obj) -> list[tuple[str, object, object]]:
    sig = inspect.signature(obj)
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def _public_members(cls) -> list[str]:
    return sorted(n for n, v in vars(cls).items()
                  if (not n.startswith("_") or n == "__init__") and (callable(v) or isinstance(v, property)))


@pytest.mark.parametrize("kernel", BUILT)
def test_twin_exports_the_same_api(kernel):
    impls = _impl.implementations(kernel)
    py, cy = impls["py"], impls["cy"]
    assert py is not cy and cy.__name__ == f"engine._native.{kernel}"
    assert list(cy.__all__) == list(py.__all__)
    for name in py.__all__:
        a, b = getattr(py, name), getattr(cy, name)
        where = f"{kernel}.{name}"
        if inspect.isclass(a):
            assert inspect.isclass(b), where
            assert inspect.getdoc(a) == inspect.getdoc(b), f"{where}: docstring differs"
            assert _public_members(a) == _public_members(b), f"{where}: public members differ"
            for member in _public_members(a):
                ma, mb = getattr(a, member), getattr(b, member)
                assert inspect.getdoc(ma) == inspect.getdoc(mb), f"{where}.{member}: docstring differs"
                if callable(ma) and not isinstance(ma, property) and member != "__init__":
                    assert _params(ma) == _params(mb), f"{where}.{member}: signature differs"
        elif callable(a):
            assert callable(b), where
            assert inspect.getdoc(a) == inspect.getdoc(b), f"{where}: docstring differs"
            assert _params(a) == _params(b), f"{where}: signature differs"
        elif name == "UNDEFINED":
            assert a is b, "the UNDEFINED sentinel must be one object shared by both twins"
        else:
            assert a == b, f"{where}: constant {a!r} != {b!r}"


@pytest.mark.parametrize("kernel", BUILT)
def test_twin_is_compiled_code(kernel):
    cy = _impl.implementations(kernel)["cy"]
    assert pathlib.Path(cy.__file__).suffix in (".so", ".pyd"), cy.__file__
