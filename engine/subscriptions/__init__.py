"""Subscriptions: live queries re-run when - and only when - a commit writes inside what they read.

One engine serves both kinds of subscriber: embedded ``db.subscribe`` callbacks and the sync server's
shared live queries (``engine.server.query_hub``). Data flow of one update, bottom-up:

    commit (committer publishes) -> ``manager.on_publish`` queues it
    -> re-run worker (``rerun``): match the batch's written keys against per-index interval maps
       (``manager.match``), re-run every invalidated query once at the batch snapshot T, refresh read
       sets in place, compare results
    -> changed results only: ``on_change(result, T)`` (embedded) / ``group.on_batch(T, changes)`` (the
       server hub, which fans pre-serialized Transitions out on its event loop).

Modules: ``live`` (records: live query, handle, stats, wait outcomes), ``manager`` (registry, interval
maps, matching, in-place refresh), ``rerun`` (the batch worker). Hook points (``engine.hooks``):
``subscriptions.before_register``, ``subscriptions.after_match``, ``subscriptions.after_rerun``.
"""
from engine.subscriptions.live import (NOTHING, BatchListener, LiveQuery, SubscriptionHandle, SubscriptionStats,
                                       WaitOutcome)
from engine.subscriptions.manager import QueryRunner, SubscriptionManager

__all__ = ["BatchListener", "LiveQuery", "NOTHING", "QueryRunner", "SubscriptionHandle",
           "SubscriptionManager", "SubscriptionStats", "WaitOutcome"]
