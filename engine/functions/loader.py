"""Finding an app's files: function modules, ``schema.py``, and the content hash of the whole app.

An app is a folder. Every ``*.py`` file below it is a function module, except ``schema.py`` at the top,
``__init__.py`` files, and files or folders whose name starts with ``_`` or ``.`` (plus ``__pycache__``,
``node_modules``). Function modules may import each other with relative imports (``from . import util``):
hosts load the app as one package.

Who may call it: hosts and ``engine.functions.app``. Reads files; never writes.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

from engine.model.errors import FunctionError

_SKIP_DIRS = {"__pycache__", "node_modules"}


def _skipped(name: str) -> bool:
    return name.startswith("_") or name.startswith(".") or name in _SKIP_DIRS


def app_files(app_dir: str | os.PathLike) -> list[str]:
    """Every ``.py`` file of the app (schema and helpers included), relative, ``/``-separated, sorted."""
    root = Path(app_dir)
    if not root.is_dir():
        raise FunctionError(f"app folder {str(root)!r} does not exist or is not a folder", code="DeployError")
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
        for f in filenames:
            if f.endswith(".py") and (f == "__init__.py" or not _skipped(f)):
                out.append(Path(dirpath, f).relative_to(root).as_posix())
    return sorted(out)


def function_modules(app_dir: str | os.PathLike) -> list[str]:
    """Module names (``chat``, ``dir/file``) of the files that may define functions, sorted."""
    return [f[:-3] for f in app_files(app_dir)
            if f != "schema.py" and not f.endswith("__init__.py")]


def app_hash(app_dir: str | os.PathLike, *extra: bytes) -> str:
    """sha256 over every app file's name and bytes (plus *extra*, e.g. the SDK's own hash)."""
    h = hashlib.sha256()
    root = Path(app_dir)
    for rel in app_files(root):
        data = (root / rel).read_bytes()
        h.update(len(rel).to_bytes(4, "big") + rel.encode() + len(data).to_bytes(8, "big") + data)
    for e in extra:
        h.update(len(e).to_bytes(8, "big") + e)
    return h.hexdigest()


def load_schema(app_dir: str | os.PathLike):
    """The app's ``schema.py`` result (an ``engine.model.schema.Schema``), or None when the file is absent.

    The file must define ``schema`` (or ``default``) as a ``define_schema(...)`` value. Errors in the file
    become a ``FunctionError`` with code ``DeployError`` naming the file."""
    from engine.model.schema import Schema

    path = Path(app_dir) / "schema.py"
    if not path.exists():
        return None
    name = f"_ripple_schema_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise FunctionError(f"{path}: loading the schema failed: {type(exc).__name__}: {exc}", code="DeployError") from exc
    finally:
        sys.modules.pop(name, None)
    schema = getattr(module, "schema", None) or getattr(module, "default", None)
    if not isinstance(schema, Schema):
        raise FunctionError(f"{path} must define `schema = define_schema({{...}})`", code="DeployError")
    return schema
