"""The wasm host: runs an app's functions in wasmtime sandboxes (registered as host ``"wasm"``).

- ``component_host``: Python apps built into WIT components (``udf_wasm.build``), hosted with
  ``wasmtime.component``: a fresh instance per call, deadlines by epoch interruption, memory limits.
- ``udf_wasm.core``: the thin core-module lowering for C/Zig guests (researchers' fast path).
"""
from udf_wasm.host.component_host import WasmHost

__all__ = ["WasmHost"]
