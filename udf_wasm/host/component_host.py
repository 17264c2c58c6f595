"""Hosting app components with ``wasmtime.component``: one fresh sandbox per call.

Who may call it: ``engine.functions`` through the host registry (name ``"wasm"``). Contract: the
``LoadedApp`` protocol in ``engine.functions.hosts``.

Sandboxing, per call:
- a fresh ``Store`` and instance (never reused after a call, so no state leaks between calls and a trap
  poisons nothing that outlives it). Instances are created ahead of time by a refill thread
  (``FunctionsConfig.prewarm`` per kind) and warmed with one ``describe`` call (which touches the
  interpreter's pages but no user state), so instantiation is off the call's critical path;
- an epoch deadline (a ticker thread increments the engine's epoch every ``TICK_S``); exhausting it
  traps with "interrupt" and becomes a ``Timeout`` function error;
- a linear-memory limit (``Store.set_limits``); the guest's ``MemoryError`` becomes ``OutOfMemory``;
- no WASI at all (components are built with WASI stubbed): the only imports are the ABI's.

Capabilities: one linker per function kind. A query's linker implements the write, scheduler and action
imports as errors naming the call (``engine.functions.syscalls.not_available``), so even a guest that
bypasses the SDK cannot write from a query.

Race points: host imports find the current call's ``Syscalls`` on a per-thread stack (an action's
nested ``run_query`` runs another sandbox on the same thread while the outer one waits in a host call).
"""
from __future__ import annotations

import collections
import json
import threading
import time
from typing import Any

from engine.functions.syscalls import CAPABILITIES, not_available
from engine.model.error_wire import error_payload
from engine.model.errors import RippleError

from udf_wasm.epoch import TICK_S, start_ticker, ticks_for
KINDS = ("query", "mutation", "action")
_IFACE = "ripple:udf/{}@0.1.0"

# WIT signature shapes: how each syscall's Python result maps to the component value.
_RESULT_VARIANT = {"get", "query", "insert", "schedule", "run_query", "run_mutation", "run_action", "fetch"}
_RESULT_UNIT = {"patch", "replace", "delete", "cancel"}
_INTERFACES = {
    "db-read": ("get", "query"),
    "db-write": ("insert", "patch", "replace", "delete"),
    "env": ("now", "random_seed", "log", "get_env"),
    "scheduler": ("schedule", "cancel"),
    "action": ("run_query", "run_mutation", "run_action", "fetch"),
}

# Which missing WASI capability a trap's backtrace points at: the sandbox stubs all of WASI.
_TRAP_HINTS = (
    ("filesystem", ": it tried to use the file system (or to import a module during the call: import "
                   "everything at the top of your function files); the sandbox has none"),
    ("sockets", ": it tried to use the network; only actions may reach it, through ctx.fetch"),
    ("clocks", ": it tried to read a clock; use ctx.now()"),
    ("random", ": it tried to read entropy; use ctx.random"),
)

_local = threading.local()


def _current() -> Any:
    stack = getattr(_local, "stack", None)
    if not stack:
        raise RuntimeError("a Ripple syscall arrived outside of a function call")
    return stack[-1]


def _host_func(kind: str, name: str) -> Any:
    refuse = None if name in CAPABILITIES[kind] else not_available(kind, name)

    def call(store: Any, *args: Any) -> Any:
        from wasmtime.component import Variant

        sc = _current()
        target = refuse or getattr(sc, name)
        try:
            out = target(*args)
        except RippleError as exc:
            err = json.dumps(error_payload(exc))
            if name in _RESULT_VARIANT:
                return Variant("err", err)
            if name in _RESULT_UNIT:
                return err
            raise  # env calls have no error channel: a host bug; surfaces from the guest call
        if name in _RESULT_VARIANT:
            return Variant("ok", out)
        return None if name in _RESULT_UNIT else out

    call.__name__ = name
    return call


class _Engine:
    """One wasmtime Engine with epoch interruption and its ticker thread (shared by all loaded apps)."""

    _lock = threading.Lock()
    _shared: "_Engine | None" = None

    def __init__(self) -> None:
        from wasmtime import Config, Engine

        cfg = Config()
        cfg.epoch_interruption = True
        self.engine = Engine(cfg)
        self.settings = "epoch_interruption=1"
        self._ticker = start_ticker(self.engine, "ripple-wasm-epoch")

    @classmethod
    def shared(cls) -> "_Engine":
        with cls._lock:
            if cls._shared is None:
                cls._shared = _Engine()
            return cls._shared


class _WarmSyscalls:
    """Answers the warm-up call's imports without touching any database."""

    def now(self) -> int:
        return 1 << 16

    def random_seed(self) -> int:
        return 0

    def log(self, level: str, message: str) -> None:
        pass

    def get(self, doc_id: str) -> Any:
        from engine.model.errors import SyscallError

        raise SyscallError("NotAvailable", "warm-up")

    query = get


class _Sandbox:
    __slots__ = ("store", "run")

    def __init__(self, store: Any, run: Any) -> None:
        self.store = store
        self.run = run


class ComponentApp:
    """A loaded app component: ``description`` and ``invoke`` (``LoadedApp`` protocol)."""

    def __init__(self, cwasm: str, config: Any, engine: _Engine, build: Any) -> None:
        from wasmtime import Store
        from wasmtime.component import Component, Linker

        self.config = config
        self.build = build
        self._engine = engine
        self._store_cls = Store
        self.component = Component.deserialize_file(engine.engine, cwasm)
        self._linkers = {}
        for kind in KINDS:
            linker = Linker(engine.engine)
            with linker.root() as root:
                for iface, names in _INTERFACES.items():
                    with root.add_instance(_IFACE.format(iface)) as inst:
                        for name in names:
                            inst.add_func(name.replace("_", "-"), _host_func(kind, name))
            self._linkers[kind] = linker
        self._pools: dict[str, collections.deque] = {k: collections.deque() for k in KINDS}
        self._cv = threading.Condition()
        self._closed = False
        first = self._instantiate("query")
        self.description = json.loads(first.store and self._describe(first))
        self.instances_created = 1
        self._refiller = None
        if config.prewarm > 0:
            self._refiller = threading.Thread(target=self._refill, name="ripple-wasm-prewarm", daemon=True)
            self._refiller.start()

    # ---- sandboxes -----------------------------------------------------------------------------------

    def _instantiate(self, kind: str) -> _Sandbox:
        store = self._store_cls(self._engine.engine)
        store.set_limits(memory_size=self.config.memory_limit_bytes)
        store.set_epoch_deadline(int(10.0 / TICK_S))  # instantiation and warm-up: generous
        inst = self._linkers[kind].instantiate(store, self.component)
        return _Sandbox(store, (inst.get_func(store, "run"), inst.get_func(store, "describe")))

    def _describe(self, sb: _Sandbox) -> str:
        return sb.run[1](sb.store)

    def _warm(self, sb: _Sandbox) -> None:
        """One warm-up call through the guest's own call path (no user code): the first call into a
        fresh instance pays its page faults and wasmtime-py's per-import setup here, off the critical
        path. Its few real imports are answered by a throwaway read-nothing context."""
        stack = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        stack.append(_WarmSyscalls())
        try:
            sb.run[0](sb.store, "warm", "", "{}")
        finally:
            stack.pop()

    def _fresh(self, kind: str) -> _Sandbox:
        with self._cv:
            pool = self._pools[kind]
            sb = pool.popleft() if pool else None
            self._cv.notify()
        if sb is None:
            sb = self._instantiate(kind)
            self.instances_created += 1
        return sb

    def _refill(self) -> None:
        while True:
            with self._cv:
                while not self._closed and all(len(p) >= self.config.prewarm for p in self._pools.values()):
                    self._cv.wait()
                if self._closed:
                    return
                kind = min(KINDS, key=lambda k: len(self._pools[k]))
            try:
                sb = self._instantiate(kind)
                self._warm(sb)
            except Exception:  # noqa: BLE001 - a failed prewarm is retried inline by the next call
                time.sleep(0.1)
                continue
            with self._cv:
                self._pools[kind].append(sb)
                self.instances_created += 1

    # ---- calls ---------------------------------------------------------------------------------------

    def invoke(self, kind: str, path: str, args_json: str, syscalls: Any, timeout_s: float) -> tuple[bool, str]:
        from wasmtime import WasmtimeError

        sb = self._fresh(kind)
        sb.store.set_epoch_deadline(ticks_for(timeout_s))
        stack = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        stack.append(syscalls)
        try:
            out = sb.run[0](sb.store, kind, path, args_json)
        except WasmtimeError as exc:
            return False, json.dumps(self._trap_payload(str(exc), path, timeout_s))
        finally:
            stack.pop()
            sb.store = None  # the sandbox is never reused
        if out.tag == "ok":
            return True, out.payload
        return False, self._guest_error(out.payload)

    def _guest_error(self, payload_json: str) -> str:
        try:
            payload = json.loads(payload_json)
        except (TypeError, json.JSONDecodeError):
            return json.dumps({"code": "InternalError", "message": f"malformed error from the guest: {payload_json!r}"})
        if payload.get("code") == "Uncaught" and str(payload.get("message", "")).startswith("MemoryError"):
            limit = self.config.memory_limit_bytes
            payload = {"code": "OutOfMemory", "message": f"the function ran out of memory (limit {limit >> 20} MiB)",
                       "stack": payload.get("stack", "")}
            return json.dumps(payload)
        return payload_json

    def _trap_payload(self, text: str, path: str, timeout_s: float) -> dict:
        first = text.strip().splitlines()[0] if text.strip() else "trap"
        if "interrupt" in text:
            return {"code": "Timeout", "message": f"{path} exceeded its execution deadline of {timeout_s:g} s and was stopped"}
        if "memory" in text and ("grow" in text or "limit" in text or "out of bounds" not in text):
            return {"code": "OutOfMemory", "message": f"{path} ran out of memory (limit "
                                                      f"{self.config.memory_limit_bytes >> 20} MiB): {first}"}
        cause = text.strip().splitlines()[-1].strip() if text.strip() else first
        hint = next((h for key, h in _TRAP_HINTS if key in text), "")
        return {"code": "Trap", "message": f"{path} trapped ({cause}){hint}"}

    def close(self) -> None:
        with self._cv:
            self._closed = True
            for p in self._pools.values():
                p.clear()
            self._cv.notify_all()


class WasmHost:
    name = "wasm"

    def __init__(self, config: Any) -> None:
        self.config = config
        self._engine = _Engine.shared()

    def build(self, app_dir: str) -> Any:
        """The app's compiled component (``udf_wasm.build.BuildResult``), built on a cache miss."""
        from udf_wasm.build import build_app

        return build_app(app_dir, self._engine.engine, self._engine.settings, self.config.cache_dir)

    def load(self, app_dir: str) -> ComponentApp:
        build = self.build(app_dir)
        return ComponentApp(str(build.cwasm), self.config, self._engine, build)
