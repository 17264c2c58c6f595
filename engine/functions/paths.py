"""Function paths: ``module:function`` where module is the file's path below the app folder without
its extension, ``/``-separated (``chat:send_message``, ``dir/file:fn``).

``canonical_path`` accepts what clients send: an optional ``.py``/``.js`` suffix on the module and a bare
module meaning its ``default`` export (as Convex does). It never touches the file system.
"""
from __future__ import annotations

import re

from engine.model.errors import FunctionNotFoundError

_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_FUNCTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def canonical_path(path: str) -> str:
    """``"chat.js:send"`` -> ``"chat:send"``; ``"chat"`` -> ``"chat:default"``. Raises
    ``FunctionNotFoundError`` for something that cannot be a function path."""
    if not isinstance(path, str) or not path:
        raise FunctionNotFoundError(f"a function path must be a non-empty string like 'module:function', got {path!r}",
                                    code="FunctionNotFound", path=str(path))
    module, sep, fn = path.partition(":")
    if not sep:
        fn = "default"
    for ext in (".py", ".js", ".ts"):
        if module.endswith(ext):
            module = module[: -len(ext)]
            break
    segments = module.split("/")
    if not all(_SEGMENT.match(s) for s in segments) or not _FUNCTION.match(fn):
        raise FunctionNotFoundError(f"malformed function path {path!r}: expected 'module:function' "
                                    "(module segments and function name are identifiers)",
                                    code="FunctionNotFound", path=path)
    return f"{module}:{fn}"


def module_name(rel_file: str) -> str:
    """The module part of a path for an app file (``dir/file.py`` -> ``dir/file``)."""
    return rel_file[:-3] if rel_file.endswith(".py") else rel_file
