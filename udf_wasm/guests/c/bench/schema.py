"""Schema of the benchmark app (C functions in *.c, Python twins in *.py with the same paths).

YCSB's ``usertable`` keeps its record key as a float64 field with an index, so scans (YCSB-E) are
index range reads; ``accounts`` holds the bank; ``users``/``events`` serve the overhead benchmark.
"""
from ripple import define_schema, define_table, v

FIELDS = [f"field{i}" for i in range(10)]

schema = define_schema({
    "usertable": define_table({"key": v.float64(), **{f: v.string() for f in FIELDS}}).index("by_key", ["key"]),
    "accounts": define_table({"owner": v.string(), "balance": v.float64()}),
    "users": define_table({"name": v.string()}),
    "events": define_table({"a": v.boolean(), "b": v.boolean()}),
})
