"""Build an app into a WebAssembly component and cache it by content hash.

``build_app(app_dir)`` stages the app's files, the SDK (``ripple``), the engine's model layer (the whole
``engine.model`` package, standard library only, under an ``engine`` package of its own) and the guest main
(``guest/ripple_guest.py``) into a fresh folder, runs ``componentize-py --stub-wasi`` for the ``app``
world of ``wit/ripple.wit`` (WASI stubbed: no clock, entropy, files or network in the guest), compiles
the component with the host's wasmtime engine and serialises it (``.cwasm``).

Cache: ``<cache>/<key>/app.cwasm`` where key = sha256 of the app files, every staged SDK/engine/guest
file, the WIT, and the componentize-py and wasmtime versions plus the engine's compile settings; a
``.cwasm`` is only valid for the same wasmtime version and Config. An unchanged app therefore loads by
``deserialize_file`` (milliseconds); a cold build costs componentize (~5–8 s, ~420 MB peak RSS) plus
Cranelift (~4–5 s). Writes are atomic (temp folder, then rename), so concurrent builders are safe.

Who may call it: the wasm host (``udf_wasm.host``) and ``ripple build``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from engine.functions.loader import app_files, app_hash, function_modules
from engine.model.errors import FunctionError

ROOT = Path(__file__).resolve().parent
WIT_DIR = ROOT / "wit"
GUEST_MAIN = ROOT / "guest" / "ripple_guest.py"
SDK_DIR = ROOT / "sdk" / "ripple"
#: The only part of the engine bundled into the guest: the whole package, whatever files it has. Each of
#: its modules imports only the standard library and ``engine.model`` (enforced by the import-linter
#: contracts and ``tests/unit/test_model_independence.py``), so it runs in the guest unchanged.
MODEL_DIR = ROOT.parent / "engine" / "model"
#: The guest's ``engine/__init__.py``: an empty parent package, so the host's (which imports more of the
#: engine lazily) never enters the component.
GUEST_ENGINE_INIT = '"""The engine as bundled into a guest: only the ``engine.model`` package."""\n'
WORLD = "app"


@dataclasses.dataclass(frozen=True)
class BuildResult:
    cwasm: Path
    key: str
    cached: bool
    seconds: float
    componentize_seconds: float = 0.0
    compile_seconds: float = 0.0
    wasm_bytes: int = 0


def default_cache_dir() -> Path:
    env = os.environ.get("RIPPLE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "ripple" / "components"


def _python_files(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def model_files() -> list[Path]:
    """Every file of ``engine.model`` that the guest bundles (caches excluded), sorted. O(files)."""
    return sorted(p for p in MODEL_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _sdk_files() -> list[Path]:
    return [*_python_files(SDK_DIR), *model_files(), GUEST_MAIN, *sorted(WIT_DIR.glob("*.wit"))]


def build_key(app_dir: str | os.PathLike, engine_settings: str) -> str:
    h = hashlib.sha256()
    for f in _sdk_files():
        h.update(f.relative_to(ROOT.parent).as_posix().encode() + b"\0" + f.read_bytes())
    h.update(GUEST_ENGINE_INIT.encode())
    for pkg in ("componentize-py", "wasmtime"):
        h.update(pkg.encode() + metadata.version(pkg).encode())
    h.update(engine_settings.encode())
    return app_hash(app_dir, h.digest())


def stage(app_dir: str | os.PathLike, into: Path) -> list[str]:
    """Copy everything the component needs into *into*; returns the function module names."""
    app = Path(app_dir)
    (into / "ripple_app").mkdir(parents=True)
    for rel in app_files(app):
        dest = into / "ripple_app" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(app / rel, dest)
    if not (into / "ripple_app" / "__init__.py").exists():
        (into / "ripple_app" / "__init__.py").write_text("")
    shutil.copytree(SDK_DIR, into / "ripple", ignore=shutil.ignore_patterns("__pycache__"))
    stage_model(into)
    shutil.copyfile(GUEST_MAIN, into / "ripple_guest.py")
    modules = function_modules(app)
    (into / "ripple_manifest.py").write_text(f"MODULES = {modules!r}\n")
    return modules


def stage_model(into: Path) -> Path:
    """Lay out ``engine/__init__.py`` (the guest's empty parent package) and a copy of the whole
    ``engine.model`` package under *into*; returns ``into / "engine"``. This is exactly the engine code a
    guest gets, so the independence test imports it from the same layout."""
    engine_dir = into / "engine"
    engine_dir.mkdir(parents=True)
    (engine_dir / "__init__.py").write_text(GUEST_ENGINE_INIT)
    shutil.copytree(MODEL_DIR, engine_dir / "model", ignore=shutil.ignore_patterns("__pycache__"))
    return engine_dir


def componentize(staged: Path, out_wasm: Path) -> None:
    exe = Path(sys.executable).with_name("componentize-py")
    cmd = [str(exe) if exe.exists() else "componentize-py", "-d", str(WIT_DIR), "-w", WORLD, "componentize",
           "--stub-wasi", "-p", str(staged), "ripple_guest", "-o", str(out_wasm)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=staged)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-4000:]
        raise FunctionError(f"building the app component failed (componentize-py exit {proc.returncode}):\n{tail}",
                            code="BuildError")


def build_app(app_dir: str | os.PathLike, engine: object, engine_settings: str,
              cache_dir: str | os.PathLike | None = None) -> BuildResult:
    """Return the cached ``.cwasm`` for *app_dir*, building it on a miss (see module docstring)."""
    from wasmtime.component import Component

    started = time.perf_counter()
    key = build_key(app_dir, engine_settings)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    final = cache / key / "app.cwasm"
    if final.exists():
        return BuildResult(final, key, True, time.perf_counter() - started)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".build-{key[:12]}-", dir=cache))
    try:
        stage(app_dir, work / "src")
        t0 = time.perf_counter()
        componentize(work / "src", work / "app.wasm")
        t1 = time.perf_counter()
        comp = Component.from_file(engine, str(work / "app.wasm"))
        (work / "out").mkdir()
        (work / "out" / "app.cwasm").write_bytes(comp.serialize())
        t2 = time.perf_counter()
        size = (work / "app.wasm").stat().st_size
        try:
            os.rename(work / "out", cache / key)
        except OSError:
            if not final.exists():  # not a concurrent builder winning the race: a real failure
                raise
        return BuildResult(final, key, False, time.perf_counter() - started, t1 - t0, t2 - t1, size)
    finally:
        shutil.rmtree(work, ignore_errors=True)
