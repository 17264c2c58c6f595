"""Compiled mutants: build a Cython twin from its ``ext/*.pyx`` source with a textual edit applied.

Role: a mutant that subclasses a twin can only break what Python can reach; a bug inside a compiled fast
path (a loop that skips a key, a comparison decided on a prefix tie) has to be compiled in. ``build_variant``
applies exact edits to the real source (each ``old`` text must occur exactly once, so a refactor of the
source fails the mutant loudly instead of silently testing nothing), compiles the result as a module of its
own name and imports it beside the real twin.

Who uses it: the mutant suites in ``tests/mutants`` only. Nothing in ``engine`` knows about mutants.

Invariants: a build is keyed by the SHA-256 of the edited source and the interpreter/Cython versions and
cached under ``build/mutants/`` (git-ignored), so re-runs cost an import, not a compile; a build is written
to a temporary folder and renamed into place, so two processes never see half a module.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from types import ModuleType

ROOT = pathlib.Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "mutants"

#: The same directives as setup.py (release build: no bounds checks), so a mutant differs only by its edit.
_SETUP = """
import sys
from setuptools import Extension, setup
from Cython.Build import cythonize
name = sys.argv[1]
setup(ext_modules=cythonize([Extension(name, [name + ".pyx"])], quiet=True, compiler_directives={
          "language_level": 3, "binding": True, "embedsignature": False,
          "boundscheck": False, "wraparound": False, "initializedcheck": False}),
      script_args=["build_ext", "--inplace", "-q"])
"""


def edited_source(kernel: str, edits: list[tuple[str, str]]) -> str:
    """``ext/<kernel>.pyx`` with every ``(old, new)`` edit applied; each *old* must occur exactly once."""
    src = (ROOT / "ext" / f"{kernel}.pyx").read_text()
    for old, new in edits:
        count = src.count(old)
        assert count == 1, f"mutant edit must match ext/{kernel}.pyx exactly once, matched {count}: {old!r}"
        src = src.replace(old, new)
    return src


def build_variant(kernel: str, label: str, edits: list[tuple[str, str]]) -> ModuleType:
    """Compile ``ext/<kernel>.pyx`` with *edits* applied and import it (cached by content)."""
    import Cython

    src = edited_source(kernel, edits)
    digest = hashlib.sha256("\0".join([src, sys.version, Cython.__version__]).encode()).hexdigest()[:12]
    name = f"{kernel}_{label.replace('-', '_')}_{digest}"
    final = CACHE / name
    if not final.is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        work = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}.", dir=CACHE))
        try:
            (work / f"{name}.pyx").write_text(src)
            for header in (ROOT / "ext").glob("*.pxd"):
                shutil.copy(header, work)
            done = subprocess.run([sys.executable, "-c", _SETUP, name], cwd=work, capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert done.returncode == 0, f"building mutant {label} failed:\n{done.stdout}\n{done.stderr}"
            try:
                work.rename(final)
            except OSError:  # another process finished the same build first
                assert final.is_dir()
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
    so = next(p for p in final.iterdir() if p.name.startswith(name + ".") and p.suffix in (".so", ".pyd"))
    spec = importlib.util.spec_from_file_location(name, so)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
