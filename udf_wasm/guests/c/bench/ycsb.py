"""Python twins of ycsb.c (same paths, same semantics): the reference for differential tests and the
baseline of the overhead benchmark."""
from ripple import mutation, query, v


@query(args={"id": v.string()})
def read(ctx, args):
    return ctx.db.get(args["id"])


@mutation(args={"id": v.string(), "field": v.string(), "value": v.string()})
def update(ctx, args):
    ctx.db.patch(args["id"], {args["field"]: args["value"]})


@query(args={"start": v.float64(), "count": v.float64()})
def scan(ctx, args):
    n = int(args["count"])
    if not 1 <= n <= 100:
        raise ValueError("count must be in 1..100")
    return ctx.db.query("usertable").with_index("by_key", lambda q: q.gte("key", args["start"])).take(n)


@mutation(args={"id": v.string(), "field": v.string(), "suffix": v.string()})
def rmw(ctx, args):
    doc = ctx.db.get(args["id"])
    if doc is None:
        return None
    old = doc.get(args["field"])
    new = (old if isinstance(old, str) else "") + args["suffix"]
    ctx.db.patch(args["id"], {args["field"]: new})
    return new
