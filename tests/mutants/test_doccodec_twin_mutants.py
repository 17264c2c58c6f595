"""Compiled mutants of the document-codec twin that the differential properties must kill.

Each mutant is ``ext/doccodec.pyx`` with exactly one source edit that breaks one rule of the format,
compiled with Cython into a private module in a temporary folder (never into ``engine``). The properties
of ``tests/differential/test_doccodec_twins.py`` are run with the mutant in place of the twin; at least
one must fail. A surviving mutant fails here: the differential suite could not see that bug. Each edit
must match the source exactly once, so a change to the twin that moves the code makes this test fail
loudly instead of compiling an unmutated copy.

Mutants:
- ``nan_payload_kept``: NaN is written with its own bits instead of the canonical quiet NaN.
- ``size_limit_exclusive``: a document of exactly ``MAX_DOCUMENT_BYTES`` is refused.
- ``repeated_names_accepted``: decoding lets a later field overwrite an earlier one of the same name.
- ``non_minimal_varint_accepted``: decoding accepts a length with a trailing 0x00 continuation byte.
- ``trailing_bytes_accepted``: decoding ignores bytes after the document.
- ``depth_off_by_one``: objects nested exactly ``MAX_DEPTH`` deep are encoded instead of refused.

Needs Cython and a C compiler (the ``native`` extra); without them the module is skipped.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
import sys

import pytest
from hypothesis import HealthCheck, Phase, settings

from engine import doccodec as ref
from tests.differential.test_doccodec_twins import make_properties

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE = (ROOT / "ext" / "doccodec.pyx").read_text()

MUTANTS: dict[str, tuple[str, str]] = {
    "nan_payload_kept": (
        "        if d != d:\n            bits = CANONICAL_NAN_BITS\n        else:\n            memcpy(&bits, &d, 8)\n",
        "        memcpy(&bits, &d, 8)\n"),
    "size_limit_exclusive": (
        "if b.n > C_MAX_DOCUMENT_BYTES:", "if b.n >= C_MAX_DOCUMENT_BYTES:"),
    "repeated_names_accepted": (
        "if PyDict_Contains(obj, name):", "if False:"),
    "non_minimal_varint_accepted": (
        "if x == 0 and i > 0:", "if False:"),
    "trailing_bytes_accepted": (
        "if c.pos != length:", "if False:"),
    "depth_off_by_one": (
        "    if t is dict:\n        if level >= C_MAX_DEPTH:", "    if t is dict:\n        if level > C_MAX_DEPTH:"),
}

_RUN = settings(
    max_examples=300, derandomize=True, database=None, deadline=None, print_blob=False,
    report_multiple_bugs=False, phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck),
)


def _compile(name: str, source: str, folder: pathlib.Path):
    """Compile *source* as module ``doccodec_mutant_<name>`` in *folder* and import it."""
    cython_build = pytest.importorskip("Cython.Build")
    from setuptools import Distribution, Extension

    modname = f"doccodec_mutant_{name}"
    pyx = folder / f"{modname}.pyx"
    pyx.write_text(source)
    exts = cython_build.cythonize(
        [Extension(modname, [str(pyx)])], quiet=True, build_dir=str(folder / "c"),
        compiler_directives={"language_level": 3, "binding": True, "embedsignature": False,
                             "boundscheck": False, "wraparound": False, "initializedcheck": False})
    dist = Distribution({"ext_modules": exts})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = str(folder)
    cmd.build_temp = str(folder / "tmp")
    cmd.ensure_finalized()
    cwd = os.getcwd()
    try:
        os.chdir(folder)
        cmd.run()
    except Exception as exc:  # noqa: BLE001 - no compiler: the toolchain, not the oracle, is missing
        pytest.skip(f"cannot compile a Cython mutant here: {exc}")
    finally:
        os.chdir(cwd)
    built = next(folder.glob(f"{modname}*.so"), None) or next(folder.glob(f"{modname}*.pyd"))
    spec = importlib.util.spec_from_file_location(modname, built)
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("doccodec_mutants")


def _mutated(old: str, new: str) -> str:
    assert SOURCE.count(old) == 1, f"mutation anchor found {SOURCE.count(old)} times in ext/doccodec.pyx: {old!r}"
    return SOURCE.replace(old, new)


def _killed_by(module) -> list[str]:
    """Names of the properties that fail on *module* (stops at the first: one kill is enough)."""
    for name, prop in make_properties(module).items():
        try:
            _RUN(prop)()
        except AssertionError:
            return [name]
    return []


def test_the_unmutated_compiled_copy_survives(build_folder):
    """Guard against a vacuous kill: the same build of the unedited source passes every property."""
    module = _compile("none_" + hashlib.sha1(SOURCE.encode()).hexdigest()[:8], SOURCE, build_folder)
    assert module.ABI == ref.ABI
    assert _killed_by(module) == []


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_compiled_mutant_is_killed_by_the_differential_properties(name, build_folder):
    module = _compile(name, _mutated(*MUTANTS[name]), build_folder)
    assert _killed_by(module), f"mutant {name} survived every property of tests/differential/test_doccodec_twins.py"
