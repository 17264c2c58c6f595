"""The package layer rules: every import-linter contract in ``pyproject.toml`` holds, and the contracts name
every package under ``engine/``.

The contracts themselves live in ``[tool.importlinter]`` (layers bottom-up, the model layer standing
alone, the engine never importing udf_wasm/tests/bench/experiments or the web stack, udf_wasm using only
the model layer and the functions ABI, no sibling cycles). This test runs import-linter on them in a
fresh interpreter (its graph builder reads ``sys.path``, which must hold this checkout first) and prints
the broken contracts with the import chains that break them.

Layers contracts declare ``exhaustive = true``, so a new package under ``engine/`` that no layer lists
breaks them; forbidden contracts list packages one by one, so ``test_contracts_name_every_package``
checks those lists against the folder tree.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"

#: The functions modules that make up the ABI a host implements (what udf_wasm may import).
FUNCTIONS_ABI = {"loader", "paths", "syscalls"}

_RUN = """
import sys
from importlinter.cli import lint_imports
sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))
"""


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def _children(package: str) -> set[str]:
    """Dotted names of the direct child modules and packages of *package*, from the folder tree."""
    folder = ROOT.joinpath(*package.split("."))
    names = {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
    names |= {p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return {f"{package}.{n}" for n in names}


def test_every_import_linter_contract_is_kept():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "250"}  # one line per contract name in the summary
    proc = subprocess.run([sys.executable, "-c", _RUN, str(PYPROJECT)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert "Contracts:" in out, f"import-linter did not run its contracts:\n{out}"
    broken = [line for line in out.splitlines() if line.rstrip().endswith("BROKEN")]
    detail = out[out.find("Broken contracts"):] if "Broken contracts" in out else out
    assert proc.returncode == 0, f"{len(broken)} broken import-linter contract(s):\n" + "\n".join(broken) + \
        "\n\n" + detail


def test_contracts_name_every_package():
    contracts = _contracts()
    engine = _children("engine")
    assert {"engine.model", "engine.txn", "engine.server"} <= engine  # the tree walk found the packages

    model = contracts["model-independent"]
    missing = engine - {"engine.model"} - set(model["forbidden_modules"])
    assert not missing, f"model-independent must forbid these too: {sorted(missing)}"

    embedded = contracts["embedded-no-web"]
    expected = engine - {"engine.server", "engine.client", "engine.cli"}
    assert set(embedded["source_modules"]) == expected, \
        f"embedded-no-web sources differ: missing {sorted(expected - set(embedded['source_modules']))}, " \
        f"extra {sorted(set(embedded['source_modules']) - expected)}"

    udf = contracts["udf-wasm-abi-only"]
    allowed = {"engine.model", "engine.functions"} | {f"engine.functions.{m}" for m in FUNCTIONS_ABI}
    should_forbid = (engine | _children("engine.functions")) - allowed
    missing = should_forbid - set(udf["forbidden_modules"])
    assert not missing, f"udf-wasm-abi-only must forbid these too: {sorted(missing)}"

    for cid in ("engine-layers", "model-dag", "udf-wasm-layers"):
        assert contracts[cid].get("exhaustive") is True, f"{cid} must be exhaustive so new packages are covered"
