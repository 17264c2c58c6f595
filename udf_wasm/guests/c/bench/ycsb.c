/* YCSB core operations over `usertable` (see schema.py): read (A-F), update (A, B), scan (E) and
 * read-modify-write (F). Python twins with identical semantics are in ycsb.py. */
#include "ripple.h"

#define STR "{\"type\":\"string\"}"
#define F64 "{\"type\":\"float64\"}"
RIPPLE_DESCRIBE("["
    "{\"name\":\"read\",\"kind\":\"query\",\"args\":{\"type\":\"object\",\"fields\":{\"id\":" STR "}}},"
    "{\"name\":\"update\",\"kind\":\"mutation\",\"args\":{\"type\":\"object\",\"fields\":"
        "{\"id\":" STR ",\"field\":" STR ",\"value\":" STR "}}},"
    "{\"name\":\"scan\",\"kind\":\"query\",\"args\":{\"type\":\"object\",\"fields\":"
        "{\"start\":" F64 ",\"count\":" F64 "}}},"
    "{\"name\":\"rmw\",\"kind\":\"mutation\",\"args\":{\"type\":\"object\",\"fields\":"
        "{\"id\":" STR ",\"field\":" STR ",\"suffix\":" STR "}}}"
"]")

/* The record, or null. */
RIPPLE_FUNCTION(read) {
    return ripple_get(rj_string(rj_get(args, RSTR("id"))));
}

/* Set one field: patch {field: value}. Returns null. */
RIPPLE_FUNCTION(update) {
    rbuf patch = {0, 0, 0};
    rb_putc(&patch, '{');
    rb_put(&patch, rj_get(args, RSTR("field"))); /* already a JSON string token */
    rb_putc(&patch, ':');
    rb_put(&patch, rj_get(args, RSTR("value")));
    rb_putc(&patch, '}');
    return ripple_patch(rj_string(rj_get(args, RSTR("id"))), rb_str(&patch));
}

/* Up to `count` (1..100) records with key >= start, in key order: one index page. */
RIPPLE_FUNCTION(scan) {
    int ok = 0;
    double count = rj_number(rj_get(args, RSTR("count")), &ok);
    int64_t n = (int64_t)count;
    if (!ok || n < 1 || n > 100) return ripple_fail(RSTR("Uncaught"), RSTR("ValueError: count must be in 1..100"));
    rbuf req = {0, 0, 0};
    rb_lit(&req, "{\"table\":\"usertable\",\"index\":\"by_key\",\"eq\":[],\"lower\":{\"field\":\"key\",\"value\":");
    rb_put(&req, rj_get(args, RSTR("start")));
    rb_lit(&req, ",\"inclusive\":true},\"upper\":null,\"order\":\"asc\",\"limit\":");
    rb_int(&req, n);
    rb_lit(&req, ",\"cursor\":null}");
    int64_t r = ripple_query(rb_str(&req));
    if (ripple_failed(r)) return r;
    return ripple_pack(rj_get(ripple_unpack(r), RSTR("page")));
}

/* Read a record, append `suffix` to its string `field` (a missing or non-string field counts as ""),
 * write it back; returns the new value, or null (nothing written) when the record does not exist. */
RIPPLE_FUNCTION(rmw) {
    rstr id = rj_string(rj_get(args, RSTR("id")));
    rstr field = rj_get(args, RSTR("field")), suffix = rj_get(args, RSTR("suffix"));
    int64_t r = ripple_get(id);
    if (r < 0) return r; /* none -> null; error -> propagate */
    rstr old = rj_get(ripple_unpack(r), rj_string(field));
    rbuf value = {0, 0, 0};
    if (rj_is_string(old)) { /* "old" + "suffix" == "oldsuffix": join the tokens, escapes stay valid */
        rb_put(&value, rstr_of(old.p, old.n - 1));
        rb_put(&value, rstr_of(suffix.p + 1, suffix.n - 1));
    } else {
        rb_put(&value, suffix);
    }
    rbuf patch = {0, 0, 0};
    rb_putc(&patch, '{');
    rb_put(&patch, field);
    rb_putc(&patch, ':');
    rb_put(&patch, rb_str(&value));
    rb_putc(&patch, '}');
    int64_t w = ripple_patch(id, rb_str(&patch));
    if (ripple_failed(w)) return w;
    return rb_pack(&value);
}
