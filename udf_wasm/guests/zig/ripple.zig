//! ripple.zig: Ripple's function ABI for Zig guests, lowered to a core WebAssembly module.
//!
//! The contract is udf_wasm/ABI.md, section "Core lowering"; this file mirrors ripple.h for C. The
//! core host builds every *.zig file of an app folder as one module, with this file as module
//! `ripple`:
//!
//!     python -m ziglang build-exe -target wasm32-freestanding -fno-entry -rdynamic -O ReleaseSmall \
//!         -fstrip --stack 65536 --dep ripple -Mroot=fn.zig -Mripple=udf_wasm/guests/zig/ripple.zig
//!
//! A module describes its functions and exports each as `udf_<name>` through `ripple.run`:
//!
//!     const ripple = @import("ripple");
//!     export fn ripple_describe() i64 {
//!         return ripple.pack("[{\"name\":\"hello\",\"kind\":\"query\"}]");
//!     }
//!     fn hello(args: []const u8) ripple.Error!?[]const u8 { ... }
//!     export fn udf_hello(p: [*]const u8, n: usize) i64 { return ripple.run(hello, p, n); }
//!
//! Memory comes from a bump allocator (exported as `alloc`, which the host calls to hand data in) and
//! is never freed: every call runs in a fresh instance. Only the imports a module calls are linked.

// ---- raw imports (module "ripple") ------------------------------------------------------------------
// Strings are (pointer, byte length) UTF-8. Fallible calls return i64: >= 0 is (ptr << 32) | len of a
// buffer the host wrote through `alloc`; -1 is none/null/ok-without-value; <= -2 is an error whose
// JSON {"code","message"} last_error() returns.
pub const sys = struct {
    pub extern "ripple" fn get(id: [*]const u8, id_len: usize) i64;
    pub extern "ripple" fn query(request: [*]const u8, request_len: usize) i64;
    pub extern "ripple" fn insert(table: [*]const u8, table_len: usize, doc: [*]const u8, doc_len: usize) i64;
    pub extern "ripple" fn patch(id: [*]const u8, id_len: usize, fields: [*]const u8, fields_len: usize) i64;
    pub extern "ripple" fn replace(id: [*]const u8, id_len: usize, doc: [*]const u8, doc_len: usize) i64;
    pub extern "ripple" fn delete(id: [*]const u8, id_len: usize) i64;
    pub extern "ripple" fn now() i64;
    pub extern "ripple" fn random_seed() i64;
    pub extern "ripple" fn log(level: [*]const u8, level_len: usize, msg: [*]const u8, msg_len: usize) void;
    pub extern "ripple" fn get_env(name: [*]const u8, name_len: usize) i64;
    pub extern "ripple" fn schedule(at_ms: f64, path: [*]const u8, path_len: usize, args: [*]const u8, args_len: usize) i64;
    pub extern "ripple" fn cancel(id: [*]const u8, id_len: usize) i64;
    pub extern "ripple" fn run_query(path: [*]const u8, path_len: usize, args: [*]const u8, args_len: usize) i64;
    pub extern "ripple" fn run_mutation(path: [*]const u8, path_len: usize, args: [*]const u8, args_len: usize) i64;
    pub extern "ripple" fn run_action(path: [*]const u8, path_len: usize, args: [*]const u8, args_len: usize) i64;
    pub extern "ripple" fn fetch(request: [*]const u8, request_len: usize) i64;
    pub extern "ripple" fn last_error() i64;
    pub extern "ripple" fn fail(error_json: [*]const u8, error_len: usize) void;
};

pub const NONE: i64 = -1;
pub const ERR: i64 = -2;

/// A failed syscall (the host holds its error) or a failure already reported with `fail`.
pub const Error = error{Failed};

// ---- allocation -----------------------------------------------------------------------------------

extern var __heap_base: u8;
var heap_top: usize = 0;

const oom_json = "{\"code\":\"OutOfMemory\",\"message\":\"the function ran out of memory (memory.grow failed)\"}";

/// Bump allocator, 8-byte aligned; grows linear memory; on failure reports OutOfMemory and traps.
pub fn alloc(n: usize) [*]u8 {
    if (heap_top == 0) heap_top = @intFromPtr(&__heap_base);
    const p = (heap_top + 7) & ~@as(usize, 7);
    const end = p +% n;
    const cur = @wasmMemorySize(0) * 65536;
    if (end < p or (end > cur and @wasmMemoryGrow(0, (end - cur + 65535) / 65536) < 0)) {
        sys.fail(oom_json, oom_json.len);
        @trap();
    }
    heap_top = end;
    return @ptrFromInt(p);
}

fn allocExport(n: usize) callconv(.c) [*]u8 {
    return alloc(n);
}

comptime {
    @export(&allocExport, .{ .name = "alloc" });
}

/// A copy of `s` in fresh memory.
pub fn dupe(s: []const u8) []u8 {
    const p = alloc(s.len);
    @memcpy(p[0..s.len], s);
    return p[0..s.len];
}

// ---- packing --------------------------------------------------------------------------------------

pub fn pack(s: []const u8) i64 {
    return @bitCast((@as(u64, @intFromPtr(s.ptr)) << 32) | @as(u64, s.len));
}

pub fn unpack(r: i64) ?[]const u8 {
    if (r < 0) return null;
    const u: u64 = @bitCast(r);
    const p: [*]const u8 = @ptrFromInt(@as(usize, @truncate(u >> 32)));
    return p[0..@as(usize, @truncate(u & 0xffffffff))];
}

fn value(r: i64) Error!?[]const u8 {
    if (r <= ERR) return Error.Failed;
    return unpack(r);
}

// ---- syscalls -------------------------------------------------------------------------------------

/// The document with this id (Convex JSON), or null. Records a read.
pub fn get(id: []const u8) Error!?[]const u8 {
    return value(sys.get(id.ptr, id.len));
}
/// One page of an index range; request/response JSON as in ABI.md.
pub fn query(request: []const u8) Error![]const u8 {
    return (try value(sys.query(request.ptr, request.len))) orelse "";
}
/// The new document's id (plain text).
pub fn insert(table: []const u8, doc: []const u8) Error![]const u8 {
    return (try value(sys.insert(table.ptr, table.len, doc.ptr, doc.len))) orelse "";
}
pub fn patch(id: []const u8, fields: []const u8) Error!void {
    _ = try value(sys.patch(id.ptr, id.len, fields.ptr, fields.len));
}
pub fn replace(id: []const u8, doc: []const u8) Error!void {
    _ = try value(sys.replace(id.ptr, id.len, doc.ptr, doc.len));
}
pub fn delete(id: []const u8) Error!void {
    _ = try value(sys.delete(id.ptr, id.len));
}
pub fn now() u64 {
    return @bitCast(sys.now());
}
pub fn randomSeed() u64 {
    return @bitCast(sys.random_seed());
}
/// One log line; level is LOG, DEBUG, INFO, WARN or ERROR.
pub fn log(level: []const u8, message: []const u8) void {
    sys.log(level.ptr, level.len, message.ptr, message.len);
}
/// A deployment environment variable, or null.
pub fn getEnv(name: []const u8) ?[]const u8 {
    return unpack(sys.get_env(name.ptr, name.len));
}
/// Actions only: a nested query/mutation/action; its result JSON.
pub fn runQuery(path: []const u8, args: []const u8) Error![]const u8 {
    return (try value(sys.run_query(path.ptr, path.len, args.ptr, args.len))) orelse "null";
}
pub fn runMutation(path: []const u8, args: []const u8) Error![]const u8 {
    return (try value(sys.run_mutation(path.ptr, path.len, args.ptr, args.len))) orelse "null";
}
/// The last failed syscall's error JSON, or null.
pub fn lastError() ?[]const u8 {
    return unpack(sys.last_error());
}

// ---- errors ---------------------------------------------------------------------------------------

/// Fail the function with {"code": code, "message": message}; returns Error.Failed to return.
pub fn fail(code: []const u8, message: []const u8) Error {
    var b = Buf{};
    b.put("{\"code\":");
    b.jsonString(code);
    b.put(",\"message\":");
    b.jsonString(message);
    b.put("}");
    sys.fail(b.items().ptr, b.len);
    return Error.Failed;
}

/// Throw a ConvexError whose data is a string (`raise ConvexError("...")` in Python).
pub fn convexError(message: []const u8) Error {
    var b = Buf{};
    b.put("{\"code\":\"ConvexError\",\"message\":");
    b.jsonString(message);
    b.put(",\"data\":");
    b.jsonString(message);
    b.put("}");
    sys.fail(b.items().ptr, b.len);
    return Error.Failed;
}

/// Adapt `f(args_json) -> ?result_json` to the udf_<name> export convention: null -> -1, a result ->
/// packed, Error.Failed -> -2 (the host reports the failure passed to `fail`, else the last failed
/// syscall's error).
pub fn run(comptime f: fn ([]const u8) Error!?[]const u8, p: [*]const u8, n: usize) i64 {
    const out = f(p[0..n]) catch return ERR;
    return if (out) |s| pack(s) else NONE;
}

// ---- JSON building --------------------------------------------------------------------------------

/// A growable byte buffer in guest memory (grows in place when it is the newest allocation).
pub const Buf = struct {
    ptr: [*]u8 = undefined,
    len: usize = 0,
    cap: usize = 0,

    pub fn items(self: *const Buf) []const u8 {
        return if (self.cap == 0) "" else self.ptr[0..self.len];
    }

    fn reserve(self: *Buf, extra: usize) void {
        if (self.len + extra <= self.cap) return;
        var cap: usize = if (self.cap == 0) 64 else self.cap * 2;
        while (cap < self.len + extra) cap *= 2;
        if (self.cap != 0 and @intFromPtr(self.ptr) + self.cap == heap_top) {
            _ = alloc(cap - self.cap); // extends the newest allocation in place
        } else {
            const fresh = alloc(cap);
            if (self.len != 0) @memcpy(fresh[0..self.len], self.ptr[0..self.len]);
            self.ptr = fresh;
        }
        self.cap = cap;
    }

    pub fn put(self: *Buf, s: []const u8) void {
        self.reserve(s.len);
        @memcpy(self.ptr[self.len .. self.len + s.len], s);
        self.len += s.len;
    }

    pub fn putByte(self: *Buf, c: u8) void {
        self.reserve(1);
        self.ptr[self.len] = c;
        self.len += 1;
    }

    /// `s` as a JSON string literal (quotes and escapes added).
    pub fn jsonString(self: *Buf, s: []const u8) void {
        const hex = "0123456789abcdef";
        self.putByte('"');
        for (s) |c| {
            switch (c) {
                '"', '\\' => {
                    self.putByte('\\');
                    self.putByte(c);
                },
                '\n' => self.put("\\n"),
                '\r' => self.put("\\r"),
                '\t' => self.put("\\t"),
                0...8, 11, 12, 14...31 => {
                    self.put("\\u00");
                    self.putByte(hex[c >> 4]);
                    self.putByte(hex[c & 15]);
                },
                else => self.putByte(c),
            }
        }
        self.putByte('"');
    }

    /// A non-negative integer in decimal.
    pub fn uint(self: *Buf, v: u64) void {
        var tmp: [20]u8 = undefined;
        var k: usize = 0;
        var x = v;
        while (true) {
            tmp[k] = @intCast('0' + x % 10);
            k += 1;
            x /= 10;
            if (x == 0) break;
        }
        while (k > 0) {
            k -= 1;
            self.putByte(tmp[k]);
        }
    }
};

// ---- JSON reading ---------------------------------------------------------------------------------
// Tokens are slices of the input; null means absent or malformed.

fn ws(s: []const u8, i: usize) usize {
    var j = i;
    while (j < s.len and (s[j] == ' ' or s[j] == '\n' or s[j] == '\r' or s[j] == '\t')) j += 1;
    return j;
}

/// The index just past the JSON value starting at `i` (after whitespace), or null when malformed.
fn skip(s: []const u8, start: usize) ?usize {
    var i = ws(s, start);
    if (i >= s.len) return null;
    switch (s[i]) {
        '"' => {
            i += 1;
            while (i < s.len) : (i += 1) {
                if (s[i] == '\\') {
                    i += 1;
                } else if (s[i] == '"') return i + 1;
            }
            return null;
        },
        '{', '[' => {
            var depth: usize = 0;
            while (i < s.len) : (i += 1) {
                switch (s[i]) {
                    '"' => i = (skip(s, i) orelse return null) - 1,
                    '{', '[' => depth += 1,
                    '}', ']' => {
                        depth -= 1;
                        if (depth == 0) return i + 1;
                    },
                    else => {},
                }
            }
            return null;
        },
        else => {
            const b = i;
            while (i < s.len and s[i] != ',' and s[i] != '}' and s[i] != ']' and s[i] != ' ' and s[i] != '\n' and s[i] != '\r' and s[i] != '\t') i += 1;
            return if (i > b) i else null;
        },
    }
}

/// The text of a JSON string token without escapes, or null (escaped strings: use `string`).
fn plainString(tok: []const u8) ?[]const u8 {
    if (tok.len < 2 or tok[0] != '"') return null;
    const inner = tok[1 .. tok.len - 1];
    for (inner) |c| if (c == '\\') return null;
    return inner;
}

/// The text of a JSON string token, unescaped (\uXXXX included), or null when not a string.
pub fn string(tok: ?[]const u8) ?[]const u8 {
    const t = tok orelse return null;
    if (t.len < 2 or t[0] != '"') return null;
    if (plainString(t)) |s| return s;
    const out = alloc(t.len);
    var n: usize = 0;
    var i: usize = 1;
    while (i < t.len - 1) {
        const c = t[i];
        i += 1;
        if (c != '\\') {
            out[n] = c;
            n += 1;
            continue;
        }
        const e = t[i];
        i += 1;
        switch (e) {
            'n' => out[n] = '\n',
            'r' => out[n] = '\r',
            't' => out[n] = '\t',
            'b' => out[n] = 8,
            'f' => out[n] = 12,
            'u' => {
                var cp: u32 = hex4(t[i..]);
                i += 4;
                if (cp >= 0xD800 and cp < 0xDC00 and i + 6 <= t.len and t[i] == '\\' and t[i + 1] == 'u') {
                    const lo = hex4(t[i + 2 ..]);
                    if (lo >= 0xDC00 and lo < 0xE000) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        i += 6;
                    }
                }
                n += utf8(out[n..], cp);
                continue;
            },
            else => out[n] = e,
        }
        n += 1;
    }
    return out[0..n];
}

fn hex4(s: []const u8) u32 {
    var v: u32 = 0;
    for (s[0..4]) |c| {
        const d: u32 = if (c <= '9') c - '0' else (c | 32) - 'a' + 10;
        v = v * 16 + d;
    }
    return v;
}

fn utf8(out: [*]u8, cp: u32) usize {
    if (cp < 0x80) {
        out[0] = @intCast(cp);
        return 1;
    } else if (cp < 0x800) {
        out[0] = @intCast(0xC0 | (cp >> 6));
        out[1] = @intCast(0x80 | (cp & 63));
        return 2;
    } else if (cp < 0x10000) {
        out[0] = @intCast(0xE0 | (cp >> 12));
        out[1] = @intCast(0x80 | ((cp >> 6) & 63));
        out[2] = @intCast(0x80 | (cp & 63));
        return 3;
    }
    out[0] = @intCast(0xF0 | (cp >> 18));
    out[1] = @intCast(0x80 | ((cp >> 12) & 63));
    out[2] = @intCast(0x80 | ((cp >> 6) & 63));
    out[3] = @intCast(0x80 | (cp & 63));
    return 4;
}

fn eql(a: []const u8, b: []const u8) bool {
    if (a.len != b.len) return false;
    for (a, b) |x, y| if (x != y) return false;
    return true;
}

/// The raw token of member `key` of a JSON object, or null. O(len(obj)).
pub fn field(obj: []const u8, key: []const u8) ?[]const u8 {
    var i = ws(obj, 0);
    if (i >= obj.len or obj[i] != '{') return null;
    i += 1;
    while (true) {
        i = ws(obj, i);
        if (i >= obj.len or obj[i] == '}') return null;
        const kend = skip(obj, i) orelse return null;
        const k = obj[i..kend];
        i = ws(obj, kend);
        if (i >= obj.len or obj[i] != ':') return null;
        const vstart = ws(obj, i + 1);
        const vend = skip(obj, vstart) orelse return null;
        if (string(k)) |ks| {
            if (eql(ks, key)) return obj[vstart..vend];
        }
        i = ws(obj, vend);
        if (i < obj.len and obj[i] == ',') i += 1;
    }
}
