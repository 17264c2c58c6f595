# cython: language_level=3
# Twin of engine/log/written_keys.py. Names, signatures, docstrings and ABI must match; tests/parity enforces
# this, and tests/differential/test_write_window_stateful.py checks that both build the very same tree.
# Change the Python reference first.
"""Cython twin of ``engine.log.written_keys``: one index's window writes as a treap in C.

Same structure and algorithms as the reference (a treap ordered by ``(key, seq)``, heap-ordered on
``splitmix64(seq)``, every node carrying its subtree's maximum commit ts; the same insert, split, merge and
pruned leftmost search), so both twins build identical trees and ``debug_state`` is equal between them.

What is accelerated: nodes are C structs in one growable array (slots of dropped entries are reused through
a free list), child links are array indexes, timestamps are ``uint64``, and each node keeps a borrowed
pointer to its key's buffer (the ``bytes`` objects are held by the parallel list ``_keys``), so the query
``first_conflict`` walks the tree with ``memcmp`` and integer compares only: no Python object is touched
between the call and its answer. The insertion-order log is a C array of slots used as a deque.

Known, deliberate strictness: keys, interval starts and (bounded) ends must be ``bytes`` (or a subclass);
the twin raises ``TypeError`` at once where the reference would fail at some later comparison. Query
timestamps above ``2**64 - 1`` are clamped (nothing is newer than that).
"""
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcmp, memmove
from cpython.object cimport PyObject

cdef extern from "Python.h":
    char* _BYTES_STR "PyBytes_AS_STRING" (PyObject*)
    Py_ssize_t _BYTES_LEN "PyBytes_GET_SIZE" (PyObject*)
    bint _BYTES_CHECK "PyBytes_Check" (PyObject*)
    PyObject* _LIST_ITEM "PyList_GET_ITEM" (PyObject*, Py_ssize_t)
    Py_ssize_t _LIST_LEN "PyList_GET_SIZE" (PyObject*)
    bint _LIST_CHECK "PyList_CheckExact" (PyObject*)

#: Kernel ABI shared with the Cython twin ``engine._native.write_window``; bump on any semantic change.
ABI = "write_window/1"

#: The kernel's public API: its Cython twin must export exactly these names (tests/parity).
__all__ = ["ABI", "WrittenKeys"]

cdef uint64_t _MAX = 0xFFFFFFFFFFFFFFFF
cdef object _MAX_PY = (1 << 64) - 1
cdef PyObject* _NONE = <PyObject*>None


cdef struct Node:
    const char* kp      # borrowed: the buffer of _keys[slot]
    Py_ssize_t kl
    uint64_t ts
    uint64_t max_ts
    uint64_t seq
    uint64_t prio
    Py_ssize_t left     # slot, or -1; for a free slot: the next free slot
    Py_ssize_t right


cdef inline uint64_t _priority(uint64_t seq) noexcept nogil:
    """splitmix64 of *seq* (unsigned arithmetic wraps, as the reference's masks do)."""
    cdef uint64_t z = seq + <uint64_t>0x9E3779B97F4A7C15
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef inline int _cmp(const char* a, Py_ssize_t la, const char* b, Py_ssize_t lb) noexcept nogil:
    cdef int r = memcmp(a, b, la if la < lb else lb)
    if r:
        return r
    return (la > lb) - (la < lb)


cdef inline void _update(Node* nodes, Py_ssize_t n) noexcept nogil:
    cdef Node* nd = &nodes[n]
    cdef uint64_t m = nd.ts
    if nd.left >= 0 and nodes[nd.left].max_ts > m:
        m = nodes[nd.left].max_ts
    if nd.right >= 0 and nodes[nd.right].max_ts > m:
        m = nodes[nd.right].max_ts
    nd.max_ts = m


cdef void _split(Node* nodes, Py_ssize_t n, const char* kp, Py_ssize_t kl, Py_ssize_t* lo,
                 Py_ssize_t* hi) noexcept nogil:
    """Split subtree *n* into (key <= k, key > k)."""
    cdef Py_ssize_t a, b
    if n < 0:
        lo[0] = -1
        hi[0] = -1
        return
    if _cmp(nodes[n].kp, nodes[n].kl, kp, kl) <= 0:
        _split(nodes, nodes[n].right, kp, kl, &a, &b)
        nodes[n].right = a
        _update(nodes, n)
        lo[0] = n
        hi[0] = b
    else:
        _split(nodes, nodes[n].left, kp, kl, &a, &b)
        nodes[n].left = b
        _update(nodes, n)
        lo[0] = a
        hi[0] = n


cdef Py_ssize_t _merge(Node* nodes, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    if a < 0:
        return b
    if b < 0:
        return a
    if nodes[a].prio > nodes[b].prio:
        nodes[a].right = _merge(nodes, nodes[a].right, b)
        _update(nodes, a)
        return a
    nodes[b].left = _merge(nodes, a, nodes[b].left)
    _update(nodes, b)
    return b


cdef inline int _order(Node* nodes, Py_ssize_t x, Py_ssize_t n) noexcept nogil:
    """Sign of (key, seq) of slot *x* against slot *n*."""
    cdef int c = _cmp(nodes[x].kp, nodes[x].kl, nodes[n].kp, nodes[n].kl)
    if c:
        return c
    return (nodes[x].seq > nodes[n].seq) - (nodes[x].seq < nodes[n].seq)


cdef Py_ssize_t _remove(Node* nodes, Py_ssize_t n, Py_ssize_t target) noexcept nogil:
    """Subtree *n* without slot *target*; ``max_ts`` fixed on the way back up."""
    if n < 0:
        return -1
    if n == target:
        return _merge(nodes, nodes[n].left, nodes[n].right)
    if _order(nodes, target, n) < 0:
        nodes[n].left = _remove(nodes, nodes[n].left, target)
    else:
        nodes[n].right = _remove(nodes, nodes[n].right, target)
    _update(nodes, n)
    return n


cdef Py_ssize_t _leftmost(Node* nodes, Py_ssize_t n, const char* sp, Py_ssize_t sl, bint has_start,
                          const char* ep, Py_ssize_t el, bint has_end, uint64_t f, uint64_t t) noexcept nogil:
    """The leftmost slot of subtree *n* with key in [start, end) and f < ts <= t, or -1. A bound known to
    hold for the whole subtree is dropped (has_start / has_end false)."""
    cdef Py_ssize_t hit
    cdef Node* nd
    while n >= 0 and nodes[n].max_ts > f:
        nd = &nodes[n]
        if has_start and _cmp(nd.kp, nd.kl, sp, sl) < 0:
            n = nd.right
            continue
        if has_end and _cmp(nd.kp, nd.kl, ep, el) >= 0:
            n = nd.left
            continue
        hit = _leftmost(nodes, nd.left, sp, sl, has_start, NULL, 0, False, f, t)
        if hit >= 0:
            return hit
        if f < nd.ts <= t:
            return n
        n = nd.right
        has_start = False
    return -1


cdef inline uint64_t _query_ts(object ts) except? 0:
    if ts < 0:
        raise ValueError("negative")
    if ts > _MAX_PY:
        return _MAX
    return <uint64_t>ts


cdef inline void _check_key(object key) except *:
    if not isinstance(key, bytes):
        raise TypeError(f"'<' not supported between instances of '{type(key).__name__}' and 'bytes'")


cdef class WrittenKeys:
    """One index's writes in the window: ``(key, ts, document_id)`` entries in key order, with the maximum
    commit ts per subtree (a treap; see the module docstring). Not thread-safe: the window's lock guards it.
    """

    cdef Node* _nodes
    cdef Py_ssize_t _cap        # slots allocated in _nodes (== len(_keys) == len(_docs))
    cdef Py_ssize_t _free       # first free slot, or -1
    cdef Py_ssize_t _root
    cdef list _keys             # slot -> bytes (keeps the borrowed kp alive), None when free
    cdef list _docs             # slot -> str, None when free
    cdef Py_ssize_t* _log       # slots in insertion order: live ones are _log[_head:_tail]
    cdef Py_ssize_t _log_cap
    cdef Py_ssize_t _head
    cdef Py_ssize_t _tail
    cdef uint64_t _seq

    def __cinit__(self, *args, **kwargs):
        self._nodes = NULL
        self._cap = 0
        self._free = -1
        self._root = -1
        self._keys = []
        self._docs = []
        self._log = NULL
        self._log_cap = 0
        self._head = 0
        self._tail = 0
        self._seq = 0

    def __dealloc__(self):
        free(self._nodes)
        free(self._log)

    def __init__(self):
        pass

    # ---- storage ----------------------------------------------------------------------------------

    cdef Py_ssize_t _alloc(self, object key, object doc) except -1:
        cdef Py_ssize_t slot, cap
        cdef Node* grown
        if self._free >= 0:
            slot = self._free
            self._free = self._nodes[slot].left
            self._keys[slot] = key
            self._docs[slot] = doc
        else:
            if self._cap == 0 or len(self._keys) == self._cap:
                cap = 16 if self._cap == 0 else self._cap * 2
                grown = <Node*>realloc(self._nodes, cap * sizeof(Node))
                if grown == NULL:
                    raise MemoryError()
                self._nodes = grown
                self._cap = cap
            slot = len(self._keys)
            self._keys.append(key)
            self._docs.append(doc)
        return slot

    cdef void _release(self, Py_ssize_t slot):
        self._keys[slot] = None
        self._docs[slot] = None
        self._nodes[slot].kp = NULL
        self._nodes[slot].kl = 0
        self._nodes[slot].left = self._free
        self._nodes[slot].right = -1
        self._free = slot

    cdef int _log_reserve(self) except -1:
        """Make room for one more slot at the log's tail (before anything else changes)."""
        cdef Py_ssize_t cap, live
        cdef Py_ssize_t* grown
        if self._tail == self._log_cap:
            live = self._tail - self._head
            if self._head > 0 and self._head * 2 >= self._log_cap:
                memmove(self._log, self._log + self._head, live * sizeof(Py_ssize_t))
            else:
                cap = 16 if self._log_cap == 0 else self._log_cap * 2
                grown = <Py_ssize_t*>realloc(self._log, cap * sizeof(Py_ssize_t))
                if grown == NULL:
                    raise MemoryError()
                self._log = grown
                self._log_cap = cap
                if self._head > 0:
                    memmove(self._log, self._log + self._head, live * sizeof(Py_ssize_t))
            self._head = 0
            self._tail = live
        return 0

    # ---- mutation --------------------------------------------------------------------------------

    def add(self, key, ts, document_id):
        """Add the write of *key* (of document *document_id*) at commit *ts*.

        Raises TypeError unless *key* is bytes and *document_id* a str, ValueError unless ``0 <= ts <
        2**64`` and *ts* is at least the newest ts present (the window appends commits in ts order).
        Runtime: O(log w) expected.
        """
        cdef Py_ssize_t slot, parent, n
        cdef uint64_t t
        cdef const char* kp
        cdef Py_ssize_t kl
        cdef Node* nodes
        if not isinstance(key, bytes):
            raise TypeError(f"written key must be bytes, got {type(key).__name__}")
        if not isinstance(document_id, str):
            raise TypeError(f"document id must be str, got {type(document_id).__name__}")
        if not 0 <= ts <= _MAX_PY:
            raise ValueError(f"commit ts {ts} is not a u64")
        t = <uint64_t>ts
        if self._tail > self._head and t < self._nodes[self._log[self._tail - 1]].ts:
            raise ValueError(f"commit ts {ts} is below the newest write {self._nodes[self._log[self._tail - 1]].ts}")
        self._log_reserve()  # both may raise MemoryError, before the tree or the log changes
        slot = self._alloc(key, document_id)
        self._log[self._tail] = slot
        self._tail += 1
        self._seq += 1
        nodes = self._nodes
        kp = _BYTES_STR(<PyObject*>key)
        kl = _BYTES_LEN(<PyObject*>key)
        nodes[slot].kp = kp
        nodes[slot].kl = kl
        nodes[slot].ts = t
        nodes[slot].max_ts = t
        nodes[slot].seq = self._seq
        nodes[slot].prio = _priority(self._seq)
        nodes[slot].left = -1
        nodes[slot].right = -1
        parent = -1
        n = self._root
        while n >= 0 and nodes[n].prio > nodes[slot].prio:
            if t > nodes[n].max_ts:
                nodes[n].max_ts = t
            parent = n
            n = nodes[n].left if _cmp(kp, kl, nodes[n].kp, nodes[n].kl) < 0 else nodes[n].right
        _split(nodes, n, kp, kl, &nodes[slot].left, &nodes[slot].right)
        _update(nodes, slot)
        if parent < 0:
            self._root = slot
        elif _cmp(kp, kl, nodes[parent].kp, nodes[parent].kl) < 0:
            nodes[parent].left = slot
        else:
            nodes[parent].right = slot

    def drop_through(self, ts):
        """Remove every entry with commit ts <= *ts* (retention). Returns how many were removed.

        Runtime: O(1) when nothing is that old; O(log w) per entry removed.
        """
        cdef Py_ssize_t removed = 0, slot
        cdef uint64_t t
        if ts < 0:
            return 0
        t = _MAX if ts > _MAX_PY else <uint64_t>ts
        while self._head < self._tail and self._nodes[self._log[self._head]].ts <= t:
            slot = self._log[self._head]
            self._root = _remove(self._nodes, self._root, slot)
            self._release(slot)
            self._head += 1
            removed += 1
        if self._head == self._tail:
            self._head = 0
            self._tail = 0
        return removed

    def drop_from(self, ts):
        """Remove every entry with commit ts >= *ts* (a rolled-back batch). Returns how many were removed.

        Runtime: O(log w) per entry removed.
        """
        cdef Py_ssize_t removed = 0, slot
        cdef uint64_t t
        if ts > _MAX_PY:
            return 0
        t = 0 if ts < 0 else <uint64_t>ts
        while self._tail > self._head and self._nodes[self._log[self._tail - 1]].ts >= t:
            slot = self._log[self._tail - 1]
            self._root = _remove(self._nodes, self._root, slot)
            self._release(slot)
            self._tail -= 1
            removed += 1
        return removed

    # ---- queries ---------------------------------------------------------------------------------

    cdef object _hit(self, Py_ssize_t slot):
        return self._keys[slot], self._nodes[slot].ts, self._docs[slot]

    def find(self, start, end, from_ts, to_ts):
        """The leftmost entry ``(key, ts, document_id)`` with ``start <= key < end`` (*end* None: unbounded)
        and ``from_ts < ts <= to_ts``: the smallest such key, and of its writes the earliest; None if none.
        Raises ValueError if *from_ts* or *to_ts* is negative.

        Runtime: O(log w) expected, plus one root-to-leaf path per entry newer than *to_ts* in the interval.
        """
        cdef uint64_t f, t
        cdef Py_ssize_t hit
        if from_ts < 0 or to_ts < 0:
            raise ValueError(f"timestamps must be non-negative, got ({from_ts}, {to_ts}]")
        _check_key(start)
        if end is not None:
            _check_key(end)
        if from_ts >= _MAX_PY:
            return None
        f = <uint64_t>from_ts
        t = _query_ts(to_ts)
        hit = _leftmost(self._nodes, self._root, _BYTES_STR(<PyObject*>start), _BYTES_LEN(<PyObject*>start), True,
                        NULL if end is None else _BYTES_STR(<PyObject*>end),
                        0 if end is None else _BYTES_LEN(<PyObject*>end), end is not None, f, t)
        return None if hit < 0 else self._hit(hit)

    def first_conflict(self, starts, ends, from_ts, to_ts):
        """``find`` over the intervals ``[starts[i], ends[i])`` in order (the OCC hot call, fed an interval
        set's ``bounds()``): the first interval's leftmost qualifying entry, or None if no interval has one.
        For ascending disjoint intervals that is the smallest qualifying key of all of them. Raises
        ValueError if *from_ts* or *to_ts* is negative, or if *starts* and *ends* differ in length.

        Runtime: O(1) when no entry is newer than *from_ts*; else O(len(starts) · log w) expected.
        """
        cdef uint64_t f, t
        cdef Py_ssize_t i, n, hit
        cdef PyObject* s
        cdef PyObject* e
        cdef Node* nodes = self._nodes
        if from_ts < 0 or to_ts < 0:
            raise ValueError(f"timestamps must be non-negative, got ({from_ts}, {to_ts}]")
        if not _LIST_CHECK(<PyObject*>starts):
            starts = list(starts)
        if not _LIST_CHECK(<PyObject*>ends):
            ends = list(ends)
        n = _LIST_LEN(<PyObject*>starts)
        if n != _LIST_LEN(<PyObject*>ends):
            raise ValueError(f"{n} interval starts but {len(ends)} ends")
        if self._root < 0 or from_ts >= _MAX_PY:
            return None
        f = <uint64_t>from_ts
        if nodes[self._root].max_ts <= f:
            return None
        t = _query_ts(to_ts)
        for i in range(n):
            s = _LIST_ITEM(<PyObject*>starts, i)
            e = _LIST_ITEM(<PyObject*>ends, i)
            if not _BYTES_CHECK(s):
                _check_key(<object>s)
            if e != _NONE and not _BYTES_CHECK(e):
                _check_key(<object>e)
            hit = _leftmost(nodes, self._root, _BYTES_STR(s), _BYTES_LEN(s), True,
                            NULL if e == _NONE else _BYTES_STR(e), 0 if e == _NONE else _BYTES_LEN(e),
                            e != _NONE, f, t)
            if hit >= 0:
                return self._hit(hit)
        return None

    def newest_ts(self):
        """The largest commit ts present, or -1 when empty. O(1)."""
        return self._nodes[self._root].max_ts if self._root >= 0 else -1

    def __len__(self):
        """Number of entries. O(1)."""
        return self._tail - self._head

    # ---- testing support -------------------------------------------------------------------------

    def entries(self):
        """Every entry ``(key, ts, document_id)`` in commit order (insertion order). O(w)."""
        return [self._hit(self._log[i]) for i in range(self._head, self._tail)]

    def check_invariants(self):
        """Assert the invariants of the module docstring (search order, heap order, every ``max_ts``, the
        log matches the tree). O(w); tests only."""
        cdef list seen = []
        cdef list stack = []
        cdef Py_ssize_t n, c, slot
        cdef Node* nodes = self._nodes
        cdef dict sub_max = {}
        # Post-order walk without recursion: recompute each subtree's maximum independently of max_ts.
        if self._root >= 0:
            stack.append((self._root, False))
        while stack:
            n, done = stack.pop()
            if len(seen) > self._cap:
                raise AssertionError("tree has more nodes than slots (cycle?)")
            if not done:
                stack.append((n, True))
                for c in (nodes[n].right, nodes[n].left):
                    if c >= 0:
                        if not nodes[c].prio < nodes[n].prio:
                            raise AssertionError(f"heap order broken under seq {nodes[n].seq}")
                        stack.append((c, False))
                continue
            m = nodes[n].ts
            for c in (nodes[n].left, nodes[n].right):
                if c >= 0:
                    m = max(m, sub_max[c])
            if nodes[n].max_ts != m:
                raise AssertionError(f"max_ts of seq {nodes[n].seq} is {nodes[n].max_ts}, subtree max is {m}")
            sub_max[n] = m
            seen.append(n)
        # In-order sequence from the node links.
        order = []
        stack = []
        n = self._root
        while stack or n >= 0:
            while n >= 0:
                stack.append(n)
                n = nodes[n].left
            n = stack.pop()
            key = self._keys[n]
            if key is None or nodes[n].kp != _BYTES_STR(<PyObject*>key) or nodes[n].kl != len(key):
                raise AssertionError(f"slot {n}: borrowed key pointer does not match its key object")
            if nodes[n].prio != _priority(nodes[n].seq):
                raise AssertionError(f"slot {n}: priority is not splitmix64(seq)")
            order.append((key, nodes[n].seq))
            n = nodes[n].right
        if not all(a < b for a, b in zip(order, order[1:])):
            raise AssertionError("in-order (key, seq) not strictly increasing")
        live = [self._log[i] for i in range(self._head, self._tail)]
        if sorted(nodes[s].seq for s in live) != sorted(nodes[s].seq for s in seen):
            raise AssertionError("log and tree hold different entries")
        if not all(nodes[a].seq < nodes[b].seq and nodes[a].ts <= nodes[b].ts for a, b in zip(live, live[1:])):
            raise AssertionError("log not in commit order")
        free_slots = 0
        slot = self._free
        while slot >= 0:
            if self._keys[slot] is not None or self._docs[slot] is not None:
                raise AssertionError(f"free slot {slot} still holds its objects")
            free_slots += 1
            if free_slots > self._cap:
                raise AssertionError("free list has a cycle")
            slot = nodes[slot].left
        if free_slots + len(live) != len(self._keys):
            raise AssertionError(f"{free_slots} free + {len(live)} live slots != {len(self._keys)} slots")

    def debug_state(self):
        """Plain-data snapshot, identical between twins: ``{"entries": [(key, ts, document_id, max_ts), ...]}``
        in key order (``max_ts`` of each entry's subtree, which pins the tree's shape) and ``"depth"``. O(w)."""
        cdef list out = []
        cdef list stack = []
        cdef Py_ssize_t n = self._root, d = 1, depth = 0
        cdef Node* nodes = self._nodes
        while stack or n >= 0:
            while n >= 0:
                stack.append((n, d))
                n = nodes[n].left
                d += 1
            n, d = stack.pop()
            if d > depth:
                depth = d
            out.append((self._keys[n], nodes[n].ts, self._docs[n], nodes[n].max_ts))
            n = nodes[n].right
            d += 1
        return {"entries": out, "depth": depth}
