"""A counter and a notes table for the client tests (Ripple functions, reference or wasm host)."""
from ripple import ConvexError, action, mutation, query, v


@query
def get(ctx, args):
    doc = ctx.db.query("counters").first()
    return 0.0 if doc is None else doc["n"]


@mutation(args={"by": v.optional(v.float64())})
def bump(ctx, args):
    doc = ctx.db.query("counters").first()
    by = args.get("by", 1.0)
    if doc is None:
        ctx.db.insert("counters", {"n": by})
        return by
    ctx.db.patch(doc["_id"], {"n": doc["n"] + by})
    return doc["n"] + by


@mutation(args={"body": v.string()})
def add_note(ctx, args):
    return ctx.db.insert("notes", {"body": args["body"]})


@query
def notes(ctx, args):
    return [d["body"] for d in ctx.db.query("notes").collect()]


@mutation(args={"code": v.string()})
def refuse(ctx, args):
    ctx.db.insert("notes", {"body": "never committed"})
    raise ConvexError({"code": args["code"], "n": 3.0})


@mutation
def crash(ctx, args):
    raise ValueError("plain failure")


@query(args={"x": v.float64()})
def checked(ctx, args):
    if args["x"] < 0:
        raise ConvexError("negative")
    return args["x"] * 2


@action(args={"text": v.string()})
def shout(ctx, args):
    n = ctx.run_mutation("counter:bump", {"by": 10.0})
    return {"text": args["text"].upper(), "n": n}


@query
def padded(ctx, args):
    """The counter with 64 KiB of padding: fills a socket that is not read quickly."""
    doc = ctx.db.query("counters").first()
    return {"n": 0.0 if doc is None else doc["n"], "pad": "x" * 65536}
