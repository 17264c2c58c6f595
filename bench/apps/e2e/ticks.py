"""The end-to-end subscription benchmark's app: every commit inserts a tick, and every subscriber
watches the newest one, so each commit changes every subscriber's result (see bench/e2e_subscriptions.py).

``post`` stores the writer's wall-clock send time (int64 ns) with the sequence number, so a subscriber
can tell which commit its result reflects; ``latest`` is a small result (one document)."""
from ripple import mutation, query, v


@mutation(args={"seq": v.int64(), "sent_ns": v.int64()})
def post(ctx, args):
    return ctx.db.insert("ticks", {"seq": args["seq"], "sent_ns": args["sent_ns"]})


@query
def latest(ctx, args):
    doc = ctx.db.query("ticks").order("desc").first()
    return None if doc is None else {"seq": doc["seq"], "sent_ns": doc["sent_ns"]}
