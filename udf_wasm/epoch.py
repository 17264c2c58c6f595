"""Epoch deadlines, shared by both wasm hosts (components and core modules).

Who may call it: ``udf_wasm.host.component_host`` and ``udf_wasm.core.runtime``. One daemon thread per
wasmtime engine increments its epoch every ``TICK_S``; a store's deadline is a whole number of ticks,
so a deadline of t seconds traps within [t, t + TICK_S). Wasm execution releases the GIL, which is what
lets the ticker run while a guest spins.
"""
from __future__ import annotations

import threading
import time
from typing import Any

#: One epoch tick, in seconds.
TICK_S = 0.01


def ticks_for(timeout_s: float) -> int:
    """Epoch ticks for a deadline of *timeout_s* seconds (at least one)."""
    return max(1, int(timeout_s / TICK_S + 0.999))


def start_ticker(engine: Any, name: str) -> threading.Thread:
    """Start the daemon thread that advances *engine*'s epoch every ``TICK_S`` (for the process's life)."""
    def tick() -> None:
        while True:
            time.sleep(TICK_S)
            engine.increment_epoch()

    thread = threading.Thread(target=tick, name=name, daemon=True)
    thread.start()
    return thread
