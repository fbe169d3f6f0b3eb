"""The built-in export formats: a plugin like any other, one family a module.

Named, not imported (:class:`~graphgrad.plugins.registry.Deferred`): a command that
exports nothing imports no exporter. ``FAMILIES`` lists each module's ``EXPORTERS`` by
name and class name; ``tests/test_plugins.py`` holds it to them.
"""

from __future__ import annotations

from graphgrad.plugins.hookspecs import hookimpl
from graphgrad.plugins.registry import Deferred

FAMILIES: dict[str, dict[str, str]] = {
    "textual": {"yaml": "YamlExporter", "json": "JsonExporter"},
    "diagram": {"dot": "DotExporter", "mermaid": "MermaidExporter"},
    "flatcode": {"python": "PythonExporter"},
}
"""Family module -> {format name: class name} of its ``EXPORTERS``, in their order."""


@hookimpl
def graphgrad_exporters() -> list[Deferred]:
    """yaml, json, dot, mermaid and python."""
    return [
        Deferred(name, f"{__name__}.{family}", cls)
        for family, exporters in FAMILIES.items()
        for name, cls in exporters.items()
    ]
