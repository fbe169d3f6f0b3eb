"""export, render and explain: the graph written out, drawn and explained."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from graphgrad.api import load
from graphgrad.cli.common import common, console
from graphgrad.explain.flow import MEANING, gradient_flow
from graphgrad.explain.flow import paths as flow_paths
from graphgrad.explain.render import draw
from graphgrad.explain.table import explain_rows, paths_text
from graphgrad.format.spec import did_you_mean
from graphgrad.format.writing import write_atomic


@click.command(short_help="Write a graph as yaml, json, dot, mermaid or python.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--to", "fmt", required=True, metavar="FORMAT", help="yaml, json, dot, mermaid, python, ...")
@click.option(
    "-o", "--output", "out", type=click.Path(dir_okay=False), help="Write here (- or none: stdout)."
)
@click.option("--values", is_flag=True, help="dot, mermaid: label edges with values and gradients.")
@common
def export(file: str, fmt: str, out: str | None, values: bool, plugins, limits) -> None:
    """Write FILE's graph in another format (FILE may be - for stdin).

    \b
    Examples:
      graphgrad export graphs/simple.yaml --to python
      graphgrad export graphs/simple.yaml --to dot --values -o simple.dot
      graphgrad export graphs/simple.yaml --to mermaid -o -
    """
    graph = load(file, plugins=plugins, limits=limits)
    names = [e.name for e in graph.registry.exporters()]
    if fmt not in names:
        raise click.BadParameter(f"no format '{fmt}'; registered: {', '.join(names)}", param_hint="--to")
    cls = graph.registry.exporter(fmt).cls
    if values and "values" not in cls.model_fields:
        raise click.BadParameter(f"the {fmt} format takes no --values", param_hint="--values")
    text = cls(**({"values": True} if values else {})).export(graph)
    if out and out != "-":
        write_atomic(out, text, what="-o")
    else:
        click.echo(text, nl=False)


@click.command(short_help="Draw a graph: values above, gradients below each edge.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), required=True, help="OUT.svg|png|pdf")
@click.option("--no-values", is_flag=True, help="Draw the graph alone, without values and gradients.")
@common
def render(file: str, out: str, no_values: bool, plugins, limits) -> None:
    """Draw FILE as the lecture does: values above, gradients below each edge.

    Needs Graphviz's dot program (Debian/Ubuntu: apt-get install graphviz; macOS:
    brew install graphviz; conda: conda install graphviz).
    """
    fmt = Path(out).suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise click.BadParameter(f"'{out}' must end in .svg, .png or .pdf", param_hint="-o")
    graph = load(file, plugins=plugins, limits=limits)
    text = graph.registry.exporter("dot").cls(values=not no_values).export(graph)
    draw(text, fmt, out)


@click.command(short_help="Show backprop node by node: upstream x local = downstream.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--node", "only", default=None, metavar="NAME", help="Explain this node only.")
@click.option("--paths", "paths_of", metavar="INPUT", help="Sum of path products for a scalar input.")
@click.option("--full", is_flag=True, help="Show arrays whole, not summarised.")
@common
def explain(file: str, only: str | None, paths_of: str | None, full: bool, plugins, limits) -> None:
    """Show backpropagation step by step: upstream x local = downstream, node by node.

    \b
    Examples:
      graphgrad explain graphs/simple.yaml
      graphgrad explain graphs/copy_gate.yaml --paths x
      graphgrad explain graphs/sigmoid_neuron.yaml --node s3
    """
    graph = load(file, plugins=plugins, limits=limits)
    flow = gradient_flow(graph)
    if only is not None and only not in graph.definition.nodes:
        hint = did_you_mean(only, list(graph.definition.nodes))
        raise click.BadParameter(f"no node named '{only}'{hint}", param_hint="--node")
    out = console()
    if paths_of is not None:
        _print_paths(out, flow, paths_of)
        return
    _print_explain(out, flow, only, full)


def _print_explain(out: Console, flow, only: str | None, full: bool) -> None:
    table = Table(
        "node",
        "gate",
        "value",
        "upstream",
        "input",
        "local",
        "downstream",
        "pattern",
        title=f"{flow.graph.name}: backward from {flow.graph.output} (seeded with 1); "
        "downstream = upstream x local",
    )
    rows = explain_rows(flow, only=only, full=full)
    for r in rows:
        table.add_row(r.node, r.gate, r.value, r.upstream, r.input, r.local, r.downstream, r.pattern)
    out.print(table)
    for pattern in dict.fromkeys(r.pattern for r in rows if r.pattern):
        out.print(f"{pattern}: {MEANING[pattern]}")


def _print_paths(out: Console, flow, source: str) -> None:
    terms = flow_paths(flow, source)
    gradient = float(flow.result.grads.get(source, np.zeros(())))
    for line in paths_text(terms, source, flow.graph.output, gradient):
        out.print(line)
