"""pytest configuration of the benchmark suites (``bench/test_*.py``): options, shared caches, metadata.

Who uses it: pytest, when ``python -m bench`` (or a person) runs ``pytest bench/test_micro_kernels.py
bench/test_macro_engine.py --benchmark-json=...``. ``make test`` never collects bench/ (pyproject's
``testpaths = ["tests"]``).

What it adds:
- options ``--bench-quick`` (shorter runs, still >= 5 rounds; the pure-Python 1M interval map, ~20 s and
  ~400 MB to build, is not run) and ``--bench-seed`` (the one seed every data set derives from);
- session fixtures ``bench_opts`` and ``session_cache`` (expensive data sets are built once per session);
- ``not_run(...)``: records a benchmark that is deliberately not run, with its reason, so the result table
  shows it instead of silently omitting it;
- the metadata every result row must carry (docs/performance.md, style.md F): the session record from
  ``bench.metadata.collect`` goes into ``machine_info["ripple"]``, and each benchmark in the JSON gets its
  own ``meta`` (implementation per kernel actually used, strategies, seed, configuration and its hash).

Tests describe their rows through ``benchmark.extra_info`` (see ``describe`` in test_micro_kernels.py):
``bench`` (stable id), ``kernel``, ``impl``, ``impl_per_kernel``, ``unit``, ``ops_per_call``, ``params``,
and optionally ``rate``/``latency_s`` (time-based macro rounds), ``companions`` and ``derived`` rows.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pytest

#: Seed used when --bench-seed is not given (engine_baseline uses the same default).
DEFAULT_SEED = 42

_NOT_RUN_KEY = pytest.StashKey[list]()
_OPTS_KEY = pytest.StashKey["BenchOptions"]()


@dataclass(frozen=True)
class BenchOptions:
    """What this session was asked to do (recorded in every row's configuration)."""

    quick: bool
    seed: int
    min_rounds: int
    max_time: float


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ripple-bench")
    group.addoption("--bench-quick", action="store_true", default=False,
                    help="shorter rounds (still >= 5 of them); skip the pure-Python 1M interval map")
    group.addoption("--bench-seed", type=int, default=DEFAULT_SEED, help="seed for every generated data set")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_NOT_RUN_KEY] = []
    opt = config.option
    config.stash[_OPTS_KEY] = BenchOptions(
        quick=bool(getattr(opt, "bench_quick", False)),
        seed=int(getattr(opt, "bench_seed", DEFAULT_SEED)),
        min_rounds=int(getattr(opt, "benchmark_min_rounds", 5) or 5),
        max_time=float(getattr(opt, "benchmark_max_time", 1.0) or 1.0),
    )


@pytest.fixture(scope="session")
def bench_opts(pytestconfig: pytest.Config) -> BenchOptions:
    return pytestconfig.stash[_OPTS_KEY]


@pytest.fixture(scope="session")
def session_cache() -> dict[Any, Any]:
    """Data sets keyed by (kind, impl, size...): built on first use, reused by every later benchmark."""
    return {}


@pytest.fixture
def not_run(pytestconfig: pytest.Config):
    """``not_run(bench=..., impl=..., reason=...)`` records the row as not run and skips the test."""

    def skip(*, bench: str, impl: str, reason: str) -> None:
        pytestconfig.stash[_NOT_RUN_KEY].append({"bench": bench, "impl": impl, "reason": reason})
        pytest.skip(reason)

    return skip


# ---- metadata -------------------------------------------------------------------------------------------

def resolved_implementations(mode: str | None = None) -> dict[str, str]:
    """Kernel -> implementation name *mode* resolves to, never raising (a missing twin under
    ENGINE_IMPL=cy shows as "unavailable" instead of aborting the metadata record)."""
    from engine import _impl

    out: dict[str, str] = {}
    for kernel in _impl.KERNELS:
        try:
            out[kernel] = _impl.resolve(kernel, mode)[0]
        except (ImportError, ValueError) as exc:
            out[kernel] = f"unavailable ({exc})"
    return out


def available_implementations() -> dict[str, list[str]]:
    from engine import _impl

    return {kernel: sorted(_impl.implementations(kernel)) for kernel in _impl.KERNELS}


def _session_config(opts: BenchOptions) -> dict[str, Any]:
    return {"suite": "bench", "options": asdict(opts), "available": available_implementations()}


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    from bench.metadata import collect

    opts = config.stash[_OPTS_KEY]
    machine_info["ripple"] = collect(config=_session_config(opts), seed=opts.seed, impl=resolved_implementations())


def row_metadata(extra: dict[str, Any], opts: BenchOptions) -> dict[str, Any]:
    """The metadata record of one benchmark row, from what the test put in ``extra_info``."""
    from bench.metadata import collect

    params = dict(extra.get("params") or {})
    config = {
        "bench": extra.get("bench"),
        "kernel": extra.get("kernel"),
        "impl": extra.get("impl"),
        "params": params,
        "options": asdict(opts),
        # collect() lifts these two into the record's strategy fields.
        "persistence": params.get("persistence"),
        "index": params.get("index"),
    }
    impl = extra.get("impl_per_kernel") or {}
    return collect(config=config, seed=opts.seed, impl=dict(impl))


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict) -> None:
    opts = config.stash[_OPTS_KEY]
    for bench in output_json.get("benchmarks", []):
        bench["meta"] = row_metadata(bench.get("extra_info") or {}, opts)
    output_json["ripple"] = {"options": asdict(opts), "not_run": list(config.stash[_NOT_RUN_KEY])}
