from ripple import define_schema, define_table, v

schema = define_schema({
    "messages": define_table({
        "channel": v.string(),
        "author": v.string(),
        "body": v.string(),
        "n": v.optional(v.float64()),
    }).index("by_channel", ["channel"]).index("by_channel_n", ["channel", "n"]),
    "counters": define_table({"name": v.string(), "value": v.int64()}).index("by_name", ["name"]),
})
