"""The reference host: runs an app's functions in this Python process, through the same SDK and the
same syscall implementation as the wasm host (values cross as Convex JSON here too).

Who may call it: ``engine.functions.hosts``. For debugging, tests and fast experiments. It cannot stop
a runaway function: deadlines are checked after the call returns (an overrun fails the call), there is
no memory limit, and user code can reach the outside world. The wasm host is the sandbox.

Loading: the app folder becomes a synthetic package named after its content hash, so two apps (or two
versions of one app) never share modules, and ``close()`` removes its modules from ``sys.modules``.
"""
from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

from engine.functions.loader import app_hash, function_modules
from engine.functions.syscalls import ALL_SYSCALLS, CAPABILITIES, Syscalls, not_available
from engine.model.error_wire import error_from_payload, error_payload
from engine.model.errors import FunctionError, RippleError


class _Bridge:
    """The SDK's bridge in-process: each syscall round-trips its error through the wire form, so user
    code sees exactly the exception classes it would see in the wasm guest."""

    def __init__(self, syscalls: Syscalls, kind: str) -> None:
        allowed = CAPABILITIES[kind]
        for name in ALL_SYSCALLS:
            target = getattr(syscalls, name) if name in allowed else not_available(kind, name)
            setattr(self, name, self._wrap(target))

    @staticmethod
    def _wrap(fn: Any) -> Any:
        def call(*args: Any) -> Any:
            try:
                return fn(*args)
            except RippleError as exc:
                raise error_from_payload(error_payload(exc)) from None

        return call


def collect_functions(module: Any, module_path: str) -> dict[str, Any]:
    """The SDK functions a module exports, by function path (marker attribute ``_ripple_function``)."""
    out = {}
    for attr, obj in sorted(vars(module).items()):
        if getattr(type(obj), "_ripple_function", False) and not attr.startswith("_"):
            path = f"{module_path}:{attr}"
            if getattr(obj, "path", None) is None:
                obj.path = path
            out[path] = obj
    return out


class ReferenceApp:
    def __init__(self, app_dir: str) -> None:
        self.app_dir = str(Path(app_dir).resolve())
        self.package = f"_ripple_app_{app_hash(self.app_dir)[:16]}"
        self.functions: dict[str, Any] = {}
        pkg = types.ModuleType(self.package)
        pkg.__path__ = [self.app_dir]
        pkg.__package__ = self.package
        sys.modules[self.package] = pkg
        try:
            for mod in function_modules(self.app_dir):
                qualified = f"{self.package}.{mod.replace('/', '.')}"
                try:
                    module = importlib.import_module(qualified)
                except Exception as exc:
                    tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                    raise FunctionError(f"{mod}.py failed to load: {tb}", code="DeployError") from exc
                self.functions.update(collect_functions(module, mod))
        except BaseException:
            self.close()
            raise
        self.description = [fn.describe(path) for path, fn in self.functions.items()]

    def invoke(self, kind: str, path: str, args_json: str, syscalls: Syscalls, timeout_s: float) -> tuple[bool, str]:
        fn = self.functions.get(path)
        if fn is None:
            return False, json.dumps({"code": "FunctionNotFound", "message": f"no function {path}"})
        started = time.perf_counter()
        ok, out = fn._ripple_invoke(kind, path, args_json, _Bridge(syscalls, kind))
        elapsed = time.perf_counter() - started
        if elapsed > timeout_s:
            return False, json.dumps({"code": "Timeout", "message": f"{path} ran for {elapsed:.3f} s, over its "
                                      f"{timeout_s:g} s limit (the reference host detects this only afterwards)"})
        return ok, out

    def close(self) -> None:
        for name in [n for n in sys.modules if n == self.package or n.startswith(self.package + ".")]:
            del sys.modules[name]


class ReferenceHost:
    name = "reference"

    def __init__(self, config: Any) -> None:
        self.config = config

    def load(self, app_dir: str) -> ReferenceApp:
        return ReferenceApp(app_dir)
