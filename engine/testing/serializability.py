"""Serializability oracle: run interleaved transactions against a real database, then prove the
committed history equals a serial execution in commit-timestamp order.

Who may call it: tests (``tests/system/test_serializability.py``, the OCC mutants) and experiments that
want an exactness check. Not engine code.

How it works. Each transaction is a small deterministic *program* over a key domain of a few documents
in table ``kv`` (fields ``k`` - indexed by ``by_k`` - and ``v``). Every operation produces an
*observation* (what it read, or whether the document it wanted to write existed); writes are functions
of the observations so far. A schedule interleaves begin / operation / commit steps of several programs
on real ``Transaction`` objects. Afterwards the oracle replays the committed programs serially, in
commit order, on a plain-dict model: every replayed observation must equal the recorded one (so each
committed transaction saw a state some serial order produces), and the final model must equal the
database (so no committed write was lost). Aborted transactions are re-run on the model at the point
they tried to commit; if their observations would have been unchanged, the abort was a *false conflict*
(allowed - OCC is conservative - and reported as a metric).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.conflict.base import Verdict

TABLE = "kv"
INDEX = "by_k"
KEYS = 4


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


@dataclass
class OracleReport:
    committed: int
    aborted: int
    false_conflicts: int


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
            outcome = db.commit(txs[i])
            run.verdict, run.commit_ts = outcome.verdict, outcome.ts
            if outcome.verdict is Verdict.COMMIT and txs[i].has_writes():
                committed += 1
    return runs


def check_serializable(db, slot_ids: list[str], runs: list[TxnRun], seed_ts: int) -> OracleReport:
    """Raise AssertionError (with the evidence) unless the committed history is serializable."""
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
    return OracleReport(len(writers) + len(readers), len(aborted), false_conflicts)
