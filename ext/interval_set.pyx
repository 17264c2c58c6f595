# cython: language_level=3
# Twin of engine/conflict/interval_set.py. Names, signatures, docstrings, ABI and on-disk/wire formats must
# match; tests/parity enforces this. Change the Python reference first.
"""Cython twin of ``engine.conflict.interval_set``: merged read intervals with C byte comparisons.

What is accelerated: every comparison is a ``memcmp`` over the ``bytes`` buffers (no rich-compare
dispatch), and the OCC hot loop ``first_contained`` runs without touching the Python lists at all: the
set keeps a lazily rebuilt C array of its boundaries ``s0 < e0 < s1 < e1 < ...`` (bounded ends only) and
the prefix all of them share (index keys of one index share a long one); each boundary carries its next
8 bytes after that shared prefix as a big-endian ``uint64``. A key is a member iff the number of
boundaries ``<= key`` is odd, so a probe is one ``memcmp`` against the shared prefix (which alone settles
keys outside it) and one binary search of integer compares, falling back to ``memcmp`` only on ties. The array is rebuilt on the first query after a mutation (O(n)); the
boundary pointers borrow the buffers of the ``bytes`` objects held by ``_starts``/``_ends``.

The representation (two parallel Python lists of ``bytes``, None = unbounded) and every invariant are the
reference's, so ``intervals()``, ``debug_state()`` and ``check_invariants()`` mean the same thing.

Known, deliberate strictness: interval bounds and probed keys must be ``bytes`` (or a ``bytes``
subclass). The reference would store other objects and fail (or not) at some later comparison; the twin
raises ``TypeError`` at once, with the message Python's ``<`` would give for a key of another type.
"""
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy

from operator import itemgetter

from engine.model.types import Interval

cdef extern from "Python.h":
    char* _BYTES_STR "PyBytes_AS_STRING" (PyObject*)
    Py_ssize_t _BYTES_LEN "PyBytes_GET_SIZE" (PyObject*)
    bint _BYTES_CHECK "PyBytes_Check" (PyObject*)
    PyObject* _LIST_ITEM "PyList_GET_ITEM" (PyObject*, Py_ssize_t)
    Py_ssize_t _LIST_LEN "PyList_GET_SIZE" (PyObject*)
    PyObject* _TUPLE_ITEM "PyTuple_GET_ITEM" (PyObject*, Py_ssize_t)
    Py_ssize_t _TUPLE_LEN "PyTuple_GET_SIZE" (PyObject*)

ABI = "interval_set/2"

__all__ = ["ABI", "IntervalSet"]

cdef PyObject* _NONE = <PyObject*>None
cdef object _first = itemgetter(0)


cdef struct Bound:
    uint64_t pfx          # first 8 bytes, big-endian, zero padded
    const char* p
    Py_ssize_t n


cdef inline uint64_t _prefix(const char* p, Py_ssize_t n) noexcept nogil:
    cdef unsigned char buf[8]
    cdef uint64_t v
    if n >= 8:
        memcpy(buf, p, 8)
    else:
        buf[0] = buf[1] = buf[2] = buf[3] = buf[4] = buf[5] = buf[6] = buf[7] = 0
        memcpy(buf, p, n)
    v = ((<uint64_t>buf[0] << 56) | (<uint64_t>buf[1] << 48) | (<uint64_t>buf[2] << 40)
         | (<uint64_t>buf[3] << 32) | (<uint64_t>buf[4] << 24) | (<uint64_t>buf[5] << 16)
         | (<uint64_t>buf[6] << 8) | <uint64_t>buf[7])
    return v


cdef inline int _cmp_raw(const char* a, Py_ssize_t la, const char* b, Py_ssize_t lb) noexcept nogil:
    cdef int r = memcmp(a, b, la if la < lb else lb)
    if r != 0:
        return r
    return (la > lb) - (la < lb)


cdef inline int _cmp(PyObject* a, PyObject* b) noexcept:
    """Three-way compare of two bytes objects."""
    return _cmp_raw(_BYTES_STR(a), _BYTES_LEN(a), _BYTES_STR(b), _BYTES_LEN(b))


cdef inline Py_ssize_t _bisect_right(list a, PyObject* x, Py_ssize_t lo, Py_ssize_t hi) noexcept:
    """bisect.bisect_right over a list of bytes, for a bytes *x*."""
    cdef Py_ssize_t mid
    cdef const char* xp = _BYTES_STR(x)
    cdef Py_ssize_t xl = _BYTES_LEN(x)
    cdef PyObject* item
    while lo < hi:
        mid = (lo + hi) >> 1
        item = _LIST_ITEM(<PyObject*>a, mid)
        if _cmp_raw(xp, xl, _BYTES_STR(item), _BYTES_LEN(item)) < 0:
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef inline object _key_type_error(object key):
    return TypeError(f"'<' not supported between instances of '{type(key).__name__}' and 'bytes'")


cdef inline void _check_start(object s) except *:
    if not _BYTES_CHECK(<PyObject*>s):
        raise TypeError(f"interval start must be bytes, not {type(s).__name__}")


cdef inline void _check_end(object e) except *:
    if e is not None and not _BYTES_CHECK(<PyObject*>e):
        raise TypeError(f"interval end must be bytes or None, not {type(e).__name__}")


cdef tuple _coalesce(list pairs):
    """Merge non-empty ``(start, end)`` pairs sorted by start into canonical parallel lists. O(n)."""
    cdef list starts = []
    cdef list ends = []
    cdef object s, e, last
    for s, e in pairs:
        if starts:
            last = ends[len(ends) - 1]
            if last is None:
                continue
            if _cmp(<PyObject*>s, <PyObject*>last) <= 0:
                if e is None or _cmp(<PyObject*>e, <PyObject*>last) > 0:
                    ends[len(ends) - 1] = e
                continue
        starts.append(s)
        ends.append(e)
    return starts, ends


cdef class IntervalSet:
    """Sorted, disjoint, non-touching, non-empty half-open intervals over byte-string keys.

    ``IntervalSet(intervals=())`` builds the set from any iterable of ``Interval`` (empty ones ignored).
    Runtime: O(n log n) for n intervals.
    """

    cdef list _starts
    cdef list _ends
    # Boundary cache for the query paths; _nb < 0 means stale.
    cdef Bound* _bounds
    cdef Py_ssize_t _nb
    cdef Py_ssize_t _bcap
    cdef const char* _lcp_p   # the prefix every boundary shares ...
    cdef Py_ssize_t _lcp      # ... and its length

    def __cinit__(self, *args, **kwargs):
        self._starts = []
        self._ends = []
        self._bounds = NULL
        self._nb = -1
        self._bcap = 0
        self._lcp_p = NULL
        self._lcp = 0

    def __dealloc__(self):
        free(self._bounds)

    def __init__(self, intervals=()):
        cdef list pairs = []
        cdef object s, e
        for iv in intervals:
            s = iv.start
            e = iv.end
            _check_start(s)
            _check_end(e)
            if e is not None and _cmp(<PyObject*>s, <PyObject*>e) >= 0:
                continue
            pairs.append((s, e))
        pairs.sort(key=_first)
        self._starts, self._ends = _coalesce(pairs)
        self._nb = -1

    cdef int _refresh(self) except -1:
        """Rebuild the boundary array from the lists (after a mutation)."""
        cdef Py_ssize_t n = len(self._starts)
        cdef Py_ssize_t need = 2 * n
        cdef Py_ssize_t i, k = 0
        cdef PyObject* o
        cdef Bound* nb
        if need > self._bcap:
            nb = <Bound*>malloc((need if need > 8 else 8) * sizeof(Bound))
            if nb == NULL:
                raise MemoryError()
            free(self._bounds)
            self._bounds = nb
            self._bcap = need if need > 8 else 8
        for i in range(n):
            o = _LIST_ITEM(<PyObject*>self._starts, i)
            self._bounds[k].p = _BYTES_STR(o)
            self._bounds[k].n = _BYTES_LEN(o)
            k += 1
            o = _LIST_ITEM(<PyObject*>self._ends, i)
            if o != _NONE:
                self._bounds[k].p = _BYTES_STR(o)
                self._bounds[k].n = _BYTES_LEN(o)
                k += 1
        # Boundaries ascend, so the common prefix of the first and the last is common to all of them.
        cdef Py_ssize_t L = 0
        if k > 0:
            while (L < self._bounds[0].n and L < self._bounds[k - 1].n
                   and self._bounds[0].p[L] == self._bounds[k - 1].p[L]):
                L += 1
            self._lcp_p = self._bounds[0].p
        self._lcp = L
        for i in range(k):
            self._bounds[i].pfx = _prefix(self._bounds[i].p + L, self._bounds[i].n - L)
        self._nb = k
        return 0

    cdef inline bint _member(self, const char* kp, Py_ssize_t kl) noexcept:
        """Key membership over the boundary cache (must be fresh)."""
        cdef const Bound* b = self._bounds
        cdef Py_ssize_t lo = 0, hi = self._nb, mid
        cdef Py_ssize_t L = self._lcp
        cdef int c
        cdef uint64_t kx
        if L > 0:
            c = memcmp(kp, self._lcp_p, kl if kl < L else L)
            if c < 0 or (c == 0 and kl < L):
                return False  # below every boundary
            if c > 0:
                return hi & 1  # above every boundary
        kx = _prefix(kp + L, kl - L)
        # count of boundaries <= key == bisect_right over the boundaries
        while lo < hi:
            mid = (lo + hi) >> 1
            if kx < b[mid].pfx or (kx == b[mid].pfx and _cmp_raw(kp + L, kl - L, b[mid].p + L, b[mid].n - L) < 0):
                hi = mid
            else:
                lo = mid + 1
        return lo & 1

    # ---- mutation --------------------------------------------------------------------------------

    def add(self, interval):
        """Add *interval*, merging it with every stored interval it overlaps or touches.

        Empty intervals are ignored. Runtime: O(log n + m) comparisons for m intervals merged, plus the
        list splice (a memmove of the tail, O(n) bytes moved but no Python-level work).
        """
        cdef object s = interval.start
        cdef object e = interval.end
        cdef list starts = self._starts
        cdef list ends = self._ends
        cdef Py_ssize_t n, i, lo, hi
        cdef object ei, new_start, new_end, last_end
        _check_start(s)
        _check_end(e)
        if e is not None and _cmp(<PyObject*>s, <PyObject*>e) >= 0:
            return
        n = len(starts)
        i = _bisect_right(starts, <PyObject*>s, 0, n) - 1
        if i >= 0:
            ei = ends[i]
            lo = i if (ei is None or _cmp(<PyObject*>ei, <PyObject*>s) >= 0) else i + 1
        else:
            lo = 0
        hi = n if e is None else _bisect_right(starts, <PyObject*>e, lo, n)
        self._nb = -1
        if lo >= hi:
            starts.insert(lo, s)
            ends.insert(lo, e)
            return
        new_start = starts[lo] if _cmp(_LIST_ITEM(<PyObject*>starts, lo), <PyObject*>s) < 0 else s
        last_end = ends[hi - 1]
        if e is None or last_end is None:
            new_end = None
        else:
            new_end = last_end if _cmp(<PyObject*>last_end, <PyObject*>e) > 0 else e
        starts[lo:hi] = [new_start]
        ends[lo:hi] = [new_end]

    # ---- queries ---------------------------------------------------------------------------------

    def contains(self, key):
        """True iff some stored interval contains *key* (start inclusive, end exclusive).

        Runtime: O(log n) comparisons (binary search over the starts).
        """
        if not _BYTES_CHECK(<PyObject*>key):
            if not self._starts:
                return False
            raise _key_type_error(key)
        if self._nb < 0:
            self._refresh()
        return self._member(_BYTES_STR(<PyObject*>key), _BYTES_LEN(<PyObject*>key))

    def first_contained(self, keys):
        """Index of the first key in *keys* that the set contains, or -1 if none (the OCC hot loop).

        *keys* need not be sorted. Runtime: O(p log n) for the p keys examined (stops at the first hit).
        """
        cdef Py_ssize_t pos, n
        cdef PyObject* k
        cdef PyObject* seq
        if not self._starts:
            return -1
        if self._nb < 0:
            self._refresh()
        if type(keys) is list:
            seq = <PyObject*>keys
            pos = 0
            while pos < _LIST_LEN(seq):
                k = _LIST_ITEM(seq, pos)
                if not _BYTES_CHECK(k):
                    raise _key_type_error(<object>k)
                if self._member(_BYTES_STR(k), _BYTES_LEN(k)):
                    return pos
                pos += 1
            return -1
        if type(keys) is tuple:
            seq = <PyObject*>keys
            n = _TUPLE_LEN(seq)
            for pos in range(n):
                k = _TUPLE_ITEM(seq, pos)
                if not _BYTES_CHECK(k):
                    raise _key_type_error(<object>k)
                if self._member(_BYTES_STR(k), _BYTES_LEN(k)):
                    return pos
            return -1
        pos = 0
        for key in keys:
            if not _BYTES_CHECK(<PyObject*>key):
                raise _key_type_error(key)
            if self._nb < 0:  # the iterator ran Python code; never trust a cache across it
                self._refresh()
            if self._member(_BYTES_STR(<PyObject*>key), _BYTES_LEN(<PyObject*>key)):
                return pos
            pos += 1
        return -1

    def overlaps(self, interval):
        """True iff some key lies both in *interval* and in the set (an empty interval overlaps nothing).

        Runtime: O(log n).
        """
        cdef object s = interval.start
        cdef object e = interval.end
        cdef list starts = self._starts
        cdef list ends = self._ends
        cdef Py_ssize_t n = len(starts), i, j
        cdef object ei
        _check_start(s)
        _check_end(e)
        if e is not None and _cmp(<PyObject*>s, <PyObject*>e) >= 0:
            return False
        i = _bisect_right(starts, <PyObject*>s, 0, n) - 1
        if i >= 0:
            ei = ends[i]
            if ei is None or _cmp(<PyObject*>ei, <PyObject*>s) > 0:
                return True
        j = i + 1
        if j < n:
            return e is None or _cmp(_LIST_ITEM(<PyObject*>starts, j), <PyObject*>e) < 0
        return False

    def bounds(self):
        """The canonical intervals as the set's own parallel lists ``(starts, ends)`` (an end of None is
        unbounded), for kernels that walk the intervals without building ``Interval`` objects (the write
        window). Read-only views: never mutate them. Runtime: O(1)."""
        return self._starts, self._ends

    def intervals(self):
        """The canonical merged intervals, ascending (a fresh list). Runtime: O(n)."""
        return [Interval(s, e) for s, e in zip(self._starts, self._ends)]

    def union(self, other):
        """A new set holding every key of *self* or *other*; neither operand changes.

        *other* may be any object with ``intervals()``. Runtime: O(n + m) for already-canonical operands
        (a linear merge), O((n + m) log(n + m)) otherwise.
        """
        cdef list o_starts, o_ends, a_s, a_e, pairs
        cdef Py_ssize_t i = 0, j = 0, na, nb
        cdef IntervalSet o, result
        if isinstance(other, IntervalSet):
            o = <IntervalSet>other
            o_starts, o_ends = o._starts, o._ends
        else:
            ivs = []
            for iv in other.intervals():
                _check_start(iv.start)
                _check_end(iv.end)
                if iv.end is not None and _cmp(<PyObject*>iv.start, <PyObject*>iv.end) >= 0:
                    continue
                ivs.append(iv)
            ivs.sort(key=lambda iv: iv.start)
            o_starts = [iv.start for iv in ivs]
            o_ends = [iv.end for iv in ivs]
        a_s, a_e = self._starts, self._ends
        pairs = []
        na, nb = len(a_s), len(o_starts)
        while i < na and j < nb:
            if _cmp(_LIST_ITEM(<PyObject*>a_s, i), _LIST_ITEM(<PyObject*>o_starts, j)) <= 0:
                pairs.append((a_s[i], a_e[i]))
                i += 1
            else:
                pairs.append((o_starts[j], o_ends[j]))
                j += 1
        pairs.extend(zip(a_s[i:], a_e[i:]))
        pairs.extend(zip(o_starts[j:], o_ends[j:]))
        result = type(self)()
        result._starts, result._ends = _coalesce(pairs)
        result._nb = -1
        return result

    def __len__(self):
        """Number of merged intervals (not keys). O(1)."""
        return len(self._starts)

    def __bool__(self):
        """True iff the set contains at least one key. O(1)."""
        return bool(self._starts)

    def __eq__(self, other):
        """Same key set. Because the representation is canonical this is list equality. O(n)."""
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return self._starts == (<IntervalSet>other)._starts and self._ends == (<IntervalSet>other)._ends

    def __ne__(self, other):
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return not (self._starts == (<IntervalSet>other)._starts and self._ends == (<IntervalSet>other)._ends)

    __hash__ = None  # mutable

    def __repr__(self):
        return f"IntervalSet({self.intervals()!r})"

    # ---- testing support -------------------------------------------------------------------------

    def check_invariants(self):
        """Assert the representation invariants listed in the module docstring. O(n); tests only."""
        starts, ends = self._starts, self._ends
        if not (isinstance(starts, list) and isinstance(ends, list)):
            raise AssertionError("parallel lists missing")
        if len(starts) != len(ends):
            raise AssertionError(f"parallel lists differ in length: {len(starts)} != {len(ends)}")
        n = len(starts)
        for i in range(n):
            s, e = starts[i], ends[i]
            if not isinstance(s, bytes):
                raise AssertionError(f"start {i} is not bytes: {s!r}")
            if not (e is None or isinstance(e, bytes)):
                raise AssertionError(f"end {i} is neither bytes nor None: {e!r}")
            if not (e is None or s < e):
                raise AssertionError(f"interval {i} [{s!r}, {e!r}) is empty")
            if i + 1 < n:
                if e is None:
                    raise AssertionError(f"interval {i} is unbounded but not last")
                if not e < starts[i + 1]:
                    raise AssertionError(
                        f"intervals {i} and {i + 1} overlap or touch: end {e!r} >= next start {starts[i + 1]!r}"
                    )
        # The twin's own state: a fresh boundary cache must mirror the lists exactly.
        if self._nb >= 0:
            want = [b for s, e in zip(starts, ends) for b in ((s,) if e is None else (s, e))]
            if self._nb != len(want):
                raise AssertionError(f"boundary cache holds {self._nb} entries, lists give {len(want)}")
            if self._nb and (self._lcp > min(len(want[0]), len(want[len(want) - 1])) or want[0][:self._lcp] != want[len(want) - 1][:self._lcp]):
                raise AssertionError(f"boundary cache common prefix length {self._lcp} is wrong")
            for i in range(self._nb):
                got = (<const char*>self._bounds[i].p)[:self._bounds[i].n]
                if got != want[i] or self._bounds[i].pfx != _prefix(self._bounds[i].p + self._lcp,
                                                                     self._bounds[i].n - self._lcp):
                    raise AssertionError(f"boundary cache entry {i} is stale: {got!r} != {want[i]!r}")

    def debug_state(self):
        """Plain-data snapshot: ``{"intervals": [(start, end_or_None), ...]}``. O(n)."""
        return {"intervals": list(zip(self._starts, self._ends))}
