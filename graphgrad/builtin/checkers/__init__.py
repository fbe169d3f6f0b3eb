"""The built-in checkers: a plugin like any other, one family a module.

Named, not imported (:class:`~graphgrad.plugins.registry.Deferred`): a run that checks
nothing imports no checker. ``FAMILIES`` lists each module's ``CHECKERS`` by name and
class name; ``tests/test_plugins.py`` holds it to them.
"""

from __future__ import annotations

from graphgrad.plugins.hookspecs import hookimpl
from graphgrad.plugins.registry import Deferred

FAMILIES: dict[str, dict[str, str]] = {
    "differences": {
        "central": "Central",
        "forward": "Forward",
        "sparse": "Sparse",
        "richardson": "Richardson",
    },
    "directional": {"directional": "Directional"},
    "complex_step": {"complex_step": "ComplexStep"},
}
"""Family module -> {checker name: class name} of its ``CHECKERS``, in their order."""


@hookimpl
def graphgrad_checkers() -> list[Deferred]:
    """Every checker of the checking issue: central, forward, sparse, richardson,
    directional and complex_step."""
    return [
        Deferred(name, f"{__name__}.{family}", cls)
        for family, checkers in FAMILIES.items()
        for name, cls in checkers.items()
    ]
