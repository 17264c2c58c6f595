"""Differential: the same calls on identical databases in the reference host and the wasm host give the
same results, errors, logs, read sets, write sets and timestamps (hypothesis-generated states and calls).
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.model.errors import ConvexError, RippleError
from engine.model.values import values_equal

from tests.functions.conftest import KITCHEN, functions_config, open_db

channels = st.sampled_from(["a", "b"])
authors = st.sampled_from(["ada", "bob"])
bodies = st.one_of(st.text(max_size=12), st.just("!bang"))
floats = st.floats(min_value=-5, max_value=5, allow_nan=False).map(lambda x: round(x, 1))

calls = st.one_of(
    st.builds(lambda c, a, b, n: ("messages:send", {"channel": c, "author": a, "body": b, **({} if n is None else {"n": n})}),
              channels, authors, bodies, st.none() | floats),
    st.builds(lambda c, k: ("messages:recent", {"channel": c, "limit": float(k)}), channels, st.integers(0, 5)),
    st.builds(lambda c, lo, hi: ("messages:between", {"channel": c, "lo": lo, "hi": hi}), channels, floats, floats),
    st.builds(lambda a: ("messages:by_author_filtered", {"author": a}), authors),
    st.builds(lambda k: ("messages:page", {"cursor": None, "n": float(k)}), st.integers(1, 4)),
    st.builds(lambda i: ("messages:get", {"id": i}), st.sampled_from(["@0", "@1", "bogus"])),
    st.builds(lambda i, b: ("messages:edit", {"id": i, "body": b}), st.sampled_from(["@0", "@1"]), bodies),
    st.builds(lambda c: ("messages:clear", {"channel": c}), channels),
    st.builds(lambda nm: ("messages:bump", {"name": nm}), st.sampled_from(["x", "y"])),
    st.just(("messages:dice", {})),
)


def outcome(app, ids, path, args):
    args = {k: (ids[int(v[1:])] if isinstance(v, str) and v.startswith("@") and v[1:].isdigit() and int(v[1:]) < len(ids)
                else v) for k, v in args.items()}
    try:
        r = app.run(path, args)
    except ConvexError as exc:
        return ("convex", exc.data, exc.logs)
    except RippleError as exc:
        return ("error", getattr(exc, "code", type(exc).__name__), str(exc), getattr(exc, "logs", []))
    if path == "messages:send":
        ids.append(r.value)
    return ("ok", r.value, r.logs, r.ts, r.read_intervals, r.writes, [a.verdict for a in r.attempts])


def same(a, b) -> bool:
    if a[0] != b[0] or len(a) != len(b):
        return False
    return all(values_equal(x, y) if i == 1 else x == y for i, (x, y) in enumerate(zip(a, b)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(calls, min_size=1, max_size=12))
def test_reference_and_wasm_hosts_agree(steps):
    dbs = [open_db(), open_db()]
    apps = [dbs[0].deploy(KITCHEN, host="reference", config=functions_config()),
            dbs[1].deploy(KITCHEN, host="wasm", config=functions_config(prewarm=0))]
    ids: list[list[str]] = [[], []]
    try:
        for path, args in steps:
            ref, wasm = (outcome(app, ids[i], path, args) for i, app in enumerate(apps))
            assert same(ref, wasm), f"{path} {args}:\n reference: {ref}\n wasm:      {wasm}"
        for d in dbs:
            d.check_invariants()
    finally:
        for a in apps:
            a.close()
        for d in dbs:
            d.close()


@pytest.mark.parametrize("path,args", [("messages:dice", {}), ("messages:recent", {"channel": "a", "limit": 3.0})])
def test_queries_are_deterministic_at_one_snapshot(path, args):
    db = open_db()
    app = db.deploy(KITCHEN, host="wasm", config=functions_config(prewarm=0))
    try:
        for i in range(4):
            app.run("messages:send", {"channel": "a", "author": "ada", "body": f"b{i}"})
        ts = db.latest_ts()
        first, second = app.run(path, args, at=ts), app.run(path, args, at=ts)
        assert values_equal(first.value, second.value)
        assert first.read_intervals == second.read_intervals and first.logs == second.logs
    finally:
        app.close()
        db.close()


def test_the_oracle_catches_a_host_that_loses_a_syscall_error(monkeypatch):
    """Mutant: the wasm host's `get` import swallows errors and answers "no document". The differential
    comparison must see it (the reference host raises InvalidIdError into user code)."""
    from wasmtime.component import Variant

    from udf_wasm.host import component_host

    real = component_host._host_func

    def mutant(kind, name):
        fn = real(kind, name)
        if name != "get":
            return fn

        def call(store, doc_id):
            out = fn(store, doc_id)
            return Variant("ok", None) if out.tag == "err" else out
        return call

    monkeypatch.setattr(component_host, "_host_func", mutant)
    steps = [("messages:send", {"channel": "a", "author": "ada", "body": "x"}), ("messages:get", {"id": "bogus"})]
    dbs = [open_db(), open_db()]
    apps = [dbs[0].deploy(KITCHEN, host="reference", config=functions_config()),
            dbs[1].deploy(KITCHEN, host="wasm", config=functions_config(prewarm=0))]
    try:
        ids: list[list[str]] = [[], []]
        results = [[outcome(app, ids[i], p, a) for p, a in steps] for i, app in enumerate(apps)]
        assert same(results[0][0], results[1][0])
        assert not same(results[0][1], results[1][1])
    finally:
        for a in apps:
            a.close()
        for d in dbs:
            d.close()
