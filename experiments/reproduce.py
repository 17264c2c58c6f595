"""One command for the paper: run every experiment, draw every figure, write the numbers, render the paper.

Who may call it: ``python -m experiments reproduce [--full]`` (``make reproduce``) and
``python -m experiments figures`` (``make figures``: no runs, newest results). Tests render the
template from a small numbers file.

Steps:
1. run each experiment of ``EXPERIMENTS`` with its ``[quick]`` overlay (or ``[full]``) into a fresh
   results folder (``results/experiments/<name>/<utc>-<sha>/``);
2. ``experiments.figures`` draws ``paper/figures/<name>.png`` and ``.svg`` from those folders and returns
   the numbers it drew;
3. ``paper/numbers.json`` gets every number with its provenance (result folders, git sha, dirty flag,
   mode, machine);
4. ``paper/paper.template.md`` is rendered to ``paper/paper.md``: ``{{ section.key }}`` or
   ``{{ section.key:format }}`` (a Python format spec) is replaced by the number; a missing key is an
   error, so the paper can never show a stale or hand-typed value.
"""
from __future__ import annotations

import os
import re
import sys
import time
from typing import Any

from experiments import config, figures, results
from experiments.runner import default_root
from experiments.sweep import run_experiment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXPERIMENTS = ["occ_abort", "ycsb", "bank", "strategies", "chat", "function_hosts"]
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*(?::\s*([^}]*?))?\s*\}\}")


def main(*, run: bool, full: bool = False, out_root: str | None = None, paper_dir: str | None = None,
         only: list[str] | None = None, log: Any = None) -> int:
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    out_root = out_root or default_root()
    paper_dir = paper_dir or os.path.join(ROOT, "paper")
    names = only or EXPERIMENTS
    runs: dict[str, str] = {}
    timings: dict[str, float] = {}
    mode = "full" if full else "quick"
    if run:
        for name in names:
            cfg = config.load(os.path.join(HERE, name, "config.toml"), mode)
            t = time.perf_counter()
            runs[name] = run_experiment(cfg, out_root=out_root, progress=sys.stderr.isatty(), log=log)
            timings[name] = time.perf_counter() - t
            log(f"[reproduce] {name}: {timings[name]:.1f} s -> {runs[name]}")
    for name in EXPERIMENTS:
        if name not in runs:
            latest = results.latest_run(out_root, name)
            if latest is not None:
                runs[name] = latest
    missing = [n for n in EXPERIMENTS if n not in runs]
    if missing:
        log(f"[reproduce] no results yet for {missing}: run `python -m experiments reproduce`")
        return 1
    numbers = build_numbers(runs, os.path.join(paper_dir, "figures"), mode=mode if run else None)
    results.write_json(os.path.join(paper_dir, "numbers.json"), numbers)
    template = os.path.join(paper_dir, "paper.template.md")
    if os.path.exists(template):
        with open(template) as f:
            text = render(f.read(), numbers)
        with open(os.path.join(paper_dir, "paper.md"), "w") as f:
            f.write(text)
    log(f"[reproduce] wrote {paper_dir}/figures, numbers.json, paper.md")
    return 0


def build_numbers(runs: dict[str, str], fig_dir: str, *, mode: str | None) -> dict[str, Any]:
    """Draw every figure and gather its numbers, with provenance."""
    from experiments.analytic import effective_hot_keys
    from experiments.distributions import zipf_probabilities

    nums: dict[str, Any] = {}
    for name, fn in figures.FIGURES.items():
        nums[name] = fn(runs[name], fig_dir)
    md = {name: results.load_json(os.path.join(path, "metadata.json")) for name, path in runs.items()}
    first = md[EXPERIMENTS[0]]
    p = zipf_probabilities(1_000_000, 0.99)
    nums["zipf"] = {"hot_keys_1m_099": effective_hot_keys(p),
                    "hot_keys_10k_099": effective_hot_keys(zipf_probabilities(10_000, 0.99))}
    modes = {n: m.get("experiment", {}).get("mode") for n, m in md.items()}
    nums["provenance"] = {
        "mode": mode or (sorted(set(modes.values()))[0] if len(set(modes.values())) == 1 else "mixed"),
        "modes": modes,
        "runs": {n: os.path.relpath(p, ROOT) for n, p in runs.items()},
        "git_sha": {n: m["git_sha"] for n, m in md.items()},
        "git_dirty": {n: m["git_dirty"] for n, m in md.items()},
        "short_sha": first["git_sha"][:7], "dirty": any(m["git_dirty"] for m in md.values()),
        "cpu": first["cpu"], "cores": first["cores"], "python": first["versions"]["python"],
        "sqlite": first["versions"].get("sqlite"), "when": first["when"],
        "seconds": {n: m.get("elapsed_s") for n, m in md.items()},
        "total_seconds": (sum(m["elapsed_s"] for m in md.values())
                          if all(m.get("elapsed_s") is not None for m in md.values()) else None),
    }
    return nums


def lookup(numbers: dict[str, Any], path: str) -> Any:
    node: Any = numbers
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def render(template: str, numbers: dict[str, Any]) -> str:
    """Replace every placeholder; raise KeyError naming every missing key."""
    missing: list[str] = []

    def sub(m: re.Match) -> str:
        try:
            v = lookup(numbers, m.group(1))
        except KeyError:
            missing.append(m.group(1))
            return m.group(0)
        spec = m.group(2)
        if v is None:
            return "n/a"
        return format(v, spec) if spec else str(v)

    out = PLACEHOLDER.sub(sub, template)
    if missing:
        raise KeyError(f"paper template refers to numbers that were not generated: {sorted(set(missing))}")
    return out
