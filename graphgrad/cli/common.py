"""What every command shares: the --plugins and limit options, error handling that
never shows a traceback for a user's mistake, table output and file discovery."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from graphgrad.errors import GateRuntimeError, GraphFileError, GraphgradError, visible
from graphgrad.format.source import Limits

if TYPE_CHECKING:
    from rich.console import Console

LIMIT_OPTIONS = {
    "max_file_bytes": "largest graph file, in bytes",
    "max_nodes": "most inputs and nodes in one file",
    "max_depth": "deepest YAML nesting",
    "max_alias_expansion": "most YAML nodes that aliases may expand to",
    "max_elements": "most elements in one array",
    "max_total_elements": "most elements of all values and gradients of a run together",
}
_DEFAULT_NOTE = {"max_total_elements": "4 x --max-elements"}


def common(command: Callable) -> Callable:
    """Add ``--plugins`` and the limit options that every command takes."""
    for name, help_text in reversed(LIMIT_OPTIONS.items()):
        default = getattr(Limits(), name)
        command = click.option(
            "--" + name.replace("_", "-"),
            name,
            type=click.IntRange(min=1),
            default=default,
            show_default=_DEFAULT_NOTE.get(name, True),
            help=help_text.capitalize() + ".",
        )(command)
    command = click.option(
        "-v", "--verbose", "verbose", is_flag=True, help="Also print information, such as unused nodes."
    )(command)
    command = click.option(
        "-q", "--quiet", "quiet", is_flag=True, help="Print only failures, errors and the summary."
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
        quiet, verbose = kwargs.pop("quiet"), kwargs.pop("verbose")
        if quiet and verbose:
            raise click.UsageError("-q and -v ask for opposite things: give one of them")
        VERBOSITY[0] = -1 if quiet else 1 if verbose else 0
        try:
            with json_stdout(kwargs.get("as_json", False)):
                return command(**kwargs)
        except GraphFileError as exc:
            print_issues(exc.issues)
            sys.exit(2)
        except GateRuntimeError as exc:
            click.echo(str(exc), err=True)  # already PATH:LINE:COLUMN: ..., compiler style
            sys.exit(1)
        except GraphgradError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            interrupted()

    return wrapper


VERBOSITY = [0]
"""-1 with ``-q``, 1 with ``-v``, 0 otherwise: set by :func:`common` for the command running."""


def quiet() -> bool:
    """Whether ``-q`` asked for failures, errors and the summary only."""
    return VERBOSITY[0] < 0


def verbose() -> bool:
    """Whether ``-v`` asked for information such as unused nodes."""
    return VERBOSITY[0] > 0


def interrupted() -> None:
    """Ctrl-C: exit 130 as a shell does for SIGINT, with one line and no traceback."""
    click.echo("interrupted (Ctrl-C)", err=True)
    sys.exit(130)


_json_out: list[TextIO] = []


@contextlib.contextmanager
def json_stdout(active: bool) -> Iterator[None]:
    """While a ``--json`` command runs, whatever else writes to stdout (a plugin's
    ``print``, a worker process, C code) goes to stderr, so that stdout holds exactly one
    JSON document, written by :func:`emit`. File descriptor 1 itself is redirected when
    stdout is a real file, which covers child processes and C code too."""
    if not active:
        yield
        return
    original = sys.stdout
    original.flush()
    try:
        fd, err_fd = original.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file: a test runner's capture
        fd = err_fd = -1
    if fd < 0:
        _json_out.append(original)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                yield
        finally:
            _json_out.pop()
        return
    saved = os.dup(fd)
    out = open(saved, "w", encoding=original.encoding or "utf-8", errors="replace", closefd=True)  # noqa: SIM115
    os.dup2(err_fd, fd)
    _json_out.append(out)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _json_out.pop()
        out.flush()
        sys.stderr.flush()
        os.dup2(saved, fd)
        out.close()


def emit(text: str) -> None:
    """Write a command's JSON document to the real stdout (see :func:`json_stdout`)."""
    click.echo(text, file=_json_out[-1] if _json_out else None)


def console() -> Console:
    """Stdout for tables: as wide as the terminal, or 160 columns when piped."""
    from rich.console import Console

    out = Console(highlight=False, markup=False)
    if not out.is_terminal:
        out = Console(highlight=False, markup=False, width=PAGE_WIDTH)
    return out


PAGE_WIDTH = 160
"""The width of tables written to a pipe or a file (a terminal's own width otherwise)."""


def print_issues(issues: list) -> None:
    for issue in issues:
        click.echo(visible(str(issue)), err=True)


MARKER = re.compile(rb"^graphgrad\s*:", re.MULTILINE)
"""What makes a YAML file found in a folder a graph file: a ``graphgrad:`` line in its
first 4 KB (cli.md), as the pytest plugin decides too."""
HEAD_BYTES = 4096


def is_graph_file(path: Path) -> bool:
    """Whether a ``*.yaml``/``*.yml`` file found in a folder is a graph file; CI
    configuration and other YAML are left alone."""
    try:
        with path.open("rb") as fh:
            return MARKER.search(fh.read(HEAD_BYTES)) is not None
    except OSError:
        return False


def graph_files(paths: tuple[str, ...]) -> list[str]:
    """The files named (``-`` is stdin), with folders searched recursively for graph
    files. No graph file at all is a usage error (exit 2): an empty folder checked in CI
    must not pass by checking nothing."""
    files = []
    for text in paths:
        p = Path(text)
        if text == "-":
            files.append(text)
        elif p.is_dir():
            found = [f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file()]
            files += sorted(str(f) for f in found if is_graph_file(f))
        elif p.exists():
            files.append(str(p))
        else:
            raise click.BadParameter(f"'{p}' does not exist", param_hint="PATHS")
    if files.count("-") > 1:
        raise click.BadParameter("'-' (stdin) can be given once", param_hint="PATHS")
    if not files:
        shown = ", ".join(paths)
        raise click.UsageError(
            f"no graph file in {shown}: a graph file is a *.yaml or *.yml file with a line "
            "'graphgrad: 1' in its first 4 KB; name a file to read it whatever it holds"
        )
    return files
