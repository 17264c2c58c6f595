"""IntervalMap: many subscribers' read intervals on one index, answering stabbing queries (reference).

Role: the subscription half of the overlap kernel. The subscription manager keeps one ``IntervalMap`` per
index; on every commit it stabs the map with each written key (old and new) and invalidates the owners
hit. Cost must grow with log(#intervals) plus hits, never linearly with the number of subscriptions.
After a re-run the manager refreshes the owner's intervals with ``replace`` (a multiset diff: only the
intervals that changed are deleted or inserted), not by removing and re-inserting the whole read set.

Who may call it: ``engine.subscriptions`` (one writer; no internal locking), tests and benchmarks.

Structure: a treap (randomised balanced BST) of nodes, one per stored interval, ordered by the total key
``(start, owner, seq)`` where ``seq`` is a per-map insertion counter (so keys are unique). Each node is
annotated with ``max_end``, the largest ``end`` in its subtree, with None (unbounded) the largest of all.
A stab descends only into subtrees whose ``max_end`` lies above the key and whose starts can be <= key.
Treap priorities come from ``random.Random(seed)``: no ambient randomness, so shapes are reproducible.

Invariants (checked by ``check_invariants``):
- in-order traversal is strictly increasing in ``(start, owner, seq)`` (BST order);
- every node's priority is >= its children's (max-heap order);
- every node's ``max_end`` equals the maximum of its own end and its children's ``max_end``;
- no stored interval is empty;
- ``_by_owner`` maps each owner to exactly the list of its nodes present in the tree (no empty lists),
  and the list lengths sum to ``len(self)``.

All operations are iterative (explicit stacks / paths), so deep trees cannot hit Python's recursion
limit and no call overhead is paid per level. Nodes use ``__slots__`` to stay light at ~1M intervals.

A Cython twin (``engine._native.interval_map``) carries the same names, signatures, docstrings and ABI.
"""
from __future__ import annotations

import random
from typing import Any, Iterable

from engine.model.types import Interval

#: Shared with the twin; bumped whenever the semantics or the twin's memory layout change, so a stale build is
#: refused (2: the twin's hot/cold node arenas with in-node prefixes).
ABI = "interval_map/2"

__all__ = ["ABI", "IntervalMap"]


class _Node:
    """One stored interval. Fields are flat so the twin can mirror them in a C struct."""

    __slots__ = ("start", "end", "owner", "seq", "prio", "max_end", "left", "right")

    def __init__(self, start: bytes, end: bytes | None, owner: int, seq: int, prio: float) -> None:
        self.start = start
        self.end = end
        self.owner = owner
        self.seq = seq
        self.prio = prio
        self.max_end: bytes | None = end
        self.left: _Node | None = None
        self.right: _Node | None = None


def _pull(n: _Node) -> None:
    """Recompute ``n.max_end`` from its own end and its children's annotations. O(1)."""
    m = n.end
    if m is not None:
        c = n.left
        if c is not None:
            cm = c.max_end
            if cm is None:
                n.max_end = None
                return
            if cm > m:
                m = cm
        c = n.right
        if c is not None:
            cm = c.max_end
            if cm is None:
                n.max_end = None
                return
            if cm > m:
                m = cm
    n.max_end = m


def _before(a: _Node, b: _Node) -> bool:
    """True iff a's key ``(start, owner, seq)`` is smaller than b's."""
    if a.start != b.start:
        return a.start < b.start
    if a.owner != b.owner:
        return a.owner < b.owner
    return a.seq < b.seq


class IntervalMap:
    """Owner-tagged intervals with stabbing queries. ``IntervalMap(seed=0)``; O(1) to construct."""

    __slots__ = ("_root", "_by_owner", "_size", "_seq", "_rng")

    def __init__(self, seed: int = 0) -> None:
        self._root: _Node | None = None
        self._by_owner: dict[int, list[_Node]] = {}
        self._size = 0
        self._seq = 0
        self._rng = random.Random(seed)

    # ---- mutation --------------------------------------------------------------------------------

    def insert(self, owner: int, interval: Interval) -> None:
        """Store *interval* for *owner*. Empty intervals are ignored; an owner may hold many intervals,
        including duplicates (each is stored and later removed separately).

        Runtime: O(log n) expected.
        """
        start = interval.start
        end = interval.end
        if end is not None and start >= end:
            return
        seq = self._seq
        self._seq = seq + 1
        node = _Node(start, end, owner, seq, self._rng.random())
        lst = self._by_owner.get(owner)
        if lst is None:
            self._by_owner[owner] = [node]
        else:
            lst.append(node)
        self._size += 1
        root = self._root
        if root is None:
            self._root = node
            return
        # Descend to the leaf position, remembering the path. Every node passed will have the new node
        # in its subtree whatever the rotations below do, so its max-end can be raised on the way down
        # (rotated nodes are recomputed from their children afterwards).
        path: list[_Node] = []
        push = path.append
        cur: _Node | None = root
        go_left = False
        while cur is not None:
            push(cur)
            m = cur.max_end
            if m is not None and (end is None or end > m):
                cur.max_end = end
            cs = cur.start
            go_left = start < cs or (
                start == cs and (owner < cur.owner or (owner == cur.owner and seq < cur.seq))
            )
            cur = cur.left if go_left else cur.right
        parent = path[-1]
        if go_left:
            parent.left = node
        else:
            parent.right = node
        # Rotate the new node up while it outranks its parent (restores heap order).
        i = len(path) - 1
        prio = node.prio
        if path[i].prio >= prio:
            return  # common case: stays a leaf; annotations already correct
        while i >= 0 and path[i].prio < prio:
            p = path[i]
            if p.left is node:
                p.left = node.right
                node.right = p
            else:
                p.right = node.left
                node.left = p
            _pull(p)
            if i == 0:
                self._root = node
            else:
                g = path[i - 1]
                if g.left is p:
                    g.left = node
                else:
                    g.right = node
            i -= 1
        _pull(node)

    def remove_owner(self, owner: int) -> int:
        """Remove every interval of *owner*; return how many were removed (0 for an unknown owner).

        Runtime: O(m log n) expected for the owner's m intervals.
        """
        nodes = self._by_owner.pop(owner, None)
        if not nodes:
            return 0
        for node in nodes:
            self._delete(node)
        self._size -= len(nodes)
        return len(nodes)

    def replace(self, owner: int, intervals: Iterable[Interval]) -> tuple[int, int]:
        """Make *owner*'s stored intervals exactly *intervals* (a multiset; empty ones ignored) by a diff:
        stored intervals that are still wanted stay in place, the others are removed, and only the
        missing ones are inserted. Returns ``(removed, added)``; ``replace(o, [])`` is ``remove_owner``.

        Deterministic order (twins build the same tree): the owner's nodes are scanned in insertion order
        and each is kept while *intervals* still wants one more copy of its ``(start, end)``; the rest are
        deleted in that order; then the still-missing intervals are inserted in the order given, after the
        kept ones in the owner's list. Runtime: O(m + k + (r + a) log n) expected for the owner's m stored
        intervals, k given, r removed and a added - a re-run whose read set barely moved costs O(m + k).
        """
        want: dict[tuple, int] = {}
        order: list[Interval] = []
        for iv in intervals:
            start, end = iv.start, iv.end
            if end is not None and start >= end:
                continue
            k = (start, end)
            want[k] = want.get(k, 0) + 1
            order.append(iv)
        nodes = self._by_owner.get(owner)
        kept: list[_Node] = []
        dropped: list[_Node] = []
        if nodes:
            for node in nodes:
                k = (node.start, node.end)
                c = want.get(k, 0)
                if c > 0:
                    want[k] = c - 1
                    kept.append(node)
                else:
                    dropped.append(node)
            for node in dropped:
                self._delete(node)
            self._size -= len(dropped)
            if kept:
                self._by_owner[owner] = kept
            else:
                del self._by_owner[owner]
        added = 0
        for iv in order:
            k = (iv.start, iv.end)
            c = want[k]
            if c > 0:  # copies still missing after the kept ones: insert them (first occurrences first)
                want[k] = c - 1
                self.insert(owner, iv)
                added += 1
        return len(dropped), added

    def _delete(self, target: _Node) -> None:
        """Unlink *target* (present in the tree) and repair annotations on its path. O(log n) expected."""
        path: list[_Node] = []
        cur = self._root
        while cur is not target:
            assert cur is not None, "node handle not in tree"
            path.append(cur)
            cur = cur.left if _before(target, cur) else cur.right
        # Replace target by the treap merge of its two subtrees (all left keys < all right keys).
        a = target.left
        b = target.right
        target.left = target.right = None
        merged_path: list[_Node] = []
        sub_root: _Node | None = None
        hook: _Node | None = None  # node whose child slot receives the next merged piece
        hook_right = False
        while a is not None and b is not None:
            if a.prio >= b.prio:
                pick = a
                a = a.right  # a's left subtree stays; its right becomes merge(a.right, b)
                nxt_right = True
            else:
                pick = b
                b = b.left  # b's right subtree stays; its left becomes merge(a, b.left)
                nxt_right = False
            if hook is None:
                sub_root = pick
            elif hook_right:
                hook.right = pick
            else:
                hook.left = pick
            merged_path.append(pick)
            hook, hook_right = pick, nxt_right
        rest = a if a is not None else b
        if hook is None:
            sub_root = rest
        elif hook_right:
            hook.right = rest
        else:
            hook.left = rest
        for n in reversed(merged_path):
            _pull(n)
        if not path:
            self._root = sub_root
        else:
            parent = path[-1]
            if parent.left is target:
                parent.left = sub_root
            else:
                parent.right = sub_root
            # Annotations above depend only on children's annotations: stop once one is unchanged.
            for n in reversed(path):
                old = n.max_end
                _pull(n)
                if n.max_end == old:
                    break

    # ---- queries ---------------------------------------------------------------------------------

    def _stab_into(self, key: bytes, out: set[int]) -> None:
        """Add to *out* the owner of every interval containing *key*."""
        stack: list[_Node] = []
        push = stack.append
        pop = stack.pop
        add = out.add
        n = self._root
        while True:
            if n is not None:
                m = n.max_end
                if m is None or key < m:  # else: every interval below n ends at or before key
                    if n.start <= key:
                        e = n.end
                        if e is None or key < e:
                            add(n.owner)
                        left = n.left
                        if left is not None:
                            lm = left.max_end  # prune before pushing: saves a push/pop per turn
                            if lm is None or key < lm:
                                push(left)
                        n = n.right
                    else:
                        n = n.left  # n and its whole right subtree start after key
                    continue
            if not stack:
                return
            n = pop()

    def stab(self, key: bytes) -> set[int]:
        """Owners having some interval that contains *key* (a fresh set).

        Runtime: O(min(n, (k + 1) log n)) expected for k intervals hit: every visited subtree is either
        pruned in O(1) by its max-end annotation or by start order, or lies on a path to a hit.
        """
        out: set[int] = set()
        self._stab_into(key, out)
        return out

    def stab_many(self, keys: Iterable[bytes]) -> set[int]:
        """Owners having some interval that contains at least one of *keys* (a fresh set).

        Runtime: the sum of ``stab`` costs over the keys.
        """
        out: set[int] = set()
        if self._root is None:
            return out
        for key in keys:
            self._stab_into(key, out)
        return out

    def owners(self) -> set[int]:
        """Every owner holding at least one interval (a fresh set). O(#owners)."""
        return set(self._by_owner)

    def __len__(self) -> int:
        """Number of stored intervals (duplicates counted). O(1)."""
        return self._size

    def __repr__(self) -> str:
        return f"IntervalMap(len={self._size}, owners={len(self._by_owner)})"

    # ---- testing support -------------------------------------------------------------------------

    def _preorder(self) -> list[_Node]:
        out: list[_Node] = []
        stack = [self._root] if self._root is not None else []
        while stack:
            n = stack.pop()
            out.append(n)
            if n.right is not None:
                stack.append(n.right)
            if n.left is not None:
                stack.append(n.left)
        return out

    def check_invariants(self) -> None:
        """Assert BST order, heap order, max-end annotations, non-emptiness and the owner index. O(n)."""
        pre = self._preorder()
        assert len(pre) == self._size, f"tree holds {len(pre)} nodes, size says {self._size}"
        # Heap order and annotations: in reversed pre-order every child is verified before its parent.
        for n in reversed(pre):
            assert n.end is None or n.start < n.end, f"empty interval stored: {n.start!r}..{n.end!r}"
            want = n.end
            for c in (n.left, n.right):
                if c is None:
                    continue
                assert c.prio <= n.prio, "heap order violated"
                if want is not None and (c.max_end is None or c.max_end > want):
                    want = c.max_end
            assert n.max_end == want, f"max_end {n.max_end!r} != subtree max {want!r}"
        # BST order: in-order keys strictly increase.
        prev: _Node | None = None
        stack: list[_Node] = []
        cur = self._root
        count = 0
        while stack or cur is not None:
            while cur is not None:
                stack.append(cur)
                cur = cur.left
            n = stack.pop()
            if prev is not None:
                assert _before(prev, n), "in-order keys not strictly increasing"
            prev = n
            count += 1
            cur = n.right
        assert count == self._size
        # Owner index: exactly the tree's nodes, grouped by owner.
        in_tree = {id(n) for n in pre}
        total = 0
        for owner, nodes in self._by_owner.items():
            assert nodes, f"owner {owner} has an empty node list"
            for n in nodes:
                assert n.owner == owner, f"node of owner {n.owner} filed under {owner}"
                assert id(n) in in_tree, f"owner {owner} lists a node not in the tree"
            total += len(nodes)
        assert total == self._size, f"owner index holds {total} nodes, size says {self._size}"
        assert len({id(n) for ns in self._by_owner.values() for n in ns}) == total, "node listed twice"

    def debug_state(self) -> dict[str, Any]:
        """Plain-data snapshot: size, tree depth, root max-end and each owner's intervals in insertion
        order as ``(start, end_or_None)``. O(n)."""
        depth = 0
        stack: list[tuple[_Node, int]] = [(self._root, 1)] if self._root is not None else []
        while stack:
            n, d = stack.pop()
            if d > depth:
                depth = d
            if n.left is not None:
                stack.append((n.left, d + 1))
            if n.right is not None:
                stack.append((n.right, d + 1))
        return {
            "size": self._size,
            "depth": depth,
            "root_max_end": None if self._root is None else self._root.max_end,
            "owners": {o: [(n.start, n.end) for n in ns] for o, ns in sorted(self._by_owner.items())},
        }
