"""The host registry: name -> factory of a function host.

A host turns an app folder into a ``LoadedApp``::

    class LoadedApp(Protocol):
        description: list[dict]          # [{"path","kind","visibility","args","returns"}]
        def invoke(self, kind: str, path: str, args_json: str, syscalls: Syscalls,
                   timeout_s: float) -> tuple[bool, str]: ...   # (ok, result JSON | error payload JSON)
        def close(self) -> None: ...

``invoke`` must not raise for anything user code does (traps, deadlines and memory exhaustion included:
they are ``(False, payload)`` with codes from ABI.md); it may raise only for host failures.

Built-in names: ``reference`` (``engine.functions.reference_host``) and ``wasm`` (``udf_wasm.host``,
looked up by name so that the engine never imports ``udf_wasm``). ``register_host`` adds others.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from engine.model.errors import FunctionError

_FACTORIES: dict[str, "str | Callable[..., Any]"] = {
    "reference": "engine.functions.reference_host:ReferenceHost",
    "wasm": "udf_wasm.host:WasmHost",
    "core": "udf_wasm.core.host:CoreHost",
}


def register_host(name: str, factory: "str | Callable[..., Any]") -> None:
    """Add or replace a host: *factory* is a callable ``(config) -> host`` or a ``"module:attr"`` string."""
    _FACTORIES[name] = factory


def host_names() -> list[str]:
    return sorted(_FACTORIES)


def make_host(name: str, config: Any) -> Any:
    """Instantiate host *name* with a ``FunctionsConfig``. Raises FunctionError for an unknown or
    unavailable host (e.g. ``wasm`` without wasmtime installed), naming what is missing."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise FunctionError(f"unknown function host {name!r}; known: {', '.join(host_names())}", code="DeployError")
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            raise FunctionError(f"function host {name!r} is not available: {exc} (install the project's "
                                "'wasm' extra)", code="DeployError") from exc
    return factory(config)
