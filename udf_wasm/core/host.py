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
- a linear-memory limit (``FunctionsConfig.memory_limit_bytes``, at most 2 GiB so packed pointers stay
  positive): a failed ``memory.grow`` makes the SDK allocator report ``OutOfMemory`` and trap;
- no imports but the ABI's: no WASI, clock, entropy, files or network.

Race points: the host is thread-safe; each thread keeps its own stack of calls in progress (nested
calls from actions), and calls on different threads run truly in parallel (wasm runs without the GIL).
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import threading
from ctypes import byref, c_void_p
from pathlib import Path
from typing import Any

from engine.errors import FunctionError, SyscallError
from engine.functions.paths import canonical_path
from udf_wasm.core import runtime as rt
from udf_wasm.core.build import build_app
from udf_wasm.core.linking import GuestTrap, Frame, Linkers, check_imports, frames, link_plan

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
    """A loaded app of core modules: ``description`` and ``invoke`` (``LoadedApp`` protocol)."""

    def __init__(self, app_dir: str, config: Any, engine: rt.CoreEngine, linkers: Linkers) -> None:
        self.app_dir = app_dir
        self.config = config
        self._engine = engine
        self._linkers = linkers
        self.memory_limit = min(int(config.memory_limit_bytes), _MAX_MEMORY)
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
        for need, params, results in (("memory", None, None), ("alloc", ["i32"], ["i32"]),
                                      ("ripple_describe", [], ["i64"])):
            ty = exports.get(need)
            ok = ty is not None and (params is None and not hasattr(ty, "params") or params is not None
                                     and hasattr(ty, "params") and [str(p) for p in ty.params] == params
                                     and [str(r) for r in ty.results] == results)
            if not ok:
                sig = "a memory" if params is None else f"a function ({', '.join(params)}) -> ({', '.join(results)})"
                raise FunctionError(f"{label} must export {need!r} as {sig} (udf_wasm/ABI.md, Core lowering)",
                                    code="DeployError")
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
            ty = exports.get(export)
            if ty is None or not hasattr(ty, "params") or [str(p) for p in ty.params] != ["i32", "i32"] \
                    or [str(r) for r in ty.results] != ["i64"]:
                raise FunctionError(f"{label} describes {d['name']!r} but does not export {export!r} as a "
                                    "function (i32, i32) -> (i64)", code="DeployError")
            if path in self._functions:
                raise FunctionError(f"function {path} is defined twice", code="DeployError")
            self._functions[path] = _Function(path, d["kind"], export.encode(), pres[d["kind"]], initialize)
            self.description.append({"path": path, "kind": d["kind"], "visibility": d.get("visibility") or "public",
                                     "args": d.get("args"), "returns": d.get("returns")})

    def _describe(self, module: Any, label: str, initialize: bool) -> list[dict]:
        pre = self._linkers.get(None).instantiate_pre(module)
        fn = _Function("", "describe", b"ripple_describe", pre, initialize)
        ok, out = self._call(fn, None, _NoSyscalls(), _DESCRIBE_TICKS, label)
        if not ok:
            raise FunctionError(f"{label}: ripple_describe failed: {json.loads(out).get('message')}", code="DeployError")
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
        store, ctx = rt.new_store(self._engine, self.memory_limit, ticks)
        frame = Frame(syscalls)
        stack = frames()
        stack.append(frame)
        try:
            inst, err, trap = rt.instantiate(fn.pre_ptr, ctx)
            if inst is None:
                if trap:
                    return False, self._trap_payload(frame, ctx, trap, path, timeout_s)
                message = rt.error_message(err)
                if "memory" in message or "limit" in message:
                    return False, json.dumps({"code": "OutOfMemory", "message": f"{path} could not be instantiated "
                                              f"within its memory limit ({self.memory_limit >> 20} MiB): {message}"})
                raise FunctionError(f"{path}: instantiating the sandbox failed: {message}", code="HostError", path=path)
            frame.bind(ctx, rt.get_export(ctx, inst, b"memory"), rt.get_export(ctx, inst, b"alloc"))
            raw = (rt.Raw * 2)()
            trap_out = frame.trap
            if fn.initialize:
                init = rt.get_export(ctx, inst, b"_initialize")
                err = rt.func_call(ctx, byref(init.of.func), raw, 0, frame.trap_ref)
                if err or trap_out.value:
                    return False, self._failed_call(frame, ctx, err, trap_out.value, path, timeout_s)
            target = rt.get_export(ctx, inst, fn.export)
            nargs = 1  # the raw array holds max(params, results) values
            if args_json is not None:
                try:
                    ptr, n = frame.put(ctx, args_json)
                except GuestTrap as t:
                    return False, self._trap_payload(frame, ctx, t.trap_ptr, path, timeout_s)
                raw[0].i32, raw[1].i32 = ptr, n
                nargs = 2
            trap_out.value = None
            err = rt.func_call(ctx, byref(target.of.func), raw, nargs, frame.trap_ref)
            if err or trap_out.value:
                return False, self._failed_call(frame, ctx, err, trap_out.value, path, timeout_s)
            if frame.exc is not None:
                raise frame.exc
            return self._result(frame, ctx, raw[0].i64, path)
        finally:
            stack.pop()
            rt.delete_store(store)

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
        first = message.strip().splitlines()[0] if message.strip() else "trap"
        limit_mib = self.memory_limit / (1 << 20)
        if code == "INTERRUPT":
            return json.dumps({"code": "Timeout", "message": f"{path} exceeded its execution deadline of "
                                                             f"{timeout_s:g} s and was stopped"})
        reported = _payload(frame.failure) if frame.failure is not None else None
        near_limit = frame.mem is not None and rt.memory_data_size(ctx, frame.mem) + (64 << 10) > self.memory_limit
        if (reported is not None and reported.get("code") == "OutOfMemory") or near_limit:
            return json.dumps({"code": "OutOfMemory", "message": f"{path} ran out of memory (limit {limit_mib:g} MiB)"})
        return json.dumps({"code": "Trap", "message": f"{path} trapped ({first})"})

    def close(self) -> None:
        self._functions.clear()


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
    name = "core"

    def __init__(self, config: Any) -> None:
        self.config = config
        self._engine = rt.CoreEngine.shared(min(int(config.memory_limit_bytes), _MAX_MEMORY))
        self._linkers = _linkers_for(self._engine)

    def load(self, app_dir: str) -> CoreApp:
        return CoreApp(str(app_dir), self.config, self._engine, self._linkers)


_linkers_lock = threading.Lock()
_linkers: dict[int, Linkers] = {}


def _linkers_for(engine: rt.CoreEngine) -> Linkers:
    with _linkers_lock:
        linkers = _linkers.get(engine.slot_bytes)
        if linkers is None:
            linkers = _linkers[engine.slot_bytes] = Linkers(engine)
        return linkers
