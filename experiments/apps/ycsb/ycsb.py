"""YCSB transactions as a deployed mutation (twin of ``experiments.workloads.ycsb.Ycsb._run_txn``)."""
from ripple import mutation, v


def _value(key, salt, length):
    return f"{key}:{salt}:".ljust(length, "x")[:length]


@mutation(args={"steps": v.any(), "fields": v.int64(), "field_length": v.int64()})
def txn(ctx, args):
    steps, nf, length = args["steps"], int(args["fields"]), int(args["field_length"])
    seen = 0
    found = []
    for kind, key, arg in steps:
        if kind == "scan":
            seen += len(ctx.db.query("usertable").with_index("by_k", lambda q, k=key: q.gte("k", k)).take(int(arg)))
            found.append(None)
        elif kind == "insert":
            found.append(None)
        else:
            doc = ctx.db.query("usertable").with_index("by_k", lambda q, k=key: q.eq("k", k)).first()
            seen += doc is not None
            found.append(doc)
    for (kind, key, arg), doc in zip(steps, found):
        if kind == "insert":
            ctx.db.insert("usertable", {"k": key, "n": 0, **{f"f{i}": _value(key, i, length) for i in range(nf)}})
        elif kind == "update" and doc is not None:
            ctx.db.patch(doc["_id"], {f"f{key % nf}": _value(key, doc["n"] + 1, length)})
        elif kind == "rmw" and doc is not None:
            ctx.db.patch(doc["_id"], {"n": doc["n"] + 1})
    return seen
