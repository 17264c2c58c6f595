"""Python twins of overhead.c (same paths, same semantics)."""
from ripple import mutation, query, v


@query
def noop(ctx, args):
    return None


@mutation(args={"a": v.string(), "b": v.string()})
def get_and_insert(ctx, args):
    a, b = ctx.db.get(args["a"]), ctx.db.get(args["b"])
    return ctx.db.insert("events", {"a": a is not None, "b": b is not None})
