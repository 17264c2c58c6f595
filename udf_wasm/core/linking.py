"""The ``ripple`` import module of core guests: syscall signatures, host functions, per-kind linkers.

Who may call it: ``udf_wasm.core.host``. The contract is ``udf_wasm/ABI.md`` ("Core lowering").

Host functions are ``wasmtime`` *unchecked* callbacks (about 0.5 µs per crossing) shared by every
store: each finds the call it belongs to on a per-thread stack of ``Frame`` objects (an action's nested
``run_query`` runs another sandbox on the same thread while the outer one waits inside a host call),
reads its string arguments from the frame's guest memory (bounds-checked, UTF-8-checked), calls the
one syscall implementation (``engine.functions.syscalls.Syscalls``) and writes the result into memory
obtained from the guest's ``alloc`` export (in blocks of ``ARENA_BYTES``). A ``RippleError`` becomes the ABI's error result (``-2``; the guest can
fetch the payload with ``last_error``); any other exception is a host bug: the callback traps and the
host re-raises the original exception after the guest call returns.

Linking by kind: ``Linkers.get(kind, stubs)`` defines exactly the syscalls ``CAPABILITIES[kind]`` allows
(plus ``last_error`` and ``fail``), so a module whose functions are all queries and which imports
``insert`` fails to link. A module that also defines functions of another kind legitimately imports
that kind's syscalls; for its queries those imports are bound to stand-ins that fail with the same
error the reference host gives (``not_available``).
"""
from __future__ import annotations

import json
import threading
from ctypes import byref, c_void_p
from typing import Any, Callable, Iterable

from wasmtime import FuncType

from engine.functions.syscalls import ALL_SYSCALLS, CAPABILITIES, not_available
from engine.model.error_wire import error_payload
from engine.model.errors import FunctionError, RippleError, SyscallError
from udf_wasm.core import runtime as rt

IMPORT_MODULE = "ripple"
#: Host-side helpers every kind may import: the last syscall error, and how a function reports failure.
INTERNAL = frozenset({"last_error", "fail"})

# name -> (parameter layout, result). "s" = a string as (ptr: i32, len: i32); "f64" = f64.
# Results: "value" -> i64 (packed string, -1 none, -2 error); "unit" -> i64 (-1 ok, -2 error);
# "u64" -> i64 (the bits of a u64); "void" -> nothing.
SIGNATURES: dict[str, tuple[tuple[str, ...], str]] = {
    "get": (("s",), "value"),
    "query": (("s",), "value"),
    "insert": (("s", "s"), "value"),
    "patch": (("s", "s"), "unit"),
    "replace": (("s", "s"), "unit"),
    "delete": (("s",), "unit"),
    "now": ((), "u64"),
    "random_seed": ((), "u64"),
    "log": (("s", "s"), "void"),
    "get_env": (("s",), "value"),
    "schedule": (("f64", "s", "s"), "value"),
    "cancel": (("s",), "unit"),
    "run_query": (("s", "s"), "value"),
    "run_mutation": (("s", "s"), "value"),
    "run_action": (("s", "s"), "value"),
    "fetch": (("s",), "value"),
    "last_error": ((), "value"),
    "fail": (("s",), "void"),
}
#: Syscalls of the ABI that have no core lowering yet (tests keep this empty).
UNLOWERED = frozenset(ALL_SYSCALLS) - set(SIGNATURES)

NONE, ERR = -1, -2
#: The host obtains guest memory for arguments and results in blocks of at least this size.
ARENA_BYTES = 4096
_U64 = 1 << 64
_I63 = 1 << 63


def wasm_type(name: str) -> tuple[list[str], list[str]]:
    """(params, results) of import *name* as wasm value type names, e.g. (["i32", "i32"], ["i64"])."""
    params, result = SIGNATURES[name]
    ps: list[str] = []
    for p in params:
        ps.extend(("i32", "i32") if p == "s" else ("f64",))
    return ps, ([] if result == "void" else ["i64"])


class GuestTrap(Exception):
    """The guest trapped inside a call the host made on its behalf (``alloc``); carries the trap."""

    def __init__(self, trap_ptr: int) -> None:
        super().__init__("guest trapped")
        self.trap_ptr = trap_ptr


class Frame:
    """One guest call in progress: its syscalls, its instance and exports, and what it reported.

    Frames are reused (one per nesting depth per thread, see ``enter``), so the ctypes objects the
    unchecked API needs (instance and extern records, argument arrays, references to them) are built
    once. ``read``/``put`` are the only ways to touch guest memory; both check bounds against the
    memory's size (cached: memory only grows, and its base never moves)."""

    __slots__ = ("syscalls", "ctx", "base", "size", "arena", "arena_end", "last_error", "failure", "exc", "inst",
                 "inst_ref", "mem_ext", "mem_ext_ref", "mem", "alloc_ext", "alloc_ext_ref", "alloc", "fn_ext",
                 "fn_ext_ref", "fn", "raw", "raw2", "trap", "trap_ref")

    def __init__(self) -> None:
        self.syscalls: Any = None
        self.ctx = 0
        self.base = 0
        self.size = 0
        self.arena = self.arena_end = 0  # the unused part of the last block obtained from alloc
        self.last_error: BaseException | None = None  # the last syscall failure (a RippleError)
        self.failure: str | None = None  # what the guest passed to fail()
        self.exc: BaseException | None = None  # a host bug raised inside a callback
        self.inst = rt.InstanceRef()
        self.inst_ref = byref(self.inst)
        self.mem_ext, self.alloc_ext, self.fn_ext = rt.Extern(), rt.Extern(), rt.Extern()
        self.mem_ext_ref, self.alloc_ext_ref, self.fn_ext_ref = byref(self.mem_ext), byref(self.alloc_ext), byref(self.fn_ext)
        self.mem = byref(self.mem_ext.of.memory)
        self.alloc = byref(self.alloc_ext.of.func)
        self.fn = byref(self.fn_ext.of.func)
        self.raw = (rt.Raw * 1)()  # for alloc (inside host calls)
        self.raw2 = (rt.Raw * 2)()  # for the function itself
        self.trap = c_void_p()
        self.trap_ref = byref(self.trap)

    def export(self, name: bytes, into_ref: Any) -> bool:
        """Look up export *name* of the current instance into an extern record (``*_ext_ref``)."""
        return rt.export_get(self.ctx, self.inst_ref, name, len(name), into_ref)

    def bind_memory(self) -> None:
        self.base = rt.memory_data(self.ctx, self.mem)
        self.size = rt.memory_data_size(self.ctx, self.mem)

    def _fits(self, end: int) -> bool:
        if end <= self.size:
            return True
        self.size = rt.memory_data_size(self.ctx, self.mem)  # it may have grown
        return end <= self.size

    def read(self, ptr: int, length: int) -> str:
        """The UTF-8 string at (ptr, length) of guest memory. SyscallError when out of bounds or not UTF-8."""
        ptr &= 0xFFFFFFFF
        length &= 0xFFFFFFFF
        if not self._fits(ptr + length):
            raise SyscallError("InvalidArgument", f"string ({ptr}, {length}) lies outside the guest's memory "
                                                  f"({self.size} bytes)")
        try:
            return rt.string_at(self.base + ptr, length).decode()
        except UnicodeDecodeError as exc:
            raise SyscallError("InvalidArgument", f"string is not valid UTF-8: {exc}") from None

    def put(self, ctx: Any, text: str) -> tuple[int, int]:
        """Copy *text* into guest memory; (ptr, len). Memory comes from the guest's ``alloc`` in blocks of
        at least ``ARENA_BYTES`` (one crossing into the guest serves several strings). *ctx* is the store
        context to call alloc through, or, inside a host function, the ``Caller`` (its context is looked
        up only when a new block is needed). Raises GuestTrap when alloc traps (out of memory, past the
        deadline) or returns a block outside memory."""
        data = text.encode()
        n = len(data)
        ptr = self.arena
        if ptr + n > self.arena_end:
            block = n if n > ARENA_BYTES else ARENA_BYTES
            ptr = self._alloc(ctx if type(ctx) is int else rt.caller_context(ctx), block)
            self.arena_end = ptr + block
        self.arena = ptr + n
        rt.memmove(self.base + ptr, data, n)
        return ptr, n

    def _alloc(self, ctx: int, n: int) -> int:
        raw = self.raw
        raw[0].i32 = n
        trap = self.trap
        trap.value = None
        err = rt.func_call(ctx, self.alloc, raw, 1, self.trap_ref)
        if err:
            msg = rt.error_message(err).encode()
            raise GuestTrap(rt.trap_new(msg, len(msg)))
        if trap.value:
            raise GuestTrap(trap.value)
        ptr = raw[0].i32 & 0xFFFFFFFF
        if not self._fits(ptr + n):
            msg = f"the guest's alloc({n}) returned {ptr}, outside its memory ({self.size} bytes)".encode()
            raise GuestTrap(rt.trap_new(msg, len(msg)))
        return ptr

    def pack(self, ctx: Any, text: str) -> int:
        ptr, n = self.put(ctx, text)
        return (ptr << 32) | n

    def error_json(self) -> str | None:
        return None if self.last_error is None else json.dumps(error_payload(self.last_error))


_local = threading.local()


def frames() -> list[Frame]:
    """This thread's stack of guest calls in progress (innermost last)."""
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
        _local.spare = []
    return stack


def enter(syscalls: Any, ctx: int) -> Frame:
    """Push a frame for a new guest call on this thread (reusing the one of this depth) and return it."""
    try:
        stack, spare = _local.stack, _local.spare
    except AttributeError:
        stack, spare = frames(), _local.spare
    depth = len(stack)
    if depth == len(spare):
        spare.append(Frame())
    fr = spare[depth]
    fr.syscalls = syscalls
    fr.ctx = ctx
    fr.base = fr.size = fr.arena = fr.arena_end = 0
    fr.last_error = fr.failure = fr.exc = None
    stack.append(fr)
    return fr


def leave() -> None:
    """Pop this thread's innermost frame and drop its references."""
    fr = _local.stack.pop()
    fr.syscalls = fr.last_error = fr.exc = None
    fr.ctx = 0


def _host_trap(text: str) -> int:
    msg = text.encode()
    return rt.trap_new(msg, len(msg))


def _callback(name: str, refuse: Callable[..., Any] | None) -> Any:
    """The unchecked host function for import *name* (*refuse*: a stand-in that always raises)."""
    params, result = SIGNATURES[name]
    if params == ("s",):
        def args_of(fr: Frame, v: Any) -> tuple:
            return (fr.read(v[0].i32, v[1].i32),)
    elif params == ("s", "s"):
        def args_of(fr: Frame, v: Any) -> tuple:
            return fr.read(v[0].i32, v[1].i32), fr.read(v[2].i32, v[3].i32)
    elif params == ():
        def args_of(fr: Frame, v: Any) -> tuple:
            return ()
    else:  # schedule(at_ms: f64, path, args)
        def args_of(fr: Frame, v: Any) -> tuple:
            return v[0].f64, fr.read(v[1].i32, v[2].i32), fr.read(v[3].i32, v[4].i32)
    value, unit, u64 = result == "value", result == "unit", result == "u64"

    def call(env: Any, caller: Any, vals: Any, nvals: int) -> int:
        stack = getattr(_local, "stack", None)
        if not stack:
            return _host_trap(f"ripple.{name} was called outside of a function call")
        fr = stack[-1]
        try:
            args = args_of(fr, vals)
            if name == "fail":
                fr.failure = args[0]
                return 0
            if name == "last_error":
                text = fr.error_json()
                vals[0].i64 = NONE if text is None else fr.pack(caller, text)
                return 0
            out = (refuse or getattr(fr.syscalls, name))(*args)
            if value:
                vals[0].i64 = NONE if out is None else fr.pack(caller, out)
            elif unit:
                vals[0].i64 = NONE
            elif u64:
                out = int(out) % _U64
                vals[0].i64 = out - _U64 if out >= _I63 else out
            return 0
        except RippleError as exc:
            if name == "fail":  # fail() with a bad string still fails the function, with this error
                fr.failure = json.dumps({"code": "Uncaught", "message": f"fail() was called with a bad string: {exc}"})
                return 0
            if value or unit:
                fr.last_error = exc
                vals[0].i64 = ERR
                return 0
            fr.exc = exc  # env calls have no error channel: a host bug
            return _host_trap(f"ripple.{name} failed in the host")
        except GuestTrap as t:
            return t.trap_ptr  # ownership passes back to wasmtime
        except BaseException as exc:  # noqa: BLE001 - a host bug: trap now, re-raise after the call
            fr.exc = exc
            return _host_trap(f"ripple.{name} failed in the host: {type(exc).__name__}")

    return rt.HostCallback(call)


_callbacks: dict[tuple[str, str | None], Any] = {}  # ctypes callbacks must stay alive: never freed
_cb_lock = threading.Lock()


def _get_callback(name: str, refuse_kind: str | None) -> Any:
    key = (name, refuse_kind)
    with _cb_lock:
        cb = _callbacks.get(key)
        if cb is None:
            cb = _callbacks[key] = _callback(name, None if refuse_kind is None else not_available(refuse_kind, name))
        return cb


class Linkers:
    """The linkers of one engine, cached by (kind, stand-ins). ``kind`` None links every syscall (used
    to run ``ripple_describe`` at load, when the frame's syscalls refuse everything)."""

    def __init__(self, engine: rt.CoreEngine) -> None:
        self.engine = engine
        self._cache: dict[tuple[str | None, frozenset[str]], Any] = {}
        self._lock = threading.Lock()

    def get(self, kind: str | None, stubs: Iterable[str] = ()) -> Any:
        """The wasmtime ``Linker`` for *kind* with *stubs* bound to refusing stand-ins (built once)."""
        key = (kind, frozenset(stubs))
        with self._lock:
            linker = self._cache.get(key)
            if linker is None:
                linker = self._cache[key] = self._build(*key)
            return linker

    def _build(self, kind: str | None, stubs: frozenset[str]) -> Any:
        from wasmtime import Linker, ValType

        linker = Linker(self.engine.engine)
        allowed = set(SIGNATURES) if kind is None else (set(CAPABILITIES[kind]) | INTERNAL) & set(SIGNATURES)
        vt = {"i32": ValType.i32(), "i64": ValType.i64(), "f64": ValType.f64()}
        mod = IMPORT_MODULE.encode()
        for name in sorted(allowed | stubs):
            params, results = wasm_type(name)
            ft = FuncType([vt[p] for p in params], [vt[r] for r in results])
            cb = _get_callback(name, kind if name in stubs else None)
            err = rt.ffi.wasmtime_linker_define_func_unchecked(
                linker.ptr(), mod, len(mod), name.encode(), len(name), ft.ptr(), cb, None, rt.NO_FINALIZER)
            if err:
                raise RuntimeError(f"defining ripple.{name} failed")
        return linker


def check_imports(module: Any, label: str) -> set[str]:
    """The syscalls a compiled module imports. FunctionError (DeployError) naming the import when one
    is not a Ripple syscall or has the wrong type. Cost: O(imports)."""
    names: set[str] = set()
    for imp in module.imports:
        where = f"{imp.module}.{imp.name}"
        if imp.module != IMPORT_MODULE:
            raise FunctionError(f"{label} imports {where}: core modules may import only from the "
                                f"'{IMPORT_MODULE}' module (udf_wasm/ABI.md, Core lowering)", code="DeployError")
        if imp.name not in SIGNATURES:
            known = ", ".join(sorted(SIGNATURES))
            raise FunctionError(f"{label} imports {where}, which is not a Ripple syscall (known: {known})",
                                code="DeployError")
        want = wasm_type(imp.name)
        ty = imp.type
        if not isinstance(ty, FuncType):
            raise FunctionError(f"{label} imports {where} as a {type(ty).__name__}, but the ABI defines a function "
                                f"{_sig(want)}", code="DeployError")
        got = ([str(p) for p in ty.params], [str(r) for r in ty.results])
        if got != want:
            raise FunctionError(f"{label} imports {where} with type {_sig(got)}, but the ABI defines {_sig(want)}",
                                code="DeployError")
        names.add(imp.name)
    return names


def _sig(t: tuple[list[str], list[str]]) -> str:
    return f"({', '.join(t[0])}) -> ({', '.join(t[1])})"


def link_plan(kind: str, imports: set[str], module_kinds: set[str], label: str) -> frozenset[str]:
    """The stand-ins a module's *kind* functions need: imports the kind may not use but another kind
    the module defines may. FunctionError (DeployError) naming the first import no kind of the module
    may use: such a module cannot be linked for *kind*."""
    allowed = CAPABILITIES[kind] | INTERNAL
    stubs = set()
    for name in sorted(imports - allowed):
        if any(name in CAPABILITIES[k] for k in module_kinds):
            stubs.add(name)
            continue
        why = {"query": "queries are read-only", "action": "actions reach data only through run_query/run_mutation",
               "mutation": "mutations cannot call actions or fetch"}[kind]
        raise FunctionError(f"link error: {label} defines {kind} functions but imports {IMPORT_MODULE}.{name}, which "
                            f"a {kind} may not use ({why}); the {kind} linker does not provide it",
                            code="DeployError")
    return frozenset(stubs)
