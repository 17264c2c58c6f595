"""Fixtures for engine-level tests: a database per (persistence, index) combination, on real files."""
from __future__ import annotations

import pytest

import engine
from engine.clock.hlc import FakePhysicalClock

COMBOS = [
    ("memory", "mem-btree"),
    ("lmdb", "lmdb-btree"),
    ("sqlite", "mem-btree"),
    ("sqlite", "lmdb-btree"),
    ("lmdb", "mem-btree"),
]


@pytest.fixture
def clock():
    return FakePhysicalClock(1_700_000_000_000)


@pytest.fixture(params=COMBOS, ids=[f"{p}+{i}" for p, i in COMBOS])
def combo(request):
    return request.param


@pytest.fixture
def open_db(tmp_path, combo, clock):
    """Factory: open (or reopen) the database of this test's combination at one path."""
    persistence, index = combo
    opened = []

    def _open(**overrides):
        path = None if persistence == "memory" else tmp_path / "db"
        db = engine.open_database(path, persistence=persistence, index=index, physical_clock=clock,
                                  subscriptions="inline", **overrides)
        opened.append(db)
        return db

    _open.persistent = persistence != "memory"
    yield _open
    for db in opened:
        db.close()


@pytest.fixture
def db(open_db):
    return open_db()
