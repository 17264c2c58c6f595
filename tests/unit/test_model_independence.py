"""``engine.model`` stands alone: the wasm guest bundles exactly that package, so every module in it imports
only the standard library and ``engine.model``; the rest of the guest (the SDK and the guest main) adds
only itself and the component's generated bindings.

Checks, from the bundle as ``udf_wasm.build.stage_model`` lays it out for a component:
- statically: every import statement of every bundled module names the standard library or
  ``engine.model``;
- dynamically: an isolated interpreter (``python -I -S``: no site-packages, no environment, no current
  folder) whose ``sys.path`` holds only that copy and the standard library imports every bundled module,
  and every module it then has loaded came from the copy or the standard library;
- the staged bundle holds every file of the package, under an ``engine`` parent that imports nothing.
"""
from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import pytest

from udf_wasm.build import GUEST_MAIN, MODEL_DIR, SDK_DIR, model_files, stage_model

#: Top-level modules the guest has besides the standard library and engine.model: the SDK, the staged
#: app and manifest, and componentize-py's generated bindings.
GUEST_EXTRA = {"ripple", "ripple_app", "ripple_manifest", "wit_world", "componentize_py_types"}

_ISOLATED = r"""
import importlib, json, pkgutil, sys
bundle = sys.argv[1]
stdlib_path = [p for p in sys.path if p]
sys.path.insert(0, bundle)
import engine.model
names = sorted(m.name for m in pkgutil.walk_packages(engine.model.__path__, "engine.model."))
for name in names:
    importlib.import_module(name)
foreign = {}
for name, mod in sorted(sys.modules.items()):
    f = getattr(mod, "__file__", None)
    if f and not f.startswith(bundle) and not any(f.startswith(p) for p in stdlib_path):
        foreign[name] = f
print(json.dumps({"imported": names, "foreign": foreign, "stdlib_path": stdlib_path,
                  "model_file": engine.model.__file__}))
"""


def _imported_names(path: pathlib.Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute dotted name) for every import in *path*; relative imports resolved in *package*."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from engine import model` imports engine.model; `from x import name` imports x
            out += [(node.lineno, f"{mod}.{a.name}" if mod == "engine" else mod) for a in node.names]
    return out


def _allowed(name: str, extra: set[str] = frozenset()) -> bool:
    top = name.split(".")[0]
    return top in sys.stdlib_module_names or top in extra or name == "engine.model" \
        or name.startswith("engine.model.")


def _module_package(path: pathlib.Path, root: pathlib.Path) -> str:
    """The package that relative imports in *path* resolve against (*root* holds the top package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1])  # a package's __init__ and its modules share the package


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("guest-bundle")
    stage_model(root)
    return root


def test_the_bundle_is_the_whole_model_package_and_an_empty_parent(bundle):
    staged = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts)
    source = sorted("engine/model/" + p.relative_to(MODEL_DIR).as_posix() for p in model_files())
    assert staged == sorted(["engine/__init__.py", *source])
    assert len(source) >= 8  # __init__ plus the seven model modules
    assert _imported_names(bundle / "engine" / "__init__.py", "engine") == []  # the host's is never bundled


def test_every_bundled_module_imports_only_the_stdlib_and_engine_model(bundle):
    bad = []
    for path in sorted((bundle / "engine" / "model").rglob("*.py")):
        package = _module_package(path, bundle)
        bad += [f"{path.relative_to(bundle)}:{line}: {name}"
                for line, name in _imported_names(path, package) if not _allowed(name)]
    assert not bad, "engine.model must import only the standard library and itself:\n" + "\n".join(bad)


def test_an_isolated_interpreter_imports_the_bundle_with_the_stdlib_alone(bundle):
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", _ISOLATED, str(bundle)],
                          capture_output=True, text=True, timeout=120, cwd=bundle)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert not any("site-packages" in p or "dist-packages" in p for p in report["stdlib_path"]), report
    assert report["model_file"].startswith(str(bundle)), report["model_file"]
    expected = sorted(f"engine.model.{p.stem}" for p in MODEL_DIR.glob("*.py") if p.name != "__init__.py")
    assert report["imported"] == expected
    assert report["foreign"] == {}, f"modules loaded from outside the bundle and the stdlib: {report['foreign']}"


def test_the_rest_of_the_guest_imports_only_the_stdlib_engine_model_and_itself():
    files = sorted(p for p in SDK_DIR.rglob("*.py") if "__pycache__" not in p.parts) + [GUEST_MAIN]
    assert len(files) >= 3
    bad = []
    for path in files:
        package = _module_package(path, SDK_DIR.parent) if path != GUEST_MAIN else ""
        bad += [f"{path.name}:{line}: {name}" for line, name in _imported_names(path, package)
                if not _allowed(name, GUEST_EXTRA)]
    assert not bad, "the guest may import only the stdlib, engine.model, the SDK and its bindings:\n" + \
        "\n".join(bad)
