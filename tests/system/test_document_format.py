"""The storage format of documents is recorded in the database and checked at open.

A new database records ``doccodec.DATABASE_FORMAT`` in the persistence global ``DOCUMENT_FORMAT_GLOBAL``
before its first commit; a database written by an older Ripple, whose log holds JSON documents and no
such global, is refused at open with a message naming the migration (``ripple export`` with the older
version, ``ripple import`` with this one), and the refusal writes nothing; a database recording another
format is refused too. Real files (LMDB and SQLite logs), no mocks.
"""
from __future__ import annotations

import shutil

import pytest

import engine
from engine import doccodec
from engine.database.recovery import DOCUMENT_FORMAT_GLOBAL
from engine.model import values
from engine.model.errors import InvalidValueError, PersistenceError
from engine.persistence.base import CommitRecord, DocumentWrite, PersistenceConfig
from engine.persistence.registry import open_persistence

PERSISTENCE = ["lmdb", "sqlite"]


def _log(path, persistence):
    return open_persistence(persistence, PersistenceConfig(path=str(path / "log")))


def _fill(path, persistence) -> list[str]:
    with engine.open_database(path, persistence=persistence, index="mem-btree") as db:
        ids = db.mutate(lambda tx: [tx.insert("t", {"x": i, "b": b"\x00", "s": "é"}) for i in range(3)])
        db.mutate(lambda tx: tx.patch(ids[0], {"x": 10}))
    return ids


@pytest.mark.parametrize("persistence", PERSISTENCE)
def test_a_new_database_records_its_document_format_and_reopens(tmp_path, persistence):
    ids = _fill(tmp_path, persistence)
    store = _log(tmp_path, persistence)
    try:
        assert store.get_global(DOCUMENT_FORMAT_GLOBAL) == doccodec.DATABASE_FORMAT
        stored = [w.value for rec in store.load_log() for w in rec.writes if w.table == "t" and w.value is not None]
    finally:
        store.close()
    assert stored and all(v[0] == doccodec.FORMAT_VERSION for v in stored)
    with engine.open_database(tmp_path, persistence=persistence, index="mem-btree") as db:
        assert db.read(lambda tx: tx.get(ids[0]))["x"] == 10
        assert db.verify().ok


def _rewrite_as_json(path, persistence) -> None:
    """Turn a folder into what the JSON-storing Ripple wrote: the same log with every document as
    ``engine.model.values.encode_document`` bytes, and no document-format global."""
    store = _log(path, persistence)
    records = list(store.load_log())
    store.close()
    shutil.rmtree(path)
    store = _log(path, persistence)
    try:
        store.append([CommitRecord(r.ts, r.writer, tuple(
            DocumentWrite(w.table, w.id, values.encode_document(doccodec.decode_document(w.value))
                          if w.table != "_catalog" and w.value is not None else w.value, w.prev_ts)
            for w in r.writes)) for r in records])
    finally:
        store.close()


@pytest.mark.parametrize("persistence", PERSISTENCE)
def test_a_database_in_the_old_json_format_is_refused_with_the_migration_path(tmp_path, persistence):
    _fill(tmp_path, persistence)
    _rewrite_as_json(tmp_path, persistence)
    with pytest.raises(PersistenceError) as err:
        engine.open_database(tmp_path, persistence=persistence, index="mem-btree")
    message = str(err.value)
    assert "older version of Ripple" in message and "JSON" in message
    assert "ripple export" in message and "ripple import" in message
    store = _log(tmp_path, persistence)
    try:  # the refusal wrote nothing: the folder is still the old one, ready for the old version's export
        assert store.get_global(DOCUMENT_FORMAT_GLOBAL) is None
        first = next(w.value for rec in store.load_log() for w in rec.writes if w.table == "t")
        assert first[:1] == b"{"
    finally:
        store.close()
    with pytest.raises(PersistenceError):  # and it stays refused
        engine.open_database(tmp_path, persistence=persistence, index="mem-btree")


def test_an_old_document_read_directly_names_the_migration_too():
    with pytest.raises(InvalidValueError, match="ripple export"):
        doccodec.decode_document(values.encode_document({"a": 1}))


@pytest.mark.parametrize("persistence", PERSISTENCE)
def test_a_database_recording_another_format_is_refused(tmp_path, persistence):
    _fill(tmp_path, persistence)
    store = _log(tmp_path, persistence)
    store.put_global(DOCUMENT_FORMAT_GLOBAL, b"ripple-binary-document/99")
    store.close()
    with pytest.raises(PersistenceError, match="ripple-binary-document/99"):
        engine.open_database(tmp_path, persistence=persistence, index="mem-btree")


@pytest.mark.parametrize("persistence", PERSISTENCE)
def test_a_log_without_documents_and_without_the_global_opens_and_records_it(tmp_path, persistence):
    """A crash between creating the files and recording the format (or a database that only ever
    committed a schema) holds no document to misread: open records the format and goes on."""
    with engine.open_database(tmp_path, persistence=persistence, index="mem-btree",
                              schema=engine.define_schema({"t": engine.define_table({"x": engine.v.int64()})})):
        pass
    store = _log(tmp_path, persistence)
    records = list(store.load_log())
    store.close()
    assert records and all(w.table == "_catalog" for r in records for w in r.writes)
    shutil.rmtree(tmp_path)
    store = _log(tmp_path, persistence)
    store.append(records)
    assert store.get_global(DOCUMENT_FORMAT_GLOBAL) is None
    store.close()
    with engine.open_database(tmp_path, persistence=persistence, index="mem-btree") as db:
        doc_id = db.mutate(lambda tx: tx.insert("t", {"x": 1}))
    store = _log(tmp_path, persistence)
    try:
        assert store.get_global(DOCUMENT_FORMAT_GLOBAL) == doccodec.DATABASE_FORMAT
    finally:
        store.close()
    with engine.open_database(tmp_path, persistence=persistence, index="mem-btree") as db:
        assert db.read(lambda tx: tx.get(doc_id))["x"] == 1
