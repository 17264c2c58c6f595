"""Bad input gets a clear error and writes nothing: malformed documents, unknown tables and indexes, bad
ids, oversize values, schema violations, writes in read-only functions."""
from __future__ import annotations

import pytest

import engine
from engine import define_schema, define_table, v
from engine.clock.hlc import FakePhysicalClock


@pytest.fixture
def db(tmp_path):
    d = engine.open_database(tmp_path / "db", physical_clock=FakePhysicalClock(), subscriptions="inline")
    d.set_schema(define_schema({
        "users": define_table({"name": v.string(), "age": v.optional(v.int64()),
                               "tags": v.array(v.string())}).index("by_name", ["name"]),
    }))
    d.mutate(lambda tx: tx.insert("users", {"name": "ada", "tags": []}))
    yield d
    d.close()


def nothing_written(db, before):
    return db.latest_ts() == before[0] and len(list(db.log())) == before[1]


def snapshot(db):
    return db.latest_ts(), len(list(db.log()))


def deep(n):
    value = "leaf"
    for _ in range(n):
        value = {"x": value}
    return value


BAD_DOCS = [
    ({"name": ("a", "b")}, engine.InvalidValueError, "name"),            # tuple is not a Convex value
    ({"name": {1, 2}}, engine.InvalidValueError, "name"),
    ({"name": object()}, engine.InvalidValueError, "name"),
    ({"n": 2**63}, engine.InvalidValueError, "n"),                        # int64 overflow
    ({"$bad": 1}, engine.InvalidValueError, "$bad"),
    ({"_sneaky": 1}, engine.InvalidValueError, "_sneaky"),
    ({"d": deep(17)}, engine.InvalidValueError, ""),                      # nesting depth
    ({"a": list(range(8193))}, engine.InvalidValueError, "a"),            # array length
    ({f"f{i}": i for i in range(1025)}, engine.InvalidValueError, ""),    # field count
    ({"big": "x" * (1 << 20)}, engine.InvalidValueError, ""),             # 1 MiB document limit
    ("not a dict", engine.InvalidValueError, ""),
]


@pytest.mark.parametrize("doc,error,fragment", BAD_DOCS, ids=range(len(BAD_DOCS)))
def test_malformed_documents_are_rejected_and_nothing_is_written(db, doc, error, fragment):
    before = snapshot(db)
    with pytest.raises(error) as info:
        db.mutate(lambda tx: tx.insert("free", doc))
    assert fragment in str(info.value)
    assert nothing_written(db, before)


def test_a_failed_write_leaves_the_rest_of_the_transaction_usable(db):
    def body(tx):
        ok = tx.insert("free", {"a": 1})
        with pytest.raises(engine.InvalidValueError):
            tx.insert("free", {"a": (1,)})
        return ok

    doc_id = db.mutate(body)
    assert db.read(lambda tx: tx.query("free").collect())[0]["_id"] == doc_id


@pytest.mark.parametrize("doc,path,expected", [
    ({"name": 5, "tags": []}, "name", "string"),
    ({"name": "x", "tags": ["a", 1]}, "tags[1]", "string"),
    ({"name": "x", "tags": [], "age": 1.5}, "age", "int64"),
    ({"name": "x", "tags": [], "extra": True}, "extra", ""),
    ({"tags": []}, "name", "string"),
])
def test_schema_violations_name_table_path_and_expectation(db, doc, path, expected):
    before = snapshot(db)
    with pytest.raises(engine.SchemaValidationError) as info:
        db.mutate(lambda tx: tx.insert("users", doc))
    err = info.value
    assert err.table == "users" and err.path == path and expected in err.expected
    assert "users" in str(err)
    assert nothing_written(db, before)


def test_patch_that_breaks_the_schema_is_rejected(db):
    ada = db.read(lambda tx: tx.query("users").first())["_id"]
    before = snapshot(db)
    with pytest.raises(engine.SchemaValidationError):
        db.mutate(lambda tx: tx.patch(ada, {"age": "old"}))
    assert nothing_written(db, before)


def test_installing_a_schema_that_existing_documents_violate_fails_and_changes_nothing(db):
    old_schema = db.schema
    with pytest.raises(engine.SchemaValidationError) as info:
        db.set_schema(define_schema({"users": define_table({"name": v.int64(), "tags": v.any(), "age": v.any()})}))
    assert "existing document" in str(info.value)
    assert db.schema is old_schema


@pytest.mark.parametrize("bad_id", ["", "nope", "0" * 31, 12345, None])
def test_bad_ids_are_clear_errors(db, bad_id):
    before = snapshot(db)
    for op in (lambda tx: tx.get(bad_id), lambda tx: tx.patch(bad_id, {"a": 1}), lambda tx: tx.delete(bad_id)):
        with pytest.raises(engine.InvalidIdError):
            db.mutate(op)
    assert nothing_written(db, before)


def test_well_formed_id_of_a_missing_document_is_not_found(db):
    ada = db.read(lambda tx: tx.query("users").first())["_id"]
    db.mutate(lambda tx: tx.delete(ada))
    assert db.read(lambda tx: tx.get(ada)) is None
    with pytest.raises(engine.DocumentNotFoundError):
        db.mutate(lambda tx: tx.replace(ada, {"name": "x", "tags": []}))


def test_unknown_indexes_and_bad_table_names(db):
    with pytest.raises(engine.UnknownIndexError):
        db.read(lambda tx: tx.query("users").with_index("by_age").collect())
    with pytest.raises(engine.UnknownIndexError):
        db.read(lambda tx: tx.query("nobody").with_index("by_x").collect())
    for name in ("_system", "has space", "", "1abc", "x" * 65):
        with pytest.raises(engine.InvalidValueError):
            db.mutate(lambda tx: tx.insert(name, {"a": 1}))


def test_writes_inside_read_only_functions_are_refused(db):
    before = snapshot(db)
    ada = db.read(lambda tx: tx.query("users").first())["_id"]
    for op in (lambda tx: tx.insert("users", {"name": "x", "tags": []}), lambda tx: tx.patch(ada, {"name": "y"}),
               lambda tx: tx.replace(ada, {"name": "y", "tags": []}), lambda tx: tx.delete(ada)):
        with pytest.raises(engine.ReadOnlyError):
            db.read(op)
    assert nothing_written(db, before)


def test_changing_system_fields_is_refused(db):
    ada = db.read(lambda tx: tx.query("users").first())
    with pytest.raises(engine.InvalidValueError):
        db.mutate(lambda tx: tx.patch(ada["_id"], {"_creationTime": 1.0}))
    with pytest.raises(engine.InvalidValueError):
        db.mutate(lambda tx: tx.replace(ada["_id"], {"_id": "other", "name": "a", "tags": []}))


def test_user_function_exception_writes_nothing_and_propagates(db):
    before = snapshot(db)

    def body(tx):
        tx.insert("free", {"a": 1})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        db.mutate(body)
    assert nothing_written(db, before)


def test_oversize_index_key_is_rejected_before_anything_is_written(db):
    before = snapshot(db)
    with pytest.raises(engine.RippleError):
        db.mutate(lambda tx: tx.insert("users", {"name": "n" * 2000, "tags": []}))
    assert nothing_written(db, before)


def test_closed_database_refuses_work(tmp_path):
    d = engine.open_database(tmp_path / "x")
    d.close()
    with pytest.raises(engine.RippleError):
        d.mutate(lambda tx: tx.insert("a", {}))
    d.close()  # idempotent
