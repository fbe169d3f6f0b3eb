"""A graph as the canonical data of graph-format.md: fixed key order, defaults left out."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphgrad.format.spec import NONFINITE
from graphgrad.graph.dag import GraphDef, NodeDef

INPUT_KEYS = ("value", "shape", "init", "dtype", "mean", "std", "low", "high", "grad", "doc")


def to_document(graph: GraphDef) -> dict[str, Any]:
    """The graph as plain data that loads back to the same graph.

    >>> import graphgrad
    >>> text = "graphgrad: 1\\ninputs: {x: 2}\\nnodes:\\n  f: {op: pow, in: [x], exponent: 3}\\noutput: f\\n"
    >>> g = graphgrad.load(text)
    >>> to_document(g.definition)["nodes"]
    {'f': {'op': 'pow', 'in': ['x'], 'exponent': 3.0}}
    """
    spec = graph.spec
    doc: dict[str, Any] = {"graphgrad": 1, "name": graph.name}
    if spec.doc:
        doc["doc"] = spec.doc
    if spec.seed:
        doc["seed"] = spec.seed
    if spec.dtype != "float64":
        doc["dtype"] = spec.dtype
    doc["inputs"] = {name: _input(spec.inputs[name]) for name in spec.inputs}
    doc["nodes"] = {name: node_document(graph.nodes[name]) for name in spec.nodes}
    doc["output"] = graph.output
    if spec.expect is not None:
        doc["expect"] = _numbers(spec.expect.model_dump(exclude_defaults=True))
    if spec.check is not None:
        check = spec.check.model_dump(exclude_defaults=True)
        doc["check"] = {**check, **(spec.check.model_extra or {})}
    return doc


def node_document(node: NodeDef) -> dict[str, Any]:
    """``{op, in, attributes..., doc}`` with default attributes left out."""
    out: dict[str, Any] = {"op": node.op, "in": [_arg(a) for a in node.args]}
    out.update(node.gate.model_dump(by_alias=True, exclude_defaults=True))
    if node.doc:
        out["doc"] = node.doc
    return out


def _arg(arg: str | np.ndarray) -> str | float | int:
    if isinstance(arg, str):
        return arg
    value = arg.item()
    negative_zero = value == 0 and math.copysign(1.0, value) < 0
    whole = float(value).is_integer() and abs(value) < 2**53 and not negative_zero
    return int(value) if whole else value


def _numbers(data: Any) -> Any:
    """Numbers as numbers: the strings "nan", "inf", "-inf" of a JSON file as floats, so
    that each format writes them its own way (``.nan`` in YAML)."""
    if isinstance(data, str):
        return NONFINITE.get(data, data)
    if isinstance(data, list):
        return [_numbers(x) for x in data]
    if isinstance(data, dict):
        return {k: _numbers(v) for k, v in data.items()}
    return data


def _input(raw: Any) -> Any:
    if not isinstance(raw, dict):
        return _numbers(raw)
    raw = {k: v if k in ("init", "dtype", "doc") else _numbers(v) for k, v in raw.items()}
    ordered = {k: raw[k] for k in INPUT_KEYS if k in raw}
    ordered.update({k: v for k, v in raw.items() if k not in ordered})
    return ordered
