"""Two-account transfers for the hot-document tests: every transfer reads and writes the same two
documents, so concurrent transfers always conflict under OCC. Balances are floats (a JavaScript client
reads a Convex int64 as a BigInt)."""
from ripple import ConvexError, mutation, query, v


@mutation(args={"name": v.string(), "balance": v.float64()})
def open_account(ctx, args):
    return ctx.db.insert("accounts", {"name": args["name"], "balance": args["balance"]})


@mutation(args={"from": v.id("accounts"), "to": v.id("accounts"), "amount": v.float64()})
def transfer(ctx, args):
    src, dst = ctx.db.get(args["from"]), ctx.db.get(args["to"])
    if src is None or dst is None:
        raise ConvexError({"code": "NoSuchAccount"})
    ctx.db.patch(src["_id"], {"balance": src["balance"] - args["amount"]})
    ctx.db.patch(dst["_id"], {"balance": dst["balance"] + args["amount"]})
    return src["balance"] - args["amount"]


@query(args={"ids": v.array(v.id("accounts"))})
def balances(ctx, args):
    return [ctx.db.get(i)["balance"] for i in args["ids"]]
