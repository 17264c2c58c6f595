"""Hypothesis strategies for ``engine.model.schema``: random validator trees and values that conform to them.

Who may call it: tests only (it imports hypothesis, a test dependency). Engine code never imports it.

Invariants:
- ``validators()`` only builds trees that ``engine.model.schema`` accepts (optional only as object fields,
  record keys drawn from string-producing validators, unions non-empty, finite literal floats).
- ``values_for(x)`` draws only values that ``x.validate(value, "", FAKE_ID_CONTEXT)`` accepts, as long as
  ids are drawn with the default ``fake_ids`` strategy (ids are ``"<table>:<digits>"`` strings, which
  ``FAKE_ID_CONTEXT`` resolves).
- Generated object field names and string record keys are ASCII identifiers starting with a lowercase
  letter, so values stay legal document values for other layers too (id-keyed records use fake ids).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from hypothesis import strategies as st

from engine.model.validators import ValidationContext, Validator, v
from engine.model.values import INT64_MAX, INT64_MIN

#: Tables that generated ``v.id(...)`` validators refer to.
FAKE_TABLES: tuple[str, ...] = ("users", "messages", "channels")


def _fake_table_of_id(s: str) -> str | None:
    table, sep, digits = s.partition(":")
    if sep and table in FAKE_TABLES and digits.isdigit():
        return table
    return None


#: A context whose ids are ``"<table>:<digits>"`` for the tables in ``FAKE_TABLES``.
FAKE_ID_CONTEXT = ValidationContext(table_of_id=_fake_table_of_id)


def fake_ids(table: str) -> st.SearchStrategy[str]:
    """Ids of *table* that ``FAKE_ID_CONTEXT`` resolves."""
    return st.integers(0, 10**6).map(lambda n: f"{table}:{n}")


_FIRST = "abcdefghijklmnopqrstuvwxyz"
_REST = _FIRST + _FIRST.upper() + "0123456789_"
field_names: st.SearchStrategy[str] = st.builds(
    lambda a, b: a + b, st.sampled_from(_FIRST), st.text(alphabet=_REST, max_size=7)
)

int64s = st.integers(INT64_MIN, INT64_MAX)

literal_values: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=6),
    st.booleans(),
    int64s,
    st.floats(allow_nan=False, allow_infinity=False),
)


def _primitive_validators(tables: tuple[str, ...]) -> st.SearchStrategy[Validator]:
    return st.one_of(
        st.sampled_from([v.string(), v.float64(), v.int64(), v.boolean(), v.null(), v.bytes(), v.any()]),
        st.sampled_from(tables).map(v.id),
        literal_values.map(v.literal),
    )


@lru_cache(maxsize=None)
def record_key_validators(tables: tuple[str, ...] = FAKE_TABLES) -> st.SearchStrategy[Validator]:
    """Validators legal as ``v.record`` keys."""
    string_literal = field_names.map(v.literal)
    simple = st.one_of(st.just(v.string()), st.sampled_from(tables).map(v.id), string_literal)
    return st.one_of(simple, st.lists(simple, min_size=1, max_size=3).map(lambda ms: v.union(*ms)))


def _object_from(entries: dict[str, tuple[Validator, bool]]) -> Validator:
    return v.object({name: (v.optional(val) if opt else val) for name, (val, opt) in entries.items()})


@lru_cache(maxsize=None)
def validators(max_leaves: int = 12, tables: tuple[str, ...] = FAKE_TABLES) -> st.SearchStrategy[Validator]:
    """Random validator trees (never optional at the top level). Cached per arguments (strategies are
    immutable), which keeps hypothesis from re-validating a fresh recursive strategy on every draw."""

    def extend(children: st.SearchStrategy[Validator]) -> st.SearchStrategy[Validator]:
        return st.one_of(
            children.map(v.array),
            st.dictionaries(field_names, st.tuples(children, st.booleans()), max_size=4).map(_object_from),
            st.tuples(record_key_validators(tables), children).map(lambda kv: v.record(kv[0], kv[1])),
            st.lists(children, min_size=1, max_size=3).map(lambda ms: v.union(*ms)),
        )

    return st.recursive(_primitive_validators(tables), extend, max_leaves=max_leaves)


@lru_cache(maxsize=None)
def document_validators(max_leaves: int = 6, tables: tuple[str, ...] = FAKE_TABLES) -> st.SearchStrategy[Validator]:
    """Object validators usable with ``define_table`` (top-level field names do not start with '_')."""
    return st.dictionaries(
        field_names, st.tuples(validators(max_leaves, tables), st.booleans()), max_size=5
    ).map(_object_from)


@lru_cache(maxsize=None)
def convex_values(max_leaves: int = 10) -> st.SearchStrategy[Any]:
    """Arbitrary Convex values (for ``v.any()``)."""
    leaves = st.one_of(
        st.none(), st.booleans(), int64s, st.floats(), st.text(max_size=8), st.binary(max_size=8)
    )
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4), st.dictionaries(field_names, kids, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def values_for(
    validator: Validator,
    id_for_table: Callable[[str], st.SearchStrategy[str]] = fake_ids,
) -> st.SearchStrategy[Any]:
    """Values that *validator* accepts (under ``FAKE_ID_CONTEXT`` with the default *id_for_table*)."""
    rec = lambda x: values_for(x, id_for_table)  # noqa: E731
    k = validator.kind
    if k == "string":
        return st.text(max_size=8)
    if k == "float64":
        return st.floats()
    if k == "int64":
        return int64s
    if k == "boolean":
        return st.booleans()
    if k == "null":
        return st.none()
    if k == "bytes":
        return st.binary(max_size=8)
    if k == "any":
        return convex_values()
    if k == "id":
        return id_for_table(validator.table)
    if k == "literal":
        return st.just(validator.value)
    if k == "array":
        return st.lists(rec(validator.item), max_size=4)
    if k == "object":
        required = {n: rec(f) for n, f in validator.fields.items() if not f.is_optional}
        optional = {n: rec(f.inner) for n, f in validator.fields.items() if f.is_optional}  # type: ignore[attr-defined]
        return st.fixed_dictionaries(required, optional=optional)
    if k == "record":
        return st.dictionaries(_record_keys(validator.keys, id_for_table), rec(validator.values), max_size=4)
    if k == "union":
        return st.one_of([rec(m) for m in validator.members])
    raise TypeError(f"no value strategy for validator {validator!r}")


def _record_keys(keys: Validator, id_for_table: Callable[[str], st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
    if keys.kind == "string":
        return field_names
    if keys.kind == "union":
        return st.one_of([_record_keys(m, id_for_table) for m in keys.members])
    return values_for(keys, id_for_table)
