"""A small app for the server tests: notes in named lists, every kind of function, ConvexErrors from each
kind, and a mutation that schedules work (optionally aborting after scheduling).

Numbers returned to clients are floats: a JavaScript client reads a Convex int64 as a BigInt."""
from ripple import ConvexError, action, internal_mutation, mutation, query, v


@mutation(args={"list": v.string(), "text": v.string()})
def add(ctx, args):
    return ctx.db.insert("notes", {"list": args["list"], "text": args["text"]})


@query(args={"list": v.string()})
def in_list(ctx, args):
    return [n for n in ctx.db.query("notes").collect() if n["list"] == args["list"]]


@query(args={"list": v.string()})
def count(ctx, args):
    return float(len([n for n in ctx.db.query("notes").collect() if n["list"] == args["list"]]))


@mutation(args={"data": v.any()})
def fail_mutation(ctx, args):
    raise ConvexError(args["data"])


@query(args={"data": v.any()})
def fail_query(ctx, args):
    raise ConvexError(args["data"])


@action(args={"data": v.any()})
def fail_action(ctx, args):
    raise ConvexError(args["data"])


@action(args={"text": v.string()})
def shout(ctx, args):
    return args["text"].upper() + "!"


@action(args={"list": v.string(), "text": v.string()})
def add_via_action(ctx, args):
    return ctx.run_mutation("notes:add", {"list": args["list"], "text": args["text"]})


@mutation(args={"list": v.string(), "text": v.string(), "ms": v.float64(), "fail": v.boolean()})
def later(ctx, args):
    """Note "origin <text>" now and schedule note <text> after *ms*; with *fail*, abort afterwards (so
    neither the origin note nor the schedule may exist). Returns the job id and when it is due (the
    function's clock, ``ctx.now()``, plus *ms*: what ``run_after`` computes)."""
    ctx.db.insert("notes", {"list": args["list"], "text": "origin " + args["text"]})
    job = ctx.scheduler.run_after(args["ms"], "notes:record", {"list": args["list"], "text": args["text"]})
    if args["fail"]:
        raise ConvexError({"aborted": args["text"]})
    return {"job": job, "due": float(ctx.now()) + args["ms"]}


@internal_mutation(args={"list": v.string(), "text": v.string()})
def record(ctx, args):
    return ctx.db.insert("notes", {"list": args["list"], "text": args["text"]})
