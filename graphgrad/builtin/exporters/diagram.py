"""dot and mermaid: the graph as the lecture draws it, optionally with values and
gradients on every edge (value above, gradient below)."""

from __future__ import annotations

import html
from typing import ClassVar

import numpy as np

from graphgrad.explain.flow import gradient_flow, short
from graphgrad.exporter import Exporter

SYMBOLS = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "neg": "−x", "pow": "x^k", "square": "x²"}


def symbol(op: str) -> str:
    return SYMBOLS.get(op, op)


def _edges(graph):
    """(source, target, position) for every argument, literals as their own sources."""
    out = []
    for name in graph.definition.order:
        node = graph.definition.nodes.get(name)
        if node is None:
            continue
        for i, arg in enumerate(node.args):
            out.append((arg if isinstance(arg, str) else None, name, i, arg))
    return out


class _Picture(Exporter):
    values: bool = False

    def _flow(self, graph):
        """Values of every name, and the gradient along every (source, target, position)."""
        if not self.values:
            return None, None
        flow = gradient_flow(graph)
        along = {(e.source, e.target, e.position): e.downstream for e in flow.edges}
        out = flow.result.values[graph.output]
        along[(graph.output, "__out__", 0)] = np.ones_like(out)
        return flow.result.values, along


class DotExporter(_Picture):
    """Graphviz: inputs as boxes, gates as circles with the op's symbol; with
    ``values``, each edge carries its forward value (green) over the gradient that
    flows back along it (red): a value used twice shows each branch's share."""

    name: ClassVar[str] = "dot"
    suffix: ClassVar[str] = ".dot"

    def export(self, graph) -> str:
        values, grads = self._flow(graph)
        d = graph.definition
        lines = [
            f'digraph "{_q(d.name)}" {{',
            "  rankdir=LR;",
            '  node [fontname="Helvetica"];',
            '  edge [fontname="Helvetica", fontsize=10];',
        ]
        for name in d.order:
            if name in d.inputs:
                lines.append(f'  "{_q(name)}" [shape=box, style=rounded, label="{_q(name)}"];')
            else:
                node = d.nodes[name]
                lines.append(
                    f'  "{_q(name)}" [shape=circle, label="{_q(symbol(node.op))}", '
                    f'xlabel="{_q(name)}", tooltip="{_q(name)}: {_q(node.op)}"];'
                )
        for k, (source, target, position, arg) in enumerate(_edges(graph)):
            label = self._label(source, (source, target, position), values, grads)
            if source is None:
                source = f"const{k}"
                lines.append(f'  "{source}" [shape=plaintext, label="{_q(short(arg))}"];')
            lines.append(f'  "{_q(source)}" -> "{_q(target)}"{label};')
        lines.append('  "__out__" [shape=point];')
        out_label = self._label(d.output, (d.output, "__out__", 0), values, grads)
        lines.append(f'  "{_q(d.output)}" -> "__out__"{out_label};')
        lines.append("}")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _label(source, key, values, grads) -> str:
        if values is None or source not in values:
            return ""
        value = html.escape(short(values[source]))
        grad = grads.get(key)
        grad = html.escape(short(grad)) if grad is not None else "–"
        return f' [label=<<font color="darkgreen">{value}</font><br/><font color="red">{grad}</font>>]'


class MermaidExporter(_Picture):
    """A Mermaid flowchart that renders in GitHub Markdown; with ``values``, each edge
    is labelled "value / gradient"."""

    name: ClassVar[str] = "mermaid"
    suffix: ClassVar[str] = ".mmd"

    def export(self, graph) -> str:
        values, grads = self._flow(graph)
        d = graph.definition
        ids = {name: f"n{i}" for i, name in enumerate(d.order)}
        lines = ["flowchart LR"]
        for name in d.order:
            if name in d.inputs:
                lines.append(f'  {ids[name]}["{_m(name)}"]')
            else:
                lines.append(f'  {ids[name]}(("{_m(symbol(d.nodes[name].op))} {_m(name)}"))')
        for k, (source, target, position, arg) in enumerate(_edges(graph)):
            if source is None:
                lines.append(f'  c{k}["{_m(short(arg))}"]')
                src = f"c{k}"
            else:
                src = ids[source]
            label = ""
            if values is not None and source is not None:
                along = grads.get((source, target, position))
                grad = short(along) if along is not None else "–"
                label = f'|"{_m(short(values[source]))} / {_m(grad)}"|'
            lines.append(f"  {src} -->{label} {ids[target]}")
        return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def _m(text: str) -> str:
    return html.escape(str(text)).replace("|", "&#124;")


EXPORTERS: list[type[Exporter]] = [DotExporter, MermaidExporter]
