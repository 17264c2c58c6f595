"""The thin core-module path: C/Zig guests lowered to core WebAssembly (registered as host ``"core"``).

Who may call it: ``engine.functions`` through the host registry; tests and benchmarks. One role per file:

- ``build``: compiles ``*.c``/``*.zig`` files with the ``ziglang`` package, cached by content hash.
- ``runtime``: the raw wasmtime C API (unchecked calls, pooled engine with an epoch ticker, stores).
- ``linking``: the ``ripple`` import module: syscall signatures, host functions, linkers per kind.
- ``host``: ``CoreHost``/``CoreApp``, the ``LoadedApp`` protocol over fresh sandboxes per call.

The ABI is ``udf_wasm/ABI.md`` ("Core lowering"); the guest SDKs are ``udf_wasm/guests/c/ripple.h`` and
``udf_wasm/guests/zig/ripple.zig``.
"""
from udf_wasm.core.host import CoreHost

__all__ = ["CoreHost"]
