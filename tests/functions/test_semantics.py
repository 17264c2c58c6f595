"""Function semantics, identical in the reference host and the wasm host (every test runs in both)."""
from __future__ import annotations

import pytest

from engine.model.errors import ArgumentValidationError, ConvexError, FunctionError, FunctionNotFoundError
from engine.model.values import values_equal

from tests.functions.conftest import KITCHEN, functions_config


def send(app, channel="general", author="ada", body="hello", n=None):
    args = {"channel": channel, "author": author, "body": body}
    if n is not None:
        args["n"] = float(n)
    return app.run("messages:send", args)


def test_mutation_then_query_sees_it_with_logs_and_read_set(kitchen):
    r = send(kitchen, body="hi there")
    assert r.kind == "mutation" and isinstance(r.value, str) and r.ts is not None
    assert r.logs == ["[LOG] send general 8"]
    assert [w[0] for w in r.writes] == ["insert"]
    q = kitchen.run("messages:recent", {"channel": "general", "limit": 10.0})
    assert q.value == [{"author": "ada", "body": "hi there"}]
    assert q.logs == ["[WARN] recent general -> 1"]
    assert list(q.read_intervals) == ["messages.by_channel"]
    assert q.ts >= r.ts


def test_paths_are_canonicalised(kitchen):
    send(kitchen)
    assert kitchen.call("messages.py:recent", {"channel": "general", "limit": 1.0}) == [{"author": "ada", "body": "hello"}]
    assert kitchen.call("messages.js:recent", {"channel": "general", "limit": 1.0})


def test_index_ranges_pagination_and_filters(kitchen):
    for i in range(7):
        send(kitchen, channel="c", author="ada" if i % 2 else "bob", body=f"m{i}", n=i)
    assert kitchen.call("messages:between", {"channel": "c", "lo": 2.0, "hi": 5.0}) == [2.0, 3.0, 4.0]
    assert kitchen.call("messages:by_author_filtered", {"author": "ada"}) == ["m1", "m3", "m5"]
    seen, cursor = [], None
    while True:
        page = kitchen.call("messages:page", {"cursor": cursor, "n": 3.0})
        seen += page["bodies"]
        cursor = page["cursor"]
        if page["done"]:
            break
    assert seen == [f"m{i}" for i in range(7)]


def test_convex_error_carries_data_and_logs(kitchen):
    with pytest.raises(ConvexError) as ei:
        send(kitchen, body="!boom")
    assert values_equal(ei.value.data, {"reason": "bang", "body": "!boom", "count": 3})
    assert kitchen.call("messages:recent", {"channel": "general", "limit": 10.0}) == []


def test_argument_validation_names_function_path_and_expectation(kitchen):
    with pytest.raises(ArgumentValidationError) as ei:
        kitchen.run("messages:send", {"channel": "g", "author": "a", "body": 7})
    e = ei.value
    assert (e.function, e.arg_path, e.expected) == ("messages:send", "body", "string")
    assert "messages:send" in str(e) and "'body'" in str(e) and "string" in str(e)
    with pytest.raises(ArgumentValidationError) as ei:
        kitchen.run("messages:send", {"channel": "g", "author": "a", "body": "b", "extra": 1.0})
    assert ei.value.arg_path == "extra"
    with pytest.raises(ArgumentValidationError):
        kitchen.run("messages:send", ["not", "an", "object"])


def test_return_validation(kitchen):
    with pytest.raises(ArgumentValidationError) as ei:
        kitchen.run("messages:wrong_return")
    assert ei.value.code == "ReturnValidationError" and "return value" in str(ei.value)


def test_missing_and_internal_functions(kitchen):
    for path in ("messages:nope", "nomodule:fn", "messages:secret"):
        with pytest.raises(FunctionNotFoundError, match="Could not find public function"):
            kitchen.run(path)
    assert kitchen.call("messages:secret", internal=True) == "internal"
    assert kitchen.call("actions:call_secret") == "internal"  # functions may call internal ones
    with pytest.raises(FunctionNotFoundError, match="malformed function path"):
        kitchen.run("bad path!")


def test_query_cannot_write(kitchen):
    with pytest.raises(FunctionError) as ei:
        kitchen.run("messages:sneaky_write")
    assert ei.value.code == "ReadOnlyError" and "queries are read-only" in str(ei.value)


def test_failed_mutation_writes_nothing(kitchen, db):
    before = db.latest_ts()
    with pytest.raises(FunctionError) as ei:
        kitchen.run("messages:fails_after_write")
    assert ei.value.code == "Uncaught" and "ValueError: deliberate failure" in str(ei.value)
    assert "fails_after_write" in ei.value.stack
    assert db.latest_ts() == before


def test_syscall_errors_arrive_as_engine_classes(kitchen):
    assert kitchen.call("messages:get", {"id": "not-an-id"}) == {"error": "InvalidIdError"}
    doc_id = send(kitchen).value
    kitchen.run("messages:clear", {"channel": "general"})
    assert kitchen.call("messages:get", {"id": doc_id}) is None
    assert kitchen.call("messages:edit", {"id": doc_id, "body": "x"}) == "missing"


def test_logs_are_bounded(kitchen):
    r = kitchen.run("messages:chatty")
    assert len(r.logs) == 257 and r.logs[-1].startswith("[WARN] 44 more log lines dropped")
    assert all(len(line.encode()) <= 4096 for line in r.logs)
    assert r.logs[0].endswith("[truncated]") and r.logs[1] == "[LOG] line 1 x"


def test_mutation_retried_on_conflict_reruns_whole_function(kitchen, db):
    kitchen.run("messages:bump", {"name": "c"})
    real_invoke = kitchen.loaded.invoke
    interfered = []

    def invoke_then_interfere(kind, path, args_json, syscalls, timeout_s):
        out = real_invoke(kind, path, args_json, syscalls, timeout_s)
        if path == "messages:bump" and not interfered:
            interfered.append(True)  # a concurrent writer commits between our reads and our commit
            db.mutate(lambda tx: tx.replace(
                tx.query("counters").with_index("by_name", lambda q: q.eq("name", "c")).unique()["_id"],
                {"name": "c", "value": 10}))
        return out

    kitchen.loaded.invoke = invoke_then_interfere
    r = kitchen.run("messages:bump", {"name": "c"})
    assert len(r.attempts) == 2 and r.attempts[0].verdict.value == "conflict"
    assert r.value == 11  # the retry read the concurrent write


def test_deterministic_randomness_and_time(kitchen, db):
    send(kitchen)
    ts = db.latest_ts()
    a = kitchen.call("messages:dice", at=ts)
    b = kitchen.call("messages:dice", at=ts)
    assert a == b and 1 <= a["roll"] <= 6 and a["now"] is True


def test_action_fetches_allowed_url_and_calls_functions(db, host, http_server):
    app = db.deploy(KITCHEN, host=host, config=functions_config(fetch_allow=(http_server,)))
    try:
        out = app.call("actions:fetch_and_record", {"url": http_server + "/wiki?q=x"})
        assert out["recent"] == [{"author": "bot", "body": "200:answer for /wiki?q=x"}]
        with pytest.raises(FunctionError) as ei:
            app.run("actions:fetch_and_record", {"url": "http://127.0.0.1:1/elsewhere"})
        assert ei.value.code == "FetchNotAllowed" and "not allowed" in str(ei.value)
    finally:
        app.close()


def test_schema_is_installed_by_deploy(kitchen, db):
    assert set(db.schema.tables) == {"messages", "counters"}
    assert {"by_channel", "by_channel_n"} <= {ix.name for ix in db.schema.tables["messages"].indexes}
