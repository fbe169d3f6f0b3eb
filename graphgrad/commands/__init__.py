"""What every command shares: the --plugins and limit options, error handling that
never shows a traceback for a user's mistake, table output and file discovery."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import GateRuntimeError, GraphFileError, GraphgradError
from ..source import Limits

if TYPE_CHECKING:
    from rich.console import Console

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
            print_issues(exc.issues)
            sys.exit(2)
        except GateRuntimeError as exc:
            click.echo(str(exc), err=True)  # already PATH:LINE:COLUMN: ..., compiler style
            sys.exit(1)
        except GraphgradError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def console() -> Console:
    """Stdout for tables: as wide as the terminal, or 160 columns when piped."""
    from rich.console import Console

    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=160)
    return out


def print_issues(issues: list) -> None:
    for issue in issues:
        click.echo(str(issue), err=True)


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


