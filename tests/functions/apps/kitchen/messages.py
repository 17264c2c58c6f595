"""Deterministic functions used by the differential tests (reference host vs wasm host)."""
import logging

from ripple import ConvexError, DocumentNotFoundError, internal_query, mutation, query, v

from .util.shape import summary

log = logging.getLogger("messages")


@mutation(args={"channel": v.string(), "author": v.string(), "body": v.string(), "n": v.optional(v.float64())})
def send(ctx, args):
    if args["body"].startswith("!"):
        raise ConvexError({"reason": "bang", "body": args["body"], "count": 3})
    print("send", args["channel"], len(args["body"]))
    return ctx.db.insert("messages", dict(args))


@query(args={"channel": v.string(), "limit": v.float64()}, returns=v.array(v.object({"author": v.string(), "body": v.string()})))
def recent(ctx, args):
    docs = (ctx.db.query("messages").with_index("by_channel", lambda q: q.eq("channel", args["channel"]))
            .order("desc").take(int(args["limit"])))
    log.warning("recent %s -> %d", args["channel"], len(docs))
    return [summary(d) for d in reversed(docs)]


@query(args={"channel": v.string(), "lo": v.float64(), "hi": v.float64()})
def between(ctx, args):
    q = ctx.db.query("messages").with_index(
        "by_channel_n", lambda r: r.eq("channel", args["channel"]).gte("n", args["lo"]).lt("n", args["hi"]))
    return [d["n"] for d in q.collect()]


@query(args={"author": v.string()})
def by_author_filtered(ctx, args):
    return [d["body"] for d in ctx.db.query("messages").filter(lambda d: d["author"] == args["author"]).take(3)]


@query(args={"cursor": v.union(v.string(), v.null()), "n": v.float64()})
def page(ctx, args):
    res = ctx.db.query("messages").paginate({"numItems": int(args["n"]), "cursor": args["cursor"]})
    return {"bodies": [d["body"] for d in res.page], "done": res.is_done, "cursor": res.continue_cursor}


@query(args={"id": v.string()})
def get(ctx, args):
    try:
        return ctx.db.get(args["id"])
    except Exception as exc:  # InvalidIdError arrives as the same class in both hosts
        return {"error": type(exc).__name__}


@mutation(args={"id": v.string(), "body": v.string()})
def edit(ctx, args):
    try:
        ctx.db.patch(args["id"], {"body": args["body"]})
    except DocumentNotFoundError:
        return "missing"
    return "ok"


@mutation(args={"channel": v.string()})
def clear(ctx, args):
    docs = ctx.db.query("messages").with_index("by_channel", lambda q: q.eq("channel", args["channel"])).collect()
    for d in docs:
        ctx.db.delete(d["_id"])
    return len(docs)


@mutation(args={"name": v.string()})
def bump(ctx, args):
    row = ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", args["name"])).unique()
    if row is None:
        ctx.db.insert("counters", {"name": args["name"], "value": 1})
        return 1
    ctx.db.replace(row["_id"], {"name": args["name"], "value": row["value"] + 1})
    return row["value"] + 1


@query
def dice(ctx, args):
    """Deterministic randomness and time: same snapshot and args, same answer."""
    return {"roll": ctx.random.randint(1, 6), "now": ctx.now() > 0}


@mutation
def fails_after_write(ctx, args):
    ctx.db.insert("messages", {"channel": "x", "author": "y", "body": "never committed"})
    raise ValueError("deliberate failure after a write")


@query
def sneaky_write(ctx, args):
    return ctx.db.insert("messages", {"channel": "x", "author": "y", "body": "z"})


@query(returns=v.string())
def wrong_return(ctx, args):
    return 42


@internal_query
def secret(ctx, args):
    return "internal"


@query
def chatty(ctx, args):
    for i in range(300):
        print("line", i, "x" * (5000 if i == 0 else 1))
    return "done"
