"""The exception tree of graphgrad, and located issues.

::

    GraphgradError
    ├── GraphFileError      a graph file (or text) is not a valid graph; holds every Issue found
    ├── PluginError         a plugin failed to import, or two plugins claim one name
    ├── InputError          a value given at run time (``--set``, ``run(inputs=...)``) is bad
    └── GateRuntimeError    a gate failed while running; names the node and its line

A user's mistake is always one of these, so the command line can print it without a
traceback and exit with code 2.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a graph file, at a 1-based line and column."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"

    @property
    def exceeds_limit(self) -> bool:
        """Whether the file is refused for a limit (size, depth, aliases, nodes, elements)
        rather than for being malformed; the service answers 422 instead of 400."""
        return LIMIT_MARK in self.message


LIMIT_MARK = "(raise it with --max-"


class GraphgradError(Exception):
    """Base of every error graphgrad raises on purpose."""


class GraphFileError(GraphgradError):
    """A graph file is invalid; ``issues`` holds every problem found, in file order."""

    def __init__(self, issues: list[Issue]):
        self.issues = sorted(issues, key=lambda i: (i.line, i.column))
        super().__init__("\n".join(str(i) for i in self.issues))


class PluginError(GraphgradError):
    """A plugin could not be loaded, or plugins conflict."""


class InputError(GraphgradError):
    """A value supplied at run time does not fit the graph."""


class GateRuntimeError(GraphgradError):
    """A gate raised while running forward or backward."""
