/* The overhead benchmark's functions (bench/functions_overhead.py): get_and_insert makes 3 syscalls
 * (two gets, one insert), as in shared/docs/udf-wasm.md; noop makes none. Python twins in overhead.py. */
#include "ripple.h"

RIPPLE_DESCRIBE("["
    "{\"name\":\"noop\",\"kind\":\"query\",\"args\":null},"
    "{\"name\":\"get_and_insert\",\"kind\":\"mutation\",\"args\":{\"type\":\"object\",\"fields\":"
        "{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"string\"}}}}"
"]")

RIPPLE_FUNCTION(noop) { return RIPPLE_NONE; }

RIPPLE_FUNCTION(get_and_insert) {
    int64_t a = ripple_get(rj_string(rj_get(args, RSTR("a"))));
    if (ripple_failed(a)) return a;
    int64_t b = ripple_get(rj_string(rj_get(args, RSTR("b"))));
    if (ripple_failed(b)) return b;
    rbuf doc = {0, 0, 0};
    rb_lit(&doc, "{\"a\":");
    if (a >= 0) rb_lit(&doc, "true"); else rb_lit(&doc, "false");
    rb_lit(&doc, ",\"b\":");
    if (b >= 0) rb_lit(&doc, "true"); else rb_lit(&doc, "false");
    rb_putc(&doc, '}');
    int64_t id = ripple_insert(RSTR("events"), rb_str(&doc));
    if (ripple_failed(id)) return id;
    rbuf out = {0, 0, 0};
    rb_json_string(&out, ripple_unpack(id));
    return rb_pack(&out);
}
