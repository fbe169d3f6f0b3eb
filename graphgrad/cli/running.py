"""run, validate and schema: a graph forward and backward, or just loaded."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import numpy as np

from graphgrad.api import Graph, load
from graphgrad.cli.common import common, console, emit, graph_files, print_issues, quiet, verbose
from graphgrad.errors import GraphFileError
from graphgrad.format.jsonout import dumps
from graphgrad.format.source import STDIN_NAME
from graphgrad.plugins.manager import load_registry
from graphgrad.results import run_document, save_results


@click.command(short_help="Run a graph forward and backward; print value, gradients.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=VALUE",
    help="Replace an input's value (a number or a JSON list; repeatable).",
)
@click.option(
    "--save",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="OUT.yaml|OUT.json",
    help="Also write the value, every node's value and every gradient, dtypes kept.",
)
@common
def run(file: str, as_json: bool, sets: tuple[str, ...], save: str | None, plugins, limits) -> None:
    """Run FILE forward and backward; print the output value and the gradients.

    FILE may be - for stdin. Compares with the file's expect: (exit 1 on a mismatch);
    -q prints only the mismatches.

    \b
    Examples:
      graphgrad run graphs/simple.yaml
      graphgrad run graphs/sigmoid_neuron.yaml --json --set x0=-1.5
      graphgrad run graphs/two_layer_svm.yaml --save results.json
    """
    graph = load(file, plugins=plugins, limits=limits)
    result = graph.run(inputs=_parse_sets(sets) or None)
    if save:
        save_results(result, save, name=graph.name, file=file)
    document, mismatches = run_document(graph, result, file=file)
    if as_json:
        emit(dumps(document))
    elif not quiet():
        _print_run(graph, result)
    for m in mismatches:
        click.echo(f"{STDIN_NAME if file == '-' else file}: expect: {m}", err=True)
    sys.exit(1 if mismatches else 0)


def _parse_sets(sets: tuple[str, ...]) -> dict[str, Any]:
    values = {}
    for item in sets:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="--set")
        try:
            values[name] = json.loads(text)
        except RecursionError:
            raise click.BadParameter(
                "the JSON value is nested too deeply (an array has at most 32 dimensions)",
                param_hint=f"--set {name}",
            ) from None
        except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
            shown = text if len(text) <= 40 else f"{text[:20]}...{text[-10:]}"
            why = "" if isinstance(exc, json.JSONDecodeError) else f" ({exc})"
            raise click.BadParameter(
                f"'{shown}' is not a number or a JSON list{why}", param_hint=f"--set {name}"
            ) from None
    return values


def _print_run(graph: Graph, result) -> None:
    from rich.table import Table

    out = console()
    out.print(f"{graph.name}: {result.output} = {_fmt(result.value)}")
    table = Table("input", "shape", "gradient", title=None, box=None, pad_edge=False)
    for name, grad in result.grads.items():
        table.add_row(name, str(list(grad.shape)), _fmt(grad))
    if result.grads:
        out.print(f"gradients of {result.output}:")
        out.print(table)


def _fmt(value: np.ndarray) -> str:
    if value.ndim == 0:
        return f"{value.item():.6g}" if value.dtype.kind == "f" else str(value.item())
    if value.size <= 10:
        return np.array2string(value, precision=6, max_line_width=10_000, separator=", ")
    v = value.astype(np.float64)
    return f"min {v.min():.6g}, max {v.max():.6g}, mean {v.mean():.6g}, norm {np.linalg.norm(v):.6g}"


@click.command(short_help="Load graph files; list every error of each.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@common
def validate(paths: tuple[str, ...], as_json: bool, plugins, limits) -> None:
    """Check that every graph file in PATHS loads, and list every error of each.

    A folder is searched recursively for graph files (*.yaml, *.yml with a
    'graphgrad:' line in the first 4 KB); a file named is always read; - is stdin.
    """
    load_registry(plugins)
    report = []
    for file in graph_files(paths):
        try:
            load(file, plugins=plugins, limits=limits)
            report.append({"file": file, "valid": True, "errors": []})
        except GraphFileError as exc:
            report.append({"file": file, "valid": False, "errors": [str(i) for i in exc.issues]})
            print_issues(exc.issues)  # on stderr with --json too (cli.md)
    invalid = sum(not r["valid"] for r in report)
    if as_json:
        emit(dumps({"valid": len(report) - invalid, "invalid": invalid, "files": report}))
    else:
        if verbose():
            for r in report:
                click.echo(f"{r['file']}: {'valid' if r['valid'] else 'invalid'}")
        click.echo(f"{len(report) - invalid} valid, {invalid} invalid")
    sys.exit(2 if invalid else 0)


@click.command(short_help="Print a JSON Schema of the graph format, for editors.")
@common
def schema(plugins, limits) -> None:
    """Print a JSON Schema of the graph format, with the gates of loaded plugins.

    Save it and point editors at it with a first line in the graph file:

    \b
      graphgrad schema --plugins my_gates.py > my.schema.json
      # yaml-language-server: $schema=my.schema.json
    """
    from graphgrad.graph.schema import graph_schema

    click.echo(json.dumps(graph_schema(load_registry(plugins)), indent=2))
