"""The ``ripple`` command line: ``demo``, ``build``, and the server commands (``dev``, ``serve``,
``run``, ``export``, ``import``; see ``engine.server.cli``).

Who may call it: people, ``make run``. Argument parsing happens in ``main()``, never at import.
Nothing here imports the web stack: the server commands' module is imported inside ``main()`` and
itself loads starlette/uvicorn only when ``dev`` or ``serve`` runs, so ``ripple demo``, ``build``,
``run``, ``export`` and ``import`` work without the ``server`` extra, and ``dev``/``serve`` without it
print one line naming the extra to install.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time


def _demo(args: argparse.Namespace) -> int:
    import engine
    from engine import define_schema, define_table, v
    from engine.clock.hlc import unpack

    own_dir = args.data is None
    path = args.data or tempfile.mkdtemp(prefix="ripple-demo-")
    out = print
    out(f"Ripple demo - database at {path} (persistence=lmdb, index=lmdb-btree, durability=full)")
    schema = define_schema({
        "accounts": define_table({"owner": v.string(), "balance": v.int64()}).index("by_owner", ["owner"]),
        "transfers": define_table({"src": v.id("accounts"), "dst": v.id("accounts"), "amount": v.int64()}),
    })
    db = engine.open_database(path, schema=schema, seed=args.seed)
    try:
        owners = ["ada", "bob", "cyd", "dee"]
        ids = db.mutate(lambda tx: [tx.insert("accounts", {"owner": o, "balance": 100}) for o in owners], name="seed")
        start_ts = db.latest_ts()
        out(f"\n1. created {len(ids)} accounts with 100 each at ts {start_ts} (physical ms, logical = {unpack(start_ts)})")

        def total(tx):
            return sum(a["balance"] for a in tx.query("accounts").collect())

        def richest(tx):
            top = max(tx.query("accounts").collect(), key=lambda a: (a["balance"], a["owner"]))
            return f"{top['owner']}={top['balance']}"

        fired: list[str] = []
        sub = db.subscribe(richest, on_change=lambda result, ts: fired.append(f"ts {ts}: richest is now {result}"))
        out(f"2. subscribed to 'richest account' -> {sub.result!r}")

        def transfer(tx, src, dst, amount):
            a, b = tx.get(src), tx.get(dst)
            if a["balance"] < amount:
                return False
            tx.patch(src, {"balance": a["balance"] - amount})
            tx.patch(dst, {"balance": b["balance"] + amount})
            tx.insert("transfers", {"src": src, "dst": dst, "amount": amount})
            return True

        import random

        errors: list[BaseException] = []

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(args.transfers):
                s, d = rng.sample(ids, 2)
                try:
                    db.mutate(transfer, s, d, rng.randint(1, 30), name="transfer")
                except engine.ConflictError:
                    pass  # counted in stats as failed_mutations
                except BaseException as exc:  # pragma: no cover - shown, not hidden
                    errors.append(exc)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(args.seed * 100 + i,)) for i in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        db.wait_for_subscriptions()
        st = db.stats()
        out(f"\n3. {args.threads} threads x {args.transfers} transfers over 4 hot accounts in {elapsed:.2f}s:")
        out(f"   commits={st['commits']} conflicts={st['conflicts']} retries={st['retries']} "
            f"gave-up={st['failed_mutations']} group-commit batches={st['commit_batches']} "
            f"(avg {st['batched_commits'] / max(1, st['commit_batches']):.2f} commits per durable write)")
        if errors:
            out(f"   unexpected errors: {errors[:3]}")
        out(f"   invariant: total balance now {db.read(total)} (was 400)")

        out(f"\n4. the subscription fired {len(fired)} times (only when the richest account changed); last few:")
        for line in fired[-3:]:
            out(f"   {line}")
        sub.cancel()

        hist = db.history(ids[0])
        out(f"\n5. history of {owners[0]}'s account {ids[0]}: {len(hist)} versions")
        for ver in hist[:3] + ([] if len(hist) <= 6 else [None]) + hist[-3:] if len(hist) > 6 else hist:
            if ver is None:
                out("   ...")
            else:
                out(f"   ts {ver.ts}: balance={ver.value['balance'] if ver.value else 'deleted'}")

        then = db.read(lambda tx: {a["owner"]: a["balance"] for a in tx.query("accounts").collect()}, at=start_ts)
        now = db.read(lambda tx: {a["owner"]: a["balance"] for a in tx.query("accounts").collect()})
        out(f"\n6. time travel: balances at ts {start_ts}: {then}")
        out(f"   balances now (ts {db.latest_ts()}): {now}")

        last = list(db.log(db.latest_ts()))
        if last:
            e = last[-1]
            out(f"\n7. the newest log record: ts {e.ts} by {e.writer!r}: "
                + ", ".join(f"{w.table}/{w.id[:8]}… (prev ts {w.prev_ts})" for w in e.writes))
        report = db.verify()
        out(f"\n8. verify(): indexes rebuilt from the log match the live indexes: {report.ok} "
            f"({report.indexes_checked} indexes, {report.snapshots_checked} snapshots)")
        return 0 if report.ok and not errors and db.read(total) == 400 else 1
    finally:
        db.close()
        if own_dir and not args.keep:
            shutil.rmtree(path, ignore_errors=True)


def _build(args: argparse.Namespace) -> int:
    """Build an app's functions into a WebAssembly component (cached by content hash) and report."""
    from engine.functions import FunctionsConfig
    from engine.functions.hosts import make_host

    host = make_host("wasm", FunctionsConfig(cache_dir=args.cache))
    result = host.build(args.app_dir)
    state = "cached" if result.cached else "built"
    print(f"{state} {args.app_dir} -> {result.cwasm}")
    print(f"  key {result.key[:16]}  total {result.seconds:.2f} s", end="")
    if not result.cached:
        print(f" (componentize {result.componentize_seconds:.2f} s, wasmtime compile {result.compile_seconds:.2f} s, "
              f"component {result.wasm_bytes / 1e6:.1f} MB)", end="")
    print()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ripple", description="Ripple: a reactive transactional document database")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a short concurrent workload on the embedded engine and show what happened")
    demo.add_argument("--data", help="database directory (default: a fresh temporary one)")
    demo.add_argument("--threads", type=int, default=4)
    demo.add_argument("--transfers", type=int, default=50, help="transfers per thread")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--keep", action="store_true", help="keep the temporary database directory")
    build = sub.add_parser("build", help="build an app's functions into a cached WebAssembly component")
    build.add_argument("app_dir")
    build.add_argument("--cache", help="component cache folder (default: $RIPPLE_CACHE_DIR or ~/.cache/ripple)")
    from engine.server.cli import add_commands, dispatch

    add_commands(sub)
    args = parser.parse_args(argv)
    try:
        handled = dispatch(args)
        if handled is not None:
            return handled
        if args.command == "demo":
            return _demo(args)
        if args.command == "build":
            return _build(args)
    except Exception as exc:  # one clear line, not a traceback, for expected failures
        from engine._impl import NativeBuildError
        from engine.model.errors import FunctionError
        from engine.server.cli import MissingExtraError

        if isinstance(exc, (NativeBuildError, FunctionError, MissingExtraError)):
            print(f"ripple: {exc}", file=sys.stderr)
            return 2
        raise
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
