"""Experiment configuration: ``experiments/<name>/config.toml`` -> explicit, validated records.

Who may call it: the CLI, the runner, the sweep driver, tests. Configuration is data handed down
explicitly; nothing here is global.

File layout (every table optional except ``workload``)::

    name = "occ_abort_theta"          # defaults to the folder name
    title = "..."                     # one line for reports
    [workload]  kind = "ycsb" (or bank, chat) and the workload's parameters
    [run]       threads, mode ("threads" | "processes"), ops (total) or duration_s, seed, repeats,
                targets (["ripple"], ["ripple", "sqlite"]), host ("direct" | "reference" | "wasm"),
                warmup_ops
    [engine]    engine.DatabaseConfig fields: persistence, index, impl, durability, retry, ...
                (``retry = {optimistic_attempts = 5, fallback = "fail"}`` measures raw OCC aborts)
    [engine.index_options]        the index strategy's typed knobs (``engine.index.options``, e.g.
                                  skip_limit = 0 for lmdb-btree; fields of the resolved strategy only)
    [engine.persistence_options]  the same for the persistence strategy (``engine.persistence.options``)
    [sweep]     "dotted.path" = [values...]: the cartesian product of all lists is run, one point each;
                a value that is a table is merged into the table at that path (e.g. "engine" =
                [{persistence = "memory"}, {persistence = "lmdb"}])
    [quick]     the same layout, deep-merged over the above for ``--quick`` (tests, make reproduce)
    [full]      the same, for ``--full`` (paper-quality runs)

Invariants: ``load`` returns a plain dict with [quick]/[full] already applied and removed; ``points``
yields complete configurations (no sweep table left), each with the sweep values that made it.
"""
from __future__ import annotations

import copy
import itertools
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any, Iterator

RUN_DEFAULTS: dict[str, Any] = {
    "threads": 1, "mode": "threads", "ops": 1000, "duration_s": 0.0, "seed": 1, "repeats": 1,
    "targets": ["ripple"], "host": "direct", "warmup_ops": 0,
}
ENGINE_DEFAULTS: dict[str, Any] = {"persistence": "memory", "durability": "none", "subscriptions": "thread"}
TOP_KEYS = {"name", "title", "description", "workload", "run", "engine", "sweep", "quick", "full", "analytic",
            "figures"}
MODES = ("default", "quick", "full")


def deep_merge(base: dict, over: dict) -> dict:
    """A new dict: *over* merged into *base* recursively (tables merge, anything else replaces)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def set_path(cfg: dict, path: str, value: Any) -> None:
    """Set ``cfg[a][b]... = value`` for ``path = "a.b..."``; a table value merges into a table."""
    parts = path.split(".")
    node = cfg
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ValueError(f"sweep path {path!r}: {p!r} is not a table")
    last = parts[-1]
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        node[last] = deep_merge(node[last], value)
    else:
        node[last] = copy.deepcopy(value)


def get_path(cfg: dict, path: str, default: Any = None) -> Any:
    node: Any = cfg
    for p in path.split("."):
        if not isinstance(node, dict) or p not in node:
            return default
        node = node[p]
    return node


def load(path: str, mode: str = "default") -> dict:
    """Read *path* and apply the [quick] or [full] overlay. Raises ValueError on unknown top-level keys,
    a missing workload kind, or an unknown mode."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    return normalise(raw, mode, default_name=os.path.basename(os.path.dirname(os.path.abspath(path))))


def normalise(raw: dict, mode: str = "default", default_name: str = "experiment") -> dict:
    """Validate *raw*, apply its *mode* overlay and fill defaults (a dict, as ``load``)."""
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise ValueError(f"unknown top-level keys {sorted(unknown)}; valid: {sorted(TOP_KEYS)}")
    cfg = {k: v for k, v in raw.items() if k not in ("quick", "full")}
    if mode in ("quick", "full") and mode in raw:
        cfg = deep_merge(cfg, raw[mode])
    cfg.setdefault("name", default_name)
    cfg.setdefault("title", cfg["name"])
    if "kind" not in cfg.get("workload", {}):
        raise ValueError("[workload] needs kind = \"ycsb\" | \"bank\" | \"chat\"")
    cfg["run"] = {**RUN_DEFAULTS, **cfg.get("run", {})}
    cfg["engine"] = {**ENGINE_DEFAULTS, **cfg.get("engine", {})}
    cfg["mode"] = mode
    unknown_run = set(cfg["run"]) - set(RUN_DEFAULTS)
    if unknown_run:
        raise ValueError(f"unknown [run] keys {sorted(unknown_run)}; valid: {sorted(RUN_DEFAULTS)}")
    if cfg["run"]["mode"] not in ("threads", "processes"):
        raise ValueError("run.mode must be \"threads\" or \"processes\"")
    return cfg


@dataclass(frozen=True)
class Point:
    """One configuration of a sweep (or the single configuration of a plain run)."""

    index: int
    values: dict[str, Any]          # sweep path -> value ({} for a plain run)
    config: dict = field(repr=False)

    def label(self) -> str:
        if not self.values:
            return "run"
        return ",".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in self.values.items())


def _short(v: Any) -> str:
    if isinstance(v, dict):
        return "/".join(str(x) for x in v.values())
    return str(v)


def points(cfg: dict) -> Iterator[Point]:
    """The cartesian product of ``cfg["sweep"]`` lists, in file order (last key varies fastest)."""
    sweep = cfg.get("sweep") or {}
    base = {k: v for k, v in cfg.items() if k != "sweep"}
    if not sweep:
        yield Point(0, {}, base)
        return
    keys = list(sweep)
    for k in keys:
        if not isinstance(sweep[k], list) or not sweep[k]:
            raise ValueError(f"sweep {k!r} must be a non-empty list")
    for i, combo in enumerate(itertools.product(*(sweep[k] for k in keys))):
        c = copy.deepcopy(base)
        for k, v in zip(keys, combo):
            set_path(c, k, v)
        yield Point(i, dict(zip(keys, combo)), c)


def engine_config(cfg: dict) -> Any:
    """The ``engine.DatabaseConfig`` of a point (unknown fields are an error). The ``index_options`` /
    ``persistence_options`` tables become the typed options of the strategies the point resolves to;
    a field that strategy does not have is a ValueError naming the valid ones."""
    from dataclasses import fields, replace

    from engine.config import DatabaseConfig
    from engine.index.registry import INDEX_OPTIONS
    from engine.persistence.registry import PERSISTENCE_OPTIONS

    eng = dict(cfg["engine"])
    known = {f.name for f in fields(DatabaseConfig)}
    bad = set(eng) - known
    if bad:
        raise ValueError(f"unknown [engine] fields {sorted(bad)}; valid: {sorted(known)}")
    if "seed" not in eng:
        eng["seed"] = cfg["run"]["seed"]
    tables = {k: eng.pop(k) for k in ("index_options", "persistence_options") if k in eng}
    config = DatabaseConfig(**eng)
    typed = {}
    for key, table in tables.items():
        strategy = config.resolved_index() if key == "index_options" else config.persistence
        registry = INDEX_OPTIONS if key == "index_options" else PERSISTENCE_OPTIONS
        typed[key] = options_from_table(key, strategy, registry, table)
    return replace(config, **typed) if typed else config


def options_from_table(key: str, strategy: str, registry: dict[str, type], table: Any) -> Any:
    """``registry[strategy](**table)`` with clear errors: *table* must be a TOML table whose keys are
    fields of that strategy's options class. ValueError otherwise."""
    from dataclasses import fields

    cls = registry.get(strategy)
    if cls is None:
        raise ValueError(f"[engine.{key}]: unknown strategy {strategy!r}; valid: {sorted(registry)}")
    if not isinstance(table, dict):
        raise ValueError(f"[engine.{key}] must be a table of {cls.__name__} fields, got {table!r}")
    valid = {f.name for f in fields(cls)}
    unknown = set(table) - valid
    if unknown:
        raise ValueError(f"[engine.{key}]: {cls.__name__} (strategy {strategy!r}) has no fields {sorted(unknown)}; "
                         f"valid: {sorted(valid)}")
    return cls(**table)
