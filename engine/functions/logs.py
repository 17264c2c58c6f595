"""The bounded log buffer of one function call.

Invariant: at most ``max_lines`` lines are kept, each at most ``max_line_bytes`` UTF-8 bytes (longer
lines are cut and marked); lines beyond the limit are counted, and ``lines()`` ends with one notice
saying how many were dropped. Lines read ``[LEVEL] message`` (LOG, DEBUG, INFO, WARN, ERROR).
"""
from __future__ import annotations

_LEVELS = {"LOG", "DEBUG", "INFO", "WARN", "ERROR"}


class LogBuffer:
    def __init__(self, max_lines: int = 256, max_line_bytes: int = 4096) -> None:
        self.max_lines = max_lines
        self.max_line_bytes = max_line_bytes
        self._lines: list[str] = []
        self.dropped = 0

    def add(self, level: str, message: str) -> None:
        """O(len(message)). Never raises for any str input."""
        level = level.upper() if isinstance(level, str) and level.upper() in _LEVELS else "LOG"
        if len(self._lines) >= self.max_lines:
            self.dropped += 1
            return
        line = f"[{level}] {message}"
        raw = line.encode("utf-8", "replace")
        if len(raw) > self.max_line_bytes:
            marker = " …[truncated]"
            cut = raw[: self.max_line_bytes - len(marker.encode())].decode("utf-8", "ignore")
            line = cut + marker
        self._lines.append(line)

    def lines(self) -> list[str]:
        if self.dropped:
            return [*self._lines, f"[WARN] {self.dropped} more log lines dropped (limit {self.max_lines} per call)"]
        return list(self._lines)

    def check_invariants(self) -> None:
        assert len(self._lines) <= self.max_lines
        assert all(len(x.encode()) <= self.max_line_bytes for x in self._lines)
        assert self.dropped >= 0
