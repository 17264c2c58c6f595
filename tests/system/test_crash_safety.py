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

CHILD = textwrap.dedent("""
    import sys, threading
    import engine
    path, persistence, index, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    db = engine.open_database(path, persistence=persistence, index=index, max_retries=50)
    out = threading.Lock()

    def body(tx, n):
        tx.insert("pairs", {"n": n, "half": 0})
        tx.insert("pairs", {"n": n, "half": 1})
        c = tx.query("counter").first()
        if c is None:
            tx.insert("counter", {"count": 1})
        else:
            tx.patch(c["_id"], {"count": c["count"] + 1})

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
""")


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
