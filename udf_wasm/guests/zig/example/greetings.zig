//! An example Zig module for the core host: `greetings:greet` inserts a greeting for `name` into the
//! `greetings` table, logs it and returns the new document's id. Built and run by
//! tests/functions/test_core_guests.py.
const ripple = @import("ripple");

export fn ripple_describe() i64 {
    return ripple.pack(
        \\[{"name":"greet","kind":"mutation",
        \\  "args":{"type":"object","fields":{"name":{"type":"string"}}},
        \\  "returns":{"type":"string"}}]
    );
}

fn greet(args: []const u8) ripple.Error!?[]const u8 {
    const name_token = ripple.field(args, "name") orelse return ripple.fail("Uncaught", "name is missing");
    const name = ripple.string(name_token) orelse return ripple.fail("Uncaught", "name must be a string");
    if (name.len == 0) return ripple.convexError("name must not be empty");
    var doc = ripple.Buf{};
    doc.put("{\"text\":\"hello, "); // "hello, " + the name's JSON token without its opening quote
    doc.put(name_token[1..]);
    doc.put("}");
    const id = try ripple.insert("greetings", doc.items());
    var line = ripple.Buf{};
    line.put("greeted ");
    line.put(name);
    ripple.log("INFO", line.items());
    var out = ripple.Buf{};
    out.jsonString(id);
    return out.items();
}

export fn udf_greet(p: [*]const u8, n: usize) i64 {
    return ripple.run(greet, p, n);
}
