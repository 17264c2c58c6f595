"""Bank transfers as deployed functions (twins of ``experiments.workloads.bank.Bank``)."""
from ripple import mutation, v


@mutation(args={"src": v.string(), "dst": v.string(), "amount": v.int64()})
def transfer(ctx, args):
    a, b = ctx.db.get(args["src"]), ctx.db.get(args["dst"])
    if a["balance"] < args["amount"]:
        return False
    ctx.db.patch(args["src"], {"balance": a["balance"] - args["amount"]})
    ctx.db.patch(args["dst"], {"balance": b["balance"] + args["amount"]})
    return True


@mutation(args={})
def audit(ctx, args):
    return sum(d["balance"] for d in ctx.db.query("accounts").collect())
