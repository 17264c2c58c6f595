"""``FunctionSpec``: what the engine knows about one deployed function, parsed from a host's
``describe`` JSON (``[{"path","kind","visibility","args","returns"}]``). Validators are rebuilt with
``engine.model.validator_json.validator_from_json``; a malformed description is a ``FunctionError`` at deploy time.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from engine.functions.paths import canonical_path
from engine.model.errors import FunctionError, SchemaDefinitionError
from engine.model.validator_json import validator_from_json, validator_to_json
from engine.model.validators import Validator


class FunctionKind(enum.Enum):
    QUERY = "query"
    MUTATION = "mutation"
    ACTION = "action"


class Visibility(enum.Enum):
    PUBLIC = "public"
    INTERNAL = "internal"


@dataclass(frozen=True)
class FunctionSpec:
    path: str
    kind: FunctionKind
    visibility: Visibility
    args: Validator | None
    returns: Validator | None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind.value, "visibility": self.visibility.value,
                "args": None if self.args is None else validator_to_json(self.args),
                "returns": None if self.returns is None else validator_to_json(self.returns)}


def specs_from_description(description: list[dict[str, Any]]) -> dict[str, FunctionSpec]:
    """Parse a host's description; O(total validator size). Raises FunctionError on anything malformed."""
    out: dict[str, FunctionSpec] = {}
    if not isinstance(description, list):
        raise FunctionError("function description must be a list", code="DeployError")
    for item in description:
        try:
            path = canonical_path(item["path"])
            spec = FunctionSpec(
                path, FunctionKind(item["kind"]), Visibility(item["visibility"]),
                None if item.get("args") is None else validator_from_json(item["args"]),
                None if item.get("returns") is None else validator_from_json(item["returns"]))
        except (KeyError, TypeError, ValueError, SchemaDefinitionError) as exc:
            raise FunctionError(f"malformed function description {item!r}: {exc}", code="DeployError") from None
        if path in out:
            raise FunctionError(f"function {path} is defined twice", code="DeployError")
        out[path] = spec
    return out
