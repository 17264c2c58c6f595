"""``ripple dev``'s redeploy on change: ``watchfiles`` says *when* the app's files changed, the app's
content hash says *whether* they did, and each real change is one ``Deployment.redeploy``.

Who may call it: ``engine.server.cli`` (``ripple dev``), tests. It runs on its own thread and blocks
until ``stop`` is set.

Invariants:

- A redeploy that fails (a syntax error, a bad schema) leaves the previous version serving and is
  reported on stderr; the failed content is not retried until the files change again.
- No change is lost between the deploy and the start of watching: the caller passes the hash of the
  files as they were *before* the deploy read them, and the first report from the watcher (a change
  batch, or the first quiet timeout once the OS watch is in place) compares against it. After that the
  hash is computed only when the watcher reports a change, never on a timer.
- Only Python source changes wake it (``watchfiles.PythonFilter``: ``*.py``, outside ``__pycache__``,
  ``.git``, ``node_modules`` ...); static files do not. Whether a change matters (a ``_private.py``
  file is not part of the app) is the hash's call, over exactly the files the loader reads.
"""
from __future__ import annotations

import sys
import threading
import time
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from engine.model.errors import FunctionError

QUIET_TIMEOUT_MS = 1000  # the first quiet timeout marks "watching"; later ones are ignored
STEP_MS = 50             # a batch is reported once the files were quiet this long (edits save in bursts)


class Check(Enum):
    """What one look at the app folder (a change batch, or the baseline check) led to."""

    UNCHANGED = "unchanged"    # the app's content hash did not move (e.g. only a non-app file changed)
    REDEPLOYED = "redeployed"
    FAILED = "failed"          # the new version is broken; the previous one keeps serving


def watch_and_redeploy(dep: Any, stop: threading.Event, deployed_hash: str, *,
                       on_ready: Callable[[], None] | None = None,
                       on_check: Callable[[Check], None] | None = None) -> None:
    """Redeploy *dep* whenever its app folder's content changes, until *stop* is set.

    *deployed_hash*: ``app_hash`` of the folder taken before the running version was loaded.
    *on_ready*: called once, when the OS watch is in place (after the baseline check). *on_check*:
    called after every look at the folder with its outcome (hook points for tests and tools). Cost per
    change batch: one hash of the app's files, plus the redeploy when the hash moved."""
    from watchfiles import PythonFilter, watch

    from engine.functions.loader import app_hash

    root = Path(dep.app_dir).resolve()
    last = deployed_hash
    ready = False
    for changes in watch(root, watch_filter=PythonFilter(), stop_event=stop, step=STEP_MS,
                          rust_timeout=QUIET_TIMEOUT_MS, yield_on_timeout=True, raise_interrupt=False):
        if ready and not changes:
            continue  # a quiet timeout after the first: nothing to look at
        try:
            current = app_hash(root)
        except (OSError, FunctionError):
            continue  # the folder is mid-rename or gone: wait for the next change
        outcome = Check.UNCHANGED
        if current != last:
            last = current
            outcome = _redeploy(dep)
        if on_check is not None:
            on_check(outcome)
        if not ready:
            ready = True
            if on_ready is not None:
                on_ready()


def _redeploy(dep: Any) -> Check:
    started = time.perf_counter()
    try:
        dep.redeploy()
    except Exception as exc:  # noqa: BLE001 - keep serving the previous version
        print(f"ripple: redeploy failed, still serving the previous version:\n{exc}", file=sys.stderr, flush=True)
        return Check.FAILED
    print(f"ripple: redeployed {dep.app_dir} in {time.perf_counter() - started:.2f} s", flush=True)
    return Check.REDEPLOYED


__all__ = ["Check", "watch_and_redeploy"]
