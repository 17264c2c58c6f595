"""The write window's per-index kernel: one index's recent writes in KEY order, with the maximum commit
timestamp of every subtree, so that "did anything write inside [start, end) in (from_ts, to_ts]?" costs
O(log w) for w writes in the window, not O(w) (reference kernel).

Who may call it: ``engine.log.write_window.WriteWindow`` only (it owns one ``WrittenKeys`` per index and holds
the window's lock around every call); the differential, mutant and parity tests. A Cython twin
(``engine._native.write_window``) carries the same names, signatures, docstrings and ABI; the kernel module
is injected into ``WriteWindow`` (``engine._impl`` chooses it), it is never imported by callers.

Structure (why this one). A treap: a binary search tree over the entries ordered by ``(key, seq)`` (``seq``
is a per-index insertion counter, so equal keys written by several commits are distinct entries, ordered
by commit), heap-ordered on a priority. Each node also stores ``max_ts``, the largest commit ts in its
subtree. The priority is ``splitmix64(seq)``: deterministic (no ambient randomness, both twins build the
very same tree) yet unrelated to key order, so the expected depth is O(log w) even for the common
monotone keys (``_creationTime`` indexes, sequential ids) that would turn a timestamp-ordered Cartesian tree
into a list. A sorted array with a rebuilt segment tree was the alternative; the treap was chosen because
every mutation the window makes (append the newest write, drop the oldest on trim, drop the newest on a
rollback) is then O(log w) with no rebuild pauses on the commit path.

Alongside the tree, ``_log`` keeps the entries in insertion (= commit ts) order, so ``drop_through``
(retention) and ``drop_from`` (rollback) find their victims at the two ends of the log in O(1) each and
delete them from the tree in O(log w) each: amortised O(log w) per write ever added.

The query (``find`` / ``first_conflict``) descends from the root pruning every subtree whose ``max_ts <=
from_ts`` (nothing newer than the snapshot there) and every subtree outside the key interval, and returns the
LEFTMOST qualifying entry: the smallest key (then the earliest write of it) with ``from_ts < ts <= to_ts``.
Cost O(log w) when ``to_ts >= `` every ts present (the committer's case: it checks at a fresh commit ts); each
write newer than ``to_ts`` inside the interval (the subscription manager checking at a ``processed_ts``
behind commits in flight) can add one more root-to-leaf path.

Invariants (``check_invariants``):
- in-order ``(key, seq)`` strictly increases; each parent's priority exceeds its children's;
- every node's ``max_ts == max(ts, left.max_ts, right.max_ts)``;
- ``_log`` holds exactly the tree's entries in increasing ``seq``, with non-decreasing ``ts``; ``add``
  refuses a ts below the newest present.
"""
from __future__ import annotations

from typing import Any, Sequence

#: Kernel ABI shared with the Cython twin ``engine._native.write_window``; bump on any semantic change.
ABI = "write_window/1"

#: The kernel's public API: its Cython twin must export exactly these names (tests/parity).
__all__ = ["ABI", "WrittenKeys"]

_MASK = (1 << 64) - 1
_MAX_TS = _MASK


def _priority(seq: int) -> int:
    """splitmix64 of *seq*: a bijection on u64, so distinct seqs never tie."""
    z = (seq + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class _Node:
    __slots__ = ("key", "ts", "doc", "seq", "prio", "max_ts", "left", "right")

    def __init__(self, key: bytes, ts: int, doc: str, seq: int) -> None:
        self.key = key
        self.ts = ts
        self.doc = doc
        self.seq = seq
        self.prio = _priority(seq)
        self.max_ts = ts
        self.left: _Node | None = None
        self.right: _Node | None = None


def _update(n: _Node) -> None:
    """Recompute ``n.max_ts`` from its own ts and its children (after any change below *n*)."""
    m = n.ts
    if n.left is not None and n.left.max_ts > m:
        m = n.left.max_ts
    if n.right is not None and n.right.max_ts > m:
        m = n.right.max_ts
    n.max_ts = m


def _split(n: _Node | None, key: bytes) -> tuple[_Node | None, _Node | None]:
    """Split subtree *n* into (entries with key <= *key*, entries with key > *key*)."""
    if n is None:
        return None, None
    if n.key <= key:
        lo, hi = _split(n.right, key)
        n.right = lo
        _update(n)
        return n, hi
    lo, hi = _split(n.left, key)
    n.left = hi
    _update(n)
    return lo, n


def _merge(a: _Node | None, b: _Node | None) -> _Node | None:
    """Join two treaps where every entry of *a* precedes every entry of *b*."""
    if a is None:
        return b
    if b is None:
        return a
    if a.prio > b.prio:
        a.right = _merge(a.right, b)
        _update(a)
        return a
    b.left = _merge(a, b.left)
    _update(b)
    return b


def _leftmost(n: _Node | None, start: bytes, end: bytes | None, from_ts: int, to_ts: int) -> _Node | None:
    """The leftmost entry of subtree *n* with ``start <= key`` (``< end`` unless None) and
    ``from_ts < ts <= to_ts``, or None."""
    while n is not None and n.max_ts > from_ts:
        if n.key < start:
            n = n.right
            continue
        if end is not None and n.key >= end:
            n = n.left
            continue
        # n is inside the interval: its left subtree holds smaller keys (only start bounds them), its right
        # subtree larger ones (only end bounds them).
        hit = _leftmost(n.left, start, None, from_ts, to_ts)
        if hit is not None:
            return hit
        if from_ts < n.ts <= to_ts:
            return n
        n = n.right
    return None


class WrittenKeys:
    """One index's writes in the window: ``(key, ts, document_id)`` entries in key order, with the maximum
    commit ts per subtree (a treap; see the module docstring). Not thread-safe: the window's lock guards it.
    """

    __slots__ = ("_root", "_log", "_head", "_seq")

    def __init__(self) -> None:
        self._root: _Node | None = None
        self._log: list[_Node] = []   # insertion order; live entries are _log[_head:]
        self._head = 0
        self._seq = 0

    # ---- mutation --------------------------------------------------------------------------------

    def add(self, key: bytes, ts: int, document_id: str) -> None:
        """Add the write of *key* (of document *document_id*) at commit *ts*.

        Raises TypeError unless *key* is bytes and *document_id* a str, ValueError unless ``0 <= ts <
        2**64`` and *ts* is at least the newest ts present (the window appends commits in ts order).
        Runtime: O(log w) expected.
        """
        if not isinstance(key, bytes):
            raise TypeError(f"written key must be bytes, got {type(key).__name__}")
        if not isinstance(document_id, str):
            raise TypeError(f"document id must be str, got {type(document_id).__name__}")
        if not 0 <= ts <= _MAX_TS:
            raise ValueError(f"commit ts {ts} is not a u64")
        if len(self._log) > self._head and ts < self._log[-1].ts:
            raise ValueError(f"commit ts {ts} is below the newest write {self._log[-1].ts}")
        self._seq += 1
        node = _Node(key, ts, document_id, self._seq)
        # Descend while the current node outranks the new one; ts is the new maximum of every subtree it
        # enters. Then the new node takes the place of the subtree it reached, split around its key (equal
        # keys go left: their seq is smaller).
        parent: _Node | None = None
        n = self._root
        while n is not None and n.prio > node.prio:
            if ts > n.max_ts:
                n.max_ts = ts
            parent = n
            n = n.left if key < n.key else n.right
        node.left, node.right = _split(n, key)
        _update(node)
        if parent is None:
            self._root = node
        elif key < parent.key:
            parent.left = node
        else:
            parent.right = node
        self._log.append(node)

    def drop_through(self, ts: int) -> int:
        """Remove every entry with commit ts <= *ts* (retention). Returns how many were removed.

        Runtime: O(1) when nothing is that old; O(log w) per entry removed.
        """
        log = self._log
        removed = 0
        while self._head < len(log) and log[self._head].ts <= ts:
            self._delete(log[self._head])
            log[self._head] = None  # type: ignore[call-overload]  # let the node go
            self._head += 1
            removed += 1
        if self._head == len(log):
            log.clear()
            self._head = 0
        elif self._head > 1024 and self._head * 2 > len(log):
            del log[: self._head]
            self._head = 0
        return removed

    def drop_from(self, ts: int) -> int:
        """Remove every entry with commit ts >= *ts* (a rolled-back batch). Returns how many were removed.

        Runtime: O(log w) per entry removed.
        """
        log = self._log
        removed = 0
        while len(log) > self._head and log[-1].ts >= ts:
            self._delete(log.pop())
            removed += 1
        return removed

    def _delete(self, node: _Node) -> None:
        """Unlink *node* (which is in the tree) and fix ``max_ts`` on its root path."""
        path: list[_Node] = []
        n = self._root
        while n is not node:
            assert n is not None, "entry missing from the tree"
            path.append(n)
            n = n.left if (node.key, node.seq) < (n.key, n.seq) else n.right
        joined = _merge(node.left, node.right)
        if not path:
            self._root = joined
        elif path[-1].left is node:
            path[-1].left = joined
        else:
            path[-1].right = joined
        for p in reversed(path):
            _update(p)
        node.left = node.right = None

    # ---- queries ---------------------------------------------------------------------------------

    def find(self, start: bytes, end: bytes | None, from_ts: int, to_ts: int) -> tuple[bytes, int, str] | None:
        """The leftmost entry ``(key, ts, document_id)`` with ``start <= key < end`` (*end* None: unbounded)
        and ``from_ts < ts <= to_ts``: the smallest such key, and of its writes the earliest; None if none.
        Raises ValueError if *from_ts* or *to_ts* is negative.

        Runtime: O(log w) expected, plus one root-to-leaf path per entry newer than *to_ts* in the interval.
        """
        if from_ts < 0 or to_ts < 0:
            raise ValueError(f"timestamps must be non-negative, got ({from_ts}, {to_ts}]")
        hit = _leftmost(self._root, start, end, from_ts, to_ts)
        return None if hit is None else (hit.key, hit.ts, hit.doc)

    def first_conflict(self, starts: Sequence[bytes], ends: Sequence[bytes | None], from_ts: int,
                       to_ts: int) -> tuple[bytes, int, str] | None:
        """``find`` over the intervals ``[starts[i], ends[i])`` in order (the OCC hot call, fed an interval
        set's ``bounds()``): the first interval's leftmost qualifying entry, or None if no interval has one.
        For ascending disjoint intervals that is the smallest qualifying key of all of them. Raises
        ValueError if *from_ts* or *to_ts* is negative, or if *starts* and *ends* differ in length.

        Runtime: O(1) when no entry is newer than *from_ts*; else O(len(starts) · log w) expected.
        """
        if from_ts < 0 or to_ts < 0:
            raise ValueError(f"timestamps must be non-negative, got ({from_ts}, {to_ts}]")
        if len(starts) != len(ends):
            raise ValueError(f"{len(starts)} interval starts but {len(ends)} ends")
        root = self._root
        if root is None or root.max_ts <= from_ts:
            return None
        for i in range(len(starts)):
            hit = _leftmost(root, starts[i], ends[i], from_ts, to_ts)
            if hit is not None:
                return hit.key, hit.ts, hit.doc
        return None

    def newest_ts(self) -> int:
        """The largest commit ts present, or -1 when empty. O(1)."""
        return self._root.max_ts if self._root is not None else -1

    def __len__(self) -> int:
        """Number of entries. O(1)."""
        return len(self._log) - self._head

    # ---- testing support -------------------------------------------------------------------------

    def entries(self) -> list[tuple[bytes, int, str]]:
        """Every entry ``(key, ts, document_id)`` in commit order (insertion order). O(w)."""
        return [(n.key, n.ts, n.doc) for n in self._log[self._head:]]

    def check_invariants(self) -> None:
        """Assert the invariants of the module docstring (search order, heap order, every ``max_ts``, the
        log matches the tree). O(w); tests only."""
        seen: list[_Node] = []

        def walk(n: _Node | None, depth: int) -> int:
            if n is None:
                return -1
            assert depth < 10_000, "tree too deep (cycle?)"
            m = n.ts
            for child in (n.left, n.right):
                if child is not None:
                    assert child.prio < n.prio, f"heap order broken under seq {n.seq}"
            lm = walk(n.left, depth + 1)
            seen.append(n)
            rm = walk(n.right, depth + 1)
            m = max(m, lm, rm)
            assert n.max_ts == m, f"max_ts of seq {n.seq} is {n.max_ts}, subtree max is {m}"
            return m

        walk(self._root, 0)
        order = [(n.key, n.seq) for n in seen]
        assert all(a < b for a, b in zip(order, order[1:])), "in-order (key, seq) not strictly increasing"
        live = self._log[self._head:]
        assert all(n is not None for n in live), "a dropped entry is still in the live log"
        assert sorted(n.seq for n in live) == sorted(n.seq for n in seen), "log and tree hold different entries"
        assert all(a.seq < b.seq and a.ts <= b.ts for a, b in zip(live, live[1:])), "log not in commit order"

    def debug_state(self) -> dict[str, Any]:
        """Plain-data snapshot, identical between twins: ``{"entries": [(key, ts, document_id, max_ts), ...]}``
        in key order (``max_ts`` of each entry's subtree, which pins the tree's shape) and ``"depth"``. O(w)."""
        out: list[tuple[bytes, int, str, int]] = []
        depth = 0
        stack: list[tuple[_Node, int]] = []
        n, d = self._root, 1
        while stack or n is not None:
            while n is not None:
                stack.append((n, d))
                n, d = n.left, d + 1
            n, d = stack.pop()
            depth = max(depth, d)
            out.append((n.key, n.ts, n.doc, n.max_ts))
            n, d = n.right, d + 1
        return {"entries": out, "depth": depth}
