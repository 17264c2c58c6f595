/* A bank over `accounts` (see schema.py): open an account, transfer between two (two gets, two
 * patches; the sum of balances is conserved). Python twins in bank.py. */
#include "ripple.h"

RIPPLE_DESCRIBE("["
    "{\"name\":\"open\",\"kind\":\"mutation\",\"args\":{\"type\":\"object\",\"fields\":"
        "{\"owner\":{\"type\":\"string\"},\"balance\":{\"type\":\"float64\"}}}},"
    "{\"name\":\"transfer\",\"kind\":\"mutation\",\"args\":{\"type\":\"object\",\"fields\":"
        "{\"from\":{\"type\":\"string\"},\"to\":{\"type\":\"string\"},\"amount\":{\"type\":\"float64\"}}},"
        "\"returns\":{\"type\":\"float64\"}}"
"]")

/* A new account; returns its id. */
RIPPLE_FUNCTION(open) {
    rbuf doc = {0, 0, 0};
    rb_lit(&doc, "{\"owner\":");
    rb_put(&doc, rj_get(args, RSTR("owner")));
    rb_lit(&doc, ",\"balance\":");
    rb_put(&doc, rj_get(args, RSTR("balance")));
    rb_putc(&doc, '}');
    int64_t r = ripple_insert(RSTR("accounts"), rb_str(&doc));
    if (ripple_failed(r)) return r;
    rbuf out = {0, 0, 0};
    rb_json_string(&out, ripple_unpack(r)); /* the id is plain text; the result is JSON */
    return rb_pack(&out);
}

static double balance_of(int64_t doc, int *ok) {
    return rj_number(rj_get(ripple_unpack(doc), RSTR("balance")), ok);
}

static int64_t set_balance(rstr id, double balance) {
    rbuf patch = {0, 0, 0};
    rb_lit(&patch, "{\"balance\":");
    rb_number(&patch, balance);
    rb_putc(&patch, '}');
    return ripple_patch(id, rb_str(&patch));
}

/* Move `amount` (> 0) from one account to another; returns the payer's new balance. ConvexError
 * "no such account" / "insufficient funds" / "amount must be positive" write nothing. */
RIPPLE_FUNCTION(transfer) {
    rstr from = rj_string(rj_get(args, RSTR("from"))), to = rj_string(rj_get(args, RSTR("to")));
    int ok = 0, oka = 0, okb = 0;
    double amount = rj_number(rj_get(args, RSTR("amount")), &ok);
    int64_t ra = ripple_get(from);
    if (ripple_failed(ra)) return ra;
    int64_t rb = ripple_get(to);
    if (ripple_failed(rb)) return rb;
    if (ra == RIPPLE_NONE || rb == RIPPLE_NONE) return ripple_convex_error(RSTR("no such account"));
    if (!ok || !(amount > 0)) return ripple_convex_error(RSTR("amount must be positive"));
    double a = balance_of(ra, &oka), b = balance_of(rb, &okb);
    if (!oka || !okb) return ripple_fail(RSTR("Uncaught"), RSTR("an account has no numeric balance"));
    if (a < amount) return ripple_convex_error(RSTR("insufficient funds"));
    rbuf out = {0, 0, 0};
    if (rstr_eq(from, to)) { rb_number(&out, a); return rb_pack(&out); }
    int64_t w = set_balance(from, a - amount);
    if (ripple_failed(w)) return w;
    w = set_balance(to, b + amount);
    if (ripple_failed(w)) return w;
    rb_number(&out, a - amount);
    return rb_pack(&out);
}
