"""The chat tutorial in Ripple: send a message, read the newest 50 (oldest first), and `/wiki topic`
answered by an action that fetches a summary and schedules the reply.

A message longer than MAX_BODY characters is refused with a ConvexError whose data says why, so a
client can show it (the web page in public/ does)."""
from ripple import ConvexError, internal_mutation, mutation, query, v

MAX_BODY = 2000


@mutation(args={"author": v.string(), "body": v.string()})
def send_message(ctx, args):
    body = args["body"].strip()
    if not body:
        raise ValueError("a message needs some text")
    if len(body) > MAX_BODY:
        # floats, not ints: a JavaScript client reads a Convex int64 as a BigInt
        raise ConvexError({"code": "MessageTooLong", "maxLength": float(MAX_BODY), "length": float(len(body))})
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
