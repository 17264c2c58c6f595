from ripple import action, internal_mutation, v


@internal_mutation(args={"body": v.string()})
def record(ctx, args):
    return ctx.db.insert("messages", {"channel": "actions", "author": "bot", "body": args["body"]})


@action(args={"url": v.string()})
def fetch_and_record(ctx, args):
    resp = ctx.fetch(args["url"])
    doc_id = ctx.run_mutation("actions:record", {"body": f"{resp.status}:{resp.text}"})
    recent = ctx.run_query("messages:recent", {"channel": "actions", "limit": 5.0})
    return {"id": doc_id, "recent": recent}


@action
def call_secret(ctx, args):
    return ctx.run_query("messages:secret")
