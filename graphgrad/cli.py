"""The command line: a thin shell that parses, calls the API and renders.

Exit codes (cli.md): 0 all ran and passed, 1 something ran and failed, 2 bad usage or an
invalid graph file. A user's mistake never shows a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.table import Column, Table

from . import __version__
from .api import Graph, load
from .batch import BatchOptions, check_files
from .errors import GateRuntimeError, GraphFileError, GraphgradError
from .expect import compare
from .explain import explain_rows, paths_text
from .flow import MEANING, gradient_flow
from .flow import paths as flow_paths
from .gatecheck import check_all
from .jsonout import clean, dumps, to_json
from .junit import write_junit
from .plugins import load_registry
from .render import draw
from .results import save_results
from .schema import graph_schema
from .source import Limits
from .spec import did_you_mean
from .verify import FileReport

LIMIT_OPTIONS = {
    "max_file_bytes": "largest graph file, in bytes",
    "max_nodes": "most inputs and nodes in one file",
    "max_depth": "deepest YAML nesting",
    "max_alias_expansion": "most YAML nodes that aliases may expand to",
    "max_elements": "most elements in one array",
}


def common(command: Callable) -> Callable:
    """Add ``--plugins`` and the limit options that every command takes."""
    for name, help_text in reversed(LIMIT_OPTIONS.items()):
        default = getattr(Limits(), name)
        command = click.option(
            "--" + name.replace("_", "-"),
            name,
            type=click.IntRange(min=1),
            default=default,
            show_default=True,
            help=help_text.capitalize() + ".",
        )(command)
    command = click.option(
        "--plugins",
        "plugins",
        multiple=True,
        metavar="PATH",
        help="A plugin file, folder or module to load (repeatable).",
    )(command)

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        kwargs["limits"] = Limits(**{k: kwargs.pop(k) for k in LIMIT_OPTIONS})
        try:
            return command(**kwargs)
        except GraphFileError as exc:
            _errors(exc.issues)
            sys.exit(2)
        except GateRuntimeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except GraphgradError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def _console() -> Console:
    """Stdout for tables: as wide as the terminal, or 160 columns when piped."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    return console


def _errors(issues: list) -> None:
    for issue in issues:
        click.echo(str(issue), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphgrad")
def main() -> None:
    """graphgrad: computational graphs in YAML, run forward and backward.

    \b
    Examples:
      graphgrad run graphs/simple.yaml
      graphgrad run graphs/sigmoid_neuron.yaml --json
      graphgrad check graphs/
      graphgrad validate graphs/
      graphgrad gates
    """


@main.command()
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
    """Run FILE forward and backward; print the output value and the gradients."""
    graph = load(file, plugins=plugins, limits=limits)
    result = graph.run(inputs=_parse_sets(sets) or None)
    if save:
        save_results(result, save, name=graph.name, file=file)
    mismatches = []
    if graph.definition.expected is not None:
        mismatches = compare(graph.definition.expected, result.value, result.grads)
    if as_json:
        click.echo(
            dumps(
                {
                    "file": file,
                    "name": graph.name,
                    "output": result.output,
                    "value": to_json(result.value),
                    "grads": {k: to_json(v) for k, v in result.grads.items()},
                }
            )
        )
    else:
        _print_run(graph, result)
    for m in mismatches:
        click.echo(f"{file}: expect: {m}", err=True)
    sys.exit(1 if mismatches else 0)


def _parse_sets(sets: tuple[str, ...]) -> dict[str, Any]:
    values = {}
    for item in sets:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{item}' is not NAME=VALUE", param_hint="--set")
        try:
            values[name] = json.loads(text)
        except json.JSONDecodeError:
            raise click.BadParameter(
                f"'{text}' is not a number or a JSON list", param_hint=f"--set {name}"
            ) from None
    return values


def _print_run(graph: Graph, result) -> None:
    console = _console()
    console.print(f"{graph.name}: {result.output} = {_fmt(result.value)}")
    table = Table("input", "shape", "gradient", title=None, box=None, pad_edge=False)
    for name, grad in result.grads.items():
        table.add_row(name, str(list(grad.shape)), _fmt(grad))
    if result.grads:
        console.print(f"gradients of {result.output}:")
        console.print(table)


def _fmt(value: np.ndarray) -> str:
    if value.ndim == 0:
        return f"{value.item():.6g}" if value.dtype.kind == "f" else str(value.item())
    if value.size <= 10:
        return np.array2string(value, precision=6, max_line_width=10_000, separator=", ")
    v = value.astype(np.float64)
    return f"min {v.min():.6g}, max {v.max():.6g}, mean {v.mean():.6g}, norm {np.linalg.norm(v):.6g}"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@common
def validate(paths: tuple[str, ...], as_json: bool, plugins, limits) -> None:
    """Check that every graph file in PATHS loads (folders are searched recursively)."""
    load_registry(plugins)
    report = []
    for file in graph_files(paths):
        try:
            load(file, plugins=plugins, limits=limits)
            report.append({"file": file, "valid": True, "errors": []})
        except GraphFileError as exc:
            report.append({"file": file, "valid": False, "errors": [str(i) for i in exc.issues]})
            if not as_json:
                _errors(exc.issues)
    invalid = sum(not r["valid"] for r in report)
    if as_json:
        click.echo(dumps({"valid": len(report) - invalid, "invalid": invalid, "files": report}))
    else:
        click.echo(f"{len(report) - invalid} valid, {invalid} invalid")
    sys.exit(2 if invalid else 0)


def graph_files(paths: tuple[str, ...]) -> list[str]:
    """The files named, with folders searched recursively for *.yaml and *.yml."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file()]
            files += sorted(str(f) for f in found)
        elif p.exists():
            files.append(str(p))
        else:
            raise click.BadParameter(f"'{p}' does not exist", param_hint="PATHS")
    return files


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--check", "run_check", is_flag=True, help="Check every gate's backward on random inputs.")
@common
def gates(as_json: bool, run_check: bool, plugins, limits) -> None:
    """List the registered gates: inputs, attributes and the plugin each comes from.

    With --check, run every gate (plugins included) on random inputs of several shapes,
    broadcasting ones included, and check its backward against finite differences of
    its forward: the first thing to run after writing a gate.
    """
    registry = load_registry(plugins)
    if run_check:
        _check_gates(registry, as_json)
        return
    rows = [
        {
            "op": g.op,
            "inputs": str(g.arity),
            "attributes": {
                (f.alias or n): {"required": f.is_required(), "default": f.default}
                for n, f in g.cls.model_fields.items()
            },
            "plugin": g.plugin,
            "doc": (g.cls.__doc__ or "").strip().splitlines()[0] if g.cls.__doc__ else "",
        }
        for g in registry
    ]
    if as_json:
        click.echo(dumps({"gates": rows}, default=repr))
        return
    table = Table("op", "inputs", "attributes", "plugin", "what it computes")
    for r in rows:
        attrs = ", ".join(
            f"{k} (required)" if a["required"] else f"{k}={a['default']!r}"
            for k, a in r["attributes"].items()
        )
        table.add_row(r["op"], r["inputs"], attrs, r["plugin"], r["doc"])
    _console().print(table)


def _check_gates(registry, as_json: bool) -> None:
    results = check_all(registry)
    if as_json:
        click.echo(
            dumps(
                clean(
                    {
                        "gates": [
                            {
                                "op": r.op,
                                "plugin": r.plugin,
                                "cases": r.cases,
                                "passed": r.passed,
                                "worst_rel_error": r.worst,
                                "failures": r.failures,
                                "skipped": r.skipped,
                            }
                            for r in results
                        ]
                    }
                )
            )
        )
    else:
        table = Table("op", "plugin", "cases", "worst rel. error", "verdict")
        for r in sorted(results, key=lambda r: (r.passed, -r.worst)):
            verdict = "passed" if r.passed else ("skipped: " + r.skipped if r.skipped else "FAILED")
            table.add_row(r.op, r.plugin, str(r.cases), f"{r.worst:.2g}", verdict)
        _console().print(table)
        for r in results:
            for failure in r.failures:
                click.echo(f"{r.op} ({r.plugin}): {failure.strip()}")
        failed = sum(not r.passed for r in results)
        click.echo(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if any(not r.passed for r in results) else 0)


@main.command()
@common
def schema(plugins, limits) -> None:
    """Print a JSON Schema of the graph format, with the gates of loaded plugins.

    Save it and point editors at it with the modeline
    ``# yaml-language-server: $schema=graphgrad.schema.json``.
    """
    click.echo(json.dumps(graph_schema(load_registry(plugins)), indent=2))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--checker", default=None, metavar="NAME", help="Checker for every file (wins over check.checker)."
)
@click.option(
    "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes [default: the cores]."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--junit", type=click.Path(dir_okay=False), default=None, help="Also write JUnit XML here.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.01),
    default=120.0,
    show_default=True,
    help="Seconds one file may take before its worker is stopped.",
)
@common
def check(paths, checker, jobs, as_json, junit, timeout, plugins, limits) -> None:
    """Check the gradients of every graph file in PATHS against numerical estimates.

    Each file is loaded, run, compared with its `expect:`, and every differentiable
    input is checked numerically; a failing check names the gate at fault. Invalid
    files are error rows and the batch goes on.
    """
    registry = load_registry(plugins)
    known = ["auto", *(c.name for c in registry.checkers())]
    if checker is not None and checker not in known:
        raise click.BadParameter(
            f"no checker '{checker}'; registered: {', '.join(known)}", param_hint="--checker"
        )
    files = graph_files(paths)
    options = BatchOptions(checker, tuple(str(p) for p in plugins), limits, timeout)
    reports = _run_batch(files, options, jobs, show=not as_json)
    if junit:
        write_junit(reports, junit)
    counts = {s: sum(r.status == s for r in reports) for s in ("passed", "failed", "error")}
    if as_json:
        click.echo(
            dumps(
                clean(
                    {
                        "passed": counts["passed"],
                        "failed": counts["failed"],
                        "errors": counts["error"],
                        "files": [r.as_dict() for r in reports],
                    }
                )
            )
        )
    else:
        _print_check(reports, counts)
    sys.exit(2 if counts["error"] else 1 if counts["failed"] else 0)


def _run_batch(files: list[str], options: BatchOptions, jobs: int | None, *, show: bool) -> list[FileReport]:
    console = Console(stderr=True)
    if not (show and console.is_terminal):
        return check_files(files, options, jobs=jobs)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("check", total=len(files))
        return check_files(files, options, jobs=jobs, on_result=lambda _: progress.advance(task))


SUMMARY_ROWS = 30


def _print_check(reports: list[FileReport], counts: dict[str, int]) -> None:
    for r in reports:
        if r.status == "error":
            for line in r.error or []:
                click.echo(line, err=True)
        elif r.status == "failed":
            click.echo(f"FAILED {r.file}")
            for line in r.messages():
                click.echo(f"  {line}")
        if r.unused:
            click.echo(f"info: {r.file}: not used by the output: {', '.join(r.unused)}")
    order = {"error": 0, "failed": 1, "passed": 2}
    ranked = sorted(reports, key=lambda r: (order[r.status], -_worst_error(r)))
    table = Table(Column("file", overflow="fold"), "status", "worst rel. error", "checks", "evals", "seconds")
    for r in ranked[:SUMMARY_ROWS]:
        table.add_row(
            r.file,
            r.status,
            f"{_worst_error(r):.2g}" if r.checks else "",
            str(len(r.checks)),
            str(sum(c.evals for c in r.checks)),
            f"{r.seconds:.3f}",
        )
    if len(ranked) > SUMMARY_ROWS:
        table.add_row(f"... {len(ranked) - SUMMARY_ROWS} more", "", "", "", "", "")
    _console().print(table)
    click.echo(f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors")


def _worst_error(report: FileReport) -> float:
    return max((c.max_rel_error for c in report.checks), default=0.0)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--to", "fmt", required=True, metavar="FORMAT", help="yaml, json, dot, mermaid, python, ...")
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), help="Write here, not stdout.")
@click.option("--values", is_flag=True, help="dot, mermaid: label edges with values and gradients.")
@common
def export(file: str, fmt: str, out: str | None, values: bool, plugins, limits) -> None:
    """Write FILE's graph in another format."""
    graph = load(file, plugins=plugins, limits=limits)
    names = [e.name for e in graph.registry.exporters()]
    if fmt not in names:
        raise click.BadParameter(f"no format '{fmt}'; registered: {', '.join(names)}", param_hint="--to")
    cls = graph.registry.exporter(fmt).cls
    if values and "values" not in cls.model_fields:
        raise click.BadParameter(f"the {fmt} format takes no --values", param_hint="--values")
    text = cls(**({"values": True} if values else {})).export(graph)
    if out:
        Path(out).write_text(text)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False), required=True, help="OUT.svg|png|pdf")
@click.option("--no-values", is_flag=True, help="Draw the graph alone, without values and gradients.")
@common
def render(file: str, out: str, no_values: bool, plugins, limits) -> None:
    """Draw FILE as the lecture does: values above, gradients below each edge.

    Needs Graphviz's `dot` program (Debian/Ubuntu: apt-get install graphviz; macOS:
    brew install graphviz; conda: conda install graphviz).
    """
    fmt = Path(out).suffix.lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise click.BadParameter(f"'{out}' must end in .svg, .png or .pdf", param_hint="-o")
    graph = load(file, plugins=plugins, limits=limits)
    text = graph.registry.exporter("dot").cls(values=not no_values).export(graph)
    draw(text, fmt, out)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--node", "only", default=None, metavar="NAME", help="Explain this node only.")
@click.option("--paths", "paths_of", metavar="INPUT", help="Sum of path products for a scalar input.")
@click.option("--full", is_flag=True, help="Show arrays whole, not summarised.")
@common
def explain(file: str, only: str | None, paths_of: str | None, full: bool, plugins, limits) -> None:
    """Show backpropagation step by step: upstream x local = downstream, node by node."""
    graph = load(file, plugins=plugins, limits=limits)
    flow = gradient_flow(graph)
    if only is not None and only not in graph.definition.nodes:
        hint = did_you_mean(only, list(graph.definition.nodes))
        raise click.BadParameter(f"no node named '{only}'{hint}", param_hint="--node")
    console = _console()
    if paths_of is not None:
        _print_paths(console, flow, paths_of)
        return
    _print_explain(console, flow, only, full)


def _print_explain(console: Console, flow, only: str | None, full: bool) -> None:
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
    console.print(table)
    for pattern in dict.fromkeys(r.pattern for r in rows if r.pattern):
        console.print(f"{pattern}: {MEANING[pattern]}")


def _print_paths(console: Console, flow, source: str) -> None:
    terms = flow_paths(flow, source)
    gradient = float(flow.result.grads.get(source, np.zeros(())))
    for line in paths_text(terms, source, flow.graph.output, gradient):
        console.print(line)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes.")
@click.option(
    "--queue", type=click.IntRange(min=0), default=16, show_default=True, help="Requests that may wait."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.01),
    default=30.0,
    show_default=True,
    help="Seconds a request may compute.",
)
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=4 * 1024 * 1024, show_default=True)
@common
def serve(host, port, workers, queue, timeout, max_body_bytes, plugins, limits) -> None:
    """Serve validate, run, check and export over HTTP (needs graphgrad[serve]).

    \b
      graphgrad serve --port 8000 &
      curl -s --data-binary @graphs/simple.yaml -H 'content-type: application/yaml' \\
           http://127.0.0.1:8000/v1/run
    """
    try:
        import uvicorn

        from .service import create_app
    except ImportError as exc:
        raise click.UsageError(
            f"graphgrad serve needs its extra: pip install 'graphgrad[serve]' ({exc})"
        ) from None
    app = create_app(
        plugins=tuple(str(p) for p in plugins),
        workers=workers,
        queue=queue,
        timeout=timeout,
        max_body=max_body_bytes,
        limits=limits,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
