# cython: language_level=3
# Twin of engine/conflict/interval_map.py. Names, signatures, docstrings, ABI and on-disk/wire formats must
# match; tests/parity enforces this. Change the Python reference first.
"""Cython twin of ``engine.conflict.interval_map``: the max-end treap as an arena of C structs.

What is accelerated: nodes live in two parallel arenas addressed by ``int`` indices (freed slots reused
through a free list) instead of Python objects:

- a *hot* arena of 32-byte ``Hot`` records (two per cache line, 64-byte aligned) holding everything a
  stab reads on its way down: the children and three 8-byte big-endian prefixes - of the start, of the
  end and of the subtree's max end (the max end stored in the node, not behind an index);
- a *cold* arena of ``Cold`` records: the owned ``start``/``end``/owner objects, their buffers, the
  owner as a C ``long long``, the insertion counter, the treap priority and the index of the subtree
  node whose end is largest (an unbounded end wins).

Prefixes are taken **after the shared prefix** ``P`` of every stored bound (for one index's keys often a
table or type tag): ``P`` is fixed by the first insert into an empty map and only ever shrinks (a bound
that does not start with it shortens it to the common part, and every prefix is recomputed: O(n), at
most ``len(P)`` times until the map is next empty). A stabbed key that does not start with ``P`` is
below or above every stored bound and gets the prefix 0 or 2**64 - 1. Two differing prefixes decide a
comparison; equal ones fall back to ``memcmp`` of the whole strings (rare: the last word of a tie). An
unbounded end has the prefix 2**64 - 1 and is recognised on that tie. So a stab reads one 32-byte
record per visited node and touches no bytes object unless prefixes tie; it prefetches both children
of each node it enters.

``stab_many`` over a list interleaves the descents of up to ``LANES`` keys (``_stab_lanes``): one key's
descent is a chain of dependent loads, so the lanes take turns, each prefetching the node it reads next,
and the memory system serves several descents at once. Every key still makes exactly the tests a lone
``stab`` makes, so the set is the same; an iterable that is not a list is stabbed key by key as it is
produced (it may run Python code).

Same algorithm, same shapes: priorities come from ``random.Random(seed).random()`` exactly as in the
reference and every rotation/merge decision is the same, so for the same operations both twins build
the same tree (``debug_state`` compares equal). The one structural difference: after a delete the
twin recomputes the max-end annotation on the whole root path instead of stopping early once a value is
unchanged, because an annotation is a node index and must never point at the freed node.

Known, deliberate strictness: bounds and stabbed keys must be ``bytes`` and owners must be ``int`` in the
C ``long long`` range (``TypeError``/``OverflowError`` at insert), where the reference would accept any
comparable objects.
"""
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcmp, memcpy, memset

import random

from engine.model.types import Interval

cdef extern from "Python.h":
    char* _BYTES_STR "PyBytes_AS_STRING" (PyObject*)
    Py_ssize_t _BYTES_LEN "PyBytes_GET_SIZE" (PyObject*)
    bint _BYTES_CHECK "PyBytes_Check" (PyObject*)
    PyObject* _LIST_ITEM "PyList_GET_ITEM" (PyObject*, Py_ssize_t)
    Py_ssize_t _LIST_LEN "PyList_GET_SIZE" (PyObject*)
    int PySet_Add(object, object) except -1

cdef extern from *:
    """
    #include <stdlib.h>
    #define IM_PREFETCH(p) __builtin_prefetch((const void*)(p))
    static void* im_aligned_alloc(size_t n) { void* p = NULL; return posix_memalign(&p, 64, n) ? NULL : p; }
    """
    void IM_PREFETCH(const void* p) noexcept nogil
    void* im_aligned_alloc(size_t n) noexcept nogil

ABI = "interval_map/2"

__all__ = ["ABI", "IntervalMap"]

#: The prefix of an unbounded end, and of a key above every stored bound.
cdef uint64_t TOP = 0xFFFFFFFFFFFFFFFFULL
#: Keys stabbed side by side by ``stab_many`` (each a "lane" with its own stack), and each lane's stack.
DEF LANES = 16
DEF LANE_STACK = 128


cdef struct Hot:
    uint64_t spfx          # start[L:L+8], big-endian, zero padded (L = shared prefix length)
    uint64_t epfx          # the same of end; TOP for an unbounded end
    uint64_t mpfx          # epfx of the subtree's max end (Cold.mx)
    int left               # -1 = none; in a free slot: next free slot
    int right


cdef struct Cold:
    PyObject* start        # owned bytes; NULL marks a free slot
    PyObject* end          # owned bytes, or NULL = unbounded
    PyObject* owner_obj    # owned int
    const char* sp
    Py_ssize_t sl
    const char* ep
    Py_ssize_t el
    long long owner
    unsigned long long seq
    double prio
    int mx                 # index of the subtree node with the largest end (its end NULL = unbounded)


cdef inline uint64_t _prefix(const char* p, Py_ssize_t n) noexcept nogil:
    cdef unsigned char buf[8]
    if n >= 8:
        memcpy(buf, p, 8)
    else:
        buf[0] = buf[1] = buf[2] = buf[3] = buf[4] = buf[5] = buf[6] = buf[7] = 0
        if n > 0:
            memcpy(buf, p, n)
    return ((<uint64_t>buf[0] << 56) | (<uint64_t>buf[1] << 48) | (<uint64_t>buf[2] << 40)
            | (<uint64_t>buf[3] << 32) | (<uint64_t>buf[4] << 24) | (<uint64_t>buf[5] << 16)
            | (<uint64_t>buf[6] << 8) | <uint64_t>buf[7])


cdef inline int _cmp_raw(const char* a, Py_ssize_t la, const char* b, Py_ssize_t lb) noexcept nogil:
    cdef int r = memcmp(a, b, la if la < lb else lb)
    if r != 0:
        return r
    return (la > lb) - (la < lb)


cdef inline Py_ssize_t _lcp(const char* a, Py_ssize_t la, const char* b, Py_ssize_t lb) noexcept nogil:
    cdef Py_ssize_t n = la if la < lb else lb
    cdef Py_ssize_t i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


cdef inline bint _before(const Hot* hot, const Cold* cold, int a, int b) noexcept nogil:
    """True iff node a's key ``(start, owner, seq)`` is smaller than node b's."""
    cdef int c
    if hot[a].spfx != hot[b].spfx:
        return hot[a].spfx < hot[b].spfx
    c = _cmp_raw(cold[a].sp, cold[a].sl, cold[b].sp, cold[b].sl)
    if c != 0:
        return c < 0
    if cold[a].owner != cold[b].owner:
        return cold[a].owner < cold[b].owner
    return cold[a].seq < cold[b].seq


cdef inline int _end_cmp(const Hot* hot, const Cold* cold, int a, int b) noexcept nogil:
    """Sign of end(a) - end(b), an unbounded end above every bounded one."""
    if hot[a].epfx != hot[b].epfx:
        return 1 if hot[a].epfx > hot[b].epfx else -1
    if cold[a].end == NULL:
        return 0 if cold[b].end == NULL else 1
    if cold[b].end == NULL:
        return -1
    return _cmp_raw(cold[a].ep, cold[a].el, cold[b].ep, cold[b].el)


cdef class IntervalMap:
    """Owner-tagged intervals with stabbing queries. ``IntervalMap(seed=0)``; O(1) to construct."""

    cdef Hot* _hot
    cdef Cold* _cold
    cdef int _cap
    cdef int _used          # slots ever handed out (high-water mark)
    cdef int _free          # head of the free-slot list, -1 = none
    cdef int _root
    cdef Py_ssize_t _size
    cdef unsigned long long _seq
    cdef bytes _pfx         # the shared prefix P of every stored bound (None while the map is empty)
    cdef Py_ssize_t _plen
    cdef dict _by_owner     # owner -> list of node indices (Python ints), insertion order
    cdef object _rng
    cdef object _random     # bound _rng.random
    cdef int* _stack        # scratch for paths and stab stacks
    cdef int _stack_cap
    cdef int* _stack2
    cdef int _stack2_cap
    cdef int* _lanes        # LANES * LANE_STACK lane stacks for stab_many
    cdef int* _hits         # nodes hit by a stab_many, resolved to owners at its end
    cdef Py_ssize_t _hits_cap

    def __cinit__(self, *args, **kwargs):
        self._hot = NULL
        self._cold = NULL
        self._cap = 0
        self._used = 0
        self._free = -1
        self._root = -1
        self._size = 0
        self._seq = 0
        self._pfx = None
        self._plen = 0
        self._by_owner = {}
        self._stack = NULL
        self._stack_cap = 0
        self._stack2 = NULL
        self._stack2_cap = 0
        self._lanes = NULL
        self._hits = NULL
        self._hits_cap = 0

    def __dealloc__(self):
        cdef int i
        if self._cold != NULL:
            for i in range(self._used):
                if self._cold[i].start != NULL:
                    Py_DECREF(<object>self._cold[i].start)
                    Py_XDECREF(self._cold[i].end)
                    Py_DECREF(<object>self._cold[i].owner_obj)
        free(self._hot)
        free(self._cold)
        free(self._stack)
        free(self._stack2)
        free(self._lanes)
        free(self._hits)

    def __init__(self, seed=0):
        self._rng = random.Random(seed)
        self._random = self._rng.random

    # ---- arena helpers ---------------------------------------------------------------------------

    cdef int _alloc(self) except -1:
        cdef int i
        cdef int ncap
        cdef Hot* nh
        cdef Cold* nc
        if self._free >= 0:
            i = self._free
            self._free = self._hot[i].left
            return i
        if self._used == self._cap:
            ncap = self._cap * 2 if self._cap else 64
            nc = <Cold*>realloc(self._cold, ncap * sizeof(Cold))
            if nc == NULL:
                raise MemoryError()
            self._cold = nc
            nh = <Hot*>im_aligned_alloc(ncap * sizeof(Hot))  # cache-line aligned: a record never straddles
            if nh == NULL:
                raise MemoryError()
            if self._hot != NULL:
                memcpy(nh, self._hot, self._cap * sizeof(Hot))
                free(self._hot)
            self._hot = nh
            self._cap = ncap
        i = self._used
        self._used += 1
        return i

    cdef void _release(self, int i) noexcept:
        cdef Cold* n = &self._cold[i]
        cdef PyObject* s = n.start
        cdef PyObject* e = n.end
        cdef PyObject* o = n.owner_obj
        n.start = NULL
        n.end = NULL
        n.owner_obj = NULL
        self._hot[i].left = self._free
        self._hot[i].right = -1
        self._free = i
        Py_DECREF(<object>s)
        Py_XDECREF(e)
        Py_DECREF(<object>o)

    cdef int* _grow(self, int which, int need) except NULL:
        """Scratch stack *which* (0 or 1) with room for at least *need* entries."""
        cdef int ncap
        cdef int* p
        if which == 0:
            if need <= self._stack_cap:
                return self._stack
            ncap = self._stack_cap * 2 if self._stack_cap else 128
            while ncap < need:
                ncap *= 2
            p = <int*>realloc(self._stack, ncap * sizeof(int))
            if p == NULL:
                raise MemoryError()
            self._stack = p
            self._stack_cap = ncap
            return p
        if need <= self._stack2_cap:
            return self._stack2
        ncap = self._stack2_cap * 2 if self._stack2_cap else 128
        while ncap < need:
            ncap *= 2
        p = <int*>realloc(self._stack2, ncap * sizeof(int))
        if p == NULL:
            raise MemoryError()
        self._stack2 = p
        self._stack2_cap = ncap
        return p

    cdef inline void _set_prefixes(self, int i) noexcept:
        """Node *i*'s start and end prefixes from its bounds and the current shared-prefix length."""
        cdef Cold* c = &self._cold[i]
        cdef Py_ssize_t L = self._plen
        self._hot[i].spfx = _prefix(c.sp + L, c.sl - L)
        self._hot[i].epfx = TOP if c.end == NULL else _prefix(c.ep + L, c.el - L)

    cdef int _shrink_prefix(self, const char* sp, Py_ssize_t sl, const char* ep, Py_ssize_t el) except -1:
        """Make the shared prefix a prefix of the new bounds too; recompute every prefix if it shrank."""
        cdef Py_ssize_t L
        cdef int i
        if self._root < 0:  # empty map: the first interval sets the prefix
            L = sl if ep == NULL else _lcp(sp, sl, ep, el)
            self._pfx = sp[:L]
            self._plen = L
            return 0
        L = _lcp(sp, sl, <const char*>self._pfx, self._plen)
        if ep != NULL:
            L = _lcp(ep, el, <const char*>self._pfx, L)
        if L == self._plen:
            return 0
        self._pfx = self._pfx[:L]
        self._plen = L
        for i in range(self._used):
            if self._cold[i].start != NULL:
                self._set_prefixes(i)
        for i in range(self._used):
            if self._cold[i].start != NULL:
                self._hot[i].mpfx = self._hot[self._cold[i].mx].epfx
        return 0

    cdef inline uint64_t _key_prefix(self, const char* kp, Py_ssize_t kl) noexcept:
        """The stabbed key's prefix after the shared prefix; 0 / TOP for a key below / above all bounds."""
        cdef Py_ssize_t L = self._plen
        cdef int c
        if L:
            c = memcmp(kp, <const char*>self._pfx, kl if kl < L else L)
            if c == 0 and kl < L:
                c = -1  # a proper prefix of P: below every bound
            if c < 0:
                return 0
            if c > 0:
                return TOP
        return _prefix(kp + L, kl - L)

    cdef inline void _pull(self, int i) noexcept:
        """Recompute node *i*'s max-end index (and its prefix) from its own end and its children's."""
        cdef Hot* hot = self._hot
        cdef Cold* cold = self._cold
        cdef int m = i
        cdef int c, cm
        if cold[i].end != NULL:
            c = hot[i].left
            if c >= 0:
                cm = cold[c].mx
                if cold[cm].end == NULL:
                    cold[i].mx = cm
                    hot[i].mpfx = TOP
                    return
                if _end_cmp(hot, cold, cm, m) > 0:
                    m = cm
            c = hot[i].right
            if c >= 0:
                cm = cold[c].mx
                if cold[cm].end == NULL:
                    cold[i].mx = cm
                    hot[i].mpfx = TOP
                    return
                if _end_cmp(hot, cold, cm, m) > 0:
                    m = cm
        cold[i].mx = m
        hot[i].mpfx = hot[m].epfx

    # ---- mutation --------------------------------------------------------------------------------

    def insert(self, owner, interval):
        """Store *interval* for *owner*. Empty intervals are ignored; an owner may hold many intervals,
        including duplicates (each is stored and later removed separately).

        Runtime: O(log n) expected.
        """
        cdef object start = interval.start
        cdef object end = interval.end
        cdef long long c_owner
        cdef unsigned long long seq
        cdef double prio
        cdef int idx, cur, depth, i, p, g, mxi
        cdef Hot* hot
        cdef Cold* cold
        cdef Cold* node
        cdef int* path
        cdef bint go_left = False
        if not _BYTES_CHECK(<PyObject*>start):
            raise TypeError(f"interval start must be bytes, not {type(start).__name__}")
        if end is not None and not _BYTES_CHECK(<PyObject*>end):
            raise TypeError(f"interval end must be bytes or None, not {type(end).__name__}")
        if end is not None and _cmp_raw(_BYTES_STR(<PyObject*>start), _BYTES_LEN(<PyObject*>start),
                                        _BYTES_STR(<PyObject*>end), _BYTES_LEN(<PyObject*>end)) >= 0:
            return
        c_owner = owner
        owner = <object>c_owner if type(owner) is not int else owner
        seq = self._seq
        self._seq = seq + 1
        prio = self._random()
        # Everything that can raise happens before the tree changes.
        path = self._grow(0, 64)
        self._shrink_prefix(_BYTES_STR(<PyObject*>start), _BYTES_LEN(<PyObject*>start),
                            NULL if end is None else _BYTES_STR(<PyObject*>end),
                            0 if end is None else _BYTES_LEN(<PyObject*>end))
        idx = self._alloc()
        lst = self._by_owner.get(owner)
        if lst is None:
            self._by_owner[owner] = [idx]
        else:
            lst.append(idx)
        hot = self._hot
        cold = self._cold
        node = &cold[idx]
        Py_INCREF(start)
        node.start = <PyObject*>start
        node.sp = _BYTES_STR(<PyObject*>start)
        node.sl = _BYTES_LEN(<PyObject*>start)
        if end is None:
            node.end = NULL
            node.ep = NULL
            node.el = 0
        else:
            Py_INCREF(end)
            node.end = <PyObject*>end
            node.ep = _BYTES_STR(<PyObject*>end)
            node.el = _BYTES_LEN(<PyObject*>end)
        Py_INCREF(owner)
        node.owner_obj = <PyObject*>owner
        node.owner = c_owner
        node.seq = seq
        node.prio = prio
        node.mx = idx
        self._set_prefixes(idx)
        hot[idx].mpfx = hot[idx].epfx
        hot[idx].left = -1
        hot[idx].right = -1
        self._size += 1
        if self._root < 0:
            self._root = idx
            return
        # Descend to the leaf position, remembering the path; raise max-ends on the way down.
        depth = 0
        cur = self._root
        while cur >= 0:
            if depth >= self._stack_cap:
                path = self._grow(0, depth + 1)
            path[depth] = cur
            depth += 1
            mxi = cold[cur].mx
            if cold[mxi].end != NULL and _end_cmp(hot, cold, idx, mxi) > 0:
                cold[cur].mx = idx
                hot[cur].mpfx = hot[idx].epfx
            go_left = _before(hot, cold, idx, cur)
            cur = hot[cur].left if go_left else hot[cur].right
        p = path[depth - 1]
        if go_left:
            hot[p].left = idx
        else:
            hot[p].right = idx
        i = depth - 1
        if cold[path[i]].prio >= prio:
            return
        while i >= 0 and cold[path[i]].prio < prio:
            p = path[i]
            if hot[p].left == idx:
                hot[p].left = hot[idx].right
                hot[idx].right = p
            else:
                hot[p].right = hot[idx].left
                hot[idx].left = p
            self._pull(p)
            if i == 0:
                self._root = idx
            else:
                g = path[i - 1]
                if hot[g].left == p:
                    hot[g].left = idx
                else:
                    hot[g].right = idx
            i -= 1
        self._pull(idx)

    def remove_owner(self, owner):
        """Remove every interval of *owner*; return how many were removed (0 for an unknown owner).

        Runtime: O(m log n) expected for the owner's m intervals.
        """
        cdef list nodes = self._by_owner.pop(owner, None)
        cdef Py_ssize_t k, m
        if not nodes:
            return 0
        m = len(nodes)
        self._grow(0, 64)
        self._grow(1, 64)
        for k in range(m):
            self._delete(<int>nodes[k])
        self._size -= m
        return m

    def replace(self, owner, intervals):
        """Make *owner*'s stored intervals exactly *intervals* (a multiset; empty ones ignored) by a diff:
        stored intervals that are still wanted stay in place, the others are removed, and only the
        missing ones are inserted. Returns ``(removed, added)``; ``replace(o, [])`` is ``remove_owner``.

        Deterministic order (twins build the same tree): the owner's nodes are scanned in insertion order
        and each is kept while *intervals* still wants one more copy of its ``(start, end)``; the rest are
        deleted in that order; then the still-missing intervals are inserted in the order given, after the
        kept ones in the owner's list. Runtime: O(m + k + (r + a) log n) expected for the owner's m stored
        intervals, k given, r removed and a added - a re-run whose read set barely moved costs O(m + k).
        """
        cdef dict want = {}
        cdef list order = []
        cdef list nodes
        cdef list kept = []
        cdef list dropped = []
        cdef Cold* nd
        cdef Py_ssize_t k, c
        cdef int added = 0
        for iv in intervals:
            start = iv.start
            end = iv.end
            # Type errors surface here, before the tree changes (as insert would raise them).
            if not _BYTES_CHECK(<PyObject*>start):
                raise TypeError(f"interval start must be bytes, not {type(start).__name__}")
            if end is not None and not _BYTES_CHECK(<PyObject*>end):
                raise TypeError(f"interval end must be bytes or None, not {type(end).__name__}")
            if end is not None and start >= end:
                continue
            key = (start, end)
            want[key] = want.get(key, 0) + 1
            order.append(iv)
        nodes = self._by_owner.get(owner)
        if nodes:
            for idx in nodes:
                nd = &self._cold[<int>idx]
                key = (<object>nd.start, None if nd.end == NULL else <object>nd.end)
                c = want.get(key, 0)
                if c > 0:
                    want[key] = c - 1
                    kept.append(idx)
                else:
                    dropped.append(idx)
            if dropped:
                self._grow(0, 64)
                self._grow(1, 64)
                for k in range(len(dropped)):
                    self._delete(<int>dropped[k])
                self._size -= len(dropped)
            if kept:
                self._by_owner[owner] = kept
            else:
                del self._by_owner[owner]
        for iv in order:
            key = (iv.start, iv.end)
            c = want[key]
            if c > 0:  # copies still missing after the kept ones: insert them (first occurrences first)
                want[key] = c - 1
                self.insert(owner, iv)
                added += 1
        return len(dropped), added

    cdef int _delete(self, int target) except -1:
        """Unlink *target* (present in the tree), repair annotations, free its slot."""
        cdef Hot* hot = self._hot
        cdef Cold* cold = self._cold
        cdef int* path = self._stack
        cdef int* merged
        cdef int depth = 0, nm = 0, cur, a, b, pick, hook, rest, sub_root, parent, k
        cdef bint hook_right = False, nxt_right
        cur = self._root
        while cur != target:
            if cur < 0:
                raise AssertionError("node handle not in tree")
            if depth >= self._stack_cap:
                path = self._grow(0, depth + 1)
            path[depth] = cur
            depth += 1
            cur = hot[cur].left if _before(hot, cold, target, cur) else hot[cur].right
        a = hot[target].left
        b = hot[target].right
        hot[target].left = hot[target].right = -1
        merged = self._stack2
        sub_root = -1
        hook = -1
        while a >= 0 and b >= 0:
            if cold[a].prio >= cold[b].prio:
                pick = a
                a = hot[a].right
                nxt_right = True
            else:
                pick = b
                b = hot[b].left
                nxt_right = False
            if hook < 0:
                sub_root = pick
            elif hook_right:
                hot[hook].right = pick
            else:
                hot[hook].left = pick
            if nm >= self._stack2_cap:
                merged = self._grow(1, nm + 1)
            merged[nm] = pick
            nm += 1
            hook = pick
            hook_right = nxt_right
        rest = a if a >= 0 else b
        if hook < 0:
            sub_root = rest
        elif hook_right:
            hot[hook].right = rest
        else:
            hot[hook].left = rest
        for k in range(nm - 1, -1, -1):
            self._pull(merged[k])
        if depth == 0:
            self._root = sub_root
        else:
            parent = path[depth - 1]
            if hot[parent].left == target:
                hot[parent].left = sub_root
            else:
                hot[parent].right = sub_root
            # The whole path: an annotation is a node index and must not keep pointing at *target*.
            for k in range(depth - 1, -1, -1):
                self._pull(path[k])
        self._release(target)
        return 0

    # ---- queries ---------------------------------------------------------------------------------

    cdef int _stab_into(self, const char* kp, Py_ssize_t kl, object out) except -1:
        """Add to *out* the owner of every interval containing the key ``kp[:kl]``.

        Each test is decided on the 8-byte prefixes in the hot record when they differ; on a tie it is
        decided exactly on the whole strings (an unbounded end ties only with a key above every bound or
        of prefix 2**64 - 1, and is recognised there)."""
        cdef Hot* hot = self._hot
        cdef Cold* cold = self._cold
        cdef int* stack = self._stack
        cdef int sp = 0
        cdef int n = self._root
        cdef int m, left
        cdef const Hot* h
        cdef const Hot* hl
        cdef uint64_t kx = self._key_prefix(kp, kl)
        while True:
            if n >= 0:
                h = &hot[n]
                if h.left >= 0:
                    IM_PREFETCH(&hot[h.left])
                if h.right >= 0:
                    IM_PREFETCH(&hot[h.right])
                # Prune: every interval below n ends at or before the key.
                if kx > h.mpfx:
                    n = -1
                    continue
                if kx == h.mpfx:
                    m = cold[n].mx
                    if cold[m].end != NULL and _cmp_raw(kp, kl, cold[m].ep, cold[m].el) >= 0:
                        n = -1
                        continue
                # start <= key?
                if h.spfx < kx or (h.spfx == kx and _cmp_raw(cold[n].sp, cold[n].sl, kp, kl) <= 0):
                    if kx < h.epfx or (kx == h.epfx and (
                            cold[n].end == NULL or _cmp_raw(kp, kl, cold[n].ep, cold[n].el) < 0)):
                        PySet_Add(out, <object>cold[n].owner_obj)
                    left = h.left
                    if left >= 0:
                        hl = &hot[left]  # prune before pushing: saves a push/pop per turn
                        if kx < hl.mpfx or (kx == hl.mpfx and (
                                cold[cold[left].mx].end == NULL
                                or _cmp_raw(kp, kl, cold[cold[left].mx].ep, cold[cold[left].mx].el) < 0)):
                            if sp >= self._stack_cap:
                                stack = self._grow(0, sp + 1)
                            stack[sp] = left
                            sp += 1
                    n = h.right
                else:
                    n = h.left  # n and its whole right subtree start after key
                continue
            if sp == 0:
                return 0
            sp -= 1
            n = stack[sp]

    cdef int _grow_hits(self) except -1:
        """Double the buffer of hit nodes that ``_stab_lanes`` resolves to owners at its end."""
        cdef Py_ssize_t ncap = self._hits_cap * 2 if self._hits_cap else 1024
        cdef int* p = <int*>realloc(self._hits, ncap * sizeof(int))
        if p == NULL:
            raise MemoryError()
        self._hits = p
        self._hits_cap = ncap
        return 0

    cdef int _stab_lanes(self, PyObject* seq, Py_ssize_t nkeys, object out) except -1:
        """``_stab_into`` for the bytes keys ``seq[0:nkeys]`` (a list), LANES keys at a time.

        A descent is a chain of dependent loads; one key alone leaves the memory system idle while each
        node arrives. So each lane runs one key's descent one node per turn, prefetching the node it will
        read on its next turn, and the lanes take turns: while one lane's node is on its way, the others
        work. A lane reads no child it will not visit (its left subtree is pushed unexamined and pruned
        when popped), and hits are recorded as node indices and resolved to owners at the end, so a turn
        touches only the hot record it prefetched. The tests are those of ``_stab_into``, one node at a
        time, so every key finds exactly the owners ``_stab_into`` would. A lane whose stack fills up
        restarts its key with ``_stab_into`` (owners found twice are one set element)."""
        cdef Hot* hot = self._hot
        cdef Cold* cold = self._cold
        cdef int* lanes = self._lanes
        cdef int ln[LANES]           # the node each lane reads next; -1 = pop; -2 = idle
        cdef int lsp[LANES]
        cdef uint64_t lkx[LANES]
        cdef const char* lkp[LANES]
        cdef Py_ssize_t lkl[LANES]
        cdef Py_ssize_t next_key = 0, nh = 0, i
        cdef int active = 0, l, n, m, left, root = self._root
        cdef const Hot* h
        cdef uint64_t kx
        cdef const char* kp
        cdef Py_ssize_t kl
        cdef PyObject* k
        if lanes == NULL:
            lanes = <int*>realloc(NULL, LANES * LANE_STACK * sizeof(int))
            if lanes == NULL:
                raise MemoryError()
            self._lanes = lanes
        for l in range(LANES):
            ln[l] = -1
            lsp[l] = 0
        active = LANES
        while active > 0:
            for l in range(LANES):
                n = ln[l]
                if n == -2:
                    continue
                kx = lkx[l]
                kp = lkp[l]
                kl = lkl[l]
                # One turn: pops and prunes go on (popped nodes were prefetched when pushed); the turn
                # ends when the lane steps to a child, which it prefetches for its next turn.
                while True:
                    if n < 0:
                        if lsp[l] > 0:
                            lsp[l] -= 1
                            n = lanes[l * LANE_STACK + lsp[l]]
                        elif next_key == nkeys:
                            ln[l] = -2
                            active -= 1
                            break
                        else:
                            k = _LIST_ITEM(seq, next_key)
                            next_key += 1
                            kp = lkp[l] = _BYTES_STR(k)
                            kl = lkl[l] = _BYTES_LEN(k)
                            kx = lkx[l] = self._key_prefix(kp, kl)
                            n = root
                    h = &hot[n]
                    # Prune: every interval below n ends at or before the key.
                    if kx > h.mpfx:
                        n = -1
                        continue
                    if kx == h.mpfx:
                        m = cold[n].mx
                        if cold[m].end != NULL and _cmp_raw(kp, kl, cold[m].ep, cold[m].el) >= 0:
                            n = -1
                            continue
                    # start <= key?
                    if h.spfx < kx or (h.spfx == kx and _cmp_raw(cold[n].sp, cold[n].sl, kp, kl) <= 0):
                        if kx < h.epfx or (kx == h.epfx and (
                                cold[n].end == NULL or _cmp_raw(kp, kl, cold[n].ep, cold[n].el) < 0)):
                            if nh == self._hits_cap:
                                self._grow_hits()
                            self._hits[nh] = n
                            nh += 1
                        left = h.left
                        if left >= 0:
                            if lsp[l] == LANE_STACK:  # rare: this key again alone, then the next one
                                self._stab_into(kp, kl, out)
                                lsp[l] = 0
                                n = -1
                                continue
                            IM_PREFETCH(&hot[left])
                            lanes[l * LANE_STACK + lsp[l]] = left
                            lsp[l] += 1
                        n = h.right
                    else:
                        n = h.left  # n and its whole right subtree start after key
                    if n >= 0:
                        IM_PREFETCH(&hot[n])
                        ln[l] = n
                        break
        for i in range(nh):
            if i + 8 < nh:
                IM_PREFETCH(&cold[self._hits[i + 8]])
            PySet_Add(out, <object>cold[self._hits[i]].owner_obj)
        return 0

    def stab(self, key):
        """Owners having some interval that contains *key* (a fresh set).

        Runtime: O(min(n, (k + 1) log n)) expected for k intervals hit: every visited subtree is either
        pruned in O(1) by its max-end annotation or by start order, or lies on a path to a hit.
        """
        out = set()
        if self._root < 0:
            return out
        if not _BYTES_CHECK(<PyObject*>key):
            raise TypeError(f"'<' not supported between instances of '{type(key).__name__}' and 'bytes'")
        self._grow(0, 64)
        self._stab_into(_BYTES_STR(<PyObject*>key), _BYTES_LEN(<PyObject*>key), out)
        return out

    def stab_many(self, keys):
        """Owners having some interval that contains at least one of *keys* (a fresh set).

        Runtime: the sum of ``stab`` costs over the keys.
        """
        cdef PyObject* k
        cdef PyObject* seq
        cdef Py_ssize_t pos
        out = set()
        if self._root < 0:
            return out
        self._grow(0, 64)
        if type(keys) is list:
            seq = <PyObject*>keys
            # Checked before any stab: the result is a set or this error either way, as in the reference.
            for pos in range(_LIST_LEN(seq)):
                k = _LIST_ITEM(seq, pos)
                if not _BYTES_CHECK(k):
                    raise TypeError(f"'<' not supported between instances of '{type(<object>k).__name__}' and 'bytes'")
            if _LIST_LEN(seq) == 1:
                k = _LIST_ITEM(seq, 0)
                self._stab_into(_BYTES_STR(k), _BYTES_LEN(k), out)
            elif _LIST_LEN(seq) > 1:
                self._stab_lanes(seq, _LIST_LEN(seq), out)
            return out
        for key in keys:
            # The iterator may run Python code (even mutate this map); nothing C-side is held across it.
            if self._root < 0:
                continue
            if not _BYTES_CHECK(<PyObject*>key):
                raise TypeError(f"'<' not supported between instances of '{type(key).__name__}' and 'bytes'")
            self._stab_into(_BYTES_STR(<PyObject*>key), _BYTES_LEN(<PyObject*>key), out)
        return out

    def owners(self):
        """Every owner holding at least one interval (a fresh set). O(#owners)."""
        return set(self._by_owner)

    def __len__(self):
        """Number of stored intervals (duplicates counted). O(1)."""
        return self._size

    def __repr__(self):
        return f"IntervalMap(len={self._size}, owners={len(self._by_owner)})"

    # ---- testing support -------------------------------------------------------------------------

    cdef list _preorder(self):
        out = []
        stack = [self._root] if self._root >= 0 else []
        while stack:
            n = stack.pop()
            out.append(n)
            if self._hot[<int>n].right >= 0:
                stack.append(self._hot[<int>n].right)
            if self._hot[<int>n].left >= 0:
                stack.append(self._hot[<int>n].left)
        return out

    cdef object _end_of(self, int i):
        return None if self._cold[i].end == NULL else <object>self._cold[i].end

    def check_invariants(self):
        """Assert BST order, heap order, max-end annotations, non-emptiness and the owner index. O(n)."""
        cdef Hot* hot = self._hot
        cdef Cold* cold = self._cold
        cdef int n, c, i
        cdef Py_ssize_t L = self._plen
        pre = self._preorder()
        if len(pre) != self._size:
            raise AssertionError(f"tree holds {len(pre)} nodes, size says {self._size}")
        # In-order ranks, so that each annotation can be checked to point INTO its own subtree.
        rank = {}
        inorder = []
        stack = []
        cur = self._root
        while stack or cur >= 0:
            while cur >= 0:
                stack.append(cur)
                cur = hot[<int>cur].left
            n = stack.pop()
            rank[n] = len(inorder)
            inorder.append(n)
            cur = hot[n].right
        if len(inorder) != self._size:
            raise AssertionError("in-order walk disagrees with size")
        if self._size and (self._pfx is None or len(self._pfx) != L):
            raise AssertionError(f"shared prefix {self._pfx!r} disagrees with its length {L}")
        lo_rank = {}
        hi_rank = {}
        for n in reversed(pre):
            if cold[n].start == NULL or cold[n].owner_obj == NULL:
                raise AssertionError(f"free slot {n} linked into the tree")
            s = <object>cold[n].start
            e = self._end_of(n)
            if not (e is None or s < e):
                raise AssertionError(f"empty interval stored: {s!r}..{e!r}")
            if cold[n].sp != _BYTES_STR(cold[n].start) or cold[n].sl != _BYTES_LEN(cold[n].start):
                raise AssertionError(f"node {n}: cached start view is stale")
            if e is not None and (cold[n].ep != _BYTES_STR(cold[n].end) or cold[n].el != _BYTES_LEN(cold[n].end)):
                raise AssertionError(f"node {n}: cached end view is stale")
            if not s.startswith(self._pfx) or (e is not None and not e.startswith(self._pfx)):
                raise AssertionError(f"node {n}: a bound does not start with the shared prefix {self._pfx!r}")
            if hot[n].spfx != _prefix(cold[n].sp + L, cold[n].sl - L):
                raise AssertionError(f"node {n}: start prefix is stale")
            if hot[n].epfx != (TOP if e is None else _prefix(cold[n].ep + L, cold[n].el - L)):
                raise AssertionError(f"node {n}: end prefix is stale")
            if cold[n].owner != <long long>(<object>cold[n].owner_obj):
                raise AssertionError(f"node {n}: owner cache is stale")
            want = e
            lo = hi = rank[n]
            for c in (hot[n].left, hot[n].right):
                if c < 0:
                    continue
                if not cold[c].prio <= cold[n].prio:
                    raise AssertionError("heap order violated")
                cm = self._end_of(cold[c].mx)
                if want is not None and (cm is None or cm > want):
                    want = cm
                lo = min(lo, lo_rank[c])
                hi = max(hi, hi_rank[c])
            lo_rank[n] = lo
            hi_rank[n] = hi
            m = cold[n].mx
            if not (0 <= m < self._used) or cold[m].start == NULL or m not in rank \
                    or not (lo <= rank[m] <= hi):
                raise AssertionError(f"max_end of node {n} points outside its subtree")
            if self._end_of(m) != want:
                raise AssertionError(f"max_end {self._end_of(m)!r} != subtree max {want!r}")
            if hot[n].mpfx != hot[<int>m].epfx:
                raise AssertionError(f"node {n}: max-end prefix is stale")
        # BST order: in-order keys strictly increase.
        for i in range(1, len(inorder)):
            if not _before(hot, cold, <int>inorder[i - 1], <int>inorder[i]):
                raise AssertionError("in-order keys not strictly increasing")
        # Owner index: exactly the tree's nodes, grouped by owner.
        in_tree = set(pre)
        total = 0
        for owner, lst in self._by_owner.items():
            if not lst:
                raise AssertionError(f"owner {owner} has an empty node list")
            for n in lst:
                if <object>cold[n].owner_obj != owner:
                    raise AssertionError(f"node of owner {<object>cold[n].owner_obj} filed under {owner}")
                if n not in in_tree:
                    raise AssertionError(f"owner {owner} lists a node not in the tree")
            total += len(lst)
        if total != self._size:
            raise AssertionError(f"owner index holds {total} nodes, size says {self._size}")
        if len({n for ns in self._by_owner.values() for n in ns}) != total:
            raise AssertionError("node listed twice")
        # Arena: every slot is either in the tree or on the free list, exactly once.
        free_count = 0
        f = self._free
        seen = set()
        while f >= 0:
            if f in seen or cold[<int>f].start != NULL or f in in_tree:
                raise AssertionError(f"free list corrupt at slot {f}")
            seen.add(f)
            free_count += 1
            f = hot[<int>f].left
        if free_count + self._size != self._used:
            raise AssertionError(f"arena leak: {self._used} slots, {self._size} live, {free_count} free")

    def debug_state(self):
        """Plain-data snapshot: size, tree depth, root max-end and each owner's intervals in insertion
        order as ``(start, end_or_None)``. O(n)."""
        depth = 0
        stack = [(self._root, 1)] if self._root >= 0 else []
        while stack:
            n, d = stack.pop()
            if d > depth:
                depth = d
            if self._hot[<int>n].left >= 0:
                stack.append((self._hot[<int>n].left, d + 1))
            if self._hot[<int>n].right >= 0:
                stack.append((self._hot[<int>n].right, d + 1))
        return {
            "size": self._size,
            "depth": depth,
            "root_max_end": None if self._root < 0 else self._end_of(self._cold[self._root].mx),
            "owners": {o: [(<object>self._cold[<int>i].start, self._end_of(i)) for i in ns]
                       for o, ns in sorted(self._by_owner.items())},
        }
