"""Command line of the research harness.

    python -m experiments run experiments/NAME/config.toml [--quick | --full] [--out DIR] [--no-progress]
    python -m experiments reproduce [--full] [--out DIR]      # every experiment, figures, numbers, paper
    python -m experiments figures [--out DIR]                 # figures and paper from the latest results
    python -m experiments list                                # the experiments and their titles

Argument parsing happens in ``main`` only; importing this module does nothing.
"""
from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one experiment (a point or a sweep)")
    r.add_argument("config")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="apply the [quick] overlay (seconds)")
    g.add_argument("--full", action="store_true", help="apply the [full] overlay (paper quality)")
    r.add_argument("--out", default=None, help="results root (default: results/experiments)")
    r.add_argument("--no-progress", action="store_true")
    rp = sub.add_parser("reproduce", help="run every experiment, then write figures, numbers and the paper")
    rp.add_argument("--full", action="store_true")
    rp.add_argument("--out", default=None, help="results root")
    rp.add_argument("--paper", default=None, help="paper folder (default: paper/)")
    rp.add_argument("--only", nargs="*", default=None, help="experiment names to run (default: all)")
    f = sub.add_parser("figures", help="figures, numbers and paper from the newest results")
    f.add_argument("--out", default=None)
    f.add_argument("--paper", default=None)
    sub.add_parser("list", help="list experiments")
    args = ap.parse_args(argv)

    if args.cmd == "run":
        from experiments import config
        from experiments.hosts import HostUnavailable
        from experiments.sweep import run_experiment

        mode = "quick" if args.quick else "full" if args.full else "default"
        cfg = config.load(args.config, mode)
        progress = not args.no_progress and sys.stderr.isatty()
        try:
            out = run_experiment(cfg, out_root=args.out, progress=progress, log=lambda s: print(s, file=sys.stderr))
        except HostUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(out)
        return 0
    if args.cmd in ("reproduce", "figures"):
        from experiments import reproduce

        return reproduce.main(run=args.cmd == "reproduce", full=getattr(args, "full", False), out_root=args.out,
                              paper_dir=args.paper, only=getattr(args, "only", None))
    if args.cmd == "list":
        from experiments import config

        here = os.path.dirname(os.path.abspath(__file__))
        for name in sorted(os.listdir(here)):
            p = os.path.join(here, name, "config.toml")
            if os.path.exists(p):
                print(f"{name:22s} {config.load(p).get('title', '')}")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
