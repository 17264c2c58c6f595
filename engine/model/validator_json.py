"""The JSON form of validators: ``validator_to_json`` and its inverse ``validator_from_json``.

Role: persist and ship validators as plain JSON. The catalog stores table validators this way (through
``engine.model.schema``), function specs carry argument and return validators this way from the SDK to
the host, and the server reports them to clients.

Who may call it: ``engine.model.schema``, ``engine.functions.spec``, the SDK, tests. Standard library and
``engine.model`` only (the wasm guest bundles it). It builds validators through the public ``v`` builder
and reads them through their public attributes, so it depends on no private part of
``engine.model.validators``.

Invariants:
- ``validator_from_json(validator_to_json(x)) == x`` for every validator ``x``; the JSON is plain
  dicts/lists/str/bool/float and deterministic for a given construction (object fields keep their
  declaration order).
- int64 literals are written as decimal strings, so a JSON reader with float-only numbers cannot lose
  precision.
- ``validator_from_json`` is strict: an unknown type tag, a missing or extra key, or a malformed part
  raises ``SchemaDefinitionError``; so does anything ``v`` itself rejects (an empty union, say).
"""
from __future__ import annotations

from typing import Any

from engine.model.errors import SchemaDefinitionError
from engine.model.validators import Validator, v

__all__ = ["validator_to_json", "validator_from_json", "expect_keys"]

_PRIMITIVES: dict[str, Validator] = {
    "string": v.string(),
    "float64": v.float64(),
    "int64": v.int64(),
    "boolean": v.boolean(),
    "null": v.null(),
    "bytes": v.bytes(),
    "any": v.any(),
}


def validator_to_json(val: Validator) -> dict:
    """Plain JSON-able dict describing *val*; ``validator_from_json`` inverts it. O(size of the tree)."""
    k = val.kind
    if k in _PRIMITIVES:
        return {"type": k}
    x: Any = val  # the kind tag says which public attributes this validator has
    if k == "id":
        return {"type": "id", "table": x.table}
    if k == "literal":
        value = str(x.value) if x.literal_kind == "int64" else x.value
        return {"type": "literal", "kind": x.literal_kind, "value": value}
    if k == "optional":
        return {"type": "optional", "inner": validator_to_json(x.inner)}
    if k == "array":
        return {"type": "array", "items": validator_to_json(x.item)}
    if k == "object":
        return {"type": "object", "fields": {name: validator_to_json(f) for name, f in x.fields.items()}}
    if k == "record":
        return {"type": "record", "keys": validator_to_json(x.keys), "values": validator_to_json(x.values)}
    if k == "union":
        return {"type": "union", "members": [validator_to_json(m) for m in x.members]}
    raise SchemaDefinitionError(f"validator of unknown kind {k!r} has no JSON form")


def expect_keys(obj: dict, keys: set[str], what: str) -> None:
    """Raise ``SchemaDefinitionError`` unless *obj* has exactly *keys* (*what* names it in the message)."""
    if set(obj) != keys:
        raise SchemaDefinitionError(f"malformed {what} JSON: expected keys {sorted(keys)}, got {sorted(obj)}")


def _literal_from_json(obj: dict) -> Validator:
    kind, val = obj["kind"], obj["value"]
    if kind == "int64" and isinstance(val, str):
        try:
            lit: Any = int(val)
        except ValueError:
            raise SchemaDefinitionError(f"malformed int64 literal JSON: {val!r}") from None
    elif kind == "float64" and isinstance(val, (int, float)) and not isinstance(val, bool):
        lit = float(val)
    elif kind == "string" and isinstance(val, str):
        lit = val
    elif kind == "boolean" and isinstance(val, bool):
        lit = val
    else:
        raise SchemaDefinitionError(f"malformed literal JSON: {obj!r}")
    return v.literal(lit)


def validator_from_json(obj: Any) -> Validator:
    """Rebuild a validator from ``validator_to_json`` output. O(size of *obj*).

    Strict: unknown types, missing or extra keys raise ``SchemaDefinitionError``.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise SchemaDefinitionError(f"malformed validator JSON: {obj!r}")
    t = obj["type"]
    if t in _PRIMITIVES:
        expect_keys(obj, {"type"}, t)
        return _PRIMITIVES[t]
    if t == "id":
        expect_keys(obj, {"type", "table"}, t)
        return v.id(obj["table"])
    if t == "literal":
        expect_keys(obj, {"type", "kind", "value"}, t)
        return _literal_from_json(obj)
    if t == "optional":
        expect_keys(obj, {"type", "inner"}, t)
        return v.optional(validator_from_json(obj["inner"]))
    if t == "array":
        expect_keys(obj, {"type", "items"}, t)
        return v.array(validator_from_json(obj["items"]))
    if t == "object":
        expect_keys(obj, {"type", "fields"}, t)
        if not isinstance(obj["fields"], dict):
            raise SchemaDefinitionError(f"malformed object JSON: {obj!r}")
        return v.object({name: validator_from_json(f) for name, f in obj["fields"].items()})
    if t == "record":
        expect_keys(obj, {"type", "keys", "values"}, t)
        return v.record(validator_from_json(obj["keys"]), validator_from_json(obj["values"]))
    if t == "union":
        expect_keys(obj, {"type", "members"}, t)
        if not isinstance(obj["members"], list):
            raise SchemaDefinitionError(f"malformed union JSON: {obj!r}")
        return v.union(*(validator_from_json(m) for m in obj["members"]))
    raise SchemaDefinitionError(f"unknown validator type {t!r}")
