"""The guest SDKs of the core lowering: the Zig module (udf_wasm/guests/zig/ripple.zig) with its example
app, built by the test with ``python -m ziglang build-exe``, and the JSON helpers of the C header
(udf_wasm/guests/c/ripple.h) on generated strings and numbers. Plus the build cache.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.functions import FunctionsConfig
from engine.model.errors import ConvexError, FunctionError
from udf_wasm.core.build import build_app, sources

from tests.functions.conftest import open_db

ROOT = Path(__file__).resolve().parents[2]
ZIG_EXAMPLE = ROOT / "udf_wasm" / "guests" / "zig" / "example"

ECHO_C = r"""#include "ripple.h"
RIPPLE_DESCRIBE("[{\"name\":\"echo\",\"kind\":\"query\"},{\"name\":\"fields\",\"kind\":\"query\"}]")
/* {"x": number, "s": string} -> {"x": x re-encoded, "s": s re-encoded, "raw": x's token copied} */
RIPPLE_FUNCTION(echo) {
    int ok = 0;
    double x = rj_number(rj_get(args, RSTR("x")), &ok);
    if (!ok) return ripple_fail(RSTR("Uncaught"), RSTR("x is not a number"));
    rbuf b = {0, 0, 0};
    rb_lit(&b, "{\"x\":"); rb_number(&b, x);
    rb_lit(&b, ",\"s\":"); rb_json_string(&b, rj_string(rj_get(args, RSTR("s"))));
    rb_lit(&b, ",\"raw\":"); rb_put(&b, rj_get(args, RSTR("x")));
    rb_putc(&b, '}');
    return rb_pack(&b);
}
/* {"obj": object, "keys": [string]} -> [obj[k] for k in keys] (null when absent), via rj_get and rj_next */
RIPPLE_FUNCTION(fields) {
    rstr obj = rj_get(args, RSTR("obj")), it = rj_get(args, RSTR("keys")), key;
    rbuf b = {0, 0, 0};
    rb_putc(&b, '[');
    int first = 1;
    while (rj_next(&it, &key)) {
        if (!first) rb_putc(&b, ',');
        first = 0;
        rstr v = rj_get(obj, rj_string(key));
        if (rstr_present(v)) rb_put(&b, v); else rb_lit(&b, "null");
    }
    rb_putc(&b, ']');
    return rb_pack(&b);
}
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("core-cache"))


@pytest.fixture(scope="module")
def echo(tmp_path_factory, cache_dir):
    app_dir = tmp_path_factory.mktemp("echo-app")
    (app_dir / "json.c").write_text(ECHO_C)
    db = open_db()
    app = db.deploy(app_dir, host="core", config=FunctionsConfig(cache_dir=cache_dir))
    yield app
    app.close()
    db.close()


# ---- Zig ---------------------------------------------------------------------------------------------


def test_zig_example_builds_and_runs(cache_dir):
    db = open_db()
    app = db.deploy(ZIG_EXAMPLE, host="core", config=FunctionsConfig(cache_dir=cache_dir))
    try:
        (build,) = app.loaded.builds
        assert build.source.suffix == ".zig" and build.wasm.stat().st_size < 64_000
        r = app.run("greetings:greet", {"name": 'zig "\u00fc" \U0001F600'})
        assert db.read(lambda tx: tx.get(r.value))["text"] == 'hello, zig "\u00fc" \U0001F600'
        assert r.logs == ['[INFO] greeted zig "\u00fc" \U0001F600'] and r.writes == [("insert", "greetings", r.value)]
        with pytest.raises(ConvexError) as info:
            app.run("greetings:greet", {"name": ""})
        assert info.value.data == "name must not be empty"
        with pytest.raises(FunctionError) as err:  # the description's validator runs before the guest
            app.run("greetings:greet", {"name": 3.0})
        assert err.value.code == "ArgumentValidationError"
    finally:
        app.close()
        db.close()


# ---- C JSON helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("x", [0.0, 1.0, -2.5, 0.1, 3.14159, 1e-7, 123456789.125, 2.0 ** 53, 1e22, 1e300, 5e-324,
                               -1.7976931348623157e308])
def test_c_numbers_round_trip(echo, x):
    out = echo.run("json:echo", {"x": x, "s": ""}).value
    assert out["raw"] == x
    if abs(x) < 2.0 ** 53 and len(repr(abs(x))) <= 17:  # integers and short decimals: exact both ways
        assert out["x"] == x
    else:
        assert math.isclose(out["x"], x, rel_tol=1e-15, abs_tol=1e-322)


@settings(max_examples=max(20, settings.default.max_examples), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=st.text(), x=st.one_of(st.integers(-(2 ** 53), 2 ** 53).map(float),
                                st.decimals(places=3, min_value=-10 ** 9, max_value=10 ** 9, allow_nan=False,
                                            allow_infinity=False).map(float).filter(lambda f: f != 0 or
                                                                                    math.copysign(1, f) > 0),
                                st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != 0)))
def test_c_strings_and_numbers_round_trip(echo, s, x):
    out = echo.run("json:echo", {"x": x, "s": s}).value
    assert out["s"] == s and out["raw"] == x
    assert math.isclose(out["x"], x, rel_tol=1e-15, abs_tol=1e-322)
    if abs(x) < 2.0 ** 53 and len(repr(abs(x))) <= 16:
        assert out["x"] == x


names = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=4).filter(
    lambda k: not k.startswith("$"))  # Convex field names: printable ASCII, not starting with "$"


@settings(max_examples=max(20, settings.default.max_examples), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obj=st.dictionaries(names, st.recursive(
           st.none() | st.booleans() | st.text(max_size=4) | st.integers(-1000, 1000).map(float),
           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
           max_leaves=6), max_size=5),
       extra=st.lists(names, max_size=3))
def test_c_object_lookup_and_array_iteration(echo, obj, extra):
    keys = [*obj, *extra]
    out = echo.run("json:fields", {"obj": obj, "keys": keys}).value
    assert out == [obj.get(k) for k in keys]


# ---- build cache -----------------------------------------------------------------------------------------


def test_builds_are_cached_by_content(tmp_path):
    app = tmp_path / "app"
    (app / "sub").mkdir(parents=True)
    (app / "a.c").write_text(ECHO_C)
    (app / "sub" / "b.c").write_text(ECHO_C)
    (app / "_helper.c").write_text("this is not compiled")
    assert [name for name, _ in sources(app)] == ["a", "sub/b"]
    cache = tmp_path / "cache"
    first = build_app(app, cache)
    assert [b.cached for b in first] == [False, True]  # same content, same key
    again = build_app(app, cache)
    assert all(b.cached for b in again) and [b.wasm for b in again] == [b.wasm for b in first]
    (app / "a.c").write_text(ECHO_C + "\n/* changed */\n")
    assert [b.cached for b in build_app(app, cache)] == [False, True]
