"""The built-in gates: a plugin like any other, one family a module."""

from __future__ import annotations

import graphgrad.builtin.gates.arithmetic as arithmetic
import graphgrad.builtin.gates.elementwise as elementwise
import graphgrad.builtin.gates.losses as losses
import graphgrad.builtin.gates.reduction as reduction
import graphgrad.builtin.gates.shaping as shaping
from graphgrad.gate import Gate
from graphgrad.plugins.hookspecs import hookimpl


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
