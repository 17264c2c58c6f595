"""Small shared vocabulary types: timestamps, index keys and key intervals.

Who may use it: every layer. It imports nothing from the engine, so it sits at the very bottom.

Invariants:
- A ``Timestamp`` is one u64: physical milliseconds in the high 48 bits, a logical counter in the low 16
  (see ``engine.clock.hlc``). 0 means "before anything was committed".
- An ``Interval`` is ``[start, end)`` over byte strings: start inclusive, end exclusive, ``end=None``
  meaning unbounded above. ``start >= end`` (bounded) is the empty interval; it is legal and contains
  nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

Timestamp = NewType("Timestamp", int)

#: Largest representable timestamp (u64).
MAX_TIMESTAMP = Timestamp((1 << 64) - 1)


def key_successor(key: bytes) -> bytes:
    """The smallest byte string strictly greater than *key*: ``key + b"\\x00"``.

    Used to turn "up to and including *key*" into an exclusive end. O(len(key)).
    """
    return key + b"\x00"


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with *prefix*; None if unbounded.

    Strips trailing 0xff bytes and increments the last remaining byte. ``b""`` and all-0xff prefixes have
    no finite end, so None (unbounded) is returned. O(len(prefix)).
    """
    p = prefix.rstrip(b"\xff")
    if not p:
        return None
    return p[:-1] + bytes((p[-1] + 1,))


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """Half-open key interval ``[start, end)``; ``end=None`` is unbounded above.

    ``contains`` is O(len(key)). Ordering of Interval objects (dataclass order) is by ``start`` then
    ``end`` and is only used for deterministic sorting, never as a semantic comparison (None ends must be
    normalised first; see ``sort_key``).
    """

    start: bytes
    end: bytes | None

    @classmethod
    def all(cls) -> "Interval":
        """Every key."""
        return cls(b"", None)

    @classmethod
    def point(cls, key: bytes) -> "Interval":
        """Exactly one key: ``[key, key + 0x00)``."""
        return cls(key, key_successor(key))

    @classmethod
    def prefix(cls, prefix: bytes) -> "Interval":
        """Every key that starts with *prefix*."""
        return cls(prefix, prefix_end(prefix))

    def is_empty(self) -> bool:
        return self.end is not None and self.start >= self.end

    def contains(self, key: bytes) -> bool:
        """True iff ``start <= key`` and (unbounded or ``key < end``)."""
        return self.start <= key and (self.end is None or key < self.end)

    def overlaps(self, other: "Interval") -> bool:
        """True iff some key lies in both intervals (empty intervals overlap nothing)."""
        if self.is_empty() or other.is_empty():
            return False
        lo = max(self.start, other.start)
        if self.end is not None and lo >= self.end:
            return False
        if other.end is not None and lo >= other.end:
            return False
        return True

    def sort_key(self) -> tuple[bytes, int, bytes]:
        """Total order usable for sorting: by start, then bounded ends before unbounded."""
        return (self.start, 1 if self.end is None else 0, self.end or b"")

    def __repr__(self) -> str:
        end = "∞" if self.end is None else self.end.hex()
        return f"Interval[{self.start.hex()}, {end})"
