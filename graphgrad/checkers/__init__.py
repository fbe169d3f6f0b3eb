"""The built-in checkers: a plugin like any other, one family a module."""

from __future__ import annotations

from ..checker import Checker
from ..hookspecs import hookimpl
from . import complex_step, differences, directional


@hookimpl
def graphgrad_checkers() -> list[type[Checker]]:
    """Every checker of the checking issue: central, forward, sparse, richardson,
    directional and complex_step."""
    return [*differences.CHECKERS, *directional.CHECKERS, *complex_step.CHECKERS]
