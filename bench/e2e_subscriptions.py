"""End-to-end subscription latency (a benchmark, not a test): commit → every subscriber has the result.

``python -m bench.e2e_subscriptions [--quick] [--clients 1000] [--rate 100] [--seconds 20]
[--host-kind reference|wasm] [--load-procs N] [--profile] [--out results/bench/e2e]``

Who may call it: people and ``make``-style scripts; nothing imports it. It starts everything it uses
and stops all of it (every child is killed on exit, also on error or Ctrl-C); all traffic is on
loopback.

What runs:
- a real server process serving ``bench/apps/e2e`` (reference host by default) on a random port with a
  fresh data folder: ``--role server`` below does exactly what ``ripple serve`` does (same deployment,
  ``create_app`` and uvicorn settings) and adds ``/_bench/stats``, which reads the query hub's counters
  and per-cycle log (``engine.server.query_hub``);
- ``--load-procs`` load processes (default 2 from 200 clients up, else 1; separate processes so no client
  shares the server's GIL), each with its share of ``--clients`` ``engine.client.RippleClient``s, every
  client subscribed to ``ticks:latest`` (the newest tick: every commit changes every subscriber's result);
- writers (this process, ``--writers`` client connections taking ticks in turn) issuing ``ticks:post``
  at a fixed open-loop rate ``--rate`` for ``--seconds`` (one connection runs its mutations one at a
  time, as the protocol requires, so a single one caps the rate at 1 / mutation latency).

What it measures, per (subscriber, commit) after a warm-up: the time from the commit to that subscriber
receiving the first Transition whose result reflects it (a later result counts when updates coalesce;
a commit never seen by a subscriber is counted as ``missed``). The commit instant is bracketed on one
host clock: after the writer's send (``sent_ns``), within the millisecond of the commit ts (Ripple's wire
ts is physical ms·10⁶ + logical), before the writer's response arrival. ``latency_ms`` uses the earliest
possible commit instant (an upper bound of the true latency); ``latency_from_latest_commit_ms`` the
latest (a lower bound); ``latency_from_send_ms`` adds running the mutation.

Where the time goes: the writer's own send → response → resolved times, per-client receive spread
(first vs last subscriber of a commit), transitions per commit (coalescing), CPU of server and load
processes, the server's sync counters (``/bench`` needs none: the server prints nothing extra), and with
``--profile`` a py-spy profile of the server process (top functions by own samples) when py-spy is
installed.

Results: ``<out>/<UTC stamp>/e2e.json`` with ``bench.metadata.collect(config=..., seed=...)``.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "bench" / "apps" / "e2e"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.e2e_subscriptions", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run: 100 clients, 20 commits/s, 5 s")
    p.add_argument("--clients", type=int, default=None)
    p.add_argument("--rate", type=float, default=None, help="commits per second (open loop)")
    p.add_argument("--seconds", type=float, default=None, help="writing time, warm-up included")
    p.add_argument("--warmup", type=float, default=None, help="seconds of commits left out of the figures")
    p.add_argument("--host-kind", choices=["reference", "wasm"], default="reference")
    p.add_argument("--load-procs", type=int, default=None)
    p.add_argument("--writers", type=int, default=4, help="writer connections (ticks round-robin)")
    p.add_argument("--switch-interval", type=float, default=None,
                   help="sys.setswitchinterval in the server process (default: Python's 5 ms)")
    p.add_argument("--profile", action="store_true", help="py-spy the server process (if py-spy is installed)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=str(REPO / "results" / "bench" / "e2e"))
    p.add_argument("--label", default="", help="free text stored in the config (e.g. before/after)")
    # internal: a load process
    p.add_argument("--role", choices=["coordinator", "load", "server"], default="coordinator", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--dump", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = args.quick
    args.clients = args.clients or (100 if quick else 1000)
    args.rate = args.rate or (20.0 if quick else 100.0)
    args.seconds = args.seconds or (5.0 if quick else 20.0)
    args.warmup = args.warmup if args.warmup is not None else min(2.0, args.seconds / 4)
    args.load_procs = args.load_procs or (2 if args.clients >= 200 else 1)
    return args


# ---- helpers ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentiles(xs: Any) -> dict[str, float]:
    import numpy as np

    a = np.asarray(xs, dtype=float)
    if a.size == 0:
        return {"n": 0}
    p50, p90, p99, p999 = np.percentile(a, [50, 90, 99, 99.9])
    return {"n": int(a.size), "mean": float(a.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99),
            "p99.9": float(p999), "max": float(a.max()), "min": float(a.min())}


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not come up")


# ---- server process -----------------------------------------------------------------------------------


def server_main(args: argparse.Namespace) -> int:
    """``ripple serve`` (engine.server.cli.serve) for the bench app, plus ``/_bench/stats``."""
    import uvicorn
    from starlette.responses import JSONResponse

    import engine
    from engine.server.asgi import create_app, uvicorn_config
    from engine.server.deployment import Deployment

    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    db = engine.open_database(args.data)
    dep = Deployment(db, APP, host=args.host_kind)
    app = create_app(dep)
    hub = getattr(app.state, "query_hub", None)  # absent in servers older than the query hub

    async def stats(request: Any) -> JSONResponse:
        subs = dep.db.subscriptions.stats
        out: dict[str, Any] = {"subscription_manager": {k: getattr(subs, k) for k in vars(subs)}, "cycles": []}
        if hub is not None:
            out.update({"hub": hub.stats, "cycles": list(hub.cycle_log), "shared_queries": len(hub.queries),
                        "sessions": len(hub.sessions)})
            if request.query_params.get("reset"):
                hub.cycle_log.clear()
        return JSONResponse(out)

    app.add_route("/_bench/stats", stats)
    print(f"e2e server: {len(dep.app.functions)} functions, {args.host_kind} host", flush=True)
    try:
        uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=args.port)).run()
    finally:
        dep.close()
        db.close()
    return 0


def engine_stage(n: int, host_kind: str) -> dict[str, Any]:
    """In this process, without the server: the engine's share of the latency. For each of *n* commits of
    ``ticks:post`` with a watch on ``ticks:latest`` (as the query hub holds): how long the mutation call
    takes (run, commit, LMDB sync, publish) and when the subscription manager fires the watch, both from
    the call's start."""
    import threading

    import engine

    tmp = tempfile.mkdtemp(prefix="ripple-e2e-engine-")
    db = engine.open_database(tmp)
    app = db.deploy(str(APP), host=host_kind)
    call_ms, fire_ms, fire_after_return_ms = [], [], []
    try:
        app.run("ticks:post", {"seq": -1, "sent_ns": 0})
        for i in range(n):
            fired = threading.Event()
            box: dict[str, float] = {}
            T = db.subscriptions.processed_ts
            _outcome, read_set = app.query_at("ticks:latest", {}, T)

            def on_fire(_ts: int) -> None:
                box["fire"] = time.perf_counter()
                fired.set()

            watch = db.subscriptions.watch(read_set, T, on_fire)
            t0 = time.perf_counter()
            app.run("ticks:post", {"seq": i, "sent_ns": 0})
            t1 = time.perf_counter()
            fired.wait(5)
            watch.cancel()
            call_ms.append((t1 - t0) * 1e3)
            if "fire" in box:
                fire_ms.append((box["fire"] - t0) * 1e3)
                fire_after_return_ms.append((box["fire"] - t1) * 1e3)
            time.sleep(0.002)
    finally:
        app.close()
        db.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"commits": n, "mutation_call_ms": percentiles(call_ms), "call_start_to_watch_fired_ms": percentiles(fire_ms),
            "call_return_to_watch_fired_ms": percentiles(fire_after_return_ms)}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def cycle_summary(cycles: list[list[float]]) -> dict[str, Any]:
    """Per-cycle server phases (ms) from the hub's cycle log."""
    if not cycles:
        return {"cycles": 0}
    import numpy as np

    a = np.asarray(cycles, dtype=float)
    names = ["wait_ms", "compute_ms", "publish_ms", "send_ms"]
    out: dict[str, Any] = {"cycles": int(len(a))}
    for i, name in enumerate(names):
        out[name] = percentiles(a[:, i] * 1e3)
    out["sessions_per_cycle"] = percentiles(a[:, 4])
    out["reruns_per_cycle"] = percentiles(a[:, 5])
    out["transitions_per_cycle"] = percentiles(a[:, 6])
    sent = a[:, 6].sum()
    out["publish_us_per_transition"] = float(a[:, 2].sum() / sent * 1e6) if sent else None
    out["send_us_per_transition"] = float(a[:, 3].sum() / sent * 1e6) if sent else None
    return out


# ---- load process -------------------------------------------------------------------------------------


async def load_main(url: str, n: int, dump: str) -> None:
    """Open *n* subscribed clients, say READY, record (client, seq, receive ns) until STOP on stdin."""
    from engine.client import RippleClient

    cli_idx, seqs, recvs = array("l"), array("q"), array("q")
    transitions = [0]
    clients: list[RippleClient] = []

    def make(i: int) -> RippleClient:
        c = RippleClient(url, backoff=(0.5, 5.0), inactivity_timeout=120.0, connect_timeout=60.0)
        sub = None

        def on_update(value: Any) -> None:
            if value is not None:
                cli_idx.append(i)
                seqs.append(value["seq"])
                recvs.append(sub.received_ns)  # type: ignore[union-attr]

        sub = c.subscribe("ticks:latest", on_update=on_update)
        c._bench_sub = sub  # type: ignore[attr-defined]
        return c

    for start in range(0, n, 50):  # connect in batches, so the server's accept queue is not flooded
        batch = [make(i) for i in range(start, min(n, start + 50))]
        await asyncio.gather(*(c.connect() for c in batch))
        clients.extend(batch)
    await asyncio.gather(*(c._bench_sub.next(60) for c in clients))  # type: ignore[attr-defined]
    gc.collect()
    gc.freeze()
    print(f"READY {n}", flush=True)
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    assert line.strip() == "STOP", line
    stats = {"transitions": sum(c.stats.transitions for c in clients),
             "reconnects": sum(c.stats.reconnects for c in clients),
             "protocol_errors": sum(c.stats.protocol_errors for c in clients),
             "callback_errors": sum(len(c.callback_errors) for c in clients)}
    import numpy as np

    np.savez(dump, client=np.frombuffer(cli_idx, dtype=np.int64) if cli_idx.itemsize == 8 else np.array(cli_idx),
             seq=np.frombuffer(seqs, dtype=np.int64), recv=np.frombuffer(recvs, dtype=np.int64))
    with open(dump + ".json", "w") as f:
        json.dump(stats, f)
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    print("DONE", flush=True)
    del transitions


# ---- coordinator --------------------------------------------------------------------------------------


async def write_ticks(url: str, rate: float, seconds: float, writers: int = 1,
                      drain_s: float = 30.0) -> tuple[list[dict], int]:
    """Open-loop writer: tick i is sent at t0 + i/rate whatever the previous ones are doing. Returns the
    completed ticks and how many had not completed *drain_s* after the last send (an overloaded server)."""
    from engine.client import RippleClient

    rows: list[dict] = []
    conns = [RippleClient(url, connect_timeout=30.0) for _ in range(max(1, writers))]
    await asyncio.gather(*(w.connect() for w in conns))
    try:
        for w in conns:
            await w.mutation("ticks:post", {"seq": -1, "sent_ns": time.time_ns()})  # warm the path
        total = int(rate * seconds)
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05
        tasks = []

        async def one(i: int) -> None:
            c = conns[i % len(conns)]
            r = await c.mutation("ticks:post", {"seq": i, "sent_ns": time.time_ns()}, detailed=True)
            rows.append({"seq": i, "sent_ns": r.sent_ns, "response_ns": r.response_ns, "resolved_ns": r.resolved_ns,
                         "commit_ts": r.commit_ts})

        for i in range(total):
            delay = t0 + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        _done, pending = await asyncio.wait(tasks, timeout=drain_s)
        for t in pending:
            t.cancel()
    finally:
        await asyncio.gather(*(w.close() for w in conns), return_exceptions=True)
    rows.sort(key=lambda r: r["seq"])
    return rows, len(pending)


def analyse(rows: list[dict], dumps: list[str], n_clients: int, warmup_n: int) -> dict[str, Any]:
    import numpy as np

    commits = [r for r in rows if r["seq"] >= warmup_n]
    seq = np.array([r["seq"] for r in commits], dtype=np.int64)
    sent = np.array([r["sent_ns"] for r in commits], dtype=np.int64)
    resp = np.array([r["response_ns"] for r in commits], dtype=np.int64)
    resolved = np.array([r["resolved_ns"] for r in commits], dtype=np.int64)
    commit_ms = np.array([r["commit_ts"] // 1_000_000 for r in commits], dtype=np.int64)
    lo = np.maximum(sent, commit_ms * 1_000_000)
    hi = np.minimum(resp, (commit_ms + 1) * 1_000_000)
    inconsistent = int((lo > hi).sum())  # the HLC ran ahead of the wall clock: fall back to the send time
    lo = np.where(lo > hi, sent, lo)
    hi = np.where(hi < lo, resp, hi)

    lat_lo, lat_hi, lat_send, spread, missed = [], [], [], [], 0
    first_recv = np.full(len(seq), np.iinfo(np.int64).max, dtype=np.int64)
    last_recv = np.zeros(len(seq), dtype=np.int64)
    per_client_updates = []
    client_offset = 0
    for dump in dumps:
        d = np.load(dump + ".npz")
        cli, s, rcv = d["client"], d["seq"], d["recv"]
        order = np.lexsort((rcv, cli))
        cli, s, rcv = cli[order], s[order], rcv[order]
        bounds = np.searchsorted(cli, np.arange(cli.max() + 2 if cli.size else 1))
        for c in range(len(bounds) - 1):
            cs, cr = s[bounds[c]:bounds[c + 1]], rcv[bounds[c]:bounds[c + 1]]
            per_client_updates.append(len(cs))
            # seq is non-decreasing per client in arrival order; first update reflecting commit k
            cs_max = np.maximum.accumulate(cs) if cs.size else cs
            idx = np.searchsorted(cs_max, seq, side="left")
            ok = idx < len(cs)
            missed += int((~ok).sum())
            got = cr[idx[ok]]
            lat_lo.append((got - lo[ok]) / 1e6)
            lat_hi.append((got - hi[ok]) / 1e6)
            lat_send.append((got - sent[ok]) / 1e6)
            first_recv[ok] = np.minimum(first_recv[ok], got)
            last_recv[ok] = np.maximum(last_recv[ok], got)
        client_offset += 1
    cat = (lambda xs: np.concatenate(xs) if xs else np.array([]))
    seen = first_recv < np.iinfo(np.int64).max
    span_s = (lo.max() - lo.min()) / 1e9 if len(lo) > 1 else 0.0  # commit instants, not send times
    return {
        "commits_measured": int(len(seq)),
        "achieved_commit_rate": (len(seq) - 1) / span_s if span_s else None,
        "subscribers_with_data": len(per_client_updates),
        "samples": int(sum(len(x) for x in lat_lo)),
        "missed": missed,
        "commit_instant_inconsistent": inconsistent,
        "latency_ms": percentiles(cat(lat_lo)),
        "latency_from_latest_commit_ms": percentiles(cat(lat_hi)),
        "latency_from_send_ms": percentiles(cat(lat_send)),
        "commit_window_ms": percentiles((hi - lo) / 1e6),
        "writer": {
            "send_to_response_ms": percentiles((resp - sent) / 1e6),
            "response_to_resolved_ms": percentiles((resolved - resp) / 1e6),
            "commit_lo_to_response_ms": percentiles((resp - lo) / 1e6),
        },
        "fanout": {
            "commit_to_first_subscriber_ms": percentiles((first_recv[seen] - lo[seen]) / 1e6),
            "commit_to_last_subscriber_ms": percentiles((last_recv[seen] - lo[seen]) / 1e6),
            "first_to_last_subscriber_ms": percentiles((last_recv[seen] - first_recv[seen]) / 1e6),
        },
        "updates_per_subscriber": percentiles(per_client_updates),
        "updates_per_commit_per_subscriber": (float(np.mean(per_client_updates)) / max(1, len(rows)))
        if per_client_updates else None,
    }


def py_spy_top(pid: int, seconds: float, out: Path) -> dict[str, Any] | None:
    """Sample the server for *seconds* with py-spy (raw collapsed stacks); summarise own and inclusive
    time per function. None if py-spy is not installed."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.path.exists(exe):
        return None
    raw = out / "server.pyspy.txt"
    proc = subprocess.run([exe, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
                           "--rate", "200", "--format", "raw", "--output", str(raw), "--nonblocking"],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not raw.exists():
        return {"error": proc.stderr[-2000:]}
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            incl[f] = incl.get(f, 0) + n
    top = lambda d: [(k, round(100.0 * v / total, 1)) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:30]]
    return {"samples": total, "own_pct": top(own), "inclusive_pct": top(incl), "raw": str(raw)}


def coordinator(args: argparse.Namespace) -> dict[str, Any]:
    import bench.metadata as metadata

    config = {"clients": args.clients, "rate": args.rate, "seconds": args.seconds, "warmup": args.warmup,
              "host_kind": args.host_kind, "load_procs": args.load_procs, "writers": args.writers,
              "switch_interval": args.switch_interval, "app": "bench/apps/e2e ticks:latest",
              "persistence": "lmdb", "quick": args.quick, "label": args.label}
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(args.out) / stamp
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="ripple-e2e-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    children: list[subprocess.Popen] = []
    server_log = open(out / "server.log", "w")
    try:
        server_cmd = [sys.executable, "-m", "bench.e2e_subscriptions", "--role", "server", "--port", str(port),
                      "--data", str(tmp / "data"), "--host-kind", args.host_kind]
        if args.switch_interval:
            server_cmd += ["--switch-interval", str(args.switch_interval)]
        server = subprocess.Popen(server_cmd, stdout=server_log, stderr=subprocess.STDOUT, cwd=REPO,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})
        children.append(server)
        wait_http(url, server)
        print(f"e2e: server pid {server.pid} on {url} ({args.host_kind} host)", flush=True)
        shares = [args.clients // args.load_procs + (1 if i < args.clients % args.load_procs else 0)
                  for i in range(args.load_procs)]
        loads, dumps = [], []
        for i, k in enumerate(shares):
            dump = str(tmp / f"load{i}")
            dumps.append(dump)
            p = subprocess.Popen([sys.executable, "-m", "bench.e2e_subscriptions", "--role", "load", "--url", url,
                                  "--clients", str(k), "--dump", dump], cwd=REPO, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
            children.append(p)
            loads.append(p)
        started = time.monotonic()
        for p in loads:
            line = p.stdout.readline()  # type: ignore[union-attr]
            if not line.startswith("READY"):
                raise RuntimeError(f"load process failed to start: {line!r}")
        print(f"e2e: {args.clients} clients subscribed in {time.monotonic() - started:.1f} s; writing "
              f"{args.rate:g}/s for {args.seconds:g} s", flush=True)
        time.sleep(0.5)
        cpu0 = {"server": cpu_seconds(server.pid), **{f"load{i}": cpu_seconds(p.pid) for i, p in enumerate(loads)},
                "writer": time.process_time()}
        wall0 = time.monotonic()
        profile_box: dict[str, Any] = {}
        prof_thread = None
        if args.profile:
            import threading

            def prof() -> None:
                time.sleep(args.warmup)
                profile_box["p"] = py_spy_top(server.pid, max(1.0, args.seconds - args.warmup - 0.5), out)

            prof_thread = threading.Thread(target=prof, daemon=True)
            prof_thread.start()
        get_json(url + "/_bench/stats?reset=1")
        rows, unfinished = asyncio.run(write_ticks(url, args.rate, args.seconds, args.writers))
        server_stats = get_json(url + "/_bench/stats")
        wall = time.monotonic() - wall0
        cpu1 = {"server": cpu_seconds(server.pid), **{f"load{i}": cpu_seconds(p.pid) for i, p in enumerate(loads)},
                "writer": time.process_time()}
        time.sleep(3.0)  # stragglers
        for p in loads:
            p.stdin.write("STOP\n")  # type: ignore[union-attr]
            p.stdin.flush()  # type: ignore[union-attr]
        for p in loads:
            line = p.stdout.readline()  # type: ignore[union-attr]
            if line.strip() != "DONE":
                raise RuntimeError(f"load process did not finish: {line!r}")
            p.wait(timeout=60)
        if prof_thread is not None:
            prof_thread.join(timeout=args.seconds + 30)
        for p in children:  # the load and server processes are done with: measure the engine alone
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p is server else signal.SIGTERM)
        engine_share = engine_stage(100 if args.quick else 300, args.host_kind)
        warmup_n = int(args.warmup * args.rate)
        result = analyse(rows, dumps, args.clients, warmup_n)
        result["commits_sent"] = int(args.rate * args.seconds)
        result["server_cycles"] = cycle_summary(server_stats.pop("cycles"))
        result["engine_alone"] = engine_share
        result["server_counters"] = server_stats
        result["commits_unfinished_after_drain"] = unfinished
        client_stats = [json.load(open(d + ".json")) for d in dumps]
        result["clients"] = {k: sum(s[k] for s in client_stats) for k in client_stats[0]}
        result["cpu_pct_of_one_core"] = {k: round(100.0 * (cpu1[k] - cpu0[k]) / wall, 1) for k in cpu0}
        result["wall_s"] = wall
        if args.profile:
            result["server_profile"] = profile_box.get("p") or "py-spy not installed (pip install py-spy)"
        record = {"benchmark": "e2e_subscriptions", "meta": metadata.collect(config=config, seed=args.seed),
                  "result": result}
        (out / "e2e.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        result["_out"] = str(out / "e2e.json")
        return result
    finally:
        for p in reversed(children):
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p is children[0] else signal.SIGTERM)
        for p in reversed(children):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        server_log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def summary(result: dict[str, Any], args: argparse.Namespace) -> str:
    lat = result["latency_ms"]
    lines = [
        f"e2e subscriptions: {args.clients} clients, {args.rate:g} commits/s target, {args.host_kind} host",
        f"  achieved commit rate   {result['achieved_commit_rate'] or 0:.1f}/s over {result['commits_measured']} commits"
        f" ({result['commits_unfinished_after_drain']} of {result['commits_sent']} unfinished 30 s after the last send)",
        f"  commit -> subscriber   p50 {lat.get('p50', float('nan')):.2f} ms  p90 {lat.get('p90', float('nan')):.2f}"
        f"  p99 {lat.get('p99', float('nan')):.2f}  max {lat.get('max', float('nan')):.2f}  "
        f"(n={lat.get('n')}, missed={result['missed']})",
        f"  lower bound            p50 {result['latency_from_latest_commit_ms'].get('p50', float('nan')):.2f} ms  "
        f"p99 {result['latency_from_latest_commit_ms'].get('p99', float('nan')):.2f}",
        f"  first/last subscriber  p50 {result['fanout']['commit_to_first_subscriber_ms'].get('p50', float('nan')):.2f} / "
        f"{result['fanout']['commit_to_last_subscriber_ms'].get('p50', float('nan')):.2f} ms",
        f"  writer send->response  p50 {result['writer']['send_to_response_ms'].get('p50', float('nan')):.2f} ms",
        f"  updates/commit/client  {result['updates_per_commit_per_subscriber'] or 0:.2f}",
        "  server cycle (p50 ms)  " + "  ".join(
            f"{k[:-3]} {result['server_cycles'][k]['p50']:.2f}" for k in ("wait_ms", "compute_ms", "publish_ms", "send_ms")
            if k in result["server_cycles"]) + f"  ({result['server_cycles'].get('cycles', 0)} cycles, "
        f"{(result['server_cycles'].get('sessions_per_cycle') or {}).get('p50', 0):.0f} sessions/cycle p50; "
        f"publish {result['server_cycles'].get('publish_us_per_transition') or 0:.1f} us + send "
        f"{result['server_cycles'].get('send_us_per_transition') or 0:.1f} us per Transition)",
        f"  engine alone (p50 ms)  mutation call {result['engine_alone']['mutation_call_ms'].get('p50', 0):.2f}, "
        f"call start -> watch fired {result['engine_alone']['call_start_to_watch_fired_ms'].get('p50', 0):.2f}",
        f"  CPU (% of one core)    {result['cpu_pct_of_one_core']}",
        f"  results                {result['_out']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role == "load":
        asyncio.run(load_main(args.url, args.clients, args.dump))
        return 0
    if args.role == "server":
        return server_main(args)
    result = coordinator(args)
    print(summary(result, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
