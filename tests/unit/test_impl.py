"""Kernel selection: ENGINE_IMPL=py/auto/cy, loud failure for a missing or stale twin."""
from __future__ import annotations

import subprocess
import sys
import types

import pytest

from engine import _impl


def test_every_kernel_has_a_reference_with_an_abi_string():
    for kernel in _impl.KERNELS:
        impls = _impl.implementations(kernel)
        assert "py" in impls
        assert isinstance(impls["py"].ABI, str) and impls["py"].ABI.startswith(kernel.split("_")[0][:3])


def test_py_mode_always_gives_the_reference():
    for kernel in _impl.KERNELS:
        name, mod = _impl.resolve(kernel, "py")
        assert name == "py" and mod.__name__ == _impl.KERNELS[kernel]


def test_cy_mode_without_a_native_twin_fails_loudly(monkeypatch):
    monkeypatch.setitem(_impl.KERNELS, "no_such_kernel", "engine.clock.hlc")
    with pytest.raises(_impl.NativeBuildError, match="not built"):
        _impl.resolve("no_such_kernel", "cy")
    assert _impl.resolve("no_such_kernel", "auto")[0] == "py"


def test_stale_twin_is_refused_in_cy_mode_and_skipped_with_a_warning_in_auto(monkeypatch):
    stale = types.ModuleType("engine._native.stale_kernel")
    stale.ABI = "hlc/0-stale"
    monkeypatch.setitem(sys.modules, "engine._native.stale_kernel", stale)
    monkeypatch.setitem(_impl.KERNELS, "stale_kernel", "engine.clock.hlc")
    with pytest.raises(_impl.NativeBuildError, match="stale"):
        _impl.resolve("stale_kernel", "cy")
    with pytest.warns(RuntimeWarning, match="stale"):
        assert _impl.resolve("stale_kernel", "auto")[0] == "py"
    assert "cy" not in _impl.implementations("stale_kernel")


def test_matching_twin_is_used_and_listed(monkeypatch):
    twin = types.ModuleType("engine._native.twin_kernel")
    twin.ABI = _impl.implementations("hlc")["py"].ABI
    monkeypatch.setitem(sys.modules, "engine._native.twin_kernel", twin)
    monkeypatch.setitem(_impl.KERNELS, "twin_kernel", "engine.clock.hlc")
    assert _impl.resolve("twin_kernel", "cy") == ("cy", twin)
    assert set(_impl.implementations("twin_kernel")) == {"py", "cy"}


def test_bad_mode_is_rejected(monkeypatch):
    monkeypatch.setenv("ENGINE_IMPL", "fast")
    with pytest.raises(ValueError, match="ENGINE_IMPL"):
        _impl.mode_from_env()


def test_engine_impl_cy_makes_the_demo_fail_loudly_when_twins_are_missing():
    missing = [k for k in _impl.KERNELS if "cy" not in _impl.implementations(k)]
    if not missing:
        pytest.skip("every twin is built; the loud-failure path is covered by the monkeypatched tests above")
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--transfers", "1"],
                          env={"ENGINE_IMPL": "cy", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    assert proc.returncode == 2
    assert "ENGINE_IMPL=cy" in proc.stderr and "not built" in proc.stderr
