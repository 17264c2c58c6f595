"""Result metadata: every benchmark or experiment row carries this record (performance.md rules).

Who may call it: bench/ and experiments/. Records git sha and dirty flag, the implementation resolved per
kernel, strategies, package versions, CPU model, seed and the configuration.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata as _md
from typing import Any


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _version(pkg: str) -> str | None:
    try:
        return _md.version(pkg)
    except _md.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def collect(*, config: dict[str, Any], seed: int, impl: dict[str, str] | None = None) -> dict[str, Any]:
    """The metadata record for one result."""
    from engine import _impl

    resolved = impl or {k: _impl.resolve(k, config.get("impl"))[0] for k in _impl.KERNELS}
    cfg_json = json.dumps(config, sort_keys=True, default=str)
    return {
        "git_sha": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "engine_impl_env": os.environ.get("ENGINE_IMPL", "auto"),
        "impl": resolved,
        "persistence": config.get("persistence"),
        "index": config.get("index"),
        "versions": {
            "python": sys.version.split()[0], "cython": _version("Cython"), "lmdb": _version("lmdb"),
            "wasmtime": _version("wasmtime"), "numpy": _version("numpy"),
        },
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.platform(),
        "seed": seed,
        "config": config,
        "config_hash": hashlib.sha256(cfg_json.encode()).hexdigest()[:16],
        "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
