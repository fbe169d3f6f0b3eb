"""check: numerical gradient checks for one file or ten thousand."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import click
from rich.console import Console
from rich.table import Column, Table

from graphgrad.checking.batch import BatchOptions, check_file, check_files
from graphgrad.checking.junit import write_junit
from graphgrad.checking.shrink import SECONDS, TRIES, summary
from graphgrad.checking.verify import FileReport, check_document, counts, exit_code
from graphgrad.cli.common import common, console, emit, graph_files, interrupted, quiet, verbose
from graphgrad.errors import visible
from graphgrad.format.jsonout import clean, dumps
from graphgrad.format.source import STDIN_NAME, read_text
from graphgrad.format.writing import write_atomic
from graphgrad.plugins.manager import load_registry


@click.command(short_help="Check gradients of graph files against numerical estimates.")
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
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Where files are checked: worker processes here, or a Dask cluster (the dask extra).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="With --executor dask: a running Dask scheduler (tcp://HOST:PORT) [default: a local "
    "cluster of --jobs workers].",
)
@click.option(
    "--eps", type=click.FloatRange(min=0, min_open=True), help="Finite-difference step (wins over check.eps)."
)
@click.option(
    "--rtol",
    type=click.FloatRange(min=0, min_open=True),
    help="Largest relative error that passes (wins over check.rtol).",
)
@click.option(
    "--atol",
    type=click.FloatRange(min=0),
    help="Absolute floor for near-zero gradients (wins over check.atol).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    help="Seed of random inputs, the cotangent and blame's upstreams (wins over the file's seed).",
)
@click.option(
    "--shrink",
    "shrink_to",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="OUT.yaml",
    help="When the check of FILE fails, write the smallest graph found that still fails the same way.",
)
@click.option(
    "--shrink-seconds",
    type=click.FloatRange(min=0),
    default=SECONDS,
    show_default=True,
    help="Seconds the shrinking may take.",
)
@click.option(
    "--shrink-tries",
    type=click.IntRange(min=0),
    default=TRIES,
    show_default=True,
    help="Candidate graphs the shrinking may check.",
)
@common
def check(
    paths,
    checker,
    jobs,
    as_json,
    junit,
    timeout,
    executor,
    scheduler,
    eps,
    rtol,
    atol,
    seed,
    shrink_to,
    shrink_seconds,
    shrink_tries,
    plugins,
    limits,
) -> None:
    """Check the gradients of every graph file in PATHS against numerical estimates.

    Each file is loaded, run, compared with its expect:, and every differentiable
    input is checked numerically; a failing check names the gate at fault. Invalid
    files are error rows and the batch goes on. A folder is searched for graph files
    (YAML with a 'graphgrad:' line in its first 4 KB); - reads one from stdin.

    \b
    Examples:
      graphgrad check graphs/
      graphgrad check net.yaml --checker richardson --rtol 1e-5 --json
      graphgrad check graphs/ --jobs 2 --junit report.xml -q
    """
    registry = load_registry(plugins)
    known = ["auto", *(c.name for c in registry.checkers())]
    if checker is not None and checker not in known:
        raise click.BadParameter(
            f"no checker '{checker}'; registered: {', '.join(known)}", param_hint="--checker"
        )
    if scheduler is not None and executor != "dask":
        raise click.BadParameter("a scheduler is used by --executor dask only", param_hint="--scheduler")
    run = check_files if executor == "local" else _dask_runner(scheduler)
    files = graph_files(paths)
    if shrink_to is not None and (len(files) != 1 or executor != "local"):
        raise click.BadParameter(
            f"shrinks the failure of one file checked here ({len(files)} files given"
            + (", --executor dask" if executor != "local" else "")
            + ")",
            param_hint="--shrink",
        )
    settings = (("eps", eps), ("rtol", rtol), ("atol", atol))
    overrides = tuple((k, v) for k, v in settings if v is not None)
    options = BatchOptions(
        checker,
        tuple(str(p) for p in plugins),
        limits,
        timeout,
        seed,
        overrides,
        shrink_to is not None,
        shrink_seconds,
        shrink_tries,
    )
    done: list[FileReport] = []
    try:
        reports = _run_batch(run, files, options, jobs, show=not as_json, done=done)
    except KeyboardInterrupt:  # cli.md: report the files already checked, then exit 130
        reports = done
        _report(reports, as_json, junit)
        interrupted()
    for r in reports:  # before the report, which says where the file went
        if r.shrink is not None:
            _write_shrunk(r.shrink, shrink_to)
    _report(reports, as_json, junit)
    sys.exit(exit_code(reports))


def _report(reports: list[FileReport], as_json: bool, junit: str | None) -> None:
    if as_json:
        for r in reports:  # cli.md: with --json the messages still go to stderr, one a line
            for line in r.error or []:
                click.echo(visible(line), err=True)
        emit(dumps(clean(check_document(reports))))
    else:
        _print_check(reports, counts(reports))
    if junit:  # after the report: a file that cannot be written loses no results
        write_junit(reports, junit)


def _write_shrunk(result: dict, path: str) -> None:
    """Write the shrunk graph (atomically); the JSON keeps where, not the text."""
    text = result.pop("text", None)
    result["file"] = None
    if result["written"] and text is not None:
        write_atomic(path, text, what="--shrink")
        result["file"] = path


Runner = Callable[..., list[FileReport]]
"""An executor: ``run(files, options, jobs=..., on_result=...)`` checks every file, calls
``on_result`` with each report as it arrives, and returns them in the order of the files."""


def _dask_runner(scheduler: str | None) -> Runner:
    """The Dask executor, or a usage error naming the extra when dask is not installed."""
    try:
        from graphgrad.checking.dask_executor import check_files_dask
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("dask", "distributed"):
            raise
        raise click.UsageError(
            f"--executor dask needs the dask extra ({exc.name} is not installed): pip install -e '.[dask]'"
        ) from None
    return functools.partial(check_files_dask, scheduler=scheduler)


def _run_batch(
    run: Runner, files: list[str], options: BatchOptions, jobs: int | None, *, show: bool, done: list
) -> list[FileReport]:
    """Every file's report, in order; ``-`` (stdin) is read and checked here, the rest by
    ``run``. ``done`` collects the reports as they arrive, for an interrupted batch."""
    stdin = [check_file(STDIN_NAME, options, read_text("-", options.limits))] if "-" in files else []
    done += stdin
    paths = [f for f in files if f != "-"]
    err = Console(stderr=True)
    if not paths:
        return stdin
    if not (show and err.is_terminal):
        reports = run(paths, options, jobs=jobs, on_result=done.append)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("check", total=len(paths))

            def arrived(report: FileReport) -> None:
                done.append(report)
                progress.advance(task)

            reports = run(paths, options, jobs=jobs, on_result=arrived)
    if stdin:
        reports.insert(files.index("-"), stdin[0])
    return reports


SUMMARY_ROWS = 30


def _print_check(reports: list[FileReport], counts: dict[str, int]) -> None:
    for r in reports:
        if r.status == "error":
            for line in r.error or []:
                click.echo(visible(line), err=True)
        elif r.status in ("failed", "inconclusive"):
            click.echo(f"{r.status.upper()} {r.file}")
            for line in r.messages():
                click.echo(f"  {visible(line)}")
        if verbose() and r.unused:
            click.echo(f"info: {r.file}: not used by the output: {', '.join(r.unused)}")
        for note in r.notes if not quiet() else ():
            click.echo(f"info: {r.file}: {note}")
        if r.shrink is not None:
            click.echo(visible(summary(r.shrink, r.shrink.get("file"))))
    order = {"error": 0, "failed": 1, "inconclusive": 2, "passed": 3}
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
    if not quiet():
        console().print(table)
    unsure = f", {counts['inconclusive']} inconclusive" if counts["inconclusive"] else ""
    click.echo(f"{counts['passed']} passed, {counts['failed']} failed{unsure}, {counts['error']} errors")


def _worst_error(report: FileReport) -> float:
    return max((c.max_rel_error for c in report.checks), default=0.0)
