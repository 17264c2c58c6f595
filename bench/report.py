"""Turn one benchmark run's result files into ONE table: benchmark, impl, median, ops/s, target, reached.

Who calls it: ``python -m bench`` (after the suites ran) and ``tests/unit/test_bench_smoke.py``. It only
reads files; it never measures. Inputs in a run directory (``results/bench/<timestamp>/``):
- ``pytest-benchmark-*.json`` (one per suite): rows described by each benchmark's ``extra_info`` (see
  bench/conftest.py), including ``companions`` (side-by-side baselines measured in the same test, e.g. raw py-lmdb) and
  ``derived`` rows (ratios), plus ``ripple.not_run`` (benchmarks skipped on purpose, with the reason);
- ``engine_baseline-*.json`` from ``bench/engine_baseline.py``;
- ``failures.json``: suites that crashed or timed out (written by ``bench/__main__.py``).

Columns: ``median`` is the median time per operation (per call / ``ops_per_call``; for commit rows the
median over rounds of the p50 commit latency; for ratio rows "-"); ``ops/s`` is ``ops_per_call / median``
(or the median over rounds of a time-based rate); ``reached`` is judged against ``TARGETS``
(docs/performance.md), "-" where no target applies. Every number in the table has its full metadata
record next to it in the JSON it came from.
"""
from __future__ import annotations

import glob
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

IMPL_ORDER = ("json", "py", "cy", "auto", "mixed", "raw")
#: Implementations a target on the engine or a kernel applies to (not the raw py-lmdb baselines).
ENGINE = ("py", "cy", "auto", "mixed")
SECTION_ORDER = ("interval_set", "write_window", "interval_map", "keycodec", "hlc", "record", "doccodec",
                 "mvcc", "mvcc_lmdb", "commit", "baseline")


@dataclass
class Row:
    """One line of the table (plus where it came from)."""

    bench: str
    impl: str
    median_s: float | None = None
    ops_per_s: float | None = None
    unit: str = "ops"
    ratio: float | None = None
    status: str = "ok"  # "ok" | "not run" | "failed"
    note: str = ""
    source: str = ""
    value_text: str | None = None  # overrides the ops/s cell (derived rows)
    targets: list["Target"] = field(default_factory=list)
    meta: dict[str, Any] | None = None  # the metadata record of the measurement this row comes from


@dataclass(frozen=True)
class Target:
    """``metric op value`` for the listed impls (None: every impl). metric: "ops" (ops/s), "median"
    (seconds per op) or "ratio"."""

    metric: str
    op: str
    value: float
    impls: tuple[str, ...] | None = None
    unit: str = ""

    def applies(self, impl: str) -> bool:
        return self.impls is None or impl_head(impl) in self.impls

    def check(self, row: Row) -> bool | None:
        got = {"ops": row.ops_per_s, "median": row.median_s, "ratio": row.ratio}[self.metric]
        if got is None:
            return None
        return got >= self.value if self.op == ">=" else got <= self.value

    def text(self) -> str:
        sign = "≥" if self.op == ">=" else "≤"
        if self.metric == "ops":
            return f"{sign} {fmt_count(self.value)} {self.unit}/s".replace("  ", " ")
        if self.metric == "median":
            return f"{sign} {fmt_time(self.value)}"
        return f"{sign} {self.value:g}x"


def _ops(value: float, unit: str, impls: tuple[str, ...] | None = None) -> Target:
    return Target("ops", ">=", value, impls, unit)


def impl_head(impl: str) -> str:
    """The implementation family of a row's impl label: "auto (5/7 cy)" -> "auto"; "raw lmdb (vs py)" -> "raw"."""
    m = re.match(r"[\w-]+", impl)
    return m.group(0) if m else impl


_CY, _PY = ("cy",), ("py",)

#: Targets of the first milestone (docs/performance.md), by benchmark id.
TARGETS: dict[str, list[Target]] = {
    "interval_set.contains[16 intervals]": [_ops(5e6, "checks", _CY), _ops(1e6, "checks", _PY)],
    "interval_set.first_contained[10k keys]": [_ops(5e6, "checks", _CY), _ops(1e6, "checks", _PY)],
    "write_window.is_stale[16 ranges, 10k-write window]": [Target("median", "<=", 10e-6)],
    "interval_map.stab[n=100k]": [_ops(5e6, "keys", _CY)],
    "interval_map.stab_many[n=100k]": [_ops(5e6, "keys", _CY)],
    "mvcc.get p50[100k keys]": [Target("median", "<=", 5e-6, ENGINE)],
    "mvcc.get p50 / raw lmdb get p50": [Target("ratio", "<=", 2.0)],
    "mvcc.scan[100k entries]": [_ops(2e6, "entries", ENGINE)],
    "mvcc.scan_100[100k keys]": [_ops(3e4, "scans", ENGINE)],
    "mvcc_lmdb.get p50[100k keys]": [Target("median", "<=", 5e-6, ENGINE)],
    "mvcc_lmdb.get p50 / raw lmdb get p50": [Target("ratio", "<=", 2.0)],
    "mvcc_lmdb.scan[100k entries]": [_ops(2e6, "entries", ENGINE)],
    "mvcc_lmdb.scan_100[100k keys]": [_ops(3e4, "scans", ENGINE)],
    "commit[16 threads, group commit]": [_ops(2e4, "commits", ENGINE), Target("median", "<=", 5e-3, ENGINE)],
    "commit[1 thread] engine/raw G=1": [Target("ratio", ">=", 0.8)],
    "baseline.commit engine_16_threads_group_commit": [_ops(2e4, "commits", ENGINE),
                                                       Target("median", "<=", 5e-3, ENGINE)],
    "baseline.commit engine_1_thread / raw_lmdb_g1": [Target("ratio", ">=", 0.8)],
    "baseline.mvcc get p50": [Target("median", "<=", 5e-6, ENGINE)],
    "baseline.mvcc get p50 / raw lmdb get p50": [Target("ratio", "<=", 2.0)],
    "baseline.index scan": [_ops(2e6, "entries")],
    "baseline.ycsb_e query (≤100 rows)": [_ops(3e4, "queries")],
    # issue 11 (a native read path), judged on the Cython twins
    "baseline.tx.get in an open tx / raw lmdb get p50": [Target("ratio", "<=", 2.0, _CY)],
    "baseline.tx.get p50 (db.read)": [Target("median", "<=", 5e-6, _CY)],
    "baseline.full table query": [_ops(1e6, "docs", _CY)],
}


# ---- formatting -----------------------------------------------------------------------------------------

def fmt_time(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_count(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.3g} M"
    if x >= 1e3:
        return f"{x / 1e3:.3g} k"
    return f"{x:.3g}"


def summarize_impl(resolved: dict[str, str]) -> str:
    """``{"hlc": "cy", "mvcc": "py", ...}`` -> "py", "cy" or "mixed (2/7 cy)" (per-kernel detail is in the
    row's metadata)."""
    names = set(resolved.values())
    if len(names) == 1:
        return names.pop()
    if not names:
        return "?"
    cy = sum(1 for v in resolved.values() if v == "cy")
    return f"mixed ({cy}/{len(resolved)} cy)"


# ---- reading results ------------------------------------------------------------------------------------

def rows_from_pytest_benchmark(doc: dict[str, Any], source: str = "") -> list[Row]:
    rows: list[Row] = []
    for b in doc.get("benchmarks", []):
        extra = b.get("extra_info") or {}
        bench = extra.get("bench") or b.get("name", "?")
        impl = extra.get("impl", "?")
        if extra.get("kernel") == "engine" and impl not in ("py", "cy"):
            impl = f"{impl}: {summarize_impl(extra.get('impl_per_kernel') or {})}".replace(": mixed (", " (")
        unit = extra.get("unit", "ops")
        if "rate" in extra:  # time-based rounds (macro): medians over rounds computed by the test
            median = extra.get("latency_s")
            ops = extra["rate"]
        else:
            median = b["stats"]["median"] / max(1, int(extra.get("ops_per_call", 1)))
            ops = 1.0 / median if median > 0 else None
        note = "p50 of single calls" if extra.get("latency_is_p50") else ""
        if "rate" in extra and median is not None:
            note = "median = p50 commit latency"
        meta = b.get("meta")
        rows.append(Row(bench, impl, median, ops, unit, note=note, source=source, meta=meta))
        for c in extra.get("companions") or []:
            c_median = c.get("median_s")
            c_rate = c.get("rate")
            if c_rate is None and c_median:
                c_rate = 1.0 / c_median
            rows.append(Row(c.get("bench", bench), c.get("impl", "raw"), c_median, c_rate, c.get("unit", unit),
                            note=c.get("note", ""), source=source, meta=meta))
        for d in extra.get("derived") or []:
            rows.append(Row(d["bench"], d.get("impl", impl), ratio=d.get("ratio"), unit="x",
                            value_text=f"{d['ratio']:.3g}x" if d.get("ratio") is not None else None,
                            note=d.get("note", "same-run ratio, median over rounds"), source=source, meta=meta))
    session_meta = (doc.get("machine_info") or {}).get("ripple")
    for nr in (doc.get("ripple") or {}).get("not_run", []):
        rows.append(Row(nr["bench"], nr["impl"], status="not run", note=nr.get("reason", ""), source=source,
                        meta=session_meta))
    return rows


def rows_from_engine_baseline(doc: list[dict[str, Any]], source: str = "") -> list[Row]:
    rows: list[Row] = []
    for entry in doc:
        start = len(rows)
        res = entry.get("results", {})
        impl = summarize_impl((entry.get("meta") or {}).get("impl") or {})
        for name, r in res.items():
            if isinstance(r, dict) and "commits_per_s" in r:
                lat = r.get("latency_ms_p50")
                rows.append(Row(f"baseline.commit {name}", "raw" if name.startswith("raw") else impl,
                                median_s=lat / 1000 if lat is not None else None, ops_per_s=r["commits_per_s"],
                                unit="commits", note="median = p50 commit latency" if lat is not None else "",
                                source=source))
        ratio = res.get("ratio_engine_1_thread_vs_raw_g1")
        if ratio is not None:
            rows.append(Row("baseline.commit engine_1_thread / raw_lmdb_g1", impl, ratio=ratio, unit="x",
                            value_text=f"{ratio:.3g}x", source=source))
        pr = res.get("point_reads") or {}
        if pr:
            rows.append(Row("baseline.mvcc get p50", impl, median_s=pr["mvcc_get_p50_us"] / 1e6,
                            ops_per_s=1e6 / pr["mvcc_get_p50_us"], unit="gets", source=source))
            rows.append(Row("baseline.mvcc get p50", "raw", median_s=pr["raw_lmdb_get_p50_us"] / 1e6,
                            ops_per_s=1e6 / pr["raw_lmdb_get_p50_us"], unit="gets", source=source))
            rows.append(Row("baseline.tx.get p50 (db.read)", impl, median_s=pr["tx_get_p50_us"] / 1e6,
                            ops_per_s=1e6 / pr["tx_get_p50_us"], unit="gets", source=source))
            rows.append(Row("baseline.mvcc get p50 / raw lmdb get p50", impl, ratio=pr["mvcc_over_raw"], unit="x",
                            value_text=f"{pr['mvcc_over_raw']:.3g}x", source=source))
            if "tx_get_in_open_tx_p50_us" in pr:  # files from before the native read path lack these
                rows.append(Row("baseline.tx.get in an open tx p50", impl, median_s=pr["tx_get_in_open_tx_p50_us"] / 1e6,
                                ops_per_s=1e6 / pr["tx_get_in_open_tx_p50_us"], unit="gets", source=source))
                ratio = pr["tx_get_in_open_tx_over_raw"]
                rows.append(Row("baseline.tx.get in an open tx / raw lmdb get p50", impl, ratio=ratio, unit="x",
                                value_text=f"{ratio:.3g}x", source=source))
        sc = res.get("scans") or {}
        if sc:
            rows.append(Row("baseline.full table query", impl, ops_per_s=sc["full_scan_docs_per_s"], unit="docs",
                            source=source))
            rows.append(Row("baseline.index scan", impl, ops_per_s=sc["index_scan_entries_per_s"], unit="entries",
                            source=source))
            rows.append(Row("baseline.ycsb_e query (≤100 rows)", impl, ops_per_s=sc["ycsb_e_queries_per_s"],
                            unit="queries", source=source))
            if "ycsb_e_p50_us" in sc:
                rows.append(Row("baseline.ycsb_e query p50", impl, median_s=sc["ycsb_e_p50_us"] / 1e6,
                                ops_per_s=1e6 / sc["ycsb_e_p50_us"], unit="queries", source=source))
        for row in rows[start:]:
            row.meta = entry.get("meta")
    return rows


#: Smallest size ratio (largest map / smallest map) whose slowdown is judged against the growth target.
GROWTH_JUDGED_FROM = 100


def growth_rows(rows: list[Row]) -> list[Row]:
    """Stabbing cost curve: slowdown of keys/s from the smallest map to each larger one, per op and impl.

    "Grows like log n, never like n" is judged as: slowdown <= sqrt(size ratio) (a log curve is far below,
    a linear one far above; cache misses put real curves a little above the pure log ratio). Only size
    ratios >= ``GROWTH_JUDGED_FROM`` are judged: between small maps, cache effects dominate the constant."""
    out: list[Row] = []
    pat = re.compile(r"^interval_map\.(\w+)\[n=(\w+)\]$")
    by: dict[tuple[str, str], dict[int, Row]] = {}
    for r in rows:
        m = pat.match(r.bench)
        if m and r.status == "ok" and r.ops_per_s:
            by.setdefault((m.group(1), r.impl), {})[parse_size(m.group(2))] = r
    for (op, impl), sizes in by.items():
        base_n = min(sizes)
        for n in sorted(sizes):
            if n == base_n:
                continue
            slowdown = sizes[base_n].ops_per_s / sizes[n].ops_per_s
            ratio_n = n / base_n
            log_ratio = math.log(n) / math.log(base_n)
            row = Row(f"interval_map.{op} growth {label(base_n)}→{label(n)}", impl, ratio=slowdown, unit="x",
                      value_text=f"{slowdown:.2g}x slower (log {log_ratio:.2g}x, linear {ratio_n:g}x)",
                      source=sizes[n].source, meta=sizes[n].meta)
            if ratio_n >= GROWTH_JUDGED_FROM:
                row.targets = [Target("ratio", "<=", round(math.sqrt(ratio_n), 1))]
            out.append(row)
    return out


def parse_size(text: str) -> int:
    mult = {"k": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(text[:-1] if mult > 1 else text) * mult


def label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def load_run(run_dir: str) -> list[Row]:
    """Every row of one run directory, ordered for the table (see module docstring)."""
    rows: list[Row] = []
    for path in sorted(glob.glob(os.path.join(run_dir, "pytest-benchmark*.json"))):
        with open(path) as f:
            rows += rows_from_pytest_benchmark(json.load(f), source=os.path.basename(path))
    for path in sorted(glob.glob(os.path.join(run_dir, "engine_baseline-*.json"))):
        with open(path) as f:
            rows += rows_from_engine_baseline(json.load(f), source=os.path.basename(path))
    fail = os.path.join(run_dir, "failures.json")
    if os.path.exists(fail):
        with open(fail) as f:
            for item in json.load(f):
                rows.append(Row(item["suite"], "-", status="failed", note=item.get("reason", ""),
                                source=item.get("log", "")))
    return order(rows + growth_rows(rows))


def order(rows: list[Row]) -> list[Row]:
    """Group rows by benchmark id (first appearance within its section), impls side by side."""

    def section(bench: str) -> int:
        head = re.split(r"[.\[ ]", bench, maxsplit=1)[0]
        return SECTION_ORDER.index(head) if head in SECTION_ORDER else len(SECTION_ORDER)

    def impl_rank(impl: str) -> int:
        head = impl.split(":")[0].split(" ")[0]
        return IMPL_ORDER.index(head) if head in IMPL_ORDER else len(IMPL_ORDER)

    first: dict[str, int] = {}
    for i, r in enumerate(rows):
        first.setdefault(r.bench, i)
    return sorted(rows, key=lambda r: (r.status == "failed", section(r.bench), first[r.bench], impl_rank(r.impl)))


# ---- judging and printing -------------------------------------------------------------------------------

def targets_for(row: Row) -> list[Target]:
    found = row.targets or TARGETS.get(row.bench, [])
    return [t for t in found if t.applies(row.impl)]


def judge(row: Row) -> tuple[str, str]:
    """(target text, reached) for *row*: reached is "yes", "no", "-" (no target) or the row's status.
    A row with several targets gets one verdict per target, in the same order ("no; yes")."""
    targets = targets_for(row)
    text = "; ".join(t.text() for t in targets) or "-"
    if row.status != "ok":
        return text, row.status
    if not targets:
        return text, "-"
    verdicts = ["?" if r is None else ("yes" if r else "no") for r in (t.check(row) for t in targets)]
    if len(set(verdicts)) == 1:
        return text, verdicts[0]
    return text, "; ".join(verdicts)


def table_rows(rows: Iterable[Row], notes: list[str] | None = None) -> list[dict[str, str]]:
    """The table's cells. The reason of a row that did not run (or failed) goes to *notes* (shared by
    identical reasons) and the row refers to it as "[n]"."""
    notes = [] if notes is None else notes
    out = []
    for r in rows:
        target, reached = judge(r)
        if r.status != "ok":
            reason = r.note + (f" (log: {r.source})" if r.status == "failed" and r.source else "")
            if reason not in notes:
                notes.append(reason)
            ops_cell = f"see [{notes.index(reason) + 1}]"
        elif r.value_text is not None:
            ops_cell = r.value_text
        elif r.ops_per_s is not None:
            ops_cell = f"{fmt_count(r.ops_per_s)} {r.unit}/s"
        else:
            ops_cell = "-"
        out.append({"benchmark": r.bench, "impl": r.impl, "median": fmt_time(r.median_s) if r.status == "ok" else "-",
                    "ops/s": ops_cell, "target": target, "reached": reached})
    return out


COLUMNS = ("benchmark", "impl", "median", "ops/s", "target", "reached")


def format_table(rows: Iterable[Row]) -> str:
    """A Markdown table (aligned, so it also reads as plain text) plus a one-line tally."""
    notes: list[str] = []
    cells = table_rows(rows, notes)
    widths = {c: max([len(c)] + [len(row[c]) for row in cells]) for c in COLUMNS}
    lines = ["| " + " | ".join(c.ljust(widths[c]) for c in COLUMNS) + " |",
             "|" + "|".join("-" * (widths[c] + 2) for c in COLUMNS) + "|"]
    for row in cells:
        lines.append("| " + " | ".join(row[c].ljust(widths[c]) for c in COLUMNS) + " |")
    if notes:
        lines.append("")
        lines += [f"[{i}] {note}" for i, note in enumerate(notes, start=1)]
    reached = [v for row in cells for v in row["reached"].split("; ")]
    lines.append(f"\ntargets: {reached.count('yes')} reached, {reached.count('no')} missed; "
                 f"{reached.count('not run')} not run, {reached.count('failed')} failed")
    return "\n".join(lines)


def summary(rows: list[Row]) -> list[dict[str, Any]]:
    """Plain data for summary.json: each row with its judged target and the metadata record of the
    measurement it comes from (also kept in the source file)."""
    out = []
    for r in rows:
        target, reached = judge(r)
        d = asdict(r)
        d.pop("targets")
        d.update(target=target, reached=reached)
        out.append(d)
    return out
