from ripple import action, internal_mutation, mutation, query, v


@mutation(args={"ms": v.float64(), "fail": v.boolean(), "x": v.string()})
def later(ctx, args):
    job = ctx.scheduler.run_after(args["ms"], "jobs:record", {"x": args["x"]})
    if args["fail"]:
        raise ValueError("abort after scheduling")
    return job


@internal_mutation(args={"x": v.string()})
def record(ctx, args):
    if args["x"].startswith("!"):
        raise ValueError("scheduled function failed on purpose")
    return ctx.db.insert("log", {"x": args["x"]})


@mutation(args={"id": v.string()})
def cancel(ctx, args):
    ctx.scheduler.cancel(args["id"])


@mutation(args={"id": v.string()})
def tamper(ctx, args):
    ctx.db.patch(args["id"], {"state": "success"})


@action(args={"x": v.string()})
def from_action(ctx, args):
    return ctx.scheduler.run_after(0, "jobs:record", {"x": args["x"]})


@query
def log(ctx, args):
    return ctx.db.query("log").collect()
