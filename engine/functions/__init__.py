"""Functions: queries, mutations and actions over the engine, in a pluggable host.

Who may call it: ``Database.deploy`` (and the server). Layout, one role per file:

- ``config``: ``FunctionsConfig`` (deadlines, memory limit, log bounds, fetch allow-list).
- ``paths``: function paths (``module:function``) and their canonical form.
- ``spec``: ``FunctionSpec`` records (kind, visibility, validators) parsed from a host's description.
- ``loader``: finds an app's function modules and loads its ``schema.py``.
- ``syscalls``: the syscall ABI (``udf_wasm/ABI.md``) implemented once over a transaction; every host
  adapts this one implementation, so read sets, write sets and errors are the same in every host.
- ``logs``: the bounded log buffer of one call.
- ``reference_host``: runs the SDK in this process (debugging, tests, fast experiments).
- ``hosts``: the host registry (``reference`` here; ``wasm`` is found by name in ``udf_wasm``).
- ``app``: a deployed ``App``: ``run(path, args)`` with argument/return validation, OCC retries for
  mutations, internal-function checks, and reactive ``subscribe``.

The engine never imports ``udf_wasm`` or the SDK package (``ripple``): it finds the wasm host through the
registry and recognises SDK functions by a marker attribute.
"""
from engine.functions.config import FunctionsConfig

__all__ = ["FunctionsConfig"]
