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

import re
from dataclasses import dataclass

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def visible(text: str) -> str:
    r"""``text`` with control characters written as escapes: a message quotes what a file
    holds, and a raw ESC or NUL would drive the terminal or break a JUnit XML file.

    >>> visible("mu\x01l\x1b[2J")
    'mu\\x01l\\x1b[2J'
    """
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text
    )


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a graph file, at a 1-based line and column."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return visible(f"{self.path}:{self.line}:{self.column}: {self.message}")

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
