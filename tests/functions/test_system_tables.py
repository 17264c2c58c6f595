"""System tables: engine code writes them through system_* methods; user writes are refused."""
from __future__ import annotations

import pytest

from engine.model.errors import InvalidValueError, ReadOnlyError

from tests.functions.conftest import open_db


def test_system_rows_are_written_only_through_system_methods():
    db = open_db()
    try:
        row = db.mutate(lambda tx: tx.system_insert("_session_requests", {"sessionId": "s", "requestId": 1.0}))
        with pytest.raises(InvalidValueError):
            db.mutate(lambda tx: tx.insert("_session_requests", {"x": 1}))
        with pytest.raises(InvalidValueError):
            db.mutate(lambda tx: tx.system_insert("messages", {"x": 1}))
        for write in (lambda tx: tx.patch(row, {"requestId": 2.0}), lambda tx: tx.replace(row, {"a": 1}),
                      lambda tx: tx.delete(row)):
            with pytest.raises(ReadOnlyError, match="system table"):
                db.mutate(write)
        db.mutate(lambda tx: tx.system_patch(row, {"requestId": 3.0}))
        assert db.read(lambda tx: tx.get(row))["requestId"] == 3.0
        assert len(db.read(lambda tx: tx.query("_session_requests").collect())) == 1
        db.mutate(lambda tx: tx.system_delete(row))
        assert db.read(lambda tx: tx.get(row)) is None
        assert db.read(lambda tx: tx.query("_scheduled_functions").collect()) == []  # empty, yet readable
        db.check_invariants()
    finally:
        db.close()
