"""Serializability oracle: run interleaved transactions against a real database, then prove the
committed history equals a serial execution in commit-timestamp order, and that no abort was needless.

Who may call it: tests (``tests/system/test_serializability.py``, the OCC mutants) and experiments that
want an exactness check. Not engine code.

How it works. Each transaction is a small deterministic *program* over a key domain of a few documents
in table ``kv`` (fields ``k`` - indexed by ``by_k`` - and ``v``). Every operation produces an
*observation* (what it read, or whether the document it wanted to write existed); writes are functions
of the observations so far. A schedule interleaves begin / operation / commit steps of several programs
on real ``Transaction`` objects. Afterwards the oracle replays the committed programs serially, in
commit order, on a plain-dict model: every replayed observation must equal the recorded one (so each
committed transaction saw a state some serial order produces), and the final model must equal the
database (so no committed write was lost).

The oracle is two-sided. Serializability alone is passed by a committer that aborts every contended
transaction, so every aborted attempt is also audited from public records only - its ``AttemptRecord``
(begin ts, read intervals per index display name) and ``db.log()``: an abort is *real* when some commit
in ``(begin_ts, attempted ts]`` changed an index key (old or new key of a written document) inside one of
its read intervals; otherwise it is a *false abort*. Exact range OCC claims zero false aborts; the one
documented exception (``engine.txn.committer``) is a conflict with a same-batch commit whose durable write
then failed - that commit never reaches the log, so the caller that injected persist failures passes a
matching ``max_false_aborts``. ``TOO_OLD`` is a false abort too unless the caller allows it (it happens
only when the snapshot left the write window, which the fake-clock runs here never do).

Separately, an aborted program is re-run on the serial model: if its observations would have been
unchanged, the abort was a *semantic* false conflict (a key-level conflict whose write did not change
what the program saw, e.g. a value rewritten to itself). That is allowed - OCC tracks keys, not values -
and only reported as a metric.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from engine import encoding
from engine.conflict.base import ConflictInfo, Verdict
from engine.database import AttemptRecord

TABLE = "kv"
INDEX = "by_k"
KEYS = 4

#: Index display name -> the fields its key holds before the trailing document id, for every index of
#: ``kv`` (``by_id`` keys hold the id alone; user indexes end with ``_creationTime``, as in Convex).
KV_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    f"{TABLE}.by_id": (),
    f"{TABLE}.by_creation_time": ("_creationTime",),
    f"{TABLE}.{INDEX}": ("k", "_creationTime"),
}


@dataclass
class TxnRun:
    program: list[tuple]
    begin_ts: int = 0
    observations: list[Any] = field(default_factory=list)
    insert_ids: list[str] = field(default_factory=list)
    verdict: Verdict | None = None
    commit_ts: int | None = None
    has_writes: bool = False
    commits_before: int = 0  # how many transactions had committed when this one tried to
    #: Newest published commit when this transaction asked to commit. The schedule is single-threaded, so
    #: the commits in (begin_ts, ts it tried] are exactly those in (begin_ts, window_end].
    window_end: int = 0
    attempt: AttemptRecord | None = None


@dataclass(frozen=True)
class AbortAudit:
    """The verdict of the false-abort audit on one aborted attempt.

    ``evidence`` is the first overlapping write found - (commit ts, index display name, document id) - or
    None when no commit in ``(begin_ts, window_end]`` touched a read interval (a false abort)."""

    begin_ts: int
    window_end: int
    verdict: Verdict
    evidence: tuple[int, str, str] | None
    claimed: ConflictInfo | None

    @property
    def real(self) -> bool:
        return self.evidence is not None


@dataclass
class OracleReport:
    committed: int
    aborted: int
    false_conflicts: int          # semantic: the serial model says the program would have seen the same
    false_aborts: int = 0         # key-level: no write in the attempt's window overlapped its read set
    audits: list[AbortAudit] = field(default_factory=list)


# ---- programs ---------------------------------------------------------------------------------------

def program_strategy(slots: int = 4, max_ops: int = 5):
    """A hypothesis strategy for one program."""
    from hypothesis import strategies as st

    k = st.integers(0, KEYS - 1)
    slot = st.integers(0, slots - 1)
    c = st.integers(0, 9)
    op = st.one_of(
        st.tuples(st.just("get"), slot),
        st.tuples(st.just("range"), k, st.integers(1, KEYS)).map(lambda t: (t[0], t[1], t[1] + t[2])),
        st.tuples(st.just("take"), k, st.integers(1, 2)),
        st.tuples(st.just("set"), slot, c),
        st.tuples(st.just("move"), slot, k),
        st.tuples(st.just("del"), slot),
        st.tuples(st.just("ins"), k, c),
    )
    return st.lists(op, min_size=1, max_size=max_ops)


def _acc(observations: list[Any]) -> int:
    total = 0
    for ob in observations:
        if isinstance(ob, int) and not isinstance(ob, bool):
            total += ob
        elif isinstance(ob, list):
            total += sum(v for _, v in ob)
    return total


def run_op_real(tx, op: tuple, slots: list[str], run: TxnRun) -> None:
    kind = op[0]
    obs = run.observations
    if kind == "get":
        doc = tx.get(slots[op[1]])
        obs.append(None if doc is None else doc["v"])
    elif kind == "range":
        docs = tx.query(TABLE).with_index(INDEX, lambda q: q.gte("k", op[1]).lt("k", op[2])).collect()
        obs.append([(d["k"], d["v"]) for d in docs])
    elif kind == "take":
        docs = tx.query(TABLE).with_index(INDEX, lambda q: q.gte("k", op[1])).take(op[2])
        obs.append([(d["k"], d["v"]) for d in docs])
    elif kind in ("set", "move", "del"):
        doc = tx.get(slots[op[1]])
        obs.append(doc is not None)
        if doc is not None:
            run.has_writes = True
            if kind == "set":
                tx.patch(doc["_id"], {"v": (_acc(obs) + op[2]) % 97})
            elif kind == "move":
                tx.patch(doc["_id"], {"k": op[2]})
            else:
                tx.delete(doc["_id"])
    elif kind == "ins":
        run.has_writes = True
        run.insert_ids.append(tx.insert(TABLE, {"k": op[1], "v": (_acc(obs) + op[2]) % 97}))
        obs.append("ins")
    else:  # pragma: no cover
        raise ValueError(op)


def run_program_model(state: dict[str, dict], program: list[tuple], slots: list[str], insert_ids: list[str],
                      creation: dict[str, float]) -> tuple[list[Any], dict[str, dict]]:
    """Execute *program* on a copy of *state*; return (observations, new state)."""
    st = {k: dict(v) for k, v in state.items()}
    obs: list[Any] = []
    inserts = iter(insert_ids)

    def ordered(lo: int, hi: int | None) -> list[dict]:
        docs = [d for d in st.values() if d["k"] >= lo and (hi is None or d["k"] < hi)]
        return sorted(docs, key=lambda d: (d["k"], d["_creationTime"], d["_id"]))

    for op in program:
        kind = op[0]
        if kind == "get":
            d = st.get(slots[op[1]])
            obs.append(None if d is None else d["v"])
        elif kind == "range":
            obs.append([(d["k"], d["v"]) for d in ordered(op[1], op[2])])
        elif kind == "take":
            obs.append([(d["k"], d["v"]) for d in ordered(op[1], None)[: op[2]]])
        elif kind in ("set", "move", "del"):
            d = st.get(slots[op[1]])
            obs.append(d is not None)
            if d is not None:
                if kind == "set":
                    d["v"] = (_acc(obs) + op[2]) % 97
                elif kind == "move":
                    d["k"] = op[2]
                else:
                    del st[d["_id"]]
        elif kind == "ins":
            new_id = next(inserts)
            st[new_id] = {"_id": new_id, "_creationTime": creation[new_id], "k": op[1], "v": (_acc(obs) + op[2]) % 97}
            obs.append("ins")
    return obs, st


# ---- running a schedule --------------------------------------------------------------------------

def seed_database(db, slots: int = 4) -> list[str]:
    """Install the ``kv`` schema (index ``by_k`` on ``k``) and insert *slots* documents; their ids."""
    from engine.model.validators import v
    from engine.model.schema import define_schema, define_table

    db.set_schema(define_schema({TABLE: define_table({"k": v.int64(), "v": v.int64()}).index(INDEX, ["k"])}))
    return db.mutate(lambda tx: [tx.insert(TABLE, {"k": i % KEYS, "v": i}) for i in range(slots)], name="seed")


def run_schedule(db, slot_ids: list[str], programs: list[list[tuple]], schedule: list[int]) -> list[TxnRun]:
    """Interleave the programs: the n-th appearance of i in *schedule* is step n of transaction i
    (begin, then each operation, then commit). Each transaction commits once, without retry."""
    runs = [TxnRun(p) for p in programs]
    txs: list[Any] = [None] * len(programs)
    step = [0] * len(programs)
    committed = 0
    for i in schedule:
        run, s = runs[i], step[i]
        step[i] += 1
        if s == 0:
            txs[i] = db.begin(writer=f"t{i}")
            run.begin_ts = txs[i].begin_ts
        elif s <= len(run.program):
            run_op_real(txs[i], run.program[s - 1], slot_ids, run)
        else:
            run.commits_before = committed
            run.window_end = db.latest_ts()
            outcome = db.commit(txs[i])
            run.verdict, run.commit_ts = outcome.verdict, outcome.ts
            run.attempt = attempt_record(txs[i], outcome)
            if outcome.verdict is Verdict.COMMIT and txs[i].has_writes():
                committed += 1
    return runs


def attempt_record(tx, outcome) -> AttemptRecord:
    """The public ``AttemptRecord`` of one explicitly committed transaction (as ``run_mutation`` records
    each attempt): the only place this oracle looks at a transaction's read set."""
    return AttemptRecord(tx.begin_ts, outcome.verdict, outcome.ts, outcome.conflict, tx.read_set.intervals(),
                         tx.write_set())


def written_keys(log: Iterable[Any], key_fields: Mapping[str, tuple[str, ...]]) -> list[tuple[int, str, bytes, str]]:
    """Every index key each logged commit changed, as (commit ts, index display name, key, document id),
    in log order. A document write changes its old and its new key in every index of its table (changed
    or not: a reader of an unchanged key still saw the document change). *log* must start at the first
    commit (``db.log()``), because old documents are tracked by replaying it. Keys use the reference codec;
    the twins produce identical bytes (tests/differential). Cost O(log writes x indexes)."""
    docs: dict[str, dict | None] = {}
    out: list[tuple[int, str, bytes, str]] = []
    for entry in log:
        for w in entry.writes:
            old = docs.get(w.id)
            for index, fields in key_fields.items():
                if index.split(".", 1)[0] != w.table:
                    continue
                for doc in (old, w.value):
                    if doc is not None:
                        out.append((int(entry.ts), index, encoding.index_key_for_document(doc, fields, w.id), w.id))
            docs[w.id] = w.value
    return out


def audit_aborts(db, aborts: Sequence[tuple[AttemptRecord, int]],
                 key_fields: Mapping[str, tuple[str, ...]] = KV_KEY_FIELDS) -> list[AbortAudit]:
    """Judge each aborted attempt ``(record, window_end)`` from public records: real iff some commit with
    ``record.begin_ts < ts <= window_end`` in ``db.log()`` wrote a key inside one of the attempt's read
    intervals. *window_end* is the commit ts the attempt tried, or any published ts between the newest
    commit below it and it (the newest commit before the attempt, in a single-threaded schedule); a later
    one only makes the audit more lenient. Also checks that a CONFLICT's attribution names a commit of the
    window that wrote the named document. Raises ValueError for a read of an index *key_fields* lacks
    (the audit cannot judge it) and AssertionError for a false attribution. Cost O(log keys x aborts)."""
    writes = written_keys(db.log(), key_fields)
    audits: list[AbortAudit] = []
    for rec, end in aborts:
        if rec.verdict is Verdict.COMMIT:
            raise ValueError("audit_aborts takes aborted attempts only")
        unknown = set(rec.read_set) - set(key_fields)
        if unknown:
            raise ValueError(f"cannot audit reads of {sorted(unknown)}: their key fields are not given")
        evidence = None
        for ts, index, key, doc_id in writes:
            if rec.begin_ts < ts <= end and any(iv.contains(key) for iv in rec.read_set.get(index, ())):
                evidence = (ts, index, doc_id)
                break
        if rec.conflict is not None:
            claim = rec.conflict
            if not (rec.begin_ts < claim.ts <= end and any(ts == claim.ts and d == claim.document_id
                                                            for ts, _, _, d in writes)):
                raise AssertionError(
                    f"false attribution: the attempt at snapshot {rec.begin_ts} (window end {end}) blames a write "
                    f"of {claim.document_id} at {claim.ts}, which the log does not hold in its window")
        audits.append(AbortAudit(int(rec.begin_ts), int(end), rec.verdict, evidence, rec.conflict))
    return audits


def check_false_aborts(audits: Sequence[AbortAudit], max_false_aborts: int = 0, *, allow_too_old: bool = False) -> int:
    """Raise AssertionError (with the evidence) when more than *max_false_aborts* audited aborts are false.
    ``TOO_OLD`` aborts count as false unless *allow_too_old*. Returns the number of false aborts."""
    false = [a for a in audits if not a.real and not (allow_too_old and a.verdict is Verdict.TOO_OLD)]
    if len(false) > max_false_aborts:
        shown = "; ".join(f"{a.verdict.value} at snapshot {a.begin_ts} with no overlapping write in "
                          f"({a.begin_ts}, {a.window_end}] (claimed: {a.claimed})" for a in false[:3])
        raise AssertionError(f"{len(false)} false aborts (bound {max_false_aborts}): {shown}")
    return len(false)


def check_serializable(db, slot_ids: list[str], runs: list[TxnRun], seed_ts: int, *,
                       max_false_aborts: int = 0) -> OracleReport:
    """Raise AssertionError (with the evidence) unless the committed history is serializable and at most
    *max_false_aborts* aborts were false (zero for exact OCC; see the module docstring)."""
    creation: dict[str, float] = {}
    for r in runs:
        for new_id in r.insert_ids:
            hist = db.history(new_id)
            if hist:
                creation[new_id] = hist[0].value["_creationTime"]
    state = {d["_id"]: d for d in db.read(lambda tx: tx.query(TABLE).collect(), at=seed_ts)}
    writers = sorted((r for r in runs if r.verdict is Verdict.COMMIT and r.commit_ts != r.begin_ts),
                     key=lambda r: r.commit_ts)
    readers = [r for r in runs if r.verdict is Verdict.COMMIT and r.commit_ts == r.begin_ts]
    # Serial order: writers by commit ts; a read-only transaction sits right after the last commit its
    # snapshot includes.
    states_after: list[tuple[int, dict]] = [(seed_ts, state)]
    for r in writers:
        obs, state = run_program_model(state, r.program, slot_ids, r.insert_ids, creation)
        if obs != r.observations:
            raise AssertionError(
                f"not serializable: transaction {r.program} committed at {r.commit_ts} (snapshot {r.begin_ts}) "
                f"observed {r.observations} but the serial order gives {obs}")
        states_after.append((r.commit_ts, state))
    for r in readers:
        snap = [s for ts, s in states_after if ts <= r.begin_ts][-1]
        obs, _ = run_program_model(snap, r.program, slot_ids, r.insert_ids, creation)
        if obs != r.observations:
            raise AssertionError(
                f"read-only transaction {r.program} at {r.begin_ts} observed {r.observations}; serial state gives {obs}")
    actual = {d["_id"]: d for d in db.read(lambda tx: tx.query(TABLE).collect())}
    if actual != state:
        raise AssertionError(f"lost or phantom writes: database {actual} != serial model {state}")
    false_conflicts = 0
    aborted = [r for r in runs if r.verdict is not Verdict.COMMIT]
    for r in aborted:
        _, snap = states_after[min(r.commits_before, len(states_after) - 1)]
        obs, _ = run_program_model(snap, r.program, slot_ids, [f"x{i}" for i in range(len(r.insert_ids))],
                                   {f"x{i}": float("inf") for i in range(len(r.insert_ids))})
        if obs == r.observations:
            false_conflicts += 1
    audits = audit_aborts(db, [(r.attempt, r.window_end) for r in aborted])
    false_aborts = check_false_aborts(audits, max_false_aborts)
    return OracleReport(len(writers) + len(readers), len(aborted), false_conflicts, false_aborts, audits)
