"""Dependencies point down: the engine never imports udf_wasm, tests, bench or experiments, and the
storage layers never import the layers above them."""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]

# module prefix -> prefixes it must not import
FORBIDDEN = {
    "engine": ("udf_wasm", "tests", "bench", "experiments", "engine.testing"),
    "engine.types": ("engine.",),
    "engine.persistence": ("engine.txn", "engine.index", "engine.conflict", "engine.log", "engine.database",
                           "engine.subscriptions", "engine.query"),
    "engine.index": ("engine.txn", "engine.persistence", "engine.log", "engine.database", "engine.subscriptions",
                     "engine.query"),
    "engine.conflict": ("engine.txn", "engine.persistence", "engine.index", "engine.log", "engine.database"),
    "engine.log": ("engine.txn", "engine.persistence", "engine.index", "engine.database"),
    "engine.clock": ("engine.txn", "engine.persistence", "engine.index", "engine.database"),
    "engine.encoding": ("engine.txn", "engine.persistence", "engine.index", "engine.database"),
    "engine.values": ("engine.txn", "engine.persistence", "engine.index", "engine.database"),
    "engine.txn": ("engine.database", "engine.subscriptions"),
}


def imports_of(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_engine_imports_point_down_only():
    violations = []
    files = [p for p in (ROOT / "engine").rglob("*.py") if "testing" not in p.parts]
    assert len(files) > 20
    for path in files:
        mod = module_name(path)
        for imp in imports_of(path):
            for prefix, banned in FORBIDDEN.items():
                if mod == prefix or mod.startswith(prefix + "."):
                    for b in banned:
                        if imp == b.rstrip(".") or imp.startswith(b if b.endswith(".") else b + ".") or imp == b:
                            if not imp.startswith(mod):
                                violations.append(f"{mod} imports {imp}")
    assert not violations, "\n".join(sorted(set(violations)))
