"""Python twins of bank.c (same paths, same semantics)."""
from ripple import ConvexError, mutation, v


@mutation(args={"owner": v.string(), "balance": v.float64()})
def open(ctx, args):  # noqa: A001 - the function path is bank:open
    return ctx.db.insert("accounts", {"owner": args["owner"], "balance": args["balance"]})


@mutation(args={"from": v.string(), "to": v.string(), "amount": v.float64()}, returns=v.float64())
def transfer(ctx, args):
    a, b = ctx.db.get(args["from"]), ctx.db.get(args["to"])
    if a is None or b is None:
        raise ConvexError("no such account")
    amount = args["amount"]
    if not amount > 0:
        raise ConvexError("amount must be positive")
    if a["balance"] < amount:
        raise ConvexError("insufficient funds")
    if args["from"] == args["to"]:
        return a["balance"]
    ctx.db.patch(args["from"], {"balance": a["balance"] - amount})
    ctx.db.patch(args["to"], {"balance": b["balance"] + amount})
    return a["balance"] - amount
