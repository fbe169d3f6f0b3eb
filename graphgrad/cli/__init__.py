"""The command line: a thin shell that parses, calls the API and renders.

Exit codes (cli.md): 0 all ran and passed, 1 something ran and failed, 2 bad usage or an
invalid graph file. A user's mistake never shows a traceback. Each command lives in
``graphgrad.cli.common`` and is imported only when it runs, so that ``--version`` and
``--help`` start fast.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from types import ModuleType
from typing import Any

import click

from graphgrad import __version__

COMMANDS = {
    "run": "graphgrad.cli.running:run",
    "validate": "graphgrad.cli.running:validate",
    "schema": "graphgrad.cli.running:schema",
    "gates": "graphgrad.cli.gates:gates",
    "check": "graphgrad.cli.checking:check",
    "export": "graphgrad.cli.pictures:export",
    "render": "graphgrad.cli.pictures:render",
    "explain": "graphgrad.cli.pictures:explain",
    "serve": "graphgrad.cli.serving:serve",
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they are asked for."""

    own_process = False
    """Whether the group runs as its process's command line (``graphgrad ...``), rather
    than called by a program (click's ``CliRunner``, a test): see :meth:`main`."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        """Run the command line. As the process's own (``args`` None: ``sys.argv``), the
        collector is kept out of start-up: a command's module is imported with it off and
        what the imports built (NumPy, networkx, pydantic and the modules on them, some
        90,000 objects) is then frozen, so that neither a full collection during start-up
        nor the interpreter's last collections at exit walk it again (each walk costs
        about 20 ms, a tenth of ``graphgrad run``'s start-up). The command's own garbage is
        collected as usual; the few hundred cyclic objects left over from the imports stay
        until the process ends. A program that passes ``args``, or whose main program is
        not graphgrad (``_is_main_program``), keeps its collector as is."""
        if args is not None or not _is_main_program():
            return super().main(args, *rest, **kwargs)
        self.own_process = True
        return super().main(args, *rest, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            return getattr(self._import(module), attr)
        return super().get_command(ctx, name)

    def _import(self, module: str) -> ModuleType:
        if not self.own_process:
            return importlib.import_module(module)
        enabled = gc.isenabled()
        gc.disable()
        try:
            return importlib.import_module(module)
        finally:
            gc.freeze()
            if enabled:
                gc.enable()

    def invoke(self, ctx: click.Context) -> object:
        """Ctrl-C anywhere (an import, a plugin loading) is exit 130, not click's exit 1."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted (Ctrl-C)", err=True)
            ctx.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphgrad")
def main() -> None:
    """graphgrad: computational graphs in YAML, run forward and backward.

    \b
    Examples:
      graphgrad run graphs/simple.yaml
      graphgrad run graphs/sigmoid_neuron.yaml --json
      graphgrad check graphs/
      graphgrad explain graphs/simple.yaml
      graphgrad render graphs/simple.yaml -o simple.png
      graphgrad export graphs/simple.yaml --to python
      graphgrad gates --check
      graphgrad serve --port 8000

    FILE may be - (stdin) wherever a command takes one. -q prints only failures,
    errors and the summary; -v adds information. Exit codes: 0 passed, 1 a check or
    expectation failed, 2 bad usage or an invalid graph file, 130 Ctrl-C.

    \b
    Shell completion (bash; zsh and fish alike with zsh_source, fish_source):
      eval "$(_GRAPHGRAD_COMPLETE=bash_source graphgrad)"
    """


def _is_main_program() -> bool:
    """Whether the process's main program is graphgrad itself: the ``graphgrad`` script
    or ``python -m graphgrad``. Another program that calls ``main()`` with no arguments
    (a test runner in process, ``python -c``) keeps its collector and its heap unfrozen."""
    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    if spec is not None and spec.name in ("graphgrad", "graphgrad.__main__"):
        return True
    name = os.path.basename(getattr(main_module, "__file__", None) or "")
    return name in ("graphgrad", "graphgrad.exe", "graphgrad-script.py")
