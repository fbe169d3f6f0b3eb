"""A JSON Schema of the graph format, with one node schema per registered gate.

Editors with yaml-language-server use it through the modeline
``# yaml-language-server: $schema=PATH``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from graphgrad.format.inputs import FORMS
from graphgrad.format.spec import INITS, CheckSpec, ExpectSpec, ValueInput
from graphgrad.plugins.registry import GateType, Registry

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]*$"


def graph_schema(registry: Registry) -> dict[str, Any]:
    """The schema of a graph file for the gates in ``registry``.

    >>> from graphgrad.plugins.manager import default_registry
    >>> s = graph_schema(default_registry())
    >>> s["required"], len(s["properties"]["nodes"]["additionalProperties"]["oneOf"]) >= 28
    (['graphgrad', 'inputs', 'nodes', 'output'], True)
    """
    defs: dict[str, Any] = {}
    number_tree = {"anyOf": [{"type": "number"}, {"type": "array", "items": {"$ref": "#/$defs/numbers"}}]}
    defs["numbers"] = number_tree
    input_forms = [{"type": "number"}, {"type": "array", "items": {"$ref": "#/$defs/numbers"}}]
    input_forms += [_inline(m, defs) for m in (ValueInput, *dict.fromkeys(INITS.values()))]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "graphgrad graph file, format 1",
        "type": "object",
        "required": ["graphgrad", "inputs", "nodes", "output"],
        "additionalProperties": False,
        "properties": {
            "graphgrad": {"const": 1, "description": "format version"},
            "name": {"type": "string"},
            "doc": {"type": "string"},
            "seed": {"type": "integer", "minimum": 0, "default": 0},
            "dtype": {"enum": ["float64", "float32"], "default": "float64"},
            "inputs": {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": {"anyOf": input_forms, "description": FORMS},
            },
            "nodes": {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": {"oneOf": [_node(g, defs) for g in registry]},
            },
            "output": {"type": "string", "pattern": NAME_PATTERN},
            "expect": _inline(ExpectSpec, defs),
            "check": _inline(CheckSpec, defs),
        },
        "$defs": defs,
    }


def _inline(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs.update(schema.pop("$defs", {}))
    return schema


def _node(gate: GateType, defs: dict[str, Any]) -> dict[str, Any]:
    attrs = _inline(gate.cls, defs)
    args: dict[str, Any] = {
        "type": "array",
        "items": {"anyOf": [{"type": "string", "pattern": NAME_PATTERN}, {"type": "number"}]},
        "minItems": gate.arity.minimum,
    }
    if gate.arity.maximum is not None:
        args["maxItems"] = gate.arity.maximum
    return {
        "type": "object",
        "title": gate.op,
        "description": (gate.cls.__doc__ or "").strip(),
        "required": ["op", "in", *attrs.get("required", [])],
        "additionalProperties": False,
        "properties": {
            "op": {"const": gate.op},
            "in": args,
            "doc": {"type": "string"},
            **attrs.get("properties", {}),
        },
    }
