"""Chat fan-out: writers post messages to channels; subscribers watch the newest messages of one channel.

Who may call it: the runner and tests. Measures what subscriptions cost and how fast they deliver.

Each subscriber holds ``db.subscribe`` on "the newest ``window`` messages of channel c" (index
``by_channel``, descending, ``take(window)``); subscribers are spread round-robin over channels. Writers
insert ``{channel, author, sent_ns}`` where ``sent_ns`` is read from the injected measuring clock inside
the mutation, and a subscriber's callback reads the clock again: the difference is the
send-to-notification latency (commit, publish, stabbing query, re-run and callback). A commit that lands
while a subscriber's re-run is queued is coalesced into one notification (Convex does the same), so
deliveries <= expected deliveries.

Invariants (``check_engine``): every live subscription's last delivered result equals a fresh read of its
query (nothing missed at the end), no callback raised, and no subscriber of another channel was
invalidated by a message (``unchanged`` re-runs, counted by the subscription manager, stay 0: the read
sets are exact).
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

import numpy as np

from experiments.distributions import ZipfianChooser, ZipfTable
from experiments.workloads.base import EngineCall, FunctionCall, InvariantReport, Op, Step, worker_seed

TABLE = "messages"
INDEX = "by_channel"


@dataclass(frozen=True)
class ChatParams:
    channels: int = 8
    subscribers: int = 64
    window: int = 10
    theta: float = 0.0
    body_length: int = 40


class Chat:
    name = "chat"

    def __init__(self, params: ChatParams, *, clock_ns: Callable[[], int] = time.perf_counter_ns, seed: int = 0) -> None:
        self.p = params
        self.table = ZipfTable(params.channels, params.theta, scrambled=False)
        self._clock = clock_ns
        self._handles: list[tuple[int, int, Any]] = []   # (subscriber, channel, handle)
        self._lock = threading.Lock()
        # subscriber, channel, ts, latency ns
        self.deliveries: list[tuple[int, int, int, int]] = []

    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    def stream(self, seed: int, worker: int, workers: int) -> Iterator[Op]:
        chooser = ZipfianChooser(self.table, worker_seed(seed, worker, "chat.channels"))
        while True:
            yield Op("send", (Step("send", chooser.next(), worker),), True)

    def schema(self) -> Any:
        from engine import define_schema, define_table, v

        return define_schema({TABLE: define_table({"channel": v.int64(), "author": v.int64(), "sent_ns": v.int64(),
                                                   "body": v.string()}).index(INDEX, ["channel"])})

    def load_engine(self, db: Any) -> None:
        return None

    def attach(self, db: Any) -> None:
        """Subscribe every subscriber (round-robin over channels). O(subscribers) query runs."""
        for s in range(self.p.subscribers):
            channel = s % self.p.channels
            handle = db.subscribe(self._latest, channel, on_change=self._callback(s, channel))
            self._handles.append((s, channel, handle))

    def _latest(self, tx: Any, channel: int) -> list[dict]:
        return tx.query(TABLE).with_index(INDEX, lambda q: q.eq("channel", channel)).order("desc").take(self.p.window)

    def _callback(self, sub: int, channel: int) -> Callable[[Any, int], None]:
        def on_change(result: Any, ts: int) -> None:
            now = self._clock()
            if result:
                with self._lock:
                    self.deliveries.append((sub, channel, int(ts), now - int(result[0]["sent_ns"])))
        return on_change

    def engine_call(self, op: Op, worker: int) -> EngineCall:
        s = op.steps[0]
        return EngineCall(self._send, (s.key, s.arg), "send")

    def _send(self, tx: Any, channel: int, author: int) -> str:
        return tx.insert(TABLE, {"channel": channel, "author": author, "sent_ns": self._clock(),
                                 "body": "m".ljust(self.p.body_length, ".")})

    def app_dir(self) -> str | None:
        return None

    def function_call(self, op: Op, worker: int) -> FunctionCall:
        raise ValueError("the chat workload measures subscriptions on the direct host only")

    def detach(self, db: Any) -> None:
        db.wait_for_subscriptions(timeout=60.0)

    def check_engine(self, db: Any) -> InvariantReport:
        db.wait_for_subscriptions(timeout=60.0)
        stale = 0
        for _, channel, handle in self._handles:
            fresh = db.read(self._latest, channel)
            if [d["_id"] for d in fresh] != [d["_id"] for d in (handle.result or [])]:
                stale += 1
        stats = db.stats()["subscriptions"]
        counts = db.read(lambda tx: [len(tx.query(TABLE).with_index(INDEX, lambda q, c=c: q.eq("channel", c)).collect())
                                     for c in range(self.p.channels)])
        subs_per_channel = np.bincount([c for _, c, _ in self._handles], minlength=self.p.channels)
        expected = int(sum(int(n) * int(k) for n, k in zip(counts, subs_per_channel)))
        errors = sum(1 for _, _, h in self._handles if h.error is not None) + int(stats.get("callback_errors", 0))
        problems = []
        if stale:
            problems.append(f"{stale} subscriptions hold a stale result at the end")
        if errors:
            problems.append(f"{errors} callback errors")
        if stats.get("unchanged", 0):
            problems.append(f"{stats['unchanged']} re-runs returned an unchanged result (an imprecise read set)")
        for _, _, h in self._handles:
            h.cancel()
        checks = {"messages": int(sum(counts)), "expected_deliveries": expected, "deliveries": len(self.deliveries),
                  "coalesced": expected - len(self.deliveries), "subscription_stats": dict(stats)}
        return InvariantReport(not problems, checks, tuple(problems))

    def extra_summary(self) -> dict[str, Any]:
        """Send-to-notification latency percentiles (µs) over all deliveries."""
        from experiments.results import percentiles

        with self._lock:
            lat = [r[3] / 1000.0 for r in self.deliveries]
        return {"deliveries": len(lat), "delivery_latency_us": percentiles(lat)}

    def extra_tables(self) -> dict[str, dict[str, list]]:
        return {"deliveries": self.latency_table()}

    def latency_table(self) -> dict[str, list]:
        """Deliveries as columns (for ``deliveries.parquet``)."""
        with self._lock:
            rows = list(self.deliveries)
        return {"subscriber": [r[0] for r in rows], "channel": [r[1] for r in rows], "ts": [r[2] for r in rows],
                "latency_us": [r[3] / 1000.0 for r in rows]}
