"""The core host: thin C/Zig guests as core WebAssembly modules, one fresh sandbox per call.

Who may call it: ``engine.functions`` through the host registry (name ``"core"``). Contract: the
``LoadedApp`` protocol in ``engine.functions.hosts``; the guest ABI is ``udf_wasm/ABI.md`` ("Core
lowering"). This is the researchers' fast path: a call with three syscalls costs tens of
microseconds, against about a millisecond for a Python component (``udf_wasm.host``).

Loading (``CoreHost.load(app_dir)``): every ``*.c``/``*.zig`` file is compiled (``udf_wasm.core.build``,
cached by content hash) and becomes module ``<file stem>``; its functions are ``<stem>:<name>``. Each
module's imports are checked (only ``ripple.*`` syscalls with their ABI types, else a DeployError
naming the import); ``ripple_describe`` is run once in a sandbox whose syscalls all refuse; then the
module is linked once per function kind it defines (an ``InstancePre`` per kind, see
``udf_wasm.core.linking``), so a query module that imports a write syscall fails here, at link time.

Sandboxing, per call:
- a fresh store and instance from the ``InstancePre`` (pooling allocator: ~15 µs), deleted after the
  call whatever happened, so no state survives a call and a trap poisons nothing;
- an epoch deadline of ``FunctionsConfig.timeout_for(kind)`` (a ticker thread advances the epoch every
  ``runtime.TICK_S``): exhausting it traps and becomes a ``Timeout`` function error;
- a linear-memory limit (``FunctionsConfig.memory_limit_bytes`` rounded up to 64 KiB pages, at most
  2 GiB so packed pointers stay positive; enforced by the engine's pool slot size): a failed
  ``memory.grow`` makes the SDK allocator report ``OutOfMemory`` and trap;
- no imports but the ABI's: no WASI, clock, entropy, files or network.

Race points: the host is thread-safe; each thread keeps its own stack of calls in progress (nested
calls from actions), and calls on different threads run truly in parallel (wasm runs without the GIL).
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import threading
from ctypes import c_void_p
from pathlib import Path
from typing import Any

from wasmtime import FuncType, MemoryType

from engine.functions.paths import canonical_path
from engine.model.errors import FunctionError, SyscallError
from udf_wasm.core import runtime as rt
from udf_wasm.core.build import build_app
from udf_wasm.core.linking import Frame, GuestTrap, Linkers, check_imports, enter, leave, link_plan

KINDS = ("query", "mutation", "action")
_MAX_MEMORY = 2 << 30
_DESCRIBE_TICKS = rt.ticks_for(10.0)

_modules_lock = threading.Lock()
_modules: dict[tuple[int, str], Any] = {}  # (engine slot, wasm sha256) -> compiled Module


def _compile(engine: rt.CoreEngine, wasm: bytes) -> Any:
    from wasmtime import Module

    key = (engine.slot_bytes, hashlib.sha256(wasm).hexdigest())
    with _modules_lock:
        mod = _modules.get(key)
    if mod is None:
        mod = Module(engine.engine, wasm)
        with _modules_lock:
            if len(_modules) > 512:
                _modules.clear()
            _modules[key] = mod
    return mod


class _NoSyscalls:
    """The syscalls seen by ``ripple_describe``: every one refuses."""

    def __getattr__(self, name: str) -> Any:
        def refuse(*_a: Any) -> Any:
            raise SyscallError("NotAvailable", f"ripple.{name} is not available while a module describes itself")

        return refuse


class _Function:
    __slots__ = ("path", "kind", "export", "pre", "pre_ptr", "initialize")

    def __init__(self, path: str, kind: str, export: bytes, pre: Any, initialize: bool) -> None:
        self.path = path
        self.kind = kind
        self.export = export
        self.pre = pre  # keeps the InstancePre alive
        self.pre_ptr = ctypes.cast(pre.ptr(), c_void_p).value
        self.initialize = initialize


class CoreApp:
    """A loaded app of core modules: ``description`` and ``invoke`` (``LoadedApp`` protocol); ``builds``
    lists each module's build (source, cached ``.wasm``, key)."""

    def __init__(self, app_dir: str, config: Any, engine: rt.CoreEngine, linkers: Linkers) -> None:
        self.app_dir = app_dir
        self.config = config
        self._engine = engine
        self._linkers = linkers
        self.memory_limit = engine.slot_bytes
        self.builds = build_app(app_dir, config.cache_dir)
        self._functions: dict[str, _Function] = {}
        self.description: list[dict] = []
        for b in self.builds:
            self._load_module(b.name, b.source, b.wasm.read_bytes())

    # ---- loading -----------------------------------------------------------------------------------

    def _load_module(self, name: str, source: Path, wasm: bytes) -> None:
        label = f"{source.name} (module {name!r})"
        try:
            module = _compile(self._engine, wasm)
        except Exception as exc:  # noqa: BLE001 - wasmtime rejects the module
            raise FunctionError(f"{label} is not a valid WebAssembly module: {exc}", code="DeployError") from None
        imports = check_imports(module, label)
        exports = {e.name: e.type for e in module.exports}
        if not isinstance(exports.get("memory"), MemoryType):
            raise FunctionError(f"{label} must export its linear memory as 'memory' (udf_wasm/ABI.md, Core lowering)",
                                code="DeployError")
        for need, sig in (("alloc", (["i32"], ["i32"])), ("ripple_describe", ([], ["i64"]))):
            if _signature(exports.get(need)) != sig:
                raise FunctionError(f"{label} must export {need!r} as a function {_show(sig)} "
                                    "(udf_wasm/ABI.md, Core lowering)", code="DeployError")
        initialize = "_initialize" in exports
        described = self._describe(module, label, initialize)
        kinds = {d["kind"] for d in described}
        pres = {}
        for kind in sorted(kinds):
            stubs = link_plan(kind, imports, kinds, label)
            try:
                pres[kind] = self._linkers.get(kind, stubs).instantiate_pre(module)
            except Exception as exc:  # noqa: BLE001 - defensive: link_plan already checked the imports
                raise FunctionError(f"link error: {label} cannot be linked for its {kind} functions: {exc}",
                                    code="DeployError") from None
        for d in described:
            path = f"{name}:{d['name']}"
            try:
                if canonical_path(path) != path:
                    raise ValueError
            except (FunctionError, ValueError):
                raise FunctionError(f"{label} describes a function named {d['name']!r}, which is not a valid "
                                    "function name (letters, digits, underscores)", code="DeployError") from None
            export = f"udf_{d['name']}"
            if _signature(exports.get(export)) != _UDF_SIGNATURE:
                raise FunctionError(f"{label} describes {d['name']!r} but does not export {export!r} as a "
                                    f"function {_show(_UDF_SIGNATURE)}", code="DeployError")
            if path in self._functions:
                raise FunctionError(f"function {path} is defined twice", code="DeployError")
            self._functions[path] = _Function(path, d["kind"], export.encode(), pres[d["kind"]], initialize)
            self.description.append({"path": path, "kind": d["kind"], "visibility": d.get("visibility") or "public",
                                     "args": d.get("args"), "returns": d.get("returns")})

    def _describe(self, module: Any, label: str, initialize: bool) -> list[dict]:
        pre = self._linkers.get(None).instantiate_pre(module)
        fn = _Function("", "describe", b"ripple_describe", pre, initialize)
        ok, out = self._call(fn, None, _NoSyscalls(), _DESCRIBE_TICKS, "ripple_describe")
        if not ok:
            raise FunctionError(f"{label}: {json.loads(out).get('message')}", code="DeployError")
        try:
            described = json.loads(out)
            if not isinstance(described, list):
                raise ValueError("not a JSON array")
            for d in described:
                if not isinstance(d, dict) or not isinstance(d.get("name"), str) or d.get("kind") not in KINDS:
                    raise ValueError(f"bad entry {d!r}: each needs a \"name\" and a \"kind\" (query, mutation, action)")
                if d.get("visibility", "public") not in ("public", "internal", None):
                    raise ValueError(f"bad visibility in {d!r}")
        except ValueError as exc:
            raise FunctionError(f"{label}: ripple_describe returned a malformed description: {exc}",
                                code="DeployError") from None
        return described

    # ---- calls -------------------------------------------------------------------------------------

    def invoke(self, kind: str, path: str, args_json: str, syscalls: Any, timeout_s: float) -> tuple[bool, str]:
        """Run function *path* in a fresh sandbox. Never raises for anything the guest does; raises only
        for host failures (a bug in a syscall, an exhausted instance pool). Cost: ~15 µs sandbox plus
        ~1.5 µs per guest call and a few µs per syscall."""
        fn = self._functions.get(path)
        if fn is None:
            return False, json.dumps({"code": "FunctionNotFound", "message": f"no function {path}"})
        if fn.kind != kind:
            return False, json.dumps({"code": "FunctionKindMismatch", "message": f"{path} is a {fn.kind}, not a {kind}"})
        return self._call(fn, args_json, syscalls, rt.ticks_for(timeout_s), path, timeout_s)

    def _call(self, fn: _Function, args_json: str | None, syscalls: Any, ticks: int, path: str,
              timeout_s: float = 10.0) -> tuple[bool, str]:
        store, ctx = rt.new_store(self._engine, ticks)
        frame = enter(syscalls, ctx)
        try:
            frame.trap.value = None
            err = rt.pre_instantiate(fn.pre_ptr, ctx, frame.inst_ref, frame.trap_ref)
            if err or frame.trap.value:
                return self._instantiate_failed(frame, ctx, err, path, timeout_s)
            if not (frame.export(b"memory", frame.mem_ext_ref) and frame.export(b"alloc", frame.alloc_ext_ref)):
                raise FunctionError(f"{path}: the instance lacks memory or alloc", code="HostError", path=path)
            frame.bind_memory()
            raw = frame.raw2
            if fn.initialize:
                frame.export(b"_initialize", frame.fn_ext_ref)
                err = rt.func_call(ctx, frame.fn, raw, 0, frame.trap_ref)
                if err or frame.trap.value:
                    return False, self._failed_call(frame, ctx, err, frame.trap.value, path, timeout_s)
            frame.export(fn.export, frame.fn_ext_ref)
            nargs = 1  # the raw array holds max(params, results) values
            if args_json is not None:
                try:
                    ptr, n = frame.put(ctx, args_json)
                except GuestTrap as t:
                    return False, self._trap_payload(frame, ctx, t.trap_ptr, path, timeout_s)
                raw[0].i32, raw[1].i32 = ptr, n
                nargs = 2
            frame.trap.value = None
            err = rt.func_call(ctx, frame.fn, raw, nargs, frame.trap_ref)
            if err or frame.trap.value:
                return False, self._failed_call(frame, ctx, err, frame.trap.value, path, timeout_s)
            if frame.exc is not None:
                raise frame.exc
            return self._result(frame, ctx, raw[0].i64, path)
        finally:
            leave()
            rt.delete_store(store)

    def _instantiate_failed(self, frame: Frame, ctx: int, err: int, path: str, timeout_s: float) -> tuple[bool, str]:
        if not err:
            return False, self._trap_payload(frame, ctx, frame.trap.value, path, timeout_s)
        message = rt.error_message(err)
        if "memory" in message or "limit" in message:
            return False, json.dumps({"code": "OutOfMemory", "message": f"{path} could not be instantiated within its "
                                      f"memory limit ({self.memory_limit >> 20} MiB): {message}"})
        raise FunctionError(f"{path}: instantiating the sandbox failed: {message}", code="HostError", path=path)

    def _result(self, frame: Frame, ctx: int, r: int, path: str) -> tuple[bool, str]:
        if r == -1:
            return True, "null"
        if r >= 0:
            try:
                text = frame.read(r >> 32, r & 0xFFFFFFFF)
                json.loads(text)
            except (SyscallError, ValueError) as exc:
                return False, json.dumps({"code": "Uncaught", "message": f"{path} returned a malformed result: {exc}"})
            return True, text
        if frame.failure is not None:
            return False, _guest_failure(frame.failure)
        err = frame.error_json()
        if err is not None:  # the guest propagated a failed syscall's result
            return False, err
        return False, json.dumps({"code": "Uncaught", "message": f"{path} failed (returned {r}) without reporting "
                                  "an error (call ripple.fail before returning an error)"})

    def _failed_call(self, frame: Frame, ctx: int, err: int, trap: int, path: str, timeout_s: float) -> str:
        if frame.exc is not None:
            if trap:
                rt.trap_info(trap)
            if err:
                rt.error_message(err)
            raise frame.exc
        if trap:
            return self._trap_payload(frame, ctx, trap, path, timeout_s)
        message = rt.error_message(err)
        return json.dumps({"code": "Trap", "message": f"{path} failed: {message.splitlines()[0] if message else 'error'}"})

    def _trap_payload(self, frame: Frame, ctx: int, trap: int, path: str, timeout_s: float) -> str:
        code, message = rt.trap_info(trap)
        lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
        cause = lines[-1] if lines else (code or "trap").lower().replace("_", " ")
        limit_mib = self.memory_limit / (1 << 20)
        if code == "INTERRUPT":
            return json.dumps({"code": "Timeout", "message": f"{path} exceeded its execution deadline of "
                                                             f"{timeout_s:g} s and was stopped"})
        reported = _payload(frame.failure) if frame.failure is not None else None
        near_limit = frame.base != 0 and rt.memory_data_size(ctx, frame.mem) + (64 << 10) > self.memory_limit
        if (reported is not None and reported.get("code") == "OutOfMemory") or near_limit:
            return json.dumps({"code": "OutOfMemory", "message": f"{path} ran out of memory (limit {limit_mib:g} MiB)"})
        return json.dumps({"code": "Trap", "message": f"{path} trapped ({cause})"})

    def close(self) -> None:
        self._functions.clear()


_UDF_SIGNATURE = (["i32", "i32"], ["i64"])


def _signature(ty: Any) -> tuple[list[str], list[str]] | None:
    """(params, results) of a function type as wasm type names; None for anything else."""
    if not isinstance(ty, FuncType):
        return None
    return [str(p) for p in ty.params], [str(r) for r in ty.results]


def _show(sig: tuple[list[str], list[str]]) -> str:
    return f"({', '.join(sig[0])}) -> ({', '.join(sig[1])})"


def _payload(text: str) -> dict | None:
    try:
        obj = json.loads(text)
    except (TypeError, ValueError):
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("code"), str) else None


def _guest_failure(text: str) -> str:
    """The error a guest reported with fail(): its JSON {"code","message",...} as is, or plain text as
    an Uncaught error."""
    obj = _payload(text)
    if obj is None:
        return json.dumps({"code": "Uncaught", "message": text})
    obj.setdefault("message", "")
    return json.dumps(obj)


class CoreHost:
    """Host ``"core"``: loads apps of C/Zig modules onto the shared pooled engine."""

    name = "core"

    def __init__(self, config: Any) -> None:
        self.config = config
        self._engine = rt.CoreEngine.shared(min(int(config.memory_limit_bytes), _MAX_MEMORY))
        self._linkers = _linkers_for(self._engine)

    def load(self, app_dir: str) -> CoreApp:
        """Build (or fetch from the cache), check, describe and link every module of *app_dir*.
        FunctionError (BuildError / DeployError) naming the file and the problem. Cost: a compile per
        changed source (0.05–0.2 s for C, ~0.5 s for Zig, a few seconds for Zig's first build), a few ms
        per module otherwise."""
        return CoreApp(str(app_dir), self.config, self._engine, self._linkers)


_linkers_lock = threading.Lock()
_linkers: dict[int, Linkers] = {}


def _linkers_for(engine: rt.CoreEngine) -> Linkers:
    with _linkers_lock:
        linkers = _linkers.get(engine.slot_bytes)
        if linkers is None:
            linkers = _linkers[engine.slot_bytes] = Linkers(engine)
        return linkers
