"""The C benchmark functions (udf_wasm/guests/c/bench) in the core host against their Python twins in the
reference host: on identical databases (memory and lmdb persistence) every call gives the same value or
error, the same read set, the same write set and the same log lines, and the final states are equal
(hypothesis-generated states and calls). Plus the invariants each workload promises.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.functions import FunctionsConfig
from engine.model.errors import ConvexError, RippleError
from engine.model.values import values_equal

from tests.functions.conftest import open_db

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "udf_wasm" / "guests" / "c" / "bench"
FIELDS = [f"field{i}" for i in range(10)]
PERSISTENCE = ["memory", "lmdb"]
# A fifth of the profile's examples: each example opens two databases and deploys two apps.
EXAMPLES = max(8, settings.default.max_examples // 5)


@pytest.fixture(scope="module")
def core_config(tmp_path_factory) -> FunctionsConfig:
    return FunctionsConfig(cache_dir=str(tmp_path_factory.mktemp("core-cache")))


class Twins:
    """Two identical databases: the C functions run on one (host "core"), the Python twins on the other."""

    def __init__(self, persistence: str, tmp: Path, config: FunctionsConfig) -> None:
        self.dbs = [open_db(tmp / f"{name}-{persistence}" if persistence != "memory" else None,
                            persistence=persistence) for name in ("c", "py")]
        self.apps = [self.dbs[0].deploy(BENCH, host="core", config=config),
                     self.dbs[1].deploy(BENCH, host="reference", config=config)]

    def seed(self, fn) -> list:
        out = [d.mutate(fn) for d in self.dbs]
        assert out[0] == out[1]
        return out[0]

    def run(self, path: str, args: dict) -> tuple:
        c, py = (outcome(app, path, args) for app in self.apps)
        assert same(c, py), f"{path} {args}:\n core:      {c}\n reference: {py}"
        return c

    def state(self, table: str) -> list[list[dict]]:
        states = [d.read(lambda tx: tx.query(table).collect()) for d in self.dbs]
        assert len(states[0]) == len(states[1]) and all(values_equal(a, b) for a, b in zip(*states))
        return states[0]

    def close(self) -> None:
        for a in self.apps:
            a.close()
        for d in self.dbs:
            d.check_invariants()
            d.close()


def outcome(app, path: str, args: dict) -> tuple:
    try:
        r = app.run(path, args)
    except ConvexError as exc:
        return ("convex", exc.data, exc.logs)
    except RippleError as exc:
        return ("error", getattr(exc, "code", type(exc).__name__), str(exc), getattr(exc, "logs", []))
    return ("ok", r.value, r.logs, r.ts, r.read_intervals, r.writes, [a.verdict for a in r.attempts])


def same(a: tuple, b: tuple) -> bool:
    if a[0] != b[0] or len(a) != len(b):
        return False
    return all(values_equal(x, y) if i == 1 else x == y for i, (x, y) in enumerate(zip(a, b)))


@pytest.fixture(params=PERSISTENCE)
def persistence(request) -> str:
    return request.param


# ---- examples: each function, its result, read set and write set -----------------------------------


def _record(key: float, tag: str = "v") -> dict:
    return {"key": key, **{f: f"{tag}{i}" for i, f in enumerate(FIELDS)}}


def test_each_bench_function_in_both_hosts(persistence, tmp_path, core_config):
    t = Twins(persistence, tmp_path, core_config)
    try:
        ids = [t.seed(lambda tx, k=k: tx.insert("usertable", _record(float(k)))) for k in range(8)]
        r = t.run("ycsb:read", {"id": ids[3]})
        assert r[0] == "ok" and r[1]["key"] == 3.0 and list(r[4]) == ["usertable.by_id"] and r[5] == []
        assert t.run("ycsb:read", {"id": "not an id"})[1] == "InvalidIdError"

        r = t.run("ycsb:update", {"id": ids[2], "field": "field4", "value": 'new "quoted" \\ value ✓'})
        assert r[1] is None and r[5] == [("update", "usertable", ids[2])]
        assert t.dbs[0].read(lambda tx: tx.get(ids[2]))["field4"] == 'new "quoted" \\ value ✓'

        r = t.run("ycsb:scan", {"start": 2.5, "count": 3.0})
        assert [d["key"] for d in r[1]] == [3.0, 4.0, 5.0] and "usertable.by_key" in r[4]
        assert [d["key"] for d in t.run("ycsb:scan", {"start": 6.0, "count": 100.0})[1]] == [6.0, 7.0]
        assert t.run("ycsb:scan", {"start": 0.0, "count": 0.0})[1] == "Uncaught"

        r = t.run("ycsb:rmw", {"id": ids[5], "field": "field1", "suffix": "+\n"})
        assert r[1] == "v1+\n" and r[5] == [("update", "usertable", ids[5])]
        assert t.run("ycsb:rmw", {"id": ids[5], "field": "nope", "suffix": "x"})[1] == "SchemaValidationError"

        a = t.run("bank:open", {"owner": "ann", "balance": 100.0})[1]
        b = t.run("bank:open", {"owner": "bob", "balance": 5.0})[1]
        r = t.run("bank:transfer", {"from": a, "to": b, "amount": 30.0})
        assert r[1] == 70.0 and r[5] == [("update", "accounts", a), ("update", "accounts", b)]
        assert t.run("bank:transfer", {"from": b, "to": a, "amount": 36.0})[:2] == ("convex", "insufficient funds")
        assert t.run("bank:transfer", {"from": a, "to": "bogus", "amount": 1.0})[1] == "InvalidIdError"

        gone = t.seed(lambda tx: tx.insert("users", {"name": "gone"}))
        t.seed(lambda tx: tx.delete(gone))
        r = t.run("overhead:get_and_insert", {"a": ids[0], "b": gone})
        assert r[0] == "ok" and r[5] == [("insert", "events", r[1])]
        assert {k: v for k, v in t.dbs[0].read(lambda tx: tx.get(r[1])).items() if k in "ab"} == {"a": True, "b": False}
        assert t.run("overhead:noop", {})[1] is None
        for table in ("usertable", "accounts", "events"):
            t.state(table)
    finally:
        t.close()


# ---- differential: hypothesis-generated states and calls -------------------------------------------

texts = st.text(alphabet=st.sampled_from('ab"\\\n✓é😀 '), max_size=6)
keys = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
fields = st.sampled_from([*FIELDS[:3], "key", "bogus"])
refs = st.integers(0, 12)  # an index into the records; past the end: a deleted record or a bad id

ycsb_calls = st.one_of(
    st.builds(lambda i: ("ycsb:read", {"id": i}), refs),
    st.builds(lambda i, f, v: ("ycsb:update", {"id": i, "field": f, "value": v}), refs, fields, texts),
    st.builds(lambda s, n: ("ycsb:scan", {"start": s, "count": float(n)}), keys, st.integers(0, 101)),
    st.builds(lambda s, n: ("ycsb:scan", {"start": s, "count": n}), keys, st.floats(0, 101, allow_nan=False)),
    st.builds(lambda i, f, v: ("ycsb:rmw", {"id": i, "field": f, "suffix": v}), refs, fields, texts),
)


def _resolve(args: dict, ids: list[str], gone: str) -> dict:
    """Record references: an index into ids; one past the end: a deleted record; further: a bad id."""
    out = dict(args)
    if "id" in out:
        i = out["id"]
        out["id"] = ids[i] if i < len(ids) else gone if i == len(ids) else f"bogus-{i}"
    return out


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.tuples(keys, texts), max_size=10), steps=st.lists(ycsb_calls, min_size=1, max_size=10))
def test_ycsb_c_and_python_agree(persistence, tmp_path_factory, core_config, records, steps):
    t = Twins(persistence, tmp_path_factory.mktemp("ycsb"), core_config)
    try:
        ids = [t.seed(lambda tx, k=k, v=v: tx.insert("usertable", _record(k, v))) for k, v in records]
        gone = t.seed(lambda tx: tx.insert("usertable", _record(0.0)))
        t.seed(lambda tx: tx.delete(gone))
        for path, args in steps:
            t.run(path, _resolve(args, ids, gone))
        t.state("usertable")
    finally:
        t.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
@given(balances=st.lists(st.integers(0, 1000), min_size=1, max_size=5),
       transfers=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(-5, 1200)), max_size=12))
def test_bank_c_and_python_agree_and_conserve_money(persistence, tmp_path_factory, core_config, balances, transfers):
    t = Twins(persistence, tmp_path_factory.mktemp("bank"), core_config)
    try:
        ids = [t.run("bank:open", {"owner": f"o{i}", "balance": float(b)})[1] for i, b in enumerate(balances)]
        gone = t.seed(lambda tx: tx.insert("accounts", {"owner": "gone", "balance": 1.0}))
        t.seed(lambda tx: tx.delete(gone))
        for src, dst, amount in transfers:
            pick = lambda i: ids[i] if i < len(ids) else gone  # noqa: E731
            t.run("bank:transfer", {"from": pick(src), "to": pick(dst), "amount": float(amount)})
        accounts = t.state("accounts")
        assert sum(a["balance"] for a in accounts) == float(sum(balances))
        assert all(a["balance"] >= 0 for a in accounts)
    finally:
        t.close()


def test_concurrent_transfers_retry_and_conserve_money(tmp_path, core_config):
    """Mutations in the core host re-run on OCC conflicts (fresh sandbox per attempt): two threads moving
    money between three accounts never create or destroy any."""
    import threading

    db = open_db()
    app = db.deploy(BENCH, host="core", config=core_config)
    try:
        ids = [app.run("bank:open", {"owner": f"o{i}", "balance": 100.0}).value for i in range(3)]
        attempts: list[int] = []

        def worker(offset: int) -> None:
            for k in range(25):
                src, dst = ids[(k + offset) % 3], ids[(k + offset + 1) % 3]
                try:
                    attempts.append(len(app.run("bank:transfer", {"from": src, "to": dst, "amount": 7.0}).attempts))
                except ConvexError:
                    pass

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        total = db.read(lambda tx: sum(tx.get(i)["balance"] for i in ids))
        assert total == 300.0 and attempts and min(attempts) >= 1
    finally:
        app.close()
        db.close()
