"""Compile thin guests (C and Zig files) into core WebAssembly modules, cached by content hash.

Who may call it: the core host (``udf_wasm.core.host``), tests and benchmarks. Toolchain: the
``ziglang`` PyPI package (``python -m ziglang``), targeting ``wasm32-freestanding`` (no libc, no WASI):

- C: ``zig cc --target=wasm32-freestanding -O2 -s -nostdlib -Wl,--no-entry -Wl,-z,stack-size=65536
  -I udf_wasm/guests/c`` (so ``#include "ripple.h"`` works from any app folder); 0.05–0.2 s per file.
- Zig: ``zig build-exe -target wasm32-freestanding -fno-entry -rdynamic -O ReleaseSmall -fstrip --stack
  65536`` with
  ``udf_wasm/guests/zig/ripple.zig`` as module ``ripple`` (``@import("ripple")``); the first build
  compiles Zig's runtime into the cache (a few seconds), later ones take ~0.5 s.

Sources: every ``*.c`` and ``*.zig`` file below the app folder is one module, named by its path
without the extension (``ycsb.c`` -> ``ycsb``, ``dir/x.c`` -> ``dir/x``), skipping files and folders
whose names start with ``_`` or ``.`` (helpers to include or import).

Cache: ``<cache>/core/<key>.wasm`` with key = sha256 of the language, the compiler flags, the ziglang
version, the source, the SDK file (``ripple.h``/``ripple.zig``) and every ``*.h``/``*.zig`` file of the
app (what a source may include). ``<cache>`` is ``FunctionsConfig.cache_dir``, else ``RIPPLE_CACHE_DIR``,
else ``~/.cache/ripple``; zig's own caches live in ``<cache>/core/zig-cache``. Writes are atomic (temp
file, then rename), so concurrent builders are safe.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from engine.model.errors import FunctionError

ROOT = Path(__file__).resolve().parent.parent
C_SDK_DIR = ROOT / "guests" / "c"
C_HEADER = C_SDK_DIR / "ripple.h"
ZIG_SDK = ROOT / "guests" / "zig" / "ripple.zig"
LANGUAGES = {".c": "c", ".zig": "zig"}
#: The guest's shadow stack (in linear memory): 64 KiB instead of the toolchain's 1 MiB, so a module's
#: whole initial memory (stack, data, first heap bytes) fits the pooled memory kept resident between
#: calls (``runtime.KEEP_RESIDENT``). Deeper recursion than that traps.
STACK_BYTES = 64 << 10
C_FLAGS = ("--target=wasm32-freestanding", "-O2", "-s", "-nostdlib", "-Wl,--no-entry", f"-Wl,-z,stack-size={STACK_BYTES}")
ZIG_FLAGS = ("-target", "wasm32-freestanding", "-fno-entry", "-rdynamic", "-O", "ReleaseSmall", "-fstrip",
             "--stack", str(STACK_BYTES))
_SKIP_DIRS = {"__pycache__", "node_modules"}


@dataclasses.dataclass(frozen=True)
class ModuleBuild:
    name: str  # module name (function paths are name:function)
    source: Path
    wasm: Path
    key: str
    cached: bool
    seconds: float


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where core modules are cached: ``<cache_dir or $RIPPLE_CACHE_DIR or ~/.cache/ripple>/core``."""
    base = cache_dir or os.environ.get("RIPPLE_CACHE_DIR") or Path.home() / ".cache" / "ripple"
    return Path(base) / "core"


def sources(app_dir: str | os.PathLike) -> list[tuple[str, Path]]:
    """(module name, file) of every C/Zig source of the app, sorted by name. Reads the folder only."""
    root = Path(app_dir)
    if not root.is_dir():
        raise FunctionError(f"app folder {str(root)!r} does not exist or is not a folder", code="DeployError")
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")) and d not in _SKIP_DIRS)
        for f in filenames:
            path = Path(dirpath, f)
            if path.suffix in LANGUAGES and not f.startswith(("_", ".")):
                out.append((path.relative_to(root).with_suffix("").as_posix(), path))
    return sorted(out)


def _includes(app_dir: Path) -> list[Path]:
    return sorted(p for ext in ("*.h", "*.zig") for p in app_dir.rglob(ext) if "__pycache__" not in p.parts)


def build_key(source: Path, app_dir: Path) -> str:
    lang = LANGUAGES[source.suffix]
    h = hashlib.sha256()
    flags = C_FLAGS if lang == "c" else ZIG_FLAGS
    sdk = C_HEADER if lang == "c" else ZIG_SDK
    for part in (b"ripple-core-v1", lang.encode(), " ".join(flags).encode(), metadata.version("ziglang").encode(),
                 source.read_bytes(), sdk.read_bytes()):
        h.update(len(part).to_bytes(8, "big") + part)
    for inc in _includes(app_dir):
        rel = inc.relative_to(app_dir).as_posix().encode()
        data = inc.read_bytes()
        h.update(len(rel).to_bytes(4, "big") + rel + len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def _command(source: Path, out: Path, zig_cache: Path) -> list[str]:
    zig = [sys.executable, "-m", "ziglang"]
    if source.suffix == ".c":
        return [*zig, "cc", *C_FLAGS, "-I", str(C_SDK_DIR), "-o", str(out), str(source)]
    return [*zig, "build-exe", *ZIG_FLAGS, "--dep", "ripple", f"-Mroot={source}", f"-Mripple={ZIG_SDK}",
            f"-femit-bin={out}", "--cache-dir", str(zig_cache / "local"), "--global-cache-dir", str(zig_cache / "global")]


def build_module(name: str, source: str | os.PathLike, app_dir: str | os.PathLike,
                 cache_dir: str | os.PathLike | None = None) -> ModuleBuild:
    """The cached ``.wasm`` for one source file, compiling it on a miss. FunctionError (BuildError) with
    the compiler's output when compilation fails. Cost: a hash of the inputs; a compile on a miss."""
    started = time.perf_counter()
    src, app = Path(source).resolve(), Path(app_dir).resolve()
    key = build_key(src, app)
    cache = cache_root(cache_dir)
    final = cache / f"{key}.wasm"
    if final.exists():
        return ModuleBuild(name, src, final, key, True, time.perf_counter() - started)
    zig_cache = cache / "zig-cache"
    zig_cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ZIG_GLOBAL_CACHE_DIR=str(zig_cache / "global"), ZIG_LOCAL_CACHE_DIR=str(zig_cache / "local"))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{key[:12]}-", suffix=".wasm", dir=cache)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        proc = subprocess.run(_command(src, tmp, zig_cache), capture_output=True, text=True, env=env, cwd=src.parent)
        if proc.returncode != 0 or tmp.stat().st_size == 0:
            tail = (proc.stderr or proc.stdout).strip()[-4000:]
            raise FunctionError(f"building {src.name} failed (zig exit {proc.returncode}):\n{tail}", code="BuildError")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return ModuleBuild(name, src, final, key, False, time.perf_counter() - started)


def build_app(app_dir: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> list[ModuleBuild]:
    """Every module of the app (see ``sources``), built or from the cache. FunctionError (DeployError)
    when the app has no C/Zig sources."""
    found = sources(app_dir)
    if not found:
        raise FunctionError(f"{app_dir} has no *.c or *.zig files: the core host runs C/Zig modules "
                            "(Python apps run in the 'wasm' or 'reference' host)", code="DeployError")
    return [build_module(name, path, app_dir, cache_dir) for name, path in found]
