"""Crash safety: a child process commits in a loop and is SIGKILLed; on reopen every acknowledged
commit is there, no partial commit is visible, and the indexes agree with the log."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import engine

#: The mutation both children run: two halves of a pair and a counter of pairs, in one transaction.
PAIR_BODY = textwrap.dedent("""\
    def body(tx, n):
        tx.insert("pairs", {"n": n, "half": 0})
        tx.insert("pairs", {"n": n, "half": 1})
        c = tx.query("counter").first()
        if c is None:
            tx.insert("counter", {"count": 1})
        else:
            tx.patch(c["_id"], {"count": c["count"] + 1})
""")

CHILD = textwrap.dedent("""
    import sys, threading
    import engine
    path, persistence, index, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    db = engine.open_database(path, persistence=persistence, index=index)
    out = threading.Lock()

    {body}

    def work(t):
        i = 0
        while True:
            n = t * 1_000_000 + i
            db.mutate(body, n, name="pair")
            with out:
                sys.stdout.write(f"ack {n}\\n")
                sys.stdout.flush()
            i += 1

    with out:
        sys.stdout.write("ready\\n"); sys.stdout.flush()
    ts = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()
""").replace("{body}\n", PAIR_BODY)


@pytest.mark.parametrize("persistence,index,threads", [
    ("lmdb", "lmdb-btree", 3),
    ("lmdb", "mem-btree", 1),
    ("sqlite", "lmdb-btree", 2),
    ("sqlite", "mem-btree", 1),
])
def test_sigkill_loses_no_acknowledged_commit_and_exposes_no_partial_one(tmp_path, persistence, index, threads):
    path = tmp_path / "db"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), persistence, index, str(threads)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    acked: list[int] = []
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        while len(acked) < 40:
            line = child.stdout.readline()
            assert line, f"child died early: {child.stderr.read()}"
            acked.append(int(line.split()[1]))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    with engine.open_database(path, persistence=persistence, index=index) as db:
        docs = db.read(lambda tx: tx.query("pairs").collect())
        halves: dict[int, list[int]] = {}
        for d in docs:
            halves.setdefault(d["n"], []).append(d["half"])
        missing = [n for n in acked if sorted(halves.get(n, [])) != [0, 1]]
        assert not missing, f"acknowledged commits lost: {missing[:5]}"
        partial = {n: h for n, h in halves.items() if sorted(h) != [0, 1]}
        assert not partial, f"partial commits visible: {partial}"
        counter = db.read(lambda tx: tx.query("counter").collect())
        assert len(counter) == 1 and counter[0]["count"] == len(halves)
        report = db.verify()
        assert report.ok, report.problems
        db.check_invariants()
        # and the database keeps working after recovery
        db.mutate(lambda tx: tx.insert("pairs", {"n": -1, "half": 0}))


STORM_CHILD = textwrap.dedent("""
    import sys, threading
    import engine
    from engine import define_schema, define_table, v
    path, persistence, run = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fields = {"n": v.int64(), "half": v.int64()}
    SCHEMAS = [define_schema({"pairs": define_table(fields).index("by_n", ["n"])}),
               define_schema({"pairs": define_table(fields).index("by_n", ["n", "half"]).index("by_half", ["half"])})]
    db = engine.open_database(path, persistence=persistence)
    out = threading.Lock()

    def say(line):
        with out:
            sys.stdout.write(line + "\\n"); sys.stdout.flush()

    {body}

    def work(t):
        i = 0
        while True:
            n = run * 1_000_000 + t * 10_000 + i
            db.mutate(body, n, name="pair")
            say(f"ack {n}")
            i += 1

    def schemas():
        k = 0
        while True:
            say(f"schema {db.set_schema(SCHEMAS[k % 2])}")
            k += 1

    say("ready")
    ts = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(2)]
    ts.append(threading.Thread(target=schemas, daemon=True))
    for t in ts: t.start()
    for t in ts: t.join()
""").replace("{body}\n", PAIR_BODY)


@pytest.mark.parametrize("persistence", ["lmdb", "sqlite"])
def test_sigkill_during_schema_changes_under_a_commit_storm(tmp_path, persistence):
    """Kill -9 a process that commits and changes the schema concurrently, many times over one data
    folder: every acknowledged commit and schema change survives, nothing is half-applied, verify()
    passes after every reopen. ``RIPPLE_CRASH_KILLS`` sets the number of kills (``make crash-campaign``
    runs 50 per strategy; ``make test`` a few)."""
    import random

    kills = int(os.environ.get("RIPPLE_CRASH_KILLS", "4"))
    rng = random.Random(f"storm:{persistence}")
    path = tmp_path / "db"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    acked: list[int] = []
    acked_schema_changes: set[int] = set()   # commit timestamps of acknowledged schema changes
    for run in range(kills):
        child = subprocess.Popen([sys.executable, "-c", STORM_CHILD, str(path), persistence, str(run)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
            want, seen = rng.randint(1, 40), 0
            while seen < want:
                line = child.stdout.readline()
                assert line, f"child died early: {child.stderr.read()}"
                kind, value = line.split()
                if kind == "ack":
                    acked.append(int(value))
                elif value != "None":           # None: the schema was already in force, no commit
                    acked_schema_changes.add(int(value))
                seen += 1
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            child.stdout.close()
            child.stderr.close()
        with engine.open_database(path, persistence=persistence) as db:
            docs = db.read(lambda tx: tx.query("pairs").collect())
            halves: dict[int, list[int]] = {}
            for d in docs:
                halves.setdefault(d["n"], []).append(d["half"])
            missing = [n for n in acked if sorted(halves.get(n, [])) != [0, 1]]
            assert not missing, f"run {run}: acknowledged commits lost: {missing[:5]}"
            partial = {n: h for n, h in halves.items() if sorted(h) != [0, 1]}
            assert not partial, f"run {run}: partial commits visible: {partial}"
            counter = db.read(lambda tx: tx.query("counter").collect())
            assert len(counter) == 1 and counter[0]["count"] == len(halves)
            changes = {e.ts for e in db.log() if e.catalog is not None}
            lost = acked_schema_changes - changes
            assert not lost, f"run {run}: acknowledged schema changes lost: {sorted(lost)[:5]}"
            # The catalog and the schema are one record: the indexes are exactly those the schema lists.
            indexes = set(db.catalog.table("pairs").indexes) - {"by_id", "by_creation_time"}
            assert db.schema is not None and indexes == {d.name for d in db.schema.indexes("pairs")}
            report = db.verify()
            assert report.ok, (run, report.problems)
            db.check_invariants()
