"""The core host's sandbox and linking: deadlines, memory limits, traps, capabilities linked per kind,
unknown imports, the error conventions of the core lowering (udf_wasm/ABI.md), and nested calls.

C guests are written into temporary app folders and built by the test (ziglang, wasm32-freestanding).
"""
from __future__ import annotations

import json
import textwrap
import threading
import time
from pathlib import Path

import pytest

from engine.functions import FunctionsConfig
from engine.functions.syscalls import ALL_SYSCALLS, derive_seed
from engine.model.errors import ConvexError, FunctionError, FunctionNotFoundError

from tests.functions.conftest import open_db

HEADER = '#include "ripple.h"\n'


def describe(*fns: tuple) -> str:
    """RIPPLE_DESCRIBE(...) for (name, kind[, visibility]) tuples."""
    items = [{"name": f[0], "kind": f[1], **({"visibility": f[2]} if len(f) > 2 else {})} for f in fns]
    return "RIPPLE_DESCRIBE(" + json.dumps(json.dumps(items)) + ")\n"


SANDBOX_C = HEADER + describe(("spin", "query"), ("hog", "query"), ("ok", "query"), ("crash", "query"),
                              ("deep", "query"), ("env", "query"), ("logs", "query"), ("bad_pointer", "query"),
                              ("bad_result", "query"), ("not_json", "query"), ("fail_text", "query"),
                              ("fail_json", "query"), ("silent_error", "query"), ("last_error", "query"),
                              ("convex", "query"), ("secret", "query", "internal")) + r"""
RIPPLE_FUNCTION(spin) { volatile uint32_t x = 0; for (;;) x++; }
RIPPLE_FUNCTION(hog) { for (;;) { volatile char *p = (volatile char *)ripple_alloc(1 << 20); p[0] = 1; } }
RIPPLE_FUNCTION(ok) { return ripple_pack(RSTR("\"fine\"")); }
RIPPLE_FUNCTION(crash) { __builtin_trap(); }
static int depth(volatile int n) { volatile char pad[256]; pad[0] = (char)n; return depth(n + 1) + pad[0]; }
RIPPLE_FUNCTION(deep) { return depth(0); }
RIPPLE_FUNCTION(env) {
    rbuf b = {0, 0, 0};
    rb_lit(&b, "{\"now\":\""); rb_uint(&b, ripple_now());
    rb_lit(&b, "\",\"seed\":\""); rb_uint(&b, ripple_random_seed()); rb_lit(&b, "\"}");
    return rb_pack(&b);
}
RIPPLE_FUNCTION(logs) {
    ripple_log(RSTR("INFO"), RSTR("first"));
    ripple_log(RSTR("WARN"), rj_string(rj_get(args, RSTR("text"))));
    return RIPPLE_NONE;
}
RIPPLE_FUNCTION(bad_pointer) { return ripple_sys_get((const char *)0x7ffffff0, 100); }
RIPPLE_FUNCTION(bad_result) { return ((int64_t)0x7ffffff0 << 32) | 64; }
RIPPLE_FUNCTION(not_json) { return ripple_pack(RSTR("{not json")); }
RIPPLE_FUNCTION(fail_text) { ripple_sys_fail("plain words", 11); return RIPPLE_ERR; }
RIPPLE_FUNCTION(fail_json) { return ripple_fail(RSTR("Uncaught"), RSTR("ValueError: nope \"quoted\"")); }
RIPPLE_FUNCTION(silent_error) { return -7; }
RIPPLE_FUNCTION(last_error) {
    int64_t r = ripple_get(RSTR("definitely not an id"));
    if (!ripple_failed(r)) return ripple_fail(RSTR("Uncaught"), RSTR("expected an error"));
    return ripple_pack(ripple_last_error()); /* the error JSON as the function's result */
}
RIPPLE_FUNCTION(convex) { return ripple_convex_error(RSTR("custom data")); }
RIPPLE_FUNCTION(secret) { return ripple_pack(RSTR("\"internal only\"")); }
"""

WRITES_C = HEADER + describe(("insert_then_trap", "mutation"), ("insert_then_spin", "mutation"),
                             ("insert_then_hog", "mutation"), ("insert_then_fail", "mutation"),
                             ("insert_one", "mutation"), ("sneaky", "query")) + r"""
static int64_t put(void) { return ripple_insert(RSTR("things"), RSTR("{\"n\":1.0}")); }
RIPPLE_FUNCTION(insert_then_trap) { put(); __builtin_trap(); }
RIPPLE_FUNCTION(insert_then_spin) { put(); volatile uint32_t x = 0; for (;;) x++; }
RIPPLE_FUNCTION(insert_then_hog) { put(); for (;;) { volatile char *p = (volatile char *)ripple_alloc(1 << 20); p[0] = 1; } }
RIPPLE_FUNCTION(insert_then_fail) { put(); return ripple_fail(RSTR("Uncaught"), RSTR("changed my mind")); }
RIPPLE_FUNCTION(insert_one) {
    int64_t id = put();
    if (ripple_failed(id)) return id;
    rbuf b = {0, 0, 0}; rb_json_string(&b, ripple_unpack(id)); return rb_pack(&b);
}
/* A query in a module that also has mutations: its insert import is linked to a stand-in that refuses. */
RIPPLE_FUNCTION(sneaky) { return put(); }
"""

ACTIONS_C = HEADER + describe(("relay", "action"), ("write_twice", "action"), ("env_var", "action")) + r"""
RIPPLE_FUNCTION(relay) {   /* nested: runs sandbox:ok in another sandbox on this thread */
    return ripple_run_query(RSTR("sandbox:ok"), RSTR("{}"));
}
RIPPLE_FUNCTION(write_twice) {
    int64_t a = ripple_run_mutation(RSTR("writes:insert_one"), RSTR("{}"));
    if (ripple_failed(a)) return a;
    return ripple_run_mutation(RSTR("writes:insert_one"), RSTR("{}"));
}
RIPPLE_FUNCTION(env_var) {
    rstr v = ripple_get_env(rj_string(rj_get(args, RSTR("name"))));
    if (!rstr_present(v)) return RIPPLE_NONE;
    rbuf b = {0, 0, 0}; rb_json_string(&b, v); return rb_pack(&b);
}
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("core-cache"))


def make_app(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory) -> Path:
    return make_app(tmp_path_factory.mktemp("sandbox-app"), {"sandbox.c": SANDBOX_C, "writes.c": WRITES_C,
                                                            "actions.c": ACTIONS_C})


@pytest.fixture
def deploy(cache_dir):
    made = []

    def go(app_dir: Path, **cfg):
        db = open_db()
        app = db.deploy(app_dir, host="core", config=FunctionsConfig(cache_dir=cache_dir, **cfg))
        made.append((db, app))
        return db, app

    yield go
    for db, app in made:
        app.close()
        db.close()


def count(db, table: str) -> int:
    return db.read(lambda tx: len(tx.query(table).collect()))


def run_error(app, path: str, args=None, **kw) -> FunctionError:
    with pytest.raises(FunctionError) as info:
        app.run(path, args or {}, **kw)
    return info.value


# ---- deadlines, memory, traps ------------------------------------------------------------------------


def test_infinite_loop_stops_at_its_deadline_and_the_next_call_succeeds(deploy, app_dir):
    db, app = deploy(app_dir, query_timeout_s=0.2)
    started = time.perf_counter()
    err = run_error(app, "sandbox:spin")
    elapsed = time.perf_counter() - started
    assert err.code == "Timeout" and "0.2 s" in str(err)
    assert 0.19 <= elapsed < 2.0
    assert app.run("sandbox:ok").value == "fine"


def test_unbounded_allocation_stops_at_the_memory_limit_and_the_next_call_succeeds(deploy, app_dir):
    db, app = deploy(app_dir, memory_limit_bytes=16 << 20, query_timeout_s=5.0)
    err = run_error(app, "sandbox:hog")
    assert err.code == "OutOfMemory" and "16 MiB" in str(err)
    assert app.run("sandbox:ok").value == "fine"


@pytest.mark.parametrize("path,text", [("sandbox:crash", "unreachable"), ("sandbox:deep", "")])
def test_traps_are_function_errors_and_the_next_call_succeeds(deploy, app_dir, path, text):
    db, app = deploy(app_dir)
    err = run_error(app, path)
    assert err.code == "Trap" and "trapped" in str(err) and text in str(err).lower()
    assert app.run("sandbox:ok").value == "fine"


@pytest.mark.parametrize("path,code", [("writes:insert_then_trap", "Trap"), ("writes:insert_then_spin", "Timeout"),
                                       ("writes:insert_then_hog", "OutOfMemory"), ("writes:insert_then_fail", "Uncaught")])
def test_a_failed_mutation_writes_nothing(deploy, app_dir, path, code):
    db, app = deploy(app_dir, mutation_timeout_s=0.2, memory_limit_bytes=16 << 20)
    assert run_error(app, path).code == code
    assert count(db, "things") == 0
    assert isinstance(app.run("writes:insert_one").value, str) and count(db, "things") == 1


# ---- linking per kind, imports, exports ------------------------------------------------------------


def test_a_query_module_importing_a_write_fails_at_link_time(deploy, tmp_path):
    bad = make_app(tmp_path / "bad", {"reader.c": HEADER + describe(("peek", "query")) + r"""
        RIPPLE_FUNCTION(peek) { return ripple_insert(RSTR("t"), RSTR("{}")); }
    """})
    with pytest.raises(FunctionError) as info:
        deploy(bad)
    msg = str(info.value)
    assert info.value.code == "DeployError" and "link" in msg and "ripple.insert" in msg and "query" in msg


def test_an_action_module_importing_get_fails_at_link_time(deploy, tmp_path):
    bad = make_app(tmp_path / "bad", {"act.c": HEADER + describe(("peek", "action")) + r"""
        RIPPLE_FUNCTION(peek) { return ripple_get(RSTR("x")); }
    """})
    with pytest.raises(FunctionError, match=r"link error: .*ripple\.get"):
        deploy(bad)


def test_a_query_in_a_mixed_module_still_cannot_write(deploy, app_dir):
    db, app = deploy(app_dir)
    err = run_error(app, "writes:sneaky")
    assert err.code == "ReadOnlyError" and "insert" in str(err) and "query" in str(err)
    assert count(db, "things") == 0


@pytest.mark.parametrize("decl,needle", [
    ('__attribute__((import_module("ripple"), import_name("frobnicate"))) int64_t f(void);', "ripple.frobnicate"),
    ('__attribute__((import_module("env"), import_name("get"))) int64_t f(void);', "env.get"),
    ('__attribute__((import_module("ripple"), import_name("get"))) int64_t f(void);', "ripple.get with type"),
])
def test_unknown_or_mistyped_imports_fail_at_deploy(deploy, tmp_path, decl, needle):
    bad = make_app(tmp_path / "bad", {"odd.c": HEADER + decl + describe(("x", "query")) +
                                      "RIPPLE_FUNCTION(x) { return f(); }\n"})
    with pytest.raises(FunctionError) as info:
        deploy(bad)
    assert info.value.code == "DeployError" and needle in str(info.value)


@pytest.mark.parametrize("source,needle", [
    (HEADER + describe(("missing", "query")), "udf_missing"),
    (HEADER + 'RIPPLE_DESCRIBE("not json")\n', "ripple_describe returned a malformed result"),
    (HEADER + describe(("x", "sometimes")) + "RIPPLE_FUNCTION(x) { return -1; }\n", "malformed description"),
    ("int oops(void) { return 1 }\n", "building oops.c failed"),
])
def test_malformed_modules_fail_at_deploy_with_a_clear_error(deploy, tmp_path, source, needle):
    bad = make_app(tmp_path / "bad", {"oops.c": source})
    with pytest.raises(FunctionError) as info:
        deploy(bad)
    assert needle in str(info.value)


def test_every_syscall_has_a_core_lowering():
    from udf_wasm.core.linking import SIGNATURES, UNLOWERED

    assert not UNLOWERED and set(ALL_SYSCALLS) <= set(SIGNATURES)


# ---- conventions: results, errors, environment --------------------------------------------------------


def test_error_conventions(deploy, app_dir):
    db, app = deploy(app_dir)
    assert run_error(app, "sandbox:fail_text").message.endswith("Uncaught plain words")
    err = run_error(app, "sandbox:fail_json")
    assert err.code == "Uncaught" and str(err) == 'sandbox:fail_json: Uncaught ValueError: nope "quoted"'
    assert "without reporting" in str(run_error(app, "sandbox:silent_error"))
    with pytest.raises(ConvexError) as info:
        app.run("sandbox:convex")
    assert info.value.data == "custom data"
    payload = app.run("sandbox:last_error").value
    assert payload["code"] == "InvalidIdError" and "definitely not an id" in payload["message"]


def test_hostile_pointers_are_errors_not_crashes(deploy, app_dir):
    db, app = deploy(app_dir)
    err = run_error(app, "sandbox:bad_pointer")
    assert err.code == "InvalidArgument" and "outside the guest's memory" in str(err)
    assert "malformed result" in str(run_error(app, "sandbox:bad_result"))
    assert "malformed result" in str(run_error(app, "sandbox:not_json"))
    assert app.run("sandbox:ok").value == "fine"


def test_now_seed_and_logs_come_from_the_host(deploy, app_dir):
    db, app = deploy(app_dir)
    for args in ({}, {"k": "a"}, {"k": "b"}, {"k": "c"}):  # the seed covers u64 values above 2^63 too
        r = app.run("sandbox:env", args)
        assert int(r.value["seed"]) == derive_seed("sandbox:env", json.dumps(args), r.ts)
        assert int(r.value["now"]) >= r.ts
        assert app.run("sandbox:env", args, at=r.ts).value["seed"] == r.value["seed"]
    r = app.run("sandbox:logs", {"text": "second \u2713"})
    assert r.logs == ["[INFO] first", "[WARN] second \u2713"]


def test_internal_functions_and_kinds(deploy, app_dir):
    db, app = deploy(app_dir)
    with pytest.raises(FunctionNotFoundError):
        app.run("sandbox:secret")
    assert app.run("sandbox:secret", internal=True).value == "internal only"
    assert {d["path"]: d["kind"] for d in app.describe()}["writes:insert_one"] == "mutation"


# ---- nested calls and threads ------------------------------------------------------------------------


def test_actions_nest_calls_in_fresh_sandboxes(deploy, app_dir):
    db, app = deploy(app_dir, env={"API_URL": "https://example.test/✓"})
    assert app.run("actions:relay").value == "fine"
    assert app.run("actions:env_var", {"name": "API_URL"}).value == "https://example.test/✓"
    assert app.run("actions:env_var", {"name": "MISSING"}).value is None
    second = app.run("actions:write_twice").value
    assert isinstance(second, str) and count(db, "things") == 2


def test_calls_on_two_threads_use_their_own_sandboxes(deploy, app_dir):
    db, app = deploy(app_dir)
    ids = [app.run("writes:insert_one").value for _ in range(3)]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(40):
                assert app.run("sandbox:last_error").value["code"] == "InvalidIdError"
                assert app.run("sandbox:ok").value == "fine"
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and len(ids) == 3
