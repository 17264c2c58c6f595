"""The raw wasmtime C API for core modules: one pooled engine, fresh stores, unchecked calls.

Who may call it: ``udf_wasm.core.linking`` and ``udf_wasm.core.host`` only. It binds the C functions
exported by the ``_libwasmtime`` that wasmtime-py ships (through ``wasmtime._ffi``, a private module:
the project pins wasmtime 50.0.1) with its own ctypes prototypes (pointers as plain integers), because
wasmtime-py's checked API costs 20 µs per call and 9 µs per host import against 1.2 µs and 0.5 µs for
the unchecked path (``shared/docs/udf-wasm.md``).

Invariants:
- One ``CoreEngine`` per memory limit (its pool slot size), shared by every loaded app: epoch
  interruption on, the pooling allocator on (instantiation ~6–15 µs; the first ``KEEP_RESIDENT`` bytes
  of a memory are reset in place), and a daemon ticker thread that increments the epoch every
  ``TICK_S``. A module compiled for one engine is never used with another. The pool reserves
  wasmtime's default 4 GiB of address space per memory slot (about 4 TiB virtual for ``POOL_SLOTS``;
  not resident), which lets compiled code skip bounds checks.
- A store lives for exactly one call (``new_store`` .. ``delete_store``); nothing outlives it.
- Linear memories never move (``memory_may_move`` off; pooled slots are reserved up front), so a
  memory's base address is fixed for its store's life and only its size grows. Callers bounds-check
  every guest pointer against the size before touching memory, so a hostile pointer cannot make the
  host read or write outside linear memory.
"""
from __future__ import annotations

import ctypes
import threading
from ctypes import POINTER, c_bool, c_char_p, c_size_t, c_uint64, c_void_p
from typing import Any

from wasmtime import _ffi as ffi

from udf_wasm.epoch import TICK_S, start_ticker, ticks_for  # noqa: F401  (re-exported for the core host)
#: Pool slots (instances, memories, tables) per engine: the most sandboxes alive at once.
POOL_SLOTS = 1000
#: Bytes of each pooled linear memory reset by memset (kept resident) instead of being returned to the
#: kernel: the whole initial memory of a C guest built with a 64 KiB stack (udf_wasm.core.build), so a
#: fresh instance does not page-fault on its stack, data and first heap pages (saves ~10 µs per call).
KEEP_RESIDENT = 128 << 10

_lib = ffi.dll


def _proto(name: str, restype: Any, *argtypes: Any) -> Any:
    """A private prototype of a C function (wasmtime-py's own prototypes are left untouched)."""
    return ctypes.CFUNCTYPE(restype, *argtypes)((name, _lib))


def _quick(name: str, restype: Any, *argtypes: Any) -> Any:
    """A prototype that keeps the GIL: only for C functions that never run guest code and return at
    once (releasing the GIL around them invites a thread switch for nothing)."""
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, _lib))


store_new = _quick("wasmtime_store_new", c_void_p, c_void_p, c_void_p, c_void_p)
store_context = _quick("wasmtime_store_context", c_void_p, c_void_p)
store_delete = _quick("wasmtime_store_delete", None, c_void_p)
set_epoch_deadline = _quick("wasmtime_context_set_epoch_deadline", None, c_void_p, c_uint64)
pre_instantiate = _proto("wasmtime_instance_pre_instantiate", c_void_p, c_void_p, c_void_p, c_void_p, c_void_p)
export_get = _quick("wasmtime_instance_export_get", c_bool, c_void_p, c_void_p, c_char_p, c_size_t, c_void_p)
func_call = _proto("wasmtime_func_call_unchecked", c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p)
memory_data = _quick("wasmtime_memory_data", c_void_p, c_void_p, c_void_p)
memory_data_size = _quick("wasmtime_memory_data_size", c_size_t, c_void_p, c_void_p)
caller_context = _quick("wasmtime_caller_context", c_void_p, c_void_p)
trap_new = _quick("wasmtime_trap_new", c_void_p, c_char_p, c_size_t)
trap_delete = _proto("wasm_trap_delete", None, c_void_p)
string_at = ctypes.string_at
memmove = ctypes.PYFUNCTYPE(c_void_p, c_void_p, c_char_p, c_size_t)(ctypes._memmove_addr)  # type: ignore[attr-defined]

Raw = ffi.wasmtime_val_raw_t
Extern = ffi.wasmtime_extern_t
InstanceRef = ffi.wasmtime_instance_t
EXTERN_FUNC = ffi.WASMTIME_EXTERN_FUNC.value
EXTERN_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value
#: The callback type of an unchecked host function: (env, caller, args_and_results, n) -> trap* or 0.
HostCallback = ffi.wasmtime_func_unchecked_callback_t
NO_FINALIZER = ctypes.CFUNCTYPE(None, c_void_p)(0)


def trap_info(trap_ptr: int) -> tuple[str | None, str]:
    """(trap code name such as "INTERRUPT" or None, message) of a trap; takes ownership and frees it."""
    from wasmtime import Trap

    trap = Trap._from_ptr(ctypes.cast(trap_ptr, POINTER(ffi.wasm_trap_t)))
    code = trap.trap_code
    return (code.name if code is not None else None), trap.message


def error_message(error_ptr: int) -> str:
    """The message of a ``wasmtime_error_t``; takes ownership and frees it."""
    from wasmtime import WasmtimeError

    return str(WasmtimeError._from_ptr(ctypes.cast(error_ptr, POINTER(ffi.wasmtime_error_t))))


class CoreEngine:
    """A wasmtime engine for core modules: epoch interruption, pooling allocator, ticker thread.

    ``shared(memory_limit)`` returns the process-wide engine whose pooled memories can grow to exactly
    that limit. Thread-safe; engines are never freed.
    """

    _lock = threading.Lock()
    _shared: dict[int, "CoreEngine"] = {}

    def __init__(self, slot_bytes: int) -> None:
        from wasmtime import Config, Engine

        cfg = Config()
        cfg.epoch_interruption = True
        cfg.memory_may_move = False  # base addresses stay valid while a memory grows
        pool = ffi.wasmtime_pooling_allocation_config_new()
        for setter, value in (("total_memories", POOL_SLOTS), ("total_tables", POOL_SLOTS),
                              ("total_core_instances", POOL_SLOTS), ("max_memory_size", slot_bytes),
                              ("linear_memory_keep_resident", KEEP_RESIDENT), ("table_keep_resident", 16 << 10)):
            getattr(ffi, f"wasmtime_pooling_allocation_config_{setter}_set")(pool, value)
        ffi.wasmtime_pooling_allocation_strategy_set(cfg.ptr(), pool)
        ffi.wasmtime_pooling_allocation_config_delete(pool)
        self.engine = Engine(cfg)
        self.ptr = ctypes.cast(self.engine.ptr(), c_void_p).value
        self.slot_bytes = slot_bytes
        self.settings = (f"epoch_interruption=1;memory_may_move=0;pooling=1;slots={POOL_SLOTS};slot_bytes={slot_bytes};"
                         f"keep_resident={KEEP_RESIDENT}")
        self._ticker = start_ticker(self.engine, "ripple-core-epoch")

    @classmethod
    def shared(cls, memory_limit: int) -> "CoreEngine":
        """The engine whose memories are limited to *memory_limit* bytes (rounded up to whole 64 KiB wasm
        pages): the pool's slot size is the limit, so ``memory.grow`` past it fails and stores need no
        limiter of their own. One engine (and ticker thread) per distinct limit, created on first use."""
        slot = max(1, -(-memory_limit // (64 << 10))) * (64 << 10)
        with cls._lock:
            eng = cls._shared.get(slot)
            if eng is None:
                eng = cls._shared[slot] = CoreEngine(slot)
            return eng


def new_store(engine: CoreEngine, ticks: int) -> tuple[int, int]:
    """A fresh store (its pointer and context pointer) with an epoch deadline *ticks* from now (its
    memories are limited by the engine's pool slots). Cost: ~1.5 µs. The caller must ``delete_store`` it."""
    store = store_new(engine.ptr, None, None)
    ctx = store_context(store)
    set_epoch_deadline(ctx, ticks)
    return store, ctx


def delete_store(store: int) -> None:
    store_delete(store)
