"""``python -m bench`` (``make bench``): run every benchmark suite into a fresh results folder, print ONE table.

Steps, each in its own subprocess (memory is returned between suites; a hang is bounded by a timeout, and
one suite's crash cannot lose another's results):
1. micro: pytest-benchmark over ``bench/test_micro_kernels.py`` -> ``<run>/pytest-benchmark-micro.json``;
2. macro: pytest-benchmark over ``bench/test_macro_engine.py`` -> ``<run>/pytest-benchmark-macro.json``;
   in both, bench/conftest.py attaches ``bench.metadata.collect`` records (the session record in
   ``machine_info.ripple``, one ``meta`` per benchmark); each test also has a per-test timeout, so a hung
   benchmark fails alone and the JSON of the rest is still written;
3. baseline: ``bench/engine_baseline.py --out <run>`` (it writes its own metadata record);
4. ``bench/report.py`` reads the folder and prints the table (also saved as ``table.md``, with
   ``summary.json``). Suites that crash or time out appear in the table as "failed", with their log.

Usage: ``python -m bench [--quick] [--seed N] [--out results/bench] [--only micro,macro,baseline]
[-k EXPR]``. ``--quick`` keeps >= 5 rounds but shortens each and skips the pure-Python 1M interval map.
The run folder is ``<out>/<UTC timestamp>/``; logs of each step are kept there. Exit status is non-zero
if any suite failed. Argument parsing happens in ``main()``, never at import.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from bench import report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITES = ("micro", "macro", "baseline")
SUITE_FILES = {"micro": "bench/test_micro_kernels.py", "macro": "bench/test_macro_engine.py"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short rounds (still >= 5), skip py@1M interval map")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=os.path.join(REPO, "results", "bench"))
    p.add_argument("--only", default=",".join(SUITES), help=f"comma-separated subset of {','.join(SUITES)}")
    p.add_argument("-k", dest="keyword", default=None, help="pytest -k expression for the pytest suites")
    p.add_argument("--timeout", type=float, default=None, help="seconds per step (default 1800, quick 900)")
    p.add_argument("--test-timeout", type=float, default=None,
                   help="seconds per benchmark test, so one hang loses one row (default 300, quick 120)")
    args = p.parse_args(argv)
    args.only = [s for s in args.only.split(",") if s]
    unknown = set(args.only) - set(SUITES)
    if unknown:
        p.error(f"--only: unknown suites {sorted(unknown)}; choose from {SUITES}")
    if args.timeout is None:
        args.timeout = 900.0 if args.quick else 1800.0
    if args.test_timeout is None:
        args.test_timeout = 120.0 if args.quick else 300.0
    return args


def fresh_run_dir(out: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = os.path.join(out, stamp)
    n = 1
    while os.path.exists(path):
        n += 1
        path = os.path.join(out, f"{stamp}-{n}")
    os.makedirs(path)
    return path


def run_step(name: str, cmd: list[str], log_path: str, timeout: float) -> str | None:
    """Run *cmd* (its own process group) with output to *log_path*; None on success, else the reason."""
    t0 = time.perf_counter()
    print(f"[bench] {name}: running (log: {os.path.relpath(log_path, REPO)})", flush=True)
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n\n")
        log.flush()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return f"timed out after {timeout:.0f} s"
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    print(f"[bench] {name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
    if rc == 0:
        return None
    return f"exit status {rc}: {last_error_line(log_path)}"


def last_error_line(log_path: str) -> str:
    """The most telling line of a failed step's log (the last exception or pytest summary line)."""
    with open(log_path, errors="replace") as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    failed = [ln for ln in lines if ln.startswith(("FAILED ", "ERROR "))]
    if failed:
        return "; ".join(ln[:200] for ln in failed[:5]) + (f" (+{len(failed) - 5} more)" if len(failed) > 5 else "")
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln or ln.startswith(("FAILED", "ERROR")):
            return ln[:300]
    return lines[-1][:300] if lines else "no output"


def pytest_command(args: argparse.Namespace, run_dir: str, suite: str) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", SUITE_FILES[suite], "-q", "-p", "no:cacheprovider",
           f"--benchmark-json={os.path.join(run_dir, f'pytest-benchmark-{suite}.json')}",
           "--benchmark-min-rounds=5", f"--benchmark-max-time={0.2 if args.quick else 1.0}",
           "--benchmark-sort=fullname", f"--bench-seed={args.seed}", f"--timeout={args.test_timeout:g}"]
    if args.quick:
        cmd.append("--bench-quick")
    if args.keyword:
        cmd += ["-k", args.keyword]
    return cmd


def baseline_command(args: argparse.Namespace, run_dir: str) -> list[str]:
    sizes = ["--docs", "20000", "--seconds", "0.3"] if args.quick else ["--docs", "50000", "--seconds", "1"]
    return [sys.executable, "-m", "bench.engine_baseline", *sizes, "--repeat", "5", "--seed", str(args.seed),
            "--out", run_dir]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir = fresh_run_dir(args.out)
    print(f"[bench] results: {os.path.relpath(run_dir, REPO)}", flush=True)
    failures: list[dict[str, str]] = []
    t0 = time.perf_counter()
    for suite in ("micro", "macro"):
        if suite not in args.only:
            continue
        log = os.path.join(run_dir, f"pytest-{suite}.log")
        reason = run_step(f"{suite} (pytest-benchmark)", pytest_command(args, run_dir, suite), log, args.timeout)
        if reason:
            failures.append({"suite": f"bench {suite}", "reason": reason, "log": os.path.relpath(log, REPO)})
    if "baseline" in args.only:
        log = os.path.join(run_dir, "engine_baseline.log")
        reason = run_step("engine_baseline", baseline_command(args, run_dir), log, args.timeout)
        if reason:
            failures.append({"suite": "engine_baseline", "reason": reason, "log": os.path.relpath(log, REPO)})
    if failures:
        with open(os.path.join(run_dir, "failures.json"), "w") as f:
            json.dump(failures, f, indent=2)
    rows = report.load_run(run_dir)
    table = report.format_table(rows)
    with open(os.path.join(run_dir, "table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump({"run_dir": run_dir, "argv": sys.argv[1:] if argv is None else argv, "rows": report.summary(rows)},
                  f, indent=2, default=str)
    print()
    print(table)
    print(f"\n[bench] {time.perf_counter() - t0:.0f} s in all; results, metadata and logs in "
          f"{os.path.relpath(run_dir, REPO)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
