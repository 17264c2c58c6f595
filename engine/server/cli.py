"""Server commands of the ``ripple`` command line: ``dev``, ``serve``, ``run``, ``export``, ``import``.

Who may call it: ``engine.cli.main`` (argument parsing lives there). Failures people can act on (a
broken app, a busy port, a bad argument, the ``server`` extra not installed) print one line and exit
non-zero; a broken app under ``ripple dev`` is reported and the previous version keeps serving.

This module imports no web package at import time: ``dev`` and ``serve`` check for the ``server``
extra first (``MissingExtraError`` names what is missing); ``run``, ``export`` and ``import`` work
without it.

Snapshots (``export``/``import``): a folder with one ``<table>.jsonl`` per user table (one Convex-JSON
document per line, oldest first) and ``_meta.json`` (tables, timestamp). ``import`` inserts into the
target database in creation order and assigns new ids; any string value equal to an exported id (a
reference between documents) is rewritten to the new id, so references survive. ``_creationTime``
values are new (order is kept).
"""
from __future__ import annotations

import importlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from engine.model.errors import RippleError


SERVER_EXTRA = ("starlette", "uvicorn", "websockets")
DEV_EXTRA = (*SERVER_EXTRA, "watchfiles")


class MissingExtraError(RippleError):
    """A command needs packages of an extra that is not installed."""


def require_extra(command: str, modules: tuple[str, ...], extra: str = "server") -> None:
    """Raise ``MissingExtraError`` unless every module in *modules* imports (each is imported once; a
    later ``import`` is then free)."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExtraError(f"`ripple {command}` needs the {extra!r} extra, which is not installed "
                                f"(missing: {', '.join(missing)}); install it with: pip install 'ripple-db[{extra}]'")


def _parse_env(pairs: list[str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"ripple: --env expects NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


def _open(args: Any) -> tuple[Any, Any]:
    import engine
    from engine.functions import FunctionsConfig
    from engine.server.deployment import Deployment

    data = Path(args.data or Path(".ripple") / Path(args.app_dir).resolve().name)
    data.mkdir(parents=True, exist_ok=True)
    db = engine.open_database(data)
    config = FunctionsConfig(env=_parse_env(args.env), fetch_allow=tuple(args.allow_fetch or ()),
                             cache_dir=args.cache)
    started = time.perf_counter()
    try:
        dep = Deployment(db, args.app_dir, host=args.host_kind, config=config)
    except BaseException:
        db.close()
        raise
    print(f"ripple: deployed {args.app_dir} ({len(dep.app.functions)} functions, {args.host_kind} host) "
          f"in {time.perf_counter() - started:.2f} s; data in {data}", flush=True)
    return db, dep


def serve(args: Any, *, watch: bool) -> int:
    require_extra(args.command, DEV_EXTRA if watch else SERVER_EXTRA)
    import uvicorn

    from engine.functions.loader import app_hash
    from engine.server.asgi import create_app, uvicorn_config
    from engine.server.watch import watch_and_redeploy

    before_deploy = app_hash(args.app_dir) if watch else ""  # taken first: no edit slips in unseen
    db, dep = _open(args)
    stop = threading.Event()
    watcher = None
    try:
        app = create_app(dep)
        server = uvicorn.Server(uvicorn_config(app, host=args.bind, port=args.port))
        if watch:
            def ready() -> None:
                print(f"ripple: watching {dep.app_dir} for changes", flush=True)

            watcher = threading.Thread(target=watch_and_redeploy, args=(dep, stop, before_deploy),
                                       kwargs={"on_ready": ready}, name="ripple-watch", daemon=True)
            watcher.start()
        print(f"ripple: serving on http://{args.bind}:{args.port}  (admin key: {dep.admin_key})", flush=True)
        server.run()
        if not server.started:
            print(f"ripple: could not listen on {args.bind}:{args.port} (is the port in use?)", file=sys.stderr)
            return 1
        return 0
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=5)  # the watcher checks *stop* every step; a redeploy may be finishing
        dep.close()
        db.close()


def run(args: Any) -> int:
    """Call a function on a running server (``--url``), or embedded (``--app``/``--data``)."""
    try:
        fn_args = json.loads(args.args_json) if args.args_json else {}
    except json.JSONDecodeError as exc:
        print(f"ripple: ARGS_JSON is not valid JSON: {exc}", file=sys.stderr)
        return 2
    if args.app:
        import engine
        from engine.functions import FunctionsConfig
        from engine.model.values import from_json, to_clean_json

        db = engine.open_database(args.data) if args.data else engine.open_database(None)
        try:
            app = db.deploy(args.app, host=args.host_kind, config=FunctionsConfig(cache_dir=args.cache), scheduler=False)
            try:
                result = app.run(args.path, from_json(fn_args), internal=True)
            finally:
                app.close()
        except RippleError as exc:
            print(f"ripple: {exc}", file=sys.stderr)
            for line in getattr(exc, "logs", []):
                print(line, file=sys.stderr)
            return 1
        finally:
            db.close()
        for line in result.logs:
            print(line, file=sys.stderr)
        print(json.dumps(to_clean_json(result.value), indent=2))
        return 0
    import urllib.error
    import urllib.request

    body = json.dumps({"path": args.path, "args": fn_args, "format": "json"}).encode()
    headers = {"Content-Type": "application/json"}
    if args.admin_key:
        headers["Authorization"] = f"Convex {args.admin_key}"
    req = urllib.request.Request(args.url.rstrip("/") + "/api/function", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - the user's own server
            out = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        print(f"ripple: {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"ripple: cannot reach {args.url}: {exc.reason}", file=sys.stderr)
        return 1
    for line in out.get("logLines", []):
        print(line, file=sys.stderr)
    if out.get("status") != "success":
        print(f"ripple: {out.get('errorMessage')}", file=sys.stderr)
        if "errorData" in out:
            print(json.dumps(out["errorData"]), file=sys.stderr)
        return 1
    print(json.dumps(out["value"], indent=2))
    return 0


def _user_tables(db: Any) -> list[str]:
    return [t for t in db.tables() if not t.startswith("_")]


def export(args: Any) -> int:
    import engine
    from engine.model.values import to_json

    db = engine.open_database(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        ts = db.latest_ts()
        counts = {}
        for table in _user_tables(db):
            docs = db.read(lambda tx, t=table: tx.query(t).collect(), at=ts)
            with open(out / f"{table}.jsonl", "w") as f:
                for doc in docs:
                    f.write(json.dumps(to_json(doc), separators=(",", ":")) + "\n")
            counts[table] = len(docs)
        (out / "_meta.json").write_text(json.dumps({"ts": int(ts), "tables": counts}, indent=2) + "\n")
    finally:
        db.close()
    print(f"ripple: exported {sum(counts.values())} documents from {len(counts)} tables at ts {ts} to {out}")
    return 0


def _remap(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_remap(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _remap(v, ids) for k, v in value.items()}
    return value


def import_(args: Any) -> int:
    import engine
    from engine.model.values import from_json

    src = Path(args.src)
    meta = json.loads((src / "_meta.json").read_text())
    db = engine.open_database(args.data)
    try:
        existing = [t for t in _user_tables(db) if db.read(lambda tx, t=t: tx.query(t).first()) is not None]
        clash = sorted(set(existing) & set(meta["tables"]))
        if clash and not args.replace:
            print(f"ripple: tables {clash} already hold documents; use --replace to delete them first", file=sys.stderr)
            return 1
        rows: list[tuple[float, str, dict]] = []
        for table in meta["tables"]:
            with open(src / f"{table}.jsonl") as f:
                for n, line in enumerate(f, 1):
                    try:
                        doc = from_json(json.loads(line))
                    except (json.JSONDecodeError, RippleError) as exc:
                        print(f"ripple: {table}.jsonl line {n}: {exc}", file=sys.stderr)
                        return 1
                    rows.append((doc["_creationTime"], table, doc))
        rows.sort(key=lambda r: r[0])
        ids: dict[str, str] = {}

        def load(tx: Any) -> None:
            ids.clear()
            for table in clash:
                for doc in tx.query(table).collect():
                    tx.delete(doc["_id"])
            for _, table, doc in rows:
                user = {k: v for k, v in doc.items() if k not in ("_id", "_creationTime")}
                ids[doc["_id"]] = tx.insert(table, user)
            for _, table, doc in rows:  # second pass: rewrite references to the new ids
                user = {k: v for k, v in doc.items() if k not in ("_id", "_creationTime")}
                remapped = _remap(user, ids)
                if remapped != user:
                    tx.replace(ids[doc["_id"]], remapped)

        db.mutate(load, name="ripple import")
    finally:
        db.close()
    print(f"ripple: imported {len(rows)} documents into {args.data}")
    return 0


def add_commands(sub: Any) -> None:
    def common(p: Any) -> None:
        p.add_argument("app_dir", help="the app folder (function files and optional schema.py)")
        p.add_argument("--port", type=int, default=3210)
        p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default loopback)")
        p.add_argument("--data", help="database folder (default: .ripple/<app name>)")
        p.add_argument("--host-kind", choices=["wasm", "reference"], default="wasm",
                       help="where functions run: wasm sandboxes (default) or in-process (reference)")
        p.add_argument("--env", action="append", metavar="NAME=VALUE", help="environment variable for functions")
        p.add_argument("--allow-fetch", action="append", metavar="URL_PREFIX", help="URL prefix actions may fetch")
        p.add_argument("--cache", help="component cache folder")

    common(sub.add_parser("dev", help="deploy an app, serve it, and redeploy when its files change"))
    common(sub.add_parser("serve", help="deploy an app and serve it"))
    r = sub.add_parser("run", help="call a function: on a running server, or embedded with --app")
    r.add_argument("path", help="module:function")
    r.add_argument("args_json", nargs="?", default="{}")
    r.add_argument("--url", default="http://127.0.0.1:3210")
    r.add_argument("--admin-key", help="call internal functions on a server (see `ripple serve` output)")
    r.add_argument("--app", help="run embedded: the app folder")
    r.add_argument("--data", help="run embedded: the database folder (default: in memory)")
    r.add_argument("--host-kind", choices=["wasm", "reference"], default="reference")
    r.add_argument("--cache")
    e = sub.add_parser("export", help="write a snapshot of every user table as JSON lines")
    e.add_argument("--data", required=True)
    e.add_argument("out")
    i = sub.add_parser("import", help="load a snapshot written by export")
    i.add_argument("--data", required=True)
    i.add_argument("src")
    i.add_argument("--replace", action="store_true", help="delete existing documents of the imported tables")


def dispatch(args: Any) -> int | None:
    if args.command == "dev":
        return serve(args, watch=True)
    if args.command == "serve":
        return serve(args, watch=False)
    if args.command == "run":
        return run(args)
    if args.command == "export":
        return export(args)
    if args.command == "import":
        return import_(args)
    return None


__all__ = ["MissingExtraError", "add_commands", "dispatch", "require_extra"]
