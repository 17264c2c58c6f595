"""The embedded database, one module per role.

- ``core``: wiring (``Database``, ``open_database``): opens storage and hands every layer its parts.
- ``recovery``: derived state from the log (the one log-to-index derivation, replay, backfill, rebuild).
- ``runner``: the mutation runner (retries under a ``RetryPolicy``, the serialized fallback).
- ``migration``: schema changes planned, checked and committed as one catalog record.
- ``inspection``: the decoded log, document history, ``verify``.
- ``records``: the plain records returned to callers.
"""
from engine.database.core import Database, open_database, system_clock_ms
from engine.database.records import (AttemptMode, AttemptRecord, LogEntry, MutationOutcome, Stats, Version,
                                     VerifyReport, WriteView)

__all__ = ["Database", "open_database", "system_clock_ms", "AttemptMode", "AttemptRecord", "LogEntry",
           "MutationOutcome", "Stats", "Version", "VerifyReport", "WriteView"]
