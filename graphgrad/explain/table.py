"""Backpropagation explained in the lecture's words, as rows a shell can print.

For every node in backward order: its gate, its value, the upstream gradient; then for
each input the local gradient and the downstream gradient (upstream x local), and the
gate's pattern (``Gate.pattern``). For each input of the graph, the downstream gradients that reach it
and their sum (the copy gate's adder).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphgrad.explain.flow import Flow, PathTerm, short


@dataclass(frozen=True, slots=True)
class Row:
    node: str
    gate: str
    value: str
    upstream: str
    input: str
    local: str
    downstream: str
    pattern: str


def fmt(value, full: bool) -> str:
    if value is None:
        return "–"
    value = np.asarray(value)
    if full and value.ndim:
        return np.array2string(value, precision=6, threshold=10**9, max_line_width=100)
    return short(value)


def explain_rows(flow: Flow, *, only: str | None = None, full: bool = False) -> list[Row]:
    """One row per (node, input) in backward order; fan-in sums for the inputs last."""
    rows: list[Row] = []
    values = flow.result.values
    fanout = {e.source for e in flow.edges if len(flow.into(e.source)) > 1}
    nodes = flow.graph.definition.nodes
    previous = None
    for e in flow.edges:
        if only is not None and e.target != only:
            continue
        pattern = nodes[e.target].gate.pattern
        same, previous = e.target == previous, e.target
        head = ("", "", "", "")
        if not same:
            head = (e.target, e.op, fmt(values[e.target], full), fmt(e.upstream, full))
        tail = (e.source, fmt(e.local, full), fmt(e.downstream, full), "" if same else pattern)
        rows.append(Row(*head, *tail))
    for name in fanout if only is None else ():
        parts = flow.into(name)
        total = sum(np.asarray(p.downstream) for p in parts)
        pieces = " + ".join(fmt(p.downstream, full) for p in parts)
        rows.append(
            Row(
                name,
                "copy",
                fmt(values[name], full),
                pieces,
                name,
                "1 each",
                fmt(total, full),
                "adder",
            )
        )
    return rows


def paths_text(terms: list[PathTerm], source: str, output: str, gradient: float) -> list[str]:
    """The chain rule for one scalar input: a product per path, summed over paths."""
    lines = [f"d{output}/d{source} = sum over {len(terms)} path(s) of the product of local gradients:"]
    for t in terms:
        chain = " -> ".join(t.nodes)
        product = " x ".join(f"{v:.6g}" for v in t.locals) or "1"
        lines.append(f"  {chain}: {product} = {t.product:.6g}")
    total = sum(t.product for t in terms)
    lines.append(f"  sum = {total:.6g} (backpropagation gives {gradient:.6g})")
    return lines
