"""The built-in checkers: a plugin like any other, one family a module."""

from __future__ import annotations

import graphgrad.builtin.checkers.complex_step as complex_step
import graphgrad.builtin.checkers.differences as differences
import graphgrad.builtin.checkers.directional as directional
from graphgrad.checker import Checker
from graphgrad.plugins.hookspecs import hookimpl


@hookimpl
def graphgrad_checkers() -> list[type[Checker]]:
    """Every checker of the checking issue: central, forward, sparse, richardson,
    directional and complex_step."""
    return [*differences.CHECKERS, *directional.CHECKERS, *complex_step.CHECKERS]
