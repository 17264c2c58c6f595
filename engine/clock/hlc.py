"""Hybrid logical clock: one u64 per timestamp, physical ms in the high 48 bits, a logical counter below.

Who may call it: the committer (commit timestamps), the database (``observe`` of the persisted high-water
mark at open), the server later (``observe`` of remote timestamps). The physical clock is injected; this
module never reads the wall clock itself.

Invariants:
- Every value returned by ``now()`` is strictly greater than every value previously returned or observed.
- ``now()`` never returns less than ``pack(physical_ms(), 0)`` - when the wall clock is ahead of the clock.
- When the logical counter would pass 0xFFFF it carries into the physical part: the packed integer simply
  increments, so ordering stays a plain integer comparison.
- Across a restart, monotonicity is kept by ``observe``-ing the highest timestamp the persistence layer
  holds before issuing anything (the database does this at open).
"""
from __future__ import annotations

import threading
from typing import Callable

from engine.model.types import MAX_TIMESTAMP, Timestamp

ABI = "hlc/1"

#: The kernel's public API: its Cython twin must export exactly these names (tests/parity).
__all__ = [
    "ABI",
    "LOGICAL_BITS",
    "LOGICAL_MASK",
    "MAX_PHYSICAL_MS",
    "pack",
    "unpack",
    "to_millis",
    "HybridLogicalClock",
    "FakePhysicalClock",
]

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1
MAX_PHYSICAL_MS = (1 << 48) - 1

#: A physical clock: milliseconds since the Unix epoch (any int; it may stall or go backwards).
PhysicalClock = Callable[[], int]


def pack(physical_ms: int, logical: int) -> Timestamp:
    """Combine ``physical_ms`` (0..2^48-1) and ``logical`` (0..2^16-1) into one timestamp."""
    if not 0 <= physical_ms <= MAX_PHYSICAL_MS:
        raise ValueError(f"physical part {physical_ms} out of range 0..2^48-1")
    if not 0 <= logical <= LOGICAL_MASK:
        raise ValueError(f"logical part {logical} out of range 0..65535")
    return Timestamp((physical_ms << LOGICAL_BITS) | logical)


def unpack(ts: int) -> tuple[int, int]:
    """Split a timestamp into ``(physical_ms, logical)``."""
    if not 0 <= ts <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp {ts} is not a u64")
    return ts >> LOGICAL_BITS, ts & LOGICAL_MASK


def to_millis(ts: int) -> float:
    """The timestamp as float milliseconds (logical counter as a fraction below one ms)."""
    return (ts >> LOGICAL_BITS) + (ts & LOGICAL_MASK) / (1 << LOGICAL_BITS)


class HybridLogicalClock:
    """Thread-safe HLC over an injected physical clock.

    ``now()`` and ``observe()`` are O(1) and take an internal lock.
    """

    def __init__(self, physical_ms: PhysicalClock, last: int = 0) -> None:
        self._physical = physical_ms
        self._last = Timestamp(last)
        self._lock = threading.Lock()

    def now(self) -> Timestamp:
        """A new timestamp strictly greater than anything issued or observed so far."""
        with self._lock:
            wall = self._physical()
            candidate = pack(min(max(wall, 0), MAX_PHYSICAL_MS), 0)
            if candidate > self._last:
                self._last = candidate
            else:
                # Stalled or backward wall clock: bump the logical counter. +1 on the packed integer carries
                # into the physical part when the counter is full, so no special case is needed.
                if self._last >= MAX_TIMESTAMP:
                    raise OverflowError("hybrid logical clock exhausted the u64 range")
                self._last = Timestamp(self._last + 1)
            return self._last

    def observe(self, remote: int) -> Timestamp:
        """Merge a timestamp seen elsewhere (a persisted high-water mark, a peer); later ``now()`` values
        exceed it. Returns the clock's current last value."""
        if not 0 <= remote <= MAX_TIMESTAMP:
            raise ValueError(f"timestamp {remote} is not a u64")
        with self._lock:
            if remote > self._last:
                self._last = Timestamp(remote)
            return self._last

    def last(self) -> Timestamp:
        """The highest timestamp issued or observed (0 if none)."""
        return self._last

    def check_invariants(self) -> None:
        assert 0 <= self._last <= MAX_TIMESTAMP, self._last


class FakePhysicalClock:
    """A settable physical clock for tests and deterministic experiments (not wall time)."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.ms = start_ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int = 1) -> None:
        self.ms += ms

    def set(self, ms: int) -> None:
        self.ms = ms
