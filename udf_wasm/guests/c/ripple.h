/* ripple.h: Ripple's function ABI for C guests, lowered to a core WebAssembly module.
 *
 * The contract is udf_wasm/ABI.md, section "Core lowering". This header is freestanding (no libc):
 * it declares the `ripple` imports, exports the bump allocator `alloc` the host uses to hand data in,
 * and provides small helpers: strings as (pointer, length), packing of i64 results, a JSON builder and
 * a JSON reader good for the shapes functions exchange (objects, arrays, strings, numbers, literals).
 *
 * Build (the core host does this for every *.c file of an app folder):
 *     python -m ziglang cc --target=wasm32-freestanding -O2 -s -nostdlib -Wl,--no-entry \
 *         -Wl,-z,stack-size=65536 -I udf_wasm/guests/c -o fn.wasm fn.c
 *
 * A module is one .c file. It describes its functions once and defines each with RIPPLE_FUNCTION:
 *
 *     #include "ripple.h"
 *     RIPPLE_DESCRIBE("[{\"name\":\"read\",\"kind\":\"query\",\"args\":null}]")
 *     RIPPLE_FUNCTION(read) {                    // args: the arguments object, Convex JSON
 *         rstr id = rj_string(rj_get(args, RSTR("id")));
 *         return ripple_get(id);                 // the document (packed), -1 = null, <= -2 = error
 *     }
 *
 * Return values of a function: a packed JSON result (ripple_pack / rb_pack / any packed syscall
 * result), RIPPLE_NONE for null, or an error (<= -2): either after ripple_fail*() or, to propagate a
 * syscall error unchanged, just that syscall's return value (the host reports the call's last
 * syscall error). Memory is never freed: every call runs in a fresh instance. The stack is 64 KiB
 * (the core host links with -z stack-size=65536): keep big buffers on the heap (ripple_alloc).
 *
 * Numbers: Convex float64 values are JSON numbers. rj_number parses exactly in the common cases
 * (integers below 2^53, and decimals of up to 15 significant digits with exponents within +-22);
 * rb_number writes integers below 2^53 and short decimals exactly, other values with 17 significant
 * digits (within a few ulps).
 * int64 values arrive as {"$integer": "<base64>"}: prefer float64 in arguments and documents.
 */
#ifndef RIPPLE_H
#define RIPPLE_H

#include <stddef.h>
#include <stdint.h>

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"

#define RIPPLE_IMPORT(n) __attribute__((import_module("ripple"), import_name(n)))
#define RIPPLE_EXPORT(n) __attribute__((export_name(n)))
#define RIPPLE_UNUSED __attribute__((unused))

/* Results of syscalls and functions. */
#define RIPPLE_NONE ((int64_t)-1) /* ok, no value (null) */
#define RIPPLE_ERR ((int64_t)-2)  /* failed; the host holds the error */

/* ---- raw imports (module "ripple") --------------------------------------------------------------- */
/* Strings are (pointer, byte length) UTF-8. Fallible calls return an i64: >= 0 is (ptr << 32) | len of
 * a buffer the host wrote through `alloc`; -1 is none/null/ok-without-value; <= -2 is an error whose
 * JSON {"code","message"} last_error() returns (packed). Only the imports a module calls are linked. */
RIPPLE_IMPORT("get") int64_t ripple_sys_get(const char *id, uint32_t id_len);
RIPPLE_IMPORT("query") int64_t ripple_sys_query(const char *request, uint32_t request_len);
RIPPLE_IMPORT("insert") int64_t ripple_sys_insert(const char *table, uint32_t table_len, const char *doc, uint32_t doc_len);
RIPPLE_IMPORT("patch") int64_t ripple_sys_patch(const char *id, uint32_t id_len, const char *fields, uint32_t fields_len);
RIPPLE_IMPORT("replace") int64_t ripple_sys_replace(const char *id, uint32_t id_len, const char *doc, uint32_t doc_len);
RIPPLE_IMPORT("delete") int64_t ripple_sys_delete(const char *id, uint32_t id_len);
RIPPLE_IMPORT("now") int64_t ripple_sys_now(void);
RIPPLE_IMPORT("random_seed") int64_t ripple_sys_random_seed(void);
RIPPLE_IMPORT("log") void ripple_sys_log(const char *level, uint32_t level_len, const char *msg, uint32_t msg_len);
RIPPLE_IMPORT("get_env") int64_t ripple_sys_get_env(const char *name, uint32_t name_len);
RIPPLE_IMPORT("schedule") int64_t ripple_sys_schedule(double at_ms, const char *path, uint32_t path_len, const char *args, uint32_t args_len);
RIPPLE_IMPORT("cancel") int64_t ripple_sys_cancel(const char *id, uint32_t id_len);
RIPPLE_IMPORT("run_query") int64_t ripple_sys_run_query(const char *path, uint32_t path_len, const char *args, uint32_t args_len);
RIPPLE_IMPORT("run_mutation") int64_t ripple_sys_run_mutation(const char *path, uint32_t path_len, const char *args, uint32_t args_len);
RIPPLE_IMPORT("run_action") int64_t ripple_sys_run_action(const char *path, uint32_t path_len, const char *args, uint32_t args_len);
RIPPLE_IMPORT("fetch") int64_t ripple_sys_fetch(const char *request, uint32_t request_len);
RIPPLE_IMPORT("last_error") int64_t ripple_sys_last_error(void);
RIPPLE_IMPORT("fail") void ripple_sys_fail(const char *error_json, uint32_t error_len);

/* ---- strings ------------------------------------------------------------------------------------- */

typedef struct {
    const char *p; /* NULL: absent */
    uint32_t n;
} rstr;

#define RSTR(lit) ((rstr){(lit), (uint32_t)(sizeof(lit) - 1)})
#define RSTR_NULL ((rstr){0, 0})

static inline rstr rstr_of(const char *p, uint32_t n) { return (rstr){p, n}; }
static inline int rstr_present(rstr s) { return s.p != 0; }

/* Weak libc memory primitives: clang may emit calls to these; they lower to bulk-memory instructions. */
__attribute__((weak)) void *memcpy(void *d, const void *s, size_t n) { __builtin_memcpy(d, s, n); return d; }
__attribute__((weak)) void *memmove(void *d, const void *s, size_t n) { __builtin_memmove(d, s, n); return d; }
__attribute__((weak)) void *memset(void *d, int c, size_t n) { __builtin_memset(d, c, n); return d; }
__attribute__((weak)) int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

static inline int rstr_eq(rstr a, rstr b) { return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0); }

/* ---- allocation ---------------------------------------------------------------------------------- */

extern unsigned char __heap_base;
static uintptr_t ripple_heap_top;

static const char ripple_oom_json[] =
    "{\"code\":\"OutOfMemory\",\"message\":\"the function ran out of memory (memory.grow failed)\"}";

/* Bump allocator, 8-byte aligned; grows linear memory; on failure reports OutOfMemory and traps. The
 * host calls it (export "alloc") to copy arguments and syscall results into the guest. Cost: O(1). */
RIPPLE_EXPORT("alloc") void *ripple_alloc(uint32_t n) {
    if (!ripple_heap_top) ripple_heap_top = (uintptr_t)&__heap_base;
    uintptr_t p = (ripple_heap_top + 7) & ~(uintptr_t)7;
    uintptr_t end = p + n, cur = (uintptr_t)__builtin_wasm_memory_size(0) * 65536u;
    if (end < p) goto oom;
    if (end > cur && __builtin_wasm_memory_grow(0, (end - cur + 65535) / 65536) == (size_t)-1) goto oom;
    ripple_heap_top = end;
    return (void *)p;
oom:
    ripple_sys_fail(ripple_oom_json, sizeof(ripple_oom_json) - 1);
    __builtin_trap();
}

/* Grow the most recent allocation in place when possible, else copy. */
static void *ripple_realloc(void *old, uint32_t old_n, uint32_t new_n) {
    if (old && (uintptr_t)old + old_n == ripple_heap_top) {
        uintptr_t end = (uintptr_t)old + new_n, cur = (uintptr_t)__builtin_wasm_memory_size(0) * 65536u;
        if (end > cur && __builtin_wasm_memory_grow(0, (end - cur + 65535) / 65536) == (size_t)-1) {
            ripple_sys_fail(ripple_oom_json, sizeof(ripple_oom_json) - 1);
            __builtin_trap();
        }
        ripple_heap_top = end;
        return old;
    }
    void *p = ripple_alloc(new_n);
    if (old_n) memcpy(p, old, old_n);
    return p;
}

/* ---- packing ------------------------------------------------------------------------------------- */

static inline rstr ripple_unpack(int64_t r) {
    if (r < 0) return RSTR_NULL;
    return (rstr){(const char *)(uintptr_t)(uint32_t)((uint64_t)r >> 32), (uint32_t)r};
}
static inline int64_t ripple_pack(rstr s) { return (int64_t)(((uint64_t)(uintptr_t)s.p << 32) | s.n); }
static inline int ripple_failed(int64_t r) { return r <= RIPPLE_ERR; }

/* ---- syscalls ------------------------------------------------------------------------------------ */

/* The document with this id (packed Convex JSON), RIPPLE_NONE, or an error. Records a read. */
static inline int64_t ripple_get(rstr id) { return ripple_sys_get(id.p, id.n); }
/* One page: request/response JSON as in ABI.md ("Query request"). */
static inline int64_t ripple_query(rstr request) { return ripple_sys_query(request.p, request.n); }
/* The new document's id (packed, a plain string, not JSON), or an error. */
static inline int64_t ripple_insert(rstr table, rstr doc) { return ripple_sys_insert(table.p, table.n, doc.p, doc.n); }
/* RIPPLE_NONE on success, or an error. */
static inline int64_t ripple_patch(rstr id, rstr fields) { return ripple_sys_patch(id.p, id.n, fields.p, fields.n); }
static inline int64_t ripple_replace(rstr id, rstr doc) { return ripple_sys_replace(id.p, id.n, doc.p, doc.n); }
static inline int64_t ripple_delete(rstr id) { return ripple_sys_delete(id.p, id.n); }
/* The transaction timestamp (u64 bits) and the call's deterministic seed (u64 bits). */
static inline uint64_t ripple_now(void) { return (uint64_t)ripple_sys_now(); }
static inline uint64_t ripple_random_seed(void) { return (uint64_t)ripple_sys_random_seed(); }
/* One log line; level is LOG, DEBUG, INFO, WARN or ERROR. */
static inline void ripple_log(rstr level, rstr message) { ripple_sys_log(level.p, level.n, message.p, message.n); }
/* A deployment environment variable, or RSTR_NULL. */
static inline rstr ripple_get_env(rstr name) { return ripple_unpack(ripple_sys_get_env(name.p, name.n)); }
/* Schedule `path` with `args` (JSON) at epoch ms `at_ms` (mutations, actions): the job id, or an error. */
static inline int64_t ripple_schedule(double at_ms, rstr path, rstr args) { return ripple_sys_schedule(at_ms, path.p, path.n, args.p, args.n); }
static inline int64_t ripple_cancel(rstr id) { return ripple_sys_cancel(id.p, id.n); }
/* Actions only: nested calls (result JSON, packed) and fetch (response JSON). */
static inline int64_t ripple_run_query(rstr path, rstr args) { return ripple_sys_run_query(path.p, path.n, args.p, args.n); }
static inline int64_t ripple_run_mutation(rstr path, rstr args) { return ripple_sys_run_mutation(path.p, path.n, args.p, args.n); }
static inline int64_t ripple_run_action(rstr path, rstr args) { return ripple_sys_run_action(path.p, path.n, args.p, args.n); }
static inline int64_t ripple_fetch(rstr request) { return ripple_sys_fetch(request.p, request.n); }
/* The last failed syscall's error JSON, or RSTR_NULL. */
static inline rstr ripple_last_error(void) { return ripple_unpack(ripple_sys_last_error()); }

/* ---- JSON building ------------------------------------------------------------------------------- */

typedef struct {
    char *p;
    uint32_t n, cap;
} rbuf;

static void rb_reserve(rbuf *b, uint32_t extra) {
    if (b->n + extra <= b->cap) return;
    uint32_t cap = b->cap ? b->cap * 2 : 64;
    while (cap < b->n + extra) cap *= 2;
    b->p = (char *)ripple_realloc(b->p, b->cap, cap);
    b->cap = cap;
}
static inline void rb_putc(rbuf *b, char c) { rb_reserve(b, 1); b->p[b->n++] = c; }
static inline void rb_put(rbuf *b, rstr s) { rb_reserve(b, s.n); memcpy(b->p + b->n, s.p, s.n); b->n += s.n; }
#define rb_lit(b, lit) rb_put((b), RSTR(lit))
static inline rstr rb_str(const rbuf *b) { return (rstr){b->p, b->n}; }
static inline int64_t rb_pack(const rbuf *b) { return ripple_pack(rb_str(b)); }

/* A JSON string literal for UTF-8 text s (quotes and escapes added). */
static void rb_json_string(rbuf *b, rstr s) {
    static const char hex[] = "0123456789abcdef";
    rb_reserve(b, s.n + 2);
    rb_putc(b, '"');
    for (uint32_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '"' || c == '\\') { rb_putc(b, '\\'); rb_putc(b, (char)c); }
        else if (c == '\n') rb_lit(b, "\\n");
        else if (c == '\r') rb_lit(b, "\\r");
        else if (c == '\t') rb_lit(b, "\\t");
        else if (c < 0x20) { rb_lit(b, "\\u00"); rb_putc(b, hex[c >> 4]); rb_putc(b, hex[c & 15]); }
        else rb_putc(b, (char)c);
    }
    rb_putc(b, '"');
}

static void rb_uint(rbuf *b, uint64_t v) {
    char tmp[20];
    int k = 0;
    do { tmp[k++] = (char)('0' + v % 10); v /= 10; } while (v);
    rb_reserve(b, (uint32_t)k);
    while (k) b->p[b->n++] = tmp[--k];
}
static void rb_int(rbuf *b, int64_t v) {
    if (v < 0) { rb_putc(b, '-'); rb_uint(b, (uint64_t)0 - (uint64_t)v); }
    else rb_uint(b, (uint64_t)v);
}

static const double ripple_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#define RIPPLE_2P53 9007199254740992.0

/* x * 10^k in steps of at most 10^22 (each step correctly rounded). */
static double ripple_scale10(double x, int k) {
    for (; k > 22; k -= 22) x *= 1e22;
    for (; k < -22; k += 22) x /= 1e22;
    return k >= 0 ? x * ripple_pow10[k] : x / ripple_pow10[-k];
}

/* A float64 as a JSON number that Python reads back as a float ("3.0", "0.25", "1.5e+20"). Exact for
 * integers below 2^53 and for decimals with up to 15 significant digits; otherwise 17 significant
 * digits computed in double arithmetic (within a few ulps). Non-finite values are written as null
 * (not Convex JSON). */
static void rb_number(rbuf *b, double x) {
    if (x != x || x - x != 0) { rb_lit(b, "null"); return; }
    if (x < 0 || (x == 0 && 1 / x < 0)) { rb_putc(b, '-'); x = -x; }
    if (x < RIPPLE_2P53 && x == (double)(uint64_t)x) { rb_uint(b, (uint64_t)x); rb_lit(b, ".0"); return; }
    for (int k = 1; k <= 15; k++) { /* shortest k with x * 10^k an exact integer that reads back as x */
        double scaled = x * ripple_pow10[k];
        if (scaled >= RIPPLE_2P53) break;
        uint64_t m = (uint64_t)(scaled + 0.5);
        if ((double)m / ripple_pow10[k] == x) {
            char tmp[24];
            int t = 0;
            for (int i = 0; i < k; i++) { tmp[t++] = (char)('0' + m % 10); m /= 10; }
            tmp[t++] = '.';
            do { tmp[t++] = (char)('0' + m % 10); m /= 10; } while (m);
            rb_reserve(b, (uint32_t)t);
            while (t) b->p[b->n++] = tmp[--t];
            return;
        }
    }
    int e = 0; /* scientific, 17 significant digits: d.dddddddddddddddde+XX */
    for (double y = x; y >= 10; y /= 10) e++;
    for (double y = x; y < 1; y *= 10) e--;
    double scaled = ripple_scale10(x, 16 - e);
    if (scaled >= 1e17) { e++; scaled = ripple_scale10(x, 16 - e); }
    else if (scaled < 1e16) { e--; scaled = ripple_scale10(x, 16 - e); }
    uint64_t m = (uint64_t)(scaled + 0.5);
    if (m >= 100000000000000000ull) { m /= 10; e++; }
    char digits[17];
    for (int i = 16; i >= 0; i--) { digits[i] = (char)('0' + m % 10); m /= 10; }
    rb_putc(b, digits[0]);
    rb_putc(b, '.');
    rb_put(b, rstr_of(digits + 1, 16));
    rb_putc(b, 'e');
    rb_putc(b, e < 0 ? '-' : '+');
    rb_uint(b, (uint64_t)(e < 0 ? -e : e));
}

/* ---- JSON reading -------------------------------------------------------------------------------- */
/* Tokens are slices of the input (no copies). A token whose .p is NULL is absent or malformed. */

static inline const char *rj_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* The end of the JSON value starting at p (after whitespace), or NULL when malformed. O(len). */
static const char *rj_skip(const char *p, const char *end) {
    p = rj_ws(p, end);
    if (p >= end) return 0;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') p++;
            else if (*p == '"') return p + 1;
        }
        return 0;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < end; p++) {
            char c = *p;
            if (c == '"') { p = rj_skip(p, end); if (!p) return 0; p--; }
            else if (c == '{' || c == '[') depth++;
            else if (c == '}' || c == ']') { if (--depth == 0) return p + 1; }
        }
        return 0;
    }
    const char *q = p;
    while (q < end && *q != ',' && *q != '}' && *q != ']' && *q != ' ' && *q != '\n' && *q != '\r' && *q != '\t') q++;
    return q > p ? q : 0;
}

static inline rstr rj_token(rstr s) { /* s without surrounding whitespace */
    const char *p = rj_ws(s.p, s.p + s.n), *end = s.p + s.n;
    while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\t')) end--;
    return (rstr){p, (uint32_t)(end - p)};
}

static inline int rj_is_string(rstr v) { return v.p && v.n >= 2 && v.p[0] == '"'; }
static inline int rj_is_null(rstr v) { return v.p && v.n == 4 && v.p[0] == 'n'; }

static uint32_t rj_hex4(const char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v * 16 + (uint32_t)(c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
    }
    return v;
}

/* The text of a JSON string token, unescaped (a slice of the token when it has no escapes, else a new
 * allocation). RSTR_NULL when v is not a string. */
static rstr rj_string(rstr v) {
    if (!rj_is_string(v)) return RSTR_NULL;
    const char *p = v.p + 1, *end = v.p + v.n - 1;
    const char *q = p;
    while (q < end && *q != '\\') q++;
    if (q == end) return (rstr){p, (uint32_t)(end - p)};
    char *out = (char *)ripple_alloc(v.n);
    uint32_t n = 0;
    while (p < end) {
        char c = *p++;
        if (c != '\\') { out[n++] = c; continue; }
        if (p >= end) break;
        c = *p++;
        switch (c) {
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'u': {
            if (end - p < 4) return RSTR_NULL;
            uint32_t cp = rj_hex4(p);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo = rj_hex4(p + 2);
                if (lo >= 0xDC00 && lo < 0xE000) { cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00); p += 6; }
            }
            if (cp < 0x80) out[n++] = (char)cp;
            else if (cp < 0x800) { out[n++] = (char)(0xC0 | cp >> 6); out[n++] = (char)(0x80 | (cp & 63)); }
            else if (cp < 0x10000) {
                out[n++] = (char)(0xE0 | cp >> 12); out[n++] = (char)(0x80 | ((cp >> 6) & 63));
                out[n++] = (char)(0x80 | (cp & 63));
            } else {
                out[n++] = (char)(0xF0 | cp >> 18); out[n++] = (char)(0x80 | ((cp >> 12) & 63));
                out[n++] = (char)(0x80 | ((cp >> 6) & 63)); out[n++] = (char)(0x80 | (cp & 63));
            }
            break;
        }
        default: out[n++] = c; /* \" \\ \/ */
        }
    }
    return (rstr){out, n};
}

/* The value of member `key` (unescaped text) of a JSON object token, or RSTR_NULL. O(len(obj)). */
static rstr rj_get(rstr obj, rstr key) {
    const char *p = rj_ws(obj.p, obj.p + obj.n), *end = obj.p + obj.n;
    if (!obj.p || p >= end || *p != '{') return RSTR_NULL;
    p++;
    for (;;) {
        p = rj_ws(p, end);
        if (p >= end || *p == '}') return RSTR_NULL;
        const char *k = p, *kend = rj_skip(p, end);
        if (!kend || *k != '"') return RSTR_NULL;
        p = rj_ws(kend, end);
        if (p >= end || *p != ':') return RSTR_NULL;
        const char *val = rj_ws(p + 1, end), *vend = rj_skip(val, end);
        if (!vend) return RSTR_NULL;
        rstr kt = {k, (uint32_t)(kend - k)};
        if (rstr_eq(rj_string(kt), key)) return (rstr){val, (uint32_t)(vend - val)};
        p = rj_ws(vend, end);
        if (p < end && *p == ',') p++;
    }
}

/* Iterate an array token: `rstr it = arr, el; while (rj_next(&it, &el)) ...`. */
static int rj_next(rstr *it, rstr *el) {
    const char *p = rj_ws(it->p, it->p + it->n), *end = it->p + it->n;
    if (!it->p || p >= end) return 0;
    if (*p == '[' || *p == ',') p = rj_ws(p + 1, end);
    if (p >= end || *p == ']') { it->p = end; it->n = 0; return 0; }
    const char *vend = rj_skip(p, end);
    if (!vend) return 0;
    *el = (rstr){p, (uint32_t)(vend - p)};
    p = rj_ws(vend, end);
    it->p = p;
    it->n = (uint32_t)(end - p);
    return 1;
}

/* A JSON number token as a double; *ok = 0 when v is not a number. Exact (correctly rounded) when the
 * decimal significand has at most 15 digits and the exponent is within +-22; approximate otherwise. */
static double rj_number(rstr v, int *ok) {
    const char *p = v.p, *end = v.p + v.n;
    int neg = 0, digits = 0, e = 0, any = 0;
    uint64_t m = 0;
    if (ok) *ok = 0;
    if (!p || p >= end) return 0;
    if (*p == '-') { neg = 1; p++; }
    for (; p < end && *p >= '0' && *p <= '9'; p++, any = 1) {
        if (digits < 19) { m = m * 10 + (uint64_t)(*p - '0'); if (m) digits++; } else e++;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, any = 1) {
            if (digits < 19) { m = m * 10 + (uint64_t)(*p - '0'); if (m) digits++; e--; }
        }
    }
    if (!any) return 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int es = 1, ev = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) { es = *p == '-' ? -1 : 1; p++; }
        for (; p < end && *p >= '0' && *p <= '9'; p++) if (ev < 10000) ev = ev * 10 + (*p - '0');
        e += es * ev;
    }
    if (p != end) return 0;
    double x;
    if (digits <= 15 && e >= -22 && e <= 22) x = e >= 0 ? (double)m * ripple_pow10[e] : (double)m / ripple_pow10[-e];
    else x = ripple_scale10((double)m, e);
    if (ok) *ok = 1;
    return neg ? -x : x;
}

/* ---- errors -------------------------------------------------------------------------------------- */

/* Fail the function with {"code": code, "message": message}; returns RIPPLE_ERR to return. Codes as in
 * ABI.md; "Uncaught" for a plain failure. */
static int64_t ripple_fail(rstr code, rstr message) {
    rbuf b = {0, 0, 0};
    rb_lit(&b, "{\"code\":");
    rb_json_string(&b, code);
    rb_lit(&b, ",\"message\":");
    rb_json_string(&b, message);
    rb_putc(&b, '}');
    ripple_sys_fail(b.p, b.n);
    return RIPPLE_ERR;
}

/* Throw a ConvexError whose data is a string (what `raise ConvexError("...")` does in Python). */
static int64_t ripple_convex_error(rstr message) {
    rbuf b = {0, 0, 0};
    rb_lit(&b, "{\"code\":\"ConvexError\",\"message\":");
    rb_json_string(&b, message);
    rb_lit(&b, ",\"data\":");
    rb_json_string(&b, message);
    rb_putc(&b, '}');
    ripple_sys_fail(b.p, b.n);
    return RIPPLE_ERR;
}

/* ---- declaring functions ------------------------------------------------------------------------- */

/* The module's description: a JSON array of {"name","kind","visibility"?,"args"?,"returns"?} with
 * validators as engine.model.validator_json JSON (null or absent: unchecked). */
#define RIPPLE_DESCRIBE(json_literal) \
    RIPPLE_EXPORT("ripple_describe") int64_t ripple_describe(void) { return ripple_pack(RSTR(json_literal)); }

/* Define function `name` (exported as udf_<name>); the body sees `rstr args` (Convex JSON object). */
#define RIPPLE_FUNCTION(name)                                                                 \
    static int64_t ripple_fn_##name(rstr args);                                               \
    RIPPLE_EXPORT("udf_" #name) int64_t udf_##name(const char *args_p, uint32_t args_n) {     \
        return ripple_fn_##name((rstr){args_p, args_n});                                      \
    }                                                                                         \
    static int64_t ripple_fn_##name(RIPPLE_UNUSED rstr args)

#pragma clang diagnostic pop

#endif /* RIPPLE_H */
