"""Unit tests for engine.model.schema: validators, table definitions, schemas and their JSON form.

Covers: each validator's accept/reject boundaries (1 vs 1.0 vs True, bytes vs str, None vs missing),
failure paths and messages for nested values, describe() texts, JSON round trips (hypothesis over random
validator trees), union/record/id behaviour, define_table/define_schema errors, and the conformance
property "values generated for a validator pass it".
"""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.model.errors import RippleError, SchemaDefinitionError, SchemaValidationError
from engine.model.schema import IndexDefinition, Schema, TableDefinition, define_schema, define_table
from engine.model.validator_json import validator_from_json, validator_to_json
from engine.model.validators import DEFAULT_CONTEXT, MISSING, ValidationContext, ValidationFailure, Validator, v
from engine.testing.strategies_schema import (
    FAKE_ID_CONTEXT,
    document_validators,
    field_names,
    validators,
    values_for,
)


def fails(validator: Validator, value, ctx: ValidationContext = FAKE_ID_CONTEXT, path: str = "") -> ValidationFailure:
    with pytest.raises(ValidationFailure) as ei:
        validator.validate(value, path, ctx)
    return ei.value


def ok(validator: Validator, value, ctx: ValidationContext = FAKE_ID_CONTEXT) -> None:
    assert validator.validate(value, "", ctx) is None
    assert validator.is_valid(value, ctx)


# ------------------------------------------------------------------------------------------------------
# Primitive validators: accept / reject near misses
# ------------------------------------------------------------------------------------------------------

SAMPLES = {
    "none": None,
    "true": True,
    "false": False,
    "int0": 0,
    "int1": 1,
    "float1": 1.0,
    "nan": math.nan,
    "inf": math.inf,
    "str": "x",
    "empty_str": "",
    "bytes": b"x",
    "bytearray": bytearray(b"x"),
    "list": [1],
    "tuple": (1,),
    "dict": {"a": 1},
}

ACCEPTS = {
    "string": (v.string(), {"str", "empty_str"}),
    "float64": (v.float64(), {"float1", "nan", "inf"}),
    "int64": (v.int64(), {"int0", "int1"}),
    "boolean": (v.boolean(), {"true", "false"}),
    "null": (v.null(), {"none"}),
    "bytes": (v.bytes(), {"bytes"}),
    "any": (v.any(), set(SAMPLES)),
}


@pytest.mark.parametrize("name", sorted(ACCEPTS))
def test_primitive_validators_accept_exactly_their_type(name):
    validator, accepted = ACCEPTS[name]
    for sample, value in SAMPLES.items():
        assert validator.is_valid(value) == (sample in accepted), (name, sample)


def test_number_is_float64_alias():
    assert v.number() == v.float64()
    assert v.number().describe() == "float64"


def test_float64_rejects_int_with_friendly_hint():
    f = fails(v.float64(), 3)
    assert f.expected == "float64"
    assert f.got == 3
    assert "use a float" in str(f) and "v.int64()" in str(f)
    # bool is not hinted as an int
    assert "use a float" not in str(fails(v.float64(), True))


def test_int64_boundaries_and_hints():
    ok(v.int64(), 2**63 - 1)
    ok(v.int64(), -(2**63))
    assert "64-bit" in str(fails(v.int64(), 2**63))
    assert "64-bit" in str(fails(v.int64(), -(2**63) - 1))
    assert "float" in str(fails(v.int64(), 1.0))
    fails(v.int64(), True)
    fails(v.int64(), False)


def test_string_bytes_confusion_hints():
    assert "v.bytes()" in str(fails(v.string(), b"abc"))
    assert "v.string()" in str(fails(v.bytes(), "abc"))


# ------------------------------------------------------------------------------------------------------
# Literals
# ------------------------------------------------------------------------------------------------------


def test_literal_int_is_strict():
    lit = v.literal(1)
    ok(lit, 1)
    for bad in (1.0, True, "1", 2, None):
        fails(lit, bad)
    assert "int64" in str(fails(lit, 1.0))


def test_literal_float_is_strict():
    lit = v.literal(1.0)
    ok(lit, 1.0)
    for bad in (1, True, 1.5):
        fails(lit, bad)
    zero = v.literal(0.0)
    ok(zero, 0.0)
    fails(zero, -0.0)  # Convex orders floats totally: -0.0 and 0.0 are different values
    ok(v.literal(-0.0), -0.0)
    assert v.literal(0.0) != v.literal(-0.0)


def test_literal_bool_and_str_are_strict():
    ok(v.literal(True), True)
    fails(v.literal(True), 1)
    fails(v.literal(False), 0)
    fails(v.literal(False), None)
    ok(v.literal("a"), "a")
    fails(v.literal("a"), b"a")
    fails(v.literal("a"), "A")


def test_literal_equality_distinguishes_types():
    assert v.literal(1) != v.literal(True)
    assert v.literal(1) != v.literal(1.0)
    assert v.literal(1) == v.literal(1)
    assert len({v.literal(1), v.literal(True), v.literal(1.0)}) == 3


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, b"x", None, [1], 2**63, object()])
def test_literal_rejects_unsupported_values(bad):
    with pytest.raises(SchemaDefinitionError):
        v.literal(bad)


# ------------------------------------------------------------------------------------------------------
# Objects and optional
# ------------------------------------------------------------------------------------------------------

MSG = v.object({"author": v.string(), "body": v.optional(v.string())})


def test_object_required_optional_and_extra_fields():
    ok(MSG, {"author": "a"})
    ok(MSG, {"author": "a", "body": "b"})
    f = fails(MSG, {"body": "b"})
    assert (f.path, f.expected, f.got) == ("author", "string", MISSING)
    assert "missing" in str(f)
    f = fails(MSG, {"author": "a", "extra": 5})
    assert (f.path, f.expected, f.got) == ("extra", "absent", 5)
    assert "author" in str(f) and "body" in str(f)  # lists the allowed fields
    f = fails(MSG, ["author"])
    assert f.path == "" and f.expected == MSG.describe()


def test_optional_field_present_with_none_is_not_missing():
    f = fails(MSG, {"author": "a", "body": None})
    assert (f.path, f.expected, f.got) == ("body", "string", None)
    assert "omit" in str(f)
    # when null is part of the inner validator, None is fine
    ok(v.object({"x": v.optional(v.union(v.string(), v.null()))}), {"x": None})


def test_required_field_with_none_value_is_null_not_missing():
    f = fails(v.object({"a": v.string()}), {"a": None})
    assert f.got is None and f.got is not MISSING


def test_empty_object():
    ok(v.object({}), {})
    f = fails(v.object({}), {"a": 1})
    assert f.path == "a"
    assert v.object({}).describe() == "{}"


def test_object_equality_ignores_field_order():
    a = v.object({"x": v.int64(), "y": v.optional(v.string())})
    b = v.object({"y": v.optional(v.string()), "x": v.int64()})
    assert a == b and hash(a) == hash(b)
    assert a != v.object({"x": v.int64(), "y": v.string()})


# ------------------------------------------------------------------------------------------------------
# Paths for nested failures
# ------------------------------------------------------------------------------------------------------


def test_nested_failure_path():
    val = v.object({"a": v.object({"b": v.array(v.int64())})})
    f = fails(val, {"a": {"b": [1, "x"]}})
    assert (f.path, f.expected, f.got) == ("a.b[1]", "int64", "x")


def test_path_prefix_argument():
    val = v.array(v.object({"author": v.string()}))
    f = fails(val, [{"author": "a"}] * 3 + [{"author": 7}], path="messages")
    assert f.path == "messages[3].author"
    assert "messages[3].author" in str(f)


def test_record_value_path_and_odd_keys():
    val = v.record(v.string(), v.array(v.boolean()))
    f = fails(val, {"ok": [True], "k": [True, 0]})
    assert f.path == "k[1]"
    f = fails(val, {"my key": [1]})
    assert f.path == '["my key"][0]'


def test_array_item_failure_reports_first_bad_index():
    f = fails(v.array(v.string()), ["a", "b", 3, 4])
    assert f.path == "[2]" and f.got == 3
    assert "tuple" in str(fails(v.array(v.string()), ("a",)))


# ------------------------------------------------------------------------------------------------------
# Unions
# ------------------------------------------------------------------------------------------------------


def test_union_accepts_any_member():
    u = v.union(v.string(), v.int64(), v.null())
    for good in ("s", 3, None):
        ok(u, good)
    f = fails(u, 1.5)
    assert f.path == "" and f.expected == "string | int64 | null"


def test_union_of_string_literals():
    u = v.union(v.literal("a"), v.literal("b"))
    ok(u, "a")
    ok(u, "b")
    f = fails(u, "c")
    assert f.expected == '"a" | "b"'
    fails(u, b"a")


def test_union_reports_closest_member_when_unique():
    u = v.union(v.object({"kind": v.literal("pt"), "x": v.float64()}), v.string())
    f = fails(u, {"kind": "pt", "x": 1})
    assert f.path == "x" and f.expected == "float64"
    assert "closest member" in str(f)


def test_union_ambiguous_failure_is_reported_at_union_level():
    u = v.union(v.object({"a": v.string()}), v.object({"b": v.string()}))
    f = fails(u, {"c": 1}, path="doc")
    assert f.path == "doc"
    assert f.expected == "{a: string} | {b: string}"


def test_union_needs_members_and_rejects_optional_members():
    with pytest.raises(SchemaDefinitionError):
        v.union()
    with pytest.raises(SchemaDefinitionError):
        v.union(v.optional(v.string()))


# ------------------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------------------


def test_record_key_validators_allowed_and_rejected():
    v.record(v.string(), v.any())
    v.record(v.id("users"), v.any())
    v.record(v.literal("a"), v.any())
    v.record(v.union(v.literal("a"), v.literal("b"), v.id("users")), v.any())
    for bad in (v.int64(), v.literal(1), v.union(v.literal("a"), v.int64()), v.any(), v.optional(v.string())):
        with pytest.raises(SchemaDefinitionError):
            v.record(bad, v.any())
    with pytest.raises(SchemaDefinitionError):
        v.record(v.string(), v.optional(v.string()))


def test_record_key_validation():
    r = v.record(v.union(v.literal("en"), v.literal("fr")), v.string())
    ok(r, {})
    ok(r, {"en": "hello", "fr": "bonjour"})
    f = fails(r, {"en": "hello", "de": "hallo"})
    assert f.path == "de" and f.got == "de"
    assert '"en" | "fr"' in f.expected
    assert "key" in str(f)
    fails(r, ["en"])


def test_record_with_id_keys():
    r = v.record(v.id("users"), v.int64())
    ok(r, {"users:1": 3})
    f = fails(r, {"messages:1": 3})
    assert "messages" in str(f)


# ------------------------------------------------------------------------------------------------------
# Ids and the validation context
# ------------------------------------------------------------------------------------------------------


def test_id_uses_context():
    ctx = ValidationContext(table_of_id=lambda s: {"u1": "users", "m1": "messages"}.get(s))
    val = v.id("users")
    ok(val, "u1", ctx)
    f = fails(val, "m1", ctx)
    assert f.expected == 'id("users")' and "messages" in str(f)
    assert "not a valid document id" in str(fails(val, "zzz", ctx))
    fails(val, 1, ctx)
    fails(val, b"u1", ctx)


def test_id_under_default_context_fails_clearly():
    assert not DEFAULT_CONTEXT.resolves_ids
    f = fails(v.id("users"), "users:1", DEFAULT_CONTEXT)
    assert "table_of_id" in str(f)


def test_id_table_name_must_be_identifier():
    v.id("_storage")  # system tables may be referenced
    for bad in ("", "a-b", "1abc", 3, None):
        with pytest.raises(SchemaDefinitionError):
            v.id(bad)


# ------------------------------------------------------------------------------------------------------
# Construction errors and optional placement
# ------------------------------------------------------------------------------------------------------


def test_construction_errors():
    with pytest.raises(SchemaDefinitionError):
        v.array("string")  # type: ignore[arg-type]
    with pytest.raises(SchemaDefinitionError):
        v.array(v.optional(v.string()))
    with pytest.raises(SchemaDefinitionError):
        v.optional(v.optional(v.string()))
    with pytest.raises(SchemaDefinitionError):
        v.object({"a": str})  # type: ignore[dict-item]
    with pytest.raises(SchemaDefinitionError):
        v.object({"": v.string()})
    with pytest.raises(SchemaDefinitionError):
        v.object({"$a": v.string()})
    assert issubclass(SchemaDefinitionError, RippleError) and issubclass(SchemaDefinitionError, ValueError)


# ------------------------------------------------------------------------------------------------------
# describe()
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "validator, text",
    [
        (v.string(), "string"),
        (v.int64(), "int64"),
        (v.float64(), "float64"),
        (v.boolean(), "boolean"),
        (v.null(), "null"),
        (v.bytes(), "bytes"),
        (v.any(), "any"),
        (v.id("users"), 'id("users")'),
        (v.array(v.int64()), "array<int64>"),
        (MSG, "{author: string, body?: string}"),
        (v.union(v.literal("a"), v.literal("b")), '"a" | "b"'),
        (v.literal(1), "1"),
        (v.literal(1.0), "1.0"),
        (v.literal(True), "true"),
        (v.record(v.string(), v.array(v.null())), "record<string, array<null>>"),
        (v.optional(v.string()), "optional<string>"),
        (v.object({"odd key": v.string()}), '{"odd key": string}'),
        (v.array(v.union(v.string(), v.null())), "array<string | null>"),
    ],
)
def test_describe(validator, text):
    assert validator.describe() == text


# ------------------------------------------------------------------------------------------------------
# JSON round trips
# ------------------------------------------------------------------------------------------------------


@given(validators())
def test_validator_json_round_trip(validator):
    data = validator_to_json(validator)
    through_text = json.loads(json.dumps(data))  # must be plain JSON
    back = validator_from_json(through_text)
    assert back == validator
    assert validator_to_json(back) == data
    assert back.describe() == validator.describe()


def test_literal_json_keeps_kind():
    for lit in (1, 1.0, True, "1", 2**62 + 1, -0.0):
        back = validator_from_json(json.loads(json.dumps(validator_to_json(v.literal(lit)))))
        assert back == v.literal(lit)
        assert type(back.value) is type(lit) and back.value == lit  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {},
        {"type": "strnig"},
        {"type": "string", "extra": 1},
        {"type": "array"},
        {"type": "union", "members": []},
        {"type": "literal", "kind": "int64", "value": 1.5},
        {"type": "literal", "kind": "int64", "value": "x"},
        {"type": "literal", "kind": "boolean", "value": 1},
        {"type": "object", "fields": []},
        {"type": "record", "keys": {"type": "int64"}, "values": {"type": "any"}},
    ],
)
def test_validator_from_json_rejects_malformed(bad):
    with pytest.raises(SchemaDefinitionError):
        validator_from_json(bad)


# ------------------------------------------------------------------------------------------------------
# Conformance property: generated values pass
# ------------------------------------------------------------------------------------------------------


@given(st.data())
def test_generated_values_conform(data):
    validator = data.draw(validators())
    value = data.draw(values_for(validator))
    validator.validate(value, "", FAKE_ID_CONTEXT)


@given(st.data())
def test_generated_documents_pass_schema(data):
    doc_validator = data.draw(document_validators())
    schema = define_schema({"t": define_table(doc_validator)})
    doc = data.draw(values_for(doc_validator))
    schema.validate_document("t", doc, FAKE_ID_CONTEXT)


@given(st.data())
def test_extra_field_is_always_rejected_with_its_path(data):
    doc_validator = data.draw(document_validators())
    doc = dict(data.draw(values_for(doc_validator)))
    extra = "zz" + data.draw(st.text(alphabet="xyz", max_size=4))
    if extra in doc_validator.fields:  # type: ignore[attr-defined]
        extra += "_extra"
    assert extra not in doc_validator.fields  # type: ignore[attr-defined]
    doc[extra] = 0
    schema = define_schema({"t": define_table(doc_validator)})
    with pytest.raises(SchemaValidationError) as ei:
        schema.validate_document("t", doc, FAKE_ID_CONTEXT)
    # the extra field is reported unless an earlier (dict-order) field was already wrong - impossible here
    assert ei.value.path == extra


@given(st.data())
def test_validate_is_deterministic_and_matches_is_valid(data):
    validator = data.draw(validators(max_leaves=6))
    other = data.draw(validators(max_leaves=6))
    value = data.draw(values_for(other))  # often does not conform to `validator`
    try:
        validator.validate(value, "", FAKE_ID_CONTEXT)
        passed = True
    except ValidationFailure as f:
        passed = False
        assert isinstance(f.expected, str) and f.expected
        assert isinstance(str(f), str)
    assert validator.is_valid(value, FAKE_ID_CONTEXT) == passed


# ------------------------------------------------------------------------------------------------------
# define_table
# ------------------------------------------------------------------------------------------------------


def test_define_table_and_indexes_chain():
    t = define_table({"author": v.id("users"), "channel": v.string(), "meta": v.object({"lang": v.string()})})
    r = t.index("by_author", ["author"]).index("by_channel_lang", ["channel", "meta.lang"])
    assert r is t
    t.index("by_meta", ["meta.lang"])  # separate statements work too
    assert [i.name for i in t.indexes] == ["by_author", "by_channel_lang", "by_meta"]
    idx = t.get_index("by_channel_lang")
    assert idx == IndexDefinition("by_channel_lang", ("channel", "meta.lang"))
    assert idx.key_fields == ("channel", "meta.lang", "_creationTime", "_id")
    assert t.get_index("nope") is None


@pytest.mark.parametrize(
    "name, fields",
    [
        ("by id", ["a"]),
        ("1x", ["a"]),
        ("", ["a"]),
        ("_private", ["a"]),
        ("by_id", ["a"]),
        ("by_creation_time", ["a"]),
        ("ok", []),
        ("ok", "a"),
        ("ok", ["a", "a"]),
        ("ok", ["_creationTime"]),
        ("ok", ["a", "_creationTime"]),
        ("ok", ["_id"]),
        ("ok", ["_x"]),
        ("ok", ["a..b"]),
        ("ok", ["a.b-c"]),
        ("ok", [""]),
        ("ok", [1]),
    ],
)
def test_index_definition_errors(name, fields):
    t = define_table({"a": v.string()})
    with pytest.raises(SchemaDefinitionError):
        t.index(name, fields)


def test_index_creation_time_error_explains_implicit_suffix():
    with pytest.raises(SchemaDefinitionError, match="implicitly"):
        define_table({"a": v.string()}).index("by_a", ["a", "_creationTime"])


def test_duplicate_index_name():
    t = define_table({"a": v.string()}).index("by_a", ["a"])
    with pytest.raises(SchemaDefinitionError, match="twice"):
        t.index("by_a", ["a"])


def test_define_table_document_validator_shapes():
    define_table(v.object({"a": v.string()}))
    define_table(v.union(v.object({"k": v.literal("a")}), v.object({"k": v.literal("b"), "x": v.int64()})))
    define_table(v.any())
    for bad in (v.string(), v.optional(v.object({})), v.union(v.object({}), v.string()),
                v.record(v.string(), v.any()), v.array(v.any())):
        with pytest.raises(SchemaDefinitionError):
            define_table(bad)
    with pytest.raises(SchemaDefinitionError):
        define_table({"a": "string"})  # type: ignore[dict-item]
    with pytest.raises(SchemaDefinitionError):
        define_table(["a"])  # type: ignore[arg-type]


def test_define_table_rejects_system_field_names():
    for name in ("_id", "_creationTime", "_x"):
        with pytest.raises(SchemaDefinitionError):
            define_table({name: v.string()})
    with pytest.raises(SchemaDefinitionError):
        define_table(v.union(v.object({"a": v.string()}), v.object({"_id": v.string()})))
    # nested fields are user data and may start with '_'
    define_table({"a": v.object({"_b": v.string()})})


# ------------------------------------------------------------------------------------------------------
# define_schema / Schema
# ------------------------------------------------------------------------------------------------------


def make_schema(**kw) -> Schema:
    return define_schema(
        {
            "messages": define_table(
                {"author": v.id("users"), "body": v.string(), "tags": v.optional(v.array(v.string()))}
            ).index("by_author", ["author"]),
            "users": define_table({"name": v.string()}).index("by_name", ["name"]),
            "events": define_table(
                v.union(v.object({"kind": v.literal("click"), "x": v.int64()}), v.object({"kind": v.literal("close")}))
            ),
        },
        **kw,
    )


def test_schema_accessors():
    s = make_schema()
    assert set(s.tables) == {"messages", "users", "events"}
    assert isinstance(s.table("users"), TableDefinition)
    assert s.table("nope") is None
    assert s.indexes("messages") == [IndexDefinition("by_author", ("author",))]
    assert s.indexes("events") == []
    assert s.indexes("not_in_schema") == []
    with pytest.raises(TypeError):
        s.tables["x"] = define_table({})  # type: ignore[index]


def test_validate_document_paths_and_error_record():
    s = make_schema()
    s.validate_document("messages", {"author": "users:1", "body": "hi"}, FAKE_ID_CONTEXT)
    s.validate_document("messages", {"author": "users:1", "body": "hi", "tags": ["a"]}, FAKE_ID_CONTEXT)
    with pytest.raises(SchemaValidationError) as ei:
        s.validate_document("messages", {"author": "users:1", "body": "hi", "tags": ["a", "b", 3]}, FAKE_ID_CONTEXT)
    e = ei.value
    assert (e.table, e.path, e.expected, e.got) == ("messages", "tags[2]", "string", 3)
    assert "messages" in str(e) and "tags[2]" in str(e)
    with pytest.raises(SchemaValidationError) as ei:
        s.validate_document("messages", {"author": "messages:1", "body": "hi"}, FAKE_ID_CONTEXT)
    assert ei.value.path == "author"
    with pytest.raises(SchemaValidationError) as ei:
        s.validate_document("users", "not a dict", FAKE_ID_CONTEXT)
    assert ei.value.path == "" and "the document" in str(ei.value)
    assert isinstance(ei.value, ValueError)


def test_validate_document_union_table():
    s = make_schema()
    s.validate_document("events", {"kind": "click", "x": 3})
    s.validate_document("events", {"kind": "close"})
    with pytest.raises(SchemaValidationError):
        s.validate_document("events", {"kind": "close", "x": 3})
    with pytest.raises(SchemaValidationError):
        s.validate_document("events", {"kind": "click", "x": 3.0})


def test_message_for_long_values_is_bounded():
    s = make_schema()
    with pytest.raises(SchemaValidationError) as ei:
        s.validate_document("users", {"name": "x" * 10_000, "extra": "y" * 10_000})
    assert ei.value.got == "y" * 10_000  # the record keeps the full value
    assert len(str(ei.value)) < 500  # the message does not


def test_tables_not_in_schema():
    make_schema().validate_document("anything", {"whatever": [1, 2]})
    strict = make_schema(strict_tables=True)
    with pytest.raises(SchemaValidationError) as ei:
        strict.validate_document("anything", {"whatever": 1})
    assert ei.value.table == "anything" and "anything" in str(ei.value) and "strict" in str(ei.value)
    strict.validate_document("users", {"name": "n"})


def test_schema_validation_off_skips_document_checks_only():
    s = make_schema(schema_validation=False)
    s.validate_document("users", {"name": 5})
    strict_off = make_schema(schema_validation=False, strict_tables=True)
    with pytest.raises(SchemaValidationError):
        strict_off.validate_document("other", {})


@pytest.mark.parametrize("name", ["", "_system", "my-table", "1st", 5])
def test_define_schema_table_name_errors(name):
    with pytest.raises(SchemaDefinitionError):
        define_schema({name: define_table({})})


def test_define_schema_requires_table_definitions():
    with pytest.raises(SchemaDefinitionError):
        define_schema({"t": v.object({})})  # type: ignore[dict-item]
    with pytest.raises(SchemaDefinitionError):
        define_schema([("t", define_table({}))])  # type: ignore[arg-type]


def test_schema_freezes_its_tables():
    t = define_table({"a": v.string()})
    s = define_schema({"t": t})
    with pytest.raises(SchemaDefinitionError, match="belongs to a Schema"):
        t.index("by_a", ["a"])
    assert s.indexes("t") == []


def test_schema_json_round_trip_and_equality():
    s = make_schema(strict_tables=True)
    data = s.to_json()
    text = json.dumps(data)
    back = Schema.from_json(json.loads(text))
    assert back == s
    assert json.dumps(back.to_json()) == text  # deterministic
    assert list(data["tables"]) == sorted(data["tables"])
    assert back != make_schema()  # strict_tables differs
    other = make_schema(strict_tables=True)
    assert other == s  # built separately, equal by value


def test_schema_equality_sees_index_and_validator_changes():
    base = lambda: define_table({"a": v.string(), "b": v.int64()})  # noqa: E731
    s1 = define_schema({"t": base().index("i", ["a"]).index("j", ["b"])})
    s2 = define_schema({"t": base().index("j", ["b"]).index("i", ["a"])})
    s3 = define_schema({"t": base().index("i", ["b"])})
    s4 = define_schema({"t": define_table({"a": v.string(), "b": v.float64()}).index("i", ["a"]).index("j", ["b"])})
    assert s1 == s2  # index declaration order does not matter
    assert s1 != s3 and s1 != s4


@given(st.dictionaries(field_names, document_validators(max_leaves=4), max_size=3),
       st.booleans(), st.booleans())
def test_schema_json_round_trip_property(docs, sv, strict):
    tables = {}
    for name, doc in docs.items():
        t = define_table(doc)
        for i, field in enumerate(sorted(f for f in doc.fields if f.isidentifier())[:2]):  # type: ignore[attr-defined]
            t.index(f"idx{i}", [field])
        tables[name] = t
    s = define_schema(tables, schema_validation=sv, strict_tables=strict)
    back = Schema.from_json(json.loads(json.dumps(s.to_json())))
    assert back == s
    assert back.to_json() == s.to_json()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(version=2),
        lambda d: d.pop("tables"),
        lambda d: d.update(strictTables="yes"),
        lambda d: d["tables"]["users"]["indexes"].append({"name": "by_id", "fields": ["name"]}),
        lambda d: d["tables"]["users"].update(document={"type": "string"}),
        lambda d: d["tables"].update({"_sys": d["tables"]["users"]}),
    ],
)
def test_schema_from_json_rejects_malformed(mutate):
    data = json.loads(json.dumps(make_schema().to_json()))
    mutate(data)
    with pytest.raises(SchemaDefinitionError):
        Schema.from_json(data)
