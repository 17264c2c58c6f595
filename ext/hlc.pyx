# cython: language_level=3
# Twin of engine/clock/hlc.py. Names, signatures, docstrings, ABI and on-disk/wire formats must match;
# tests/parity enforces this. Change the Python reference first.
"""Cython twin of ``engine.clock.hlc``: the hybrid logical clock with its state held as a C ``uint64``.

What is accelerated: ``HybridLogicalClock.now``/``observe``/``last`` (a ``cdef class`` whose last value is
a C ``unsigned long long``, so a tick is a compare and an add instead of Python-int arithmetic plus a
``threading.Lock`` round trip), and ``pack``/``unpack``/``to_millis`` (C arithmetic after the same range
checks, with the same ``ValueError`` messages).

Thread safety: this twin relies on the GIL instead of a lock. Every Python-level step of ``now()`` (calling
the injected physical clock, converting and clamping its result) and of ``observe()`` (the range check and
the conversion of *remote*) happens BEFORE the clock's state is read; the read-compare-write of
``self._last`` that follows is straight-line C with no Python calls, no allocation and no Py_DECREF, so
the interpreter cannot switch threads inside it and it is atomic with respect to every other ``now()``/
``observe()``. The only ordering difference from the reference (which also reads the physical clock under
its lock) is that two racing ``now()`` calls may read the wall clock in one order and update the state
in the other; each result is still strictly above everything issued or observed before it and at least
``pack(its own wall reading, 0)``, which are the invariants. This argument needs a GIL: a free-threaded
(PEP 703) build would need a real lock or an atomic compare-and-swap here.

Known, deliberate strictness: the reference stores ``last`` unchecked (an out-of-range value only trips
``check_invariants`` later); the twin cannot hold one in a ``uint64`` and raises the reference's
``ValueError("timestamp ... is not a u64")`` at construction instead. Non-integer timestamps (floats)
raise ``TypeError`` here where the reference would accept them into its state.
"""
from cpython.number cimport PyNumber_Index

from engine.model.types import MAX_TIMESTAMP

ctypedef unsigned long long u64

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

cdef enum:
    _C_LOGICAL_BITS = 16
cdef u64 _C_LOGICAL_MASK = 0xFFFF
cdef u64 _C_MAX_PHYSICAL_MS = (1 << 48) - 1
cdef u64 _C_MAX_TS = 0xFFFFFFFFFFFFFFFF

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1
MAX_PHYSICAL_MS = (1 << 48) - 1

# Module-level C references to the Python-int bounds: no globals-dict lookup per call.
cdef object _MAX_TS_OBJ = MAX_TIMESTAMP
cdef object _MAX_PHYS_OBJ = MAX_PHYSICAL_MS


cdef inline u64 _as_u64(object ts) except? 0xFFFFFFFFFFFFFFFF:
    """*ts* as a u64, or the reference's ValueError (TypeError for non-integers, from the conversion)."""
    if ts < 0 or ts > _MAX_TS_OBJ:
        raise ValueError(f"timestamp {ts} is not a u64")
    if type(ts) is not int:
        ts = PyNumber_Index(ts)  # a float must not be truncated silently
    return <u64>ts


def pack(physical_ms, logical):
    """Combine ``physical_ms`` (0..2^48-1) and ``logical`` (0..2^16-1) into one timestamp."""
    if not 0 <= physical_ms <= MAX_PHYSICAL_MS:
        raise ValueError(f"physical part {physical_ms} out of range 0..2^48-1")
    if not 0 <= logical <= LOGICAL_MASK:
        raise ValueError(f"logical part {logical} out of range 0..65535")
    if type(physical_ms) is not int:
        physical_ms = PyNumber_Index(physical_ms)  # the reference's ``<<`` refuses floats too
    if type(logical) is not int:
        logical = PyNumber_Index(logical)
    return ((<u64>physical_ms) << _C_LOGICAL_BITS) | (<u64>logical)


def unpack(ts):
    """Split a timestamp into ``(physical_ms, logical)``."""
    cdef u64 t = _as_u64(ts)
    return t >> _C_LOGICAL_BITS, t & _C_LOGICAL_MASK


def to_millis(ts):
    """The timestamp as float milliseconds (logical counter as a fraction below one ms)."""
    cdef u64 t
    if type(ts) is int and 0 <= ts <= _MAX_TS_OBJ:
        t = <u64>ts
        # Same IEEE operations as the reference: int part (exact, < 2^53) + fraction / 65536.
        return <double>(t >> _C_LOGICAL_BITS) + (<double>(t & _C_LOGICAL_MASK)) / 65536.0
    return (ts >> LOGICAL_BITS) + (ts & LOGICAL_MASK) / (1 << LOGICAL_BITS)


cdef class HybridLogicalClock:
    """Thread-safe HLC over an injected physical clock.

    ``now()`` and ``observe()`` are O(1) and take an internal lock.
    """

    cdef object _physical
    cdef u64 _last

    def __init__(self, physical_ms, last=0):
        self._physical = physical_ms
        self._last = _as_u64(last)

    def now(self):
        """A new timestamp strictly greater than anything issued or observed so far."""
        cdef object wall = self._physical()
        if type(wall) is not int:
            wall = PyNumber_Index(wall)  # the reference's pack() refuses floats too
        cdef u64 candidate, result
        # Python-level work first (comparisons may call back into Python): clamp to 0..MAX_PHYSICAL_MS.
        if wall <= 0:
            candidate = 0
        elif wall >= _MAX_PHYS_OBJ:
            candidate = _C_MAX_PHYSICAL_MS << _C_LOGICAL_BITS
        else:
            candidate = (<u64>wall) << _C_LOGICAL_BITS
        # From here to the return: C only, atomic under the GIL (see the module docstring).
        result = self._last
        if candidate > result:
            result = candidate
        else:
            # Stalled or backward wall clock: +1 on the packed integer carries into the physical part.
            if result == _C_MAX_TS:
                raise OverflowError("hybrid logical clock exhausted the u64 range")
            result += 1
        self._last = result
        # Return the local, not self._last: boxing may run Python code (GC) and let another thread in.
        return result

    def observe(self, remote):
        """Merge a timestamp seen elsewhere (a persisted high-water mark, a peer); later ``now()`` values
        exceed it. Returns the clock's current last value."""
        cdef u64 r = _as_u64(remote)
        if r > self._last:
            self._last = r
        else:
            r = self._last
        return r

    def last(self):
        """The highest timestamp issued or observed (0 if none)."""
        return self._last

    def check_invariants(self):
        assert self._last <= _C_MAX_TS, self._last


cdef class FakePhysicalClock:
    """A settable physical clock for tests and deterministic experiments (not wall time)."""

    cdef public object ms

    def __init__(self, start_ms=1_700_000_000_000):
        self.ms = start_ms

    def __call__(self):
        return self.ms

    def advance(self, ms=1):
        self.ms += ms

    def set(self, ms):
        self.ms = ms
