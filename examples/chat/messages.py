"""The chat tutorial in Ripple: send a message, read the newest 50 (oldest first), and `/wiki topic`
answered by an action that fetches a summary and schedules the reply."""
from ripple import internal_mutation, mutation, query, v


@mutation(args={"author": v.string(), "body": v.string()})
def send_message(ctx, args):
    body = args["body"].strip()
    if not body:
        raise ValueError("a message needs some text")
    doc_id = ctx.db.insert("messages", {"author": args["author"], "body": body})
    if body.startswith("/wiki "):
        ctx.scheduler.run_after(0, "wiki:answer", {"topic": body[len("/wiki "):].strip()})
    return doc_id


@query
def get_messages(ctx, args):
    newest = ctx.db.query("messages").order("desc").take(50)
    return list(reversed(newest))


@internal_mutation(args={"body": v.string()})
def post_reply(ctx, args):
    return ctx.db.insert("messages", {"author": "Wikipedia", "body": args["body"]})
