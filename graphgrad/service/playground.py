"""What the graph playground (``graphgrad serve``'s page) draws, as one JSON document.

The page draws the lecture's picture itself (docs/decisions.md, "The graph playground"),
so the server sends what ``render`` and ``explain`` compute, from the same code: every
value and gradient in full precision (for the page's ``data-value`` / ``data-grad``
attributes), the short labels ``render`` writes on each edge (:func:`~graphgrad.explain.flow.short`),
the rows ``explain`` prints for each node, and where each input's value stands in the
file, so that the page can change it in place.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from graphgrad.api import Graph, Result
from graphgrad.builtin.exporters.diagram import symbol
from graphgrad.errors import GraphFileError
from graphgrad.explain.flow import MEANING, gradient_flow, short
from graphgrad.explain.table import Row, explain_rows
from graphgrad.format.jsonout import to_json
from graphgrad.format.source import Limits, parse
from graphgrad.results import run_document

MAX_DRAWN = 300
"""Inputs and nodes the page draws at most; a larger graph is run but not drawn."""
MAX_SHOWN_ELEMENTS = 10_000
"""Elements of one array sent in full; a larger array is sent as its shape and label."""

_BREAK = re.compile(r"\r\n|\r|\n|\x85|\u2028|\u2029")  # YAML's line breaks, as its marks count them
_SCALAR = re.compile(r"[^\s,\]\}#]+")


def array_entry(value: Any) -> dict[str, Any]:
    """A value as the page wants it: its shape and dtype, the label ``render`` writes,
    and the numbers as JSON (absent for an array of more than :data:`MAX_SHOWN_ELEMENTS`)."""
    arr = np.asarray(value)
    entry: dict[str, Any] = {"shape": list(arr.shape), "dtype": arr.dtype.name, "label": short(arr)}
    if arr.size <= MAX_SHOWN_ELEMENTS:
        entry["data"] = to_json(arr)
    return entry


def playground_document(
    graph: Graph, text: str | None = None, *, file: str = "body", limits: Limits | None = None
) -> dict[str, Any]:
    """The run (as ``/v1/run`` answers it) and, for a graph of at most :data:`MAX_DRAWN`
    inputs and nodes, the picture: nodes by rank, edges with value and gradient, explain's
    rows, and the place of each input's value in ``text`` (when given)."""
    definition = graph.definition
    count = len(definition.inputs) + len(definition.nodes)
    if count > MAX_DRAWN:
        document, _ = run_document(graph, graph.run(), file=file)
        document["drawable"] = False
        document["why"] = (
            f"the graph has {count} inputs and nodes; the page draws at most {MAX_DRAWN}. "
            "Use `graphgrad explain FILE` or `graphgrad render FILE -o OUT.svg`"
        )
        return document
    flow = gradient_flow(graph)
    result = flow.result
    document, _ = run_document(graph, result, file=file)
    edits = input_edits(text, list(definition.inputs), limits or Limits()) if text is not None else {}
    along = {(e.source, e.target, e.position): e for e in flow.edges}
    ranks = _ranks(graph)
    nodes = [_node(graph, result, name, ranks[name], edits.get(name)) for name in definition.order]
    edges = []
    for name in definition.order:
        node = definition.nodes.get(name)
        for position, arg in enumerate(node.args if node is not None else ()):
            named = isinstance(arg, str)
            e = along.get((arg, name, position)) if named else None
            edge: dict[str, Any] = {"source": arg if named else None, "target": name, "position": position}
            if named:
                edge["value"] = short(result.values[arg])
                edge["grad"] = short(e.downstream) if e is not None and e.downstream is not None else "–"
                if e is not None and e.downstream is not None:
                    edge["downstream"] = array_entry(e.downstream)
            else:
                edge["literal"] = short(arg)
            edges.append(edge)
    out = result.values[graph.output]
    edges.append(
        {
            "source": graph.output,
            "target": None,
            "position": 0,
            "value": short(out),
            "grad": short(np.ones_like(out)),
        }
    )
    document.update(
        drawable=True,
        nodes=nodes,
        edges=edges,
        explain=_explain(explain_rows(flow)),
        patterns={p: MEANING[p] for p in MEANING},
    )
    return document


def _ranks(graph: Graph) -> dict[str, int]:
    """Column of each input and node, as Graphviz ranks them: a node one right of its
    rightmost argument, an input just left of its first use (a long edge would cross
    the nodes between)."""
    definition = graph.definition
    ranks: dict[str, int] = {}
    users: dict[str, list[str]] = {}
    for name in definition.order:
        node = definition.nodes.get(name)
        args = [a for a in node.args if isinstance(a, str)] if node is not None else []
        ranks[name] = 0 if node is None else 1 + max((ranks[a] for a in args), default=0)
        for a in args:
            users.setdefault(a, []).append(name)
    for name in definition.inputs:
        ranks[name] = max(0, min((ranks[u] for u in users.get(name, [])), default=1) - 1)
    return ranks


def _node(graph: Graph, result: Result, name: str, rank: int, edit: dict | None) -> dict[str, Any]:
    definition = graph.definition
    entry: dict[str, Any] = {"name": name, "rank": rank, "value": array_entry(result.values[name])}
    grad = result.grads.get(name) if name in definition.inputs else result.node_grads.get(name)
    if grad is not None:
        entry["grad"] = array_entry(grad)
    if name in definition.inputs:
        spec = definition.inputs[name]
        entry.update(kind="input", doc=spec.doc, differentiated=spec.grad)
        if edit is not None:
            entry["edit"] = edit
    else:
        node = definition.nodes[name]
        entry.update(
            kind="node",
            op=node.op,
            symbol=symbol(node.op),
            pattern=type(node.gate).pattern or "",
            doc=node.doc,
            line=node.line,
            plugin=node.gate_type.plugin,
            args=[a if isinstance(a, str) else None for a in node.args],
        )
    entry["line"] = definition.lines.get(name, entry.get("line"))
    return entry


def _explain(rows: list[Row]) -> dict[str, list[dict[str, str]]]:
    """explain's rows grouped by the node they explain (an input's row is its copy gate's
    sum, when it is used more than once)."""
    grouped: dict[str, list[dict[str, str]]] = {}
    current = ""
    for row in rows:
        current = row.node or current
        item = {k: getattr(row, k) for k in Row.__slots__}
        item["node"] = current
        grouped.setdefault(current, []).append(item)
    return grouped


def input_edits(text: str, names: list[str], limits: Limits) -> dict[str, dict[str, Any]]:
    """Where each input's value is written in ``text``, for the inputs the page can change
    in place: a number, or a list written in brackets (``x: [1, 2]``), either alone or as
    ``{value: ...}``. ``offset`` counts characters (code points) from the start of the
    text; ``token`` is the text found there, which re-parses to the input's value."""
    try:
        doc = parse(text, "body", limits)
    except GraphFileError:
        return {}
    inputs = doc.data.get("inputs") if isinstance(doc.data, dict) else None
    if not isinstance(inputs, dict):
        return {}
    starts = [0] + [m.end() for m in _BREAK.finditer(text)]
    edits = {}
    for name in names:
        raw, loc = inputs.get(name), ("inputs", name)
        if isinstance(raw, dict) and "value" in raw:
            raw, loc = raw["value"], loc + ("value",)
        if loc not in doc.value_marks or isinstance(raw, bool) or not isinstance(raw, int | float | list):
            continue
        line, column = doc.value_marks[loc]
        if line > len(starts):
            continue
        offset = starts[line - 1] + column - 1
        token = _token(text, offset)
        if token is None or not _same(token, raw, limits):
            continue
        edits[name] = {
            "offset": offset,
            "line": line,
            "column": column,
            "token": token,
            "form": "list" if isinstance(raw, list) else "number",
        }
    return edits


def _token(text: str, offset: int) -> str | None:
    if text.startswith("[", offset):
        depth = 0
        for end in range(offset, len(text)):
            depth += {"[": 1, "]": -1}.get(text[end], 0)
            if depth == 0:
                return text[offset : end + 1]
        return None
    match = _SCALAR.match(text, offset)
    return match.group(0) if match else None


def _same(token: str, raw: Any, limits: Limits) -> bool:
    """Whether ``token`` alone parses to ``raw``: the place found is the value's."""
    try:
        data = parse(token, "token", limits, positions=False).data
    except GraphFileError:
        return False
    return data == raw or (
        isinstance(raw, float) and isinstance(data, float) and np.isnan(raw) and np.isnan(data)
    )
