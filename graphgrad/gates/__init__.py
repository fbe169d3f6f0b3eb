"""The built-in gates: a plugin like any other, one family a module."""

from __future__ import annotations

from ..gate import Gate
from ..hookspecs import hookimpl
from . import arithmetic, elementwise, losses, reduction, shaping


@hookimpl
def graphgrad_gates() -> list[type[Gate]]:
    """Every gate of graph-format.md."""
    return [
        *arithmetic.GATES,
        *elementwise.GATES,
        *reduction.GATES,
        *shaping.GATES,
        *losses.GATES,
    ]
