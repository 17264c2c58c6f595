"""The guest side of a Ripple app component (componentize-py's app module for the ``app`` world).

Built into every app component by ``udf_wasm.build``; runs inside the wasm sandbox, never on the host.
At build time (componentize-py pre-initialises the interpreter and snapshots it) it imports the app's
function modules listed in ``ripple_manifest`` from the ``ripple_app`` package, so a call starts from a
snapshot with everything imported. ``run`` adapts the WIT imports to the SDK's bridge protocol: a WIT
``Err(payload)`` from a syscall becomes the engine exception it describes, in user code.

Determinism: the component is built with WASI stubbed, so the guest has no clock, entropy, files or
network. ``_seal`` gives the clock and the module-level random generator their deterministic ABI
equivalents and makes sleep and entropy raise clear errors; files and sockets fail with OSError.
"""
import importlib
import json
import random

import wit_world
from componentize_py_types import Err
from wit_world.imports import action as _action
from wit_world.imports import db_read as _read
from wit_world.imports import db_write as _write
from wit_world.imports import env as _env
from wit_world.imports import scheduler as _sched

from engine.model.error_wire import error_from_payload
import ripple  # noqa: F401  (the SDK, imported into the snapshot)
import ripple._capture  # noqa: F401  (imported lazily by the SDK; no imports may happen during a call)
import ripple._context  # noqa: F401
import engine.model.values  # noqa: F401
from ripple import _functions  # noqa: E402
import ripple_manifest


_IN_CALL = False


def _seal():
    """Replace the clock and entropy with what the ABI gives (deterministic), or a clear error.

    During a call: ``time.time()`` and friends return the transaction timestamp (``env.now``), as
    ``Date.now()`` does in Convex, so logging and datetime keep working deterministically; the module
    level ``random`` generator is reseeded per call from ``env.random-seed``; ``time.sleep`` and
    ``os.urandom`` raise. Outside a call (pre-initialisation at build time) the originals run."""
    import os
    import time

    def frozen(original, scale, integer):
        def now(*a):
            if not _IN_CALL:
                return original(*a)
            ms = _env.now() >> 16
            return int(ms * scale) if integer else ms * scale
        return now

    for name, scale, integer in (("time", 1e-3, False), ("time_ns", 1_000_000, True),
                                 ("monotonic", 1e-3, False), ("monotonic_ns", 1_000_000, True),
                                 ("perf_counter", 1e-3, False), ("perf_counter_ns", 1_000_000, True),
                                 ("process_time", 0.0, False), ("process_time_ns", 0, True)):
        if hasattr(time, name):
            setattr(time, name, frozen(getattr(time, name), scale, integer))

    def no_sleep(*_a):
        raise RuntimeError("time.sleep() is not available in a Ripple function: functions cannot wait; "
                           "schedule work with ctx.scheduler.run_after(...)")

    def no_entropy(*_a):
        raise RuntimeError("os.urandom() is not available in a Ripple function: use ctx.random "
                           "(seeded deterministically by the host)")

    time.sleep = no_sleep
    os.urandom = no_entropy

    # The guest has no file system at run time; WASI's stubs would trap on the first stat(). Make the
    # common entry points raise a clear, catchable error instead.
    import builtins
    import io
    import linecache

    def guarded(original, what):
        def call(*a, **k):
            if _IN_CALL:
                raise PermissionError(f"{what} is not available in a Ripple function: the sandbox has no "
                                      "file system (store data in the database)")
            return original(*a, **k)
        return call

    builtins.open = guarded(builtins.open, "open()")
    io.open = builtins.open
    for name in ("open", "stat", "lstat", "listdir", "scandir", "remove", "unlink", "mkdir", "rename", "getcwd"):
        if hasattr(os, name):
            setattr(os, name, guarded(getattr(os, name), f"os.{name}()"))
    try:
        import socket
    except ImportError:  # a guest CPython without sockets: nothing to guard
        socket = None
    if socket is not None:
        def no_network(*_a, **_k):
            raise PermissionError("the network is not available in a Ripple function: the sandbox has none "
                                  "(actions reach HTTP through ctx.fetch)")
        for name in ("socket", "create_connection", "create_server", "getaddrinfo", "gethostbyname",
                     "socketpair", "fromfd"):
            if hasattr(socket, name):
                setattr(socket, name, no_network)

    # Tracebacks read source lines through linecache: serve them from the cache filled at build time and
    # never stat() during a call.
    _checkcache, _updatecache = linecache.checkcache, linecache.updatecache
    linecache.checkcache = lambda *a, **k: None if _IN_CALL else _checkcache(*a, **k)
    linecache.updatecache = lambda *a, **k: [] if _IN_CALL else _updatecache(*a, **k)


_seal()

_FUNCTIONS = {}
for _mod in ripple_manifest.MODULES:
    _module = importlib.import_module("ripple_app." + _mod.replace("/", "."))
    for _attr, _obj in sorted(vars(_module).items()):
        if getattr(type(_obj), "_ripple_function", False) and not _attr.startswith("_"):
            _path = f"{_mod}:{_attr}"
            if getattr(_obj, "path", None) is None:
                _obj.path = _path
            _FUNCTIONS[_path] = _obj
# Fill linecache with every loaded module's source now (build time, when files exist), so tracebacks
# of user errors show source lines without touching the file system during a call.
import linecache as _linecache  # noqa: E402
import sys as _sys  # noqa: E402
for _m in list(_sys.modules.values()):
    _f = getattr(_m, "__file__", None)
    if _f and _f.endswith(".py") and ("ripple_app" in _f or "ripple" in _f or "engine" in _f):
        _linecache.getlines(_f)


def _warm_error_path():
    """Format one traceback and one error payload now: Python imports helpers for both lazily (e.g.
    ``_colorize``), and a lazy import during a call would need the file system."""
    from engine.model.errors import ConvexError
    from engine.model.error_wire import error_payload
    try:
        raise ConvexError({"warm": [1, 2.5, b"x"]})
    except ConvexError as exc:
        _functions._format_stack(exc)
        error_payload(exc)
        error_from_payload(error_payload(exc))


_warm_error_path()
_DESCRIPTION = json.dumps([fn.describe(path) for path, fn in _FUNCTIONS.items()])


def _call(fn, *args):
    try:
        return fn(*args)
    except Err as e:
        raise error_from_payload(json.loads(e.value)) from None


class _Bridge:
    """The SDK bridge over the WIT imports (same protocol as the reference host's)."""

    def get(self, doc_id): return _call(_read.get, doc_id)
    def query(self, request): return _call(_read.query, request)
    def insert(self, table, doc): return _call(_write.insert, table, doc)
    def patch(self, doc_id, fields): return _call(_write.patch, doc_id, fields)
    def replace(self, doc_id, doc): return _call(_write.replace, doc_id, doc)
    def delete(self, doc_id): return _call(_write.delete, doc_id)
    def now(self): return _env.now()
    def random_seed(self): return _env.random_seed()
    def log(self, level, message): _env.log(level, message)
    def get_env(self, name): return _env.get_env(name)
    def schedule(self, at_ms, path, args): return _call(_sched.schedule, at_ms, path, args)
    def cancel(self, job_id): return _call(_sched.cancel, job_id)
    def run_query(self, path, args): return _call(_action.run_query, path, args)
    def run_mutation(self, path, args): return _call(_action.run_mutation, path, args)
    def run_action(self, path, args): return _call(_action.run_action, path, args)
    def fetch(self, request): return _call(_action.fetch, request)


_BRIDGE = _Bridge()


class _WarmBridge(_Bridge):
    """Answers a warm-up call without the host: canned, valid responses."""

    def get(self, doc_id): return None
    def query(self, request): return '{"page": [{"_id": "x", "n": 1.5, "s": "t"}], "cursor": "c", "done": true}'
    def now(self): return 1 << 16
    def random_seed(self): return 7
    def log(self, level, message): pass


def _warm_handler(ctx, args):
    docs = ctx.db.query("warm").order("desc").take(2)
    print("warm", len(docs), ctx.random.random())
    return {"docs": docs, "args": args, "n": [1, 2.5, "three", None, True]}


_WARM = ripple.query(_warm_handler)


class WitWorld(wit_world.WitWorld):
    def describe(self) -> str:
        return _DESCRIPTION

    def run(self, kind: str, path: str, args: str) -> str:
        global _IN_CALL
        if kind == "warm":  # the host's pre-warm: exercise the call path (page faults, caches), no user code
            ok, out = _WARM._ripple_invoke("query", "warm:warm", '{"a": [1, 2, {"b": "c"}]}', _WarmBridge())
            # Cross the real imports once too (the host answers them from a throwaway context).
            _env.now(), _env.random_seed(), _env.log("LOG", "warm")
            for probe in (lambda: _read.get("warm"), lambda: _read.query("{}")):
                try:
                    probe()
                except Err:
                    pass
            return out
        fn = _FUNCTIONS.get(path)
        if fn is None:
            raise Err(json.dumps({"code": "FunctionNotFound", "message": f"no function {path}"}))
        random.seed(_env.random_seed())
        _IN_CALL = True
        try:
            ok, out = fn._ripple_invoke(kind, path, args, _BRIDGE)
        finally:
            _IN_CALL = False
        if not ok:
            raise Err(out)
        return out
