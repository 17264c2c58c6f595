"""Log capture (SDK side): ``print`` and ``logging`` inside a function become log syscalls.

Who may call it: ``ripple._functions`` around each handler call. ``sys.stdout``/``sys.stderr`` are
replaced once by routing streams that send text to the sink of the function running on the current
thread (whole lines; a trailing partial line is flushed when the call ends) and pass everything else
through to the original stream, so the in-process reference host can run functions on several threads.
A root-logger handler routes log records the same way. Whoever replaces ``sys.stdout`` later (pytest,
Jupyter) is wrapped again at the next call. Bounds (line count, line length) are the host's.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Callable, Iterator

Sink = Callable[[str, str], None]  # (level, message)

_local = threading.local()
_install_lock = threading.Lock()
_installed = False


class _RoutingStream:
    def __init__(self, original, level: str) -> None:
        self._original = original
        self._level = level

    def write(self, text: str) -> int:
        state = getattr(_local, "state", None)
        if state is None:
            return self._original.write(text) if self._original is not None else len(text)
        buf = state["buffers"].setdefault(self._level, [])
        buf.append(text)
        if "\n" in text:
            joined = "".join(buf)
            *lines, rest = joined.split("\n")
            buf[:] = [rest] if rest else []
            for line in lines:
                state["sink"](self._level, line)
        return len(text)

    def flush(self) -> None:
        if getattr(_local, "state", None) is None and self._original is not None:
            self._original.flush()

    def __getattr__(self, name: str):
        return getattr(self._original, name)


class _RoutingHandler(logging.Handler):
    _LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR", "CRITICAL": "ERROR"}

    def emit(self, record: logging.LogRecord) -> None:
        state = getattr(_local, "state", None)
        if state is None:
            return
        try:
            msg = self.format(record)
        except Exception:  # a bad format string must not fail the function
            msg = str(record.msg)
        state["sink"](self._LEVELS.get(record.levelname, record.levelname), msg)


def _install() -> None:
    """Idempotent. Re-wraps stdout/stderr if someone (a test runner, a notebook) replaced them since."""
    global _installed
    with _install_lock:
        if not isinstance(sys.stdout, _RoutingStream):
            sys.stdout = _RoutingStream(sys.stdout, "LOG")
        if not isinstance(sys.stderr, _RoutingStream):
            sys.stderr = _RoutingStream(sys.stderr, "ERROR")
        if not _installed:
            logging.getLogger().addHandler(_RoutingHandler())
            _installed = True


@contextlib.contextmanager
def capture(sink: Sink) -> Iterator[None]:
    """Route this thread's print/logging output to *sink* for the duration of the block."""
    _install()
    previous = getattr(_local, "state", None)
    state = {"sink": sink, "buffers": {}}
    _local.state = state
    try:
        yield
    finally:
        _local.state = previous
        for level, buf in state["buffers"].items():
            rest = "".join(buf)
            if rest:
                sink(level, rest)
