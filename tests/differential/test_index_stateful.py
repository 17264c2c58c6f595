"""Differential state machine: every MVCC index strategy against ``MVCCStoreModel``, step by step.

The machine applies random commit batches (and invalid ones), reads with ``get``/``scan_batch``/``scan``/
``versions`` and the document read path (``get_document``, ``scan_documents`` and
``scan_documents_by_batches``, with a stand-in codec that tags each value it is handed) at random snapshots over random intervals (empty, point, prefix, unbounded, arbitrary bounds
of other lengths than the keys), collects garbage, drops indexes, reopens persistent stores, and after
every step asserts each subject's ``check_invariants``. Reads are compared only at snapshots at or above
the highest gc watermark, the only ones gc promises to preserve.

Subjects come from ``subject_factories()``: the strategies' store classes given every built twin
(``engine._impl.implementations``) of their kernels - the "mvcc" kernel in mem-btree (leaf capacity 4, so splits and merges happen, and the default capacity) and of
the "mvcc_lmdb" kernel as lmdb-btree (default, and ``skip_limit`` 0 and 1 so scans take their seek paths),
each LMDB store in a fresh temporary directory per example. ``make_machine(factories)`` builds the same
machine over any list, which is how ``tests/mutants`` plugs deliberately broken kernels and stores in.

Keys are prefix-free (the index precondition): a body over ``{0x01, 'a', 0xff}`` of length 0..2 followed by
a 0x00 terminator (13 keys per index, many overlaps), plus a bulk family ``b"b" || byte || 0x00`` written
in runs of up to 40 keys to cross leaf boundaries several times. Reads are biased towards keys that exist
and snapshots equal to ``applied_ts`` or to a version's ts (the ``<=`` edge), where bugs hide.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from itertools import islice
from typing import Callable

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engine._impl import implementations
from engine.index.base import IndexConfig, IndexStore, scan_by_batches, scan_documents_by_batches
from engine.index.lmdb_btree import LmdbBTreeStore
from engine.index.mem_btree import MemBTreeStore
from engine.index.options import LmdbBtreeOptions, MemBtreeOptions
from engine.testing.models.mvcc import MVCCStoreModel
from engine.model.errors import RippleError
from engine.model.types import Interval

#: (name, factory(directory) -> IndexStore). The directory is fresh per subject and example.
SubjectFactory = tuple[str, Callable[[str], IndexStore]]

INDEX_IDS = st.sampled_from([0, 1, 0xFFFFFFFF])  # includes the last u32 id: no upper bound in LMDB's order
KEYS = st.lists(st.sampled_from(b"\x01a\xff"), max_size=2).map(lambda body: bytes(body) + b"\x00")
#: None is a tombstone; b"" a live empty value (not a tombstone!); other values get the commit ts appended
#: (see ``_tag``) so that consecutive versions differ and returning the wrong version is always visible.
VALUES = st.one_of(st.none(), st.just(b""), st.binary(max_size=2))


def _tag(writes: dict, ts: int) -> dict:
    """Make each non-empty value unique per commit by appending ``@ts``."""
    return {i: [(k, v if not v else v + b"@%d" % ts) for k, v in ws] for i, ws in writes.items()}


def tag_decode(value: bytes, offset: int) -> tuple[str, int, bytes]:
    """Stand-in document codec: what the kernel handed over, so a wrong value or offset is visible."""
    return ("doc", offset, value)


def tag_decode_many(values: list, offset: int) -> list:
    return [("doc", offset, v) for v in values]


def ref_key(value: bytes) -> bytes:
    """Stand-in ``id_key``: maps a stored value to a key of the KEYS family (often present, not always)."""
    return bytes(b for b in value[:2] if b in b"\x01a\xff") + b"\x00"


def bulk_key(i: int) -> bytes:
    """A second prefix-free key family for bulk writes: b"b" is outside the KEYS alphabet; all 3 bytes."""
    return b"b" + bytes((i,)) + b"\x00"


BOUNDS = st.lists(st.sampled_from(b"\x00\x01ab\xff"), max_size=3).map(bytes)


@st.composite
def intervals(draw) -> Interval:
    kind = draw(st.sampled_from(["range", "range", "unbounded", "all", "empty", "point", "prefix"]))
    if kind == "range":
        return Interval(draw(BOUNDS), draw(BOUNDS))  # may be empty (start >= end)
    if kind == "unbounded":
        return Interval(draw(BOUNDS), None)
    if kind == "all":
        return Interval.all()
    if kind == "empty":
        b = draw(BOUNDS)
        return Interval(b, b)
    if kind == "point":
        return Interval.point(draw(st.one_of(KEYS, BOUNDS)))
    return Interval.prefix(draw(st.one_of(BOUNDS, KEYS)))


def subject_factories() -> list[SubjectFactory]:
    """Every strategy under test: the one store class of mem-btree and of lmdb-btree, each given every
    built twin (``engine._impl.implementations``) of its kernel ("mvcc" and "mvcc_lmdb")."""
    out: list[SubjectFactory] = []
    for impl, kernel in implementations("mvcc").items():
        out.append((f"mem-btree[{impl},cap=4]", lambda d, k=kernel: MemBTreeStore(
            IndexConfig(options=MemBtreeOptions(leaf_capacity=4)), kernel=k)))
        out.append((f"mem-btree[{impl}]", lambda d, k=kernel: MemBTreeStore(IndexConfig(), kernel=k)))
    for impl, kernel in implementations("mvcc_lmdb").items():
        out.append((f"lmdb-btree[{impl}]", lambda d, k=kernel: LmdbBTreeStore(
            IndexConfig(path=d, map_size=1 << 26, options=LmdbBtreeOptions(gc_chunk=3)), kernel=k)))
        # skip_limit 0/1: scans seek as soon as a key has a second/third version, exercising the seek
        # paths that the default (step over up to SKIP_LIMIT versions) rarely reaches here.
        for skip in (0, 1):
            out.append((f"lmdb-btree[{impl},skip_limit={skip}]", lambda d, k=kernel, skip=skip: LmdbBTreeStore(
                IndexConfig(path=d, map_size=1 << 26, options=LmdbBtreeOptions(skip_limit=skip)), kernel=k)))
    return out


class IndexMachine(RuleBasedStateMachine):
    """Model vs subjects. Subclasses set ``SUBJECTS`` (see ``make_machine``)."""

    SUBJECTS: list[SubjectFactory] = []

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="ripple-index-sm-")
        self.model = MVCCStoreModel()
        self.subjects: dict[str, IndexStore] = {}
        self.factories: dict[str, tuple[Callable[[str], IndexStore], str]] = {}
        for n, (name, factory) in enumerate(self.SUBJECTS):
            path = os.path.join(self.tmp, str(n))
            self.factories[name] = (factory, path)
            self.subjects[name] = factory(path)
        self.watermark = 0  # highest gc below_ts so far: reads below it are not comparable

    def teardown(self) -> None:
        for store in self.subjects.values():
            store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @initialize(seeded=st.booleans())
    def seed_history(self, seeded) -> None:
        """Half the runs start from a fixed, dense history: keys with several versions, a tombstone between
        live versions, a tombstone as the newest version, and versions at adjacent timestamps. Random
        writes rarely stack versions on one key, and visibility bugs (``<`` for ``<=``, a tombstone that
        does not hide the key, gc dropping a visible version) show only there, so without this the
        search for them was marginal (a mutant could survive a run, depending on test order)."""
        if not seeded:
            return
        a, b, c = b"a\x00", b"\x01a\x00", b"\xff\x00"
        history = [
            (1, {0: [(a, b"v"), (b, b"v")], 1: [(c, b"v")]}),
            (2, {0: [(a, None)], 1: [(c, b"w")]}),
            (3, {0: [(a, b"w"), (b, None)]}),
            (5, {0: [(a, b"x"), (c, b"v")], 1: [(c, None)]}),
            (6, {0: [(b, b"y")], 0xFFFFFFFF: [(a, b"v")]}),
        ]
        commits = [(ts, _tag(writes, ts)) for ts, writes in history]
        self.model.apply_batch(commits)
        for store in self.subjects.values():
            store.apply_batch(commits)

    # -- helpers ---------------------------------------------------------------------------------------

    def _read_ts(self, data, boundaries: list[int] = ()) -> int:
        """A snapshot at or above the gc watermark: often exactly ``applied_ts`` (as most real reads are) or
        exactly one of *boundaries* (version timestamps: the ``<=`` edge of visibility) or one tick below it."""
        hi = self.model.applied_ts
        choices = [st.integers(self.watermark, hi + 2), st.just(max(hi, self.watermark))]
        # Both sides of each version's visibility edge, as separate choices so neither dilutes the other:
        # at its ts a version is visible, one tick below it is not (a scan leaking the next commit only
        # shows at ``vts - 1``).
        # Each edge choice counts twice: exact edges are where visibility bugs show, and uniform integers
        # rarely land on them.
        edges = sorted({b for b in boundaries if b >= self.watermark})
        if edges:
            choices += [st.sampled_from(edges)] * 2
        below = sorted({b - 1 for b in boundaries if b - 1 >= self.watermark})
        if below:
            choices += [st.sampled_from(below)] * 2
        return data.draw(st.one_of(choices), label="ts")

    def _key(self, data, index_id: int) -> bytes:
        """A key of the index (when it has any), or any key of the family, or an arbitrary short string."""
        present = sorted(self.model.open_index(index_id).data)
        choices = [KEYS, BOUNDS] + ([st.sampled_from(present)] * 2 if present else [])
        return data.draw(st.one_of(choices), label="key")

    # -- writes ----------------------------------------------------------------------------------------

    @rule(data=st.data())
    def apply(self, data) -> None:
        n = data.draw(st.integers(1, 3), label="commits")
        commits = []
        ts = self.model.applied_ts
        for _ in range(n):
            ts += data.draw(st.integers(1, 3), label="gap")
            writes = data.draw(st.dictionaries(INDEX_IDS, st.lists(st.tuples(KEYS, VALUES), max_size=4),
                                               max_size=2), label="writes")
            commits.append((ts, _tag(writes, ts)))
        self.model.apply_batch(commits)
        for store in self.subjects.values():
            store.apply_batch(commits)

    @rule(index_id=INDEX_IDS, first=st.integers(1, 60), count=st.integers(5, 40), tombstones=st.booleans())
    def apply_many(self, index_id, first, count, tombstones) -> None:
        """One commit writing a run of keys, to push the leaf count over several node boundaries (and,
        through tombstones plus gc, back down through merges)."""
        ts = self.model.applied_ts + 1
        writes = [(bulk_key(i), None if tombstones else b"v%d" % ts) for i in range(first, min(first + count, 256))]
        commits = [(ts, {index_id: writes})]
        self.model.apply_batch(commits)
        for store in self.subjects.values():
            store.apply_batch(commits)

    @rule(index_id=INDEX_IDS, data=st.data())
    def delete_present_key(self, index_id, data) -> None:
        """Tombstone a key that exists (random writes rarely hit the same key twice): deletes of existing
        rows are what make tombstone handling in reads observable."""
        present = sorted(self.model.open_index(index_id).data)
        for store in self.subjects.values():
            store.open_index(index_id)
        if not present:
            return
        key = data.draw(st.sampled_from(present), label="deleted key")
        commits = [(self.model.applied_ts + 1, {index_id: [(key, None)]})]
        self.model.apply_batch(commits)
        for store in self.subjects.values():
            store.apply_batch(commits)

    @rule(data=st.data())
    def apply_out_of_order_is_refused(self, data) -> None:
        applied = self.model.applied_ts
        good = data.draw(st.booleans(), label="valid first commit")
        bad_ts = data.draw(st.integers(0, applied + 1 if good else applied), label="bad ts")
        commits = [(applied + 1, {0: [(b"a\x00", b"x")]})] if good else []
        commits.append((bad_ts, {1: [(b"\x00", b"y")]}))
        for name, store in self.subjects.items():
            try:
                store.apply_batch(commits)
            except ValueError:
                pass
            else:
                raise AssertionError(f"{name}: accepted non-increasing timestamps {[c[0] for c in commits]}")
            assert store.applied_ts() == applied, f"{name}: refused batch changed applied_ts"

    @rule(index_id=INDEX_IDS, data=st.data())
    def backfill(self, index_id, data) -> None:
        """History written below ``applied_ts`` into an index (adding an index to a table with data).
        Sometimes invalid (index not empty, timestamps out of order or above ``applied_ts``): then every
        subject must refuse it like the model, writing nothing and creating no index."""
        applied = self.model.applied_ts
        if data.draw(st.booleans(), label="drop first"):
            self.drop_index(index_id)
        stamps = data.draw(st.lists(st.integers(0, applied + 1), max_size=3), label="stamps")
        if data.draw(st.booleans(), label="ordered"):
            stamps = sorted(set(stamps))
        commits = [(ts, [(k, None if v is None else v + b"@b%d" % ts) for k, v in
                         data.draw(st.lists(st.tuples(KEYS, VALUES), max_size=3), label="writes")])
                   for ts in stamps]
        try:
            self.model.backfill(index_id, commits)
        except ValueError:
            for name, store in self.subjects.items():
                try:
                    store.backfill(index_id, commits)
                except ValueError:
                    continue
                raise AssertionError(f"{name}: accepted backfill({index_id}, {commits}) that the model refuses")
        else:
            for store in self.subjects.values():
                store.backfill(index_id, commits)

    @rule(below=st.data())
    def gc(self, below) -> None:
        below_ts = below.draw(st.integers(self.watermark, self.model.applied_ts + 1), label="below_ts")
        want = self.model.gc(below_ts)
        for name, store in self.subjects.items():
            got = store.gc(below_ts)
            assert got == want, f"{name}: gc({below_ts}) removed {got} versions, model removed {want}"
        self.watermark = max(self.watermark, below_ts)

    @rule(index_id=INDEX_IDS)
    def drop_index(self, index_id) -> None:
        self.model.drop_index(index_id)
        for store in self.subjects.values():
            store.drop_index(index_id)

    @rule(index_id=INDEX_IDS)
    def open_index(self, index_id) -> None:
        self.model.open_index(index_id)
        for store in self.subjects.values():
            store.open_index(index_id)

    @rule(key=st.sampled_from(["a", "b", "schema/0"]), value=st.binary(max_size=3))
    def put_meta(self, key, value) -> None:
        self.model.put_meta(key, value)
        for store in self.subjects.values():
            store.put_meta(key, value)

    @precondition(lambda self: any(s.persistent for s in self.subjects.values()))
    @rule()
    def reopen_persistent(self) -> None:
        for name, store in list(self.subjects.items()):
            if store.persistent:
                store.close()
                factory, path = self.factories[name]
                self.subjects[name] = factory(path)

    # -- reads -----------------------------------------------------------------------------------------

    @rule(index_id=INDEX_IDS, data=st.data())
    def get(self, index_id, data) -> None:
        key = self._key(data, index_id)
        ts = self._read_ts(data, [vts for vts, _ in self.model.open_index(index_id).versions(key)])
        want = self.model.indexes[index_id].get(key, ts)
        for name, store in self.subjects.items():
            got = store.open_index(index_id).get(key, ts)
            assert got == want, f"{name}: get({key!r}, ts={ts}) in index {index_id} = {got!r}, model {want!r}"

    @rule(index_id=INDEX_IDS, reverse=st.booleans(), limit=st.integers(0, 5), batch=st.integers(1, 3),
          data=st.data())
    def scan(self, index_id, reverse, limit, batch, data) -> None:
        model = self.model.open_index(index_id)
        present = sorted(model.data)
        around = [st.sampled_from(present).map(Interval.point),
                  st.tuples(st.sampled_from(present), st.sampled_from(present)).map(lambda p: Interval(*p))]
        interval = data.draw(st.one_of([intervals(), *(around if present else [])]), label="interval")
        ts = self._read_ts(data, [vts for versions in model.data.values() for vts, _ in versions])
        want_all = model.scan(interval, ts, reverse)
        want_limited = model.scan(interval, ts, reverse, limit)
        for name, store in self.subjects.items():
            index = store.open_index(index_id)
            got = index.scan_batch(interval, ts, limit, reverse)
            assert got == want_limited, (f"{name}: scan_batch({interval}, ts={ts}, limit={limit}, reverse={reverse}) "
                                         f"= {got}, model {want_limited}")
            # islice bounds the iteration: a strategy returning a key outside the interval can make the
            # re-seek loop cycle forever, which must show up as a failure, not a hang.
            got = list(islice(scan_by_batches(index, interval, ts, reverse, batch), len(want_all) + 1))
            assert got == want_all, (f"{name}: scan_by_batches({interval}, ts={ts}, batch={batch}, "
                                     f"reverse={reverse}) = {got}, model {want_all}")
            got = list(islice(index.scan(interval, ts, reverse), len(want_all) + 1))
            assert got == want_all, f"{name}: scan({interval}, ts={ts}, reverse={reverse}) = {got}, model {want_all}"

    @rule(index_id=INDEX_IDS, data=st.data())
    def get_document(self, index_id, data) -> None:
        key = self._key(data, index_id)
        ts = self._read_ts(data, [vts for vts, _ in self.model.open_index(index_id).versions(key)])
        value = self.model.indexes[index_id].get(key, ts)
        for name, store in self.subjects.items():
            index = store.open_index(index_id)
            if value is not None and len(value) < 8:
                try:
                    got = index.get_document(key, ts, tag_decode)
                except ValueError:
                    continue
                raise AssertionError(f"{name}: get_document({key!r}, ts={ts}) of a short value = {got!r}, not ValueError")
            want = None if value is None else (("doc", 8, value), int.from_bytes(value[:8], "big"))
            got = index.get_document(key, ts, tag_decode)
            assert got == want, f"{name}: get_document({key!r}, ts={ts}) in index {index_id} = {got!r}, model {want!r}"

    @rule(index_id=INDEX_IDS, through=st.one_of(st.none(), INDEX_IDS), reverse=st.booleans(),
          limit=st.integers(0, 5), batch=st.integers(1, 3), first=st.one_of(st.none(), st.integers(1, 3)),
          data=st.data())
    def scan_documents(self, index_id, through, reverse, limit, batch, first, data) -> None:
        """Rows resolved through another index (*through*, the by_id role) or taken as they are (None)."""
        model = self.model.open_index(index_id)
        if through is not None:
            self.model.open_index(through)  # the subjects open it too (bookkeeping_agrees compares the ids)
        interval = data.draw(intervals(), label="interval")
        ts = self._read_ts(data, [vts for versions in model.data.values() for vts, _ in versions])

        def expect(rows):
            if through is None:
                return [k for k, _ in rows], [("doc", 8, v) for _, v in rows]
            docs = []
            for _, v in rows:
                d = self.model.open_index(through).get(ref_key(v), ts)
                if d is None:
                    return RippleError
                docs.append(("doc", 8, d))
            return [k for k, _ in rows], docs

        want_limited = expect(model.scan(interval, ts, reverse, limit))
        want_all = expect(model.scan(interval, ts, reverse))
        for name, store in self.subjects.items():
            index = store.open_index(index_id)
            by_id = None if through is None else store.open_index(through)
            for want, call in [
                (want_limited, lambda: index.scan_documents(interval, ts, limit, reverse, by_id, ref_key, tag_decode_many)),
                (want_all, lambda: _concat(islice(scan_documents_by_batches(
                    index, interval, ts, reverse, by_id, ref_key, tag_decode_many, batch, first), 200))),
            ]:
                if want is RippleError:
                    try:
                        got = call()
                    except RippleError:
                        continue
                    raise AssertionError(f"{name}: scan_documents({interval}, ts={ts}, through={through}) = {got}, "
                                         "model: a row's document is missing")
                got = call()
                assert got == want, (f"{name}: scan_documents({interval}, ts={ts}, limit={limit}, reverse={reverse}, "
                                     f"through={through}, batch={batch}, first={first}) = {got}, model {want}")

    @rule(index_id=INDEX_IDS, data=st.data())
    def versions(self, index_id, data) -> None:
        key = self._key(data, index_id)
        want = self.model.open_index(index_id).versions(key)
        for name, store in self.subjects.items():
            got = store.open_index(index_id).versions(key)
            assert got == want, f"{name}: versions({key!r}) in index {index_id} = {got}, model {want}"

    @rule(key=st.sampled_from(["a", "b", "schema/0", "never"]))
    def get_meta(self, key) -> None:
        want = self.model.get_meta(key)
        for name, store in self.subjects.items():
            assert store.get_meta(key) == want, f"{name}: get_meta({key!r})"

    # -- invariants ------------------------------------------------------------------------------------

    @invariant()
    def structures_valid(self) -> None:
        for name, store in self.subjects.items():
            try:
                store.check_invariants()
            except AssertionError as exc:
                raise AssertionError(f"{name}: check_invariants failed: {exc}") from exc

    @invariant()
    def bookkeeping_agrees(self) -> None:
        for name, store in self.subjects.items():
            assert store.applied_ts() == self.model.applied_ts, f"{name}: applied_ts"
            assert store.index_ids() == self.model.index_ids(), \
                f"{name}: index_ids {store.index_ids()} != model {self.model.index_ids()}"


def _concat(batches) -> tuple[list, list]:
    keys: list = []
    docs: list = []
    for k, d in batches:
        assert k, "scan_documents_by_batches yielded an empty batch"
        keys += k
        docs += d
    return keys, docs


def make_machine(factories: list[SubjectFactory], name: str = "IndexMachine") -> type[IndexMachine]:
    """A concrete ``IndexMachine`` over *factories*."""
    return type(name, (IndexMachine,), {"SUBJECTS": list(factories)})


DefaultIndexMachine = make_machine(subject_factories(), "DefaultIndexMachine")
TestIndexMachine = DefaultIndexMachine.TestCase
TestIndexMachine.settings = settings(stateful_step_count=40)
