"""The built-in export formats: a plugin like any other, one family a module."""

from __future__ import annotations

from ..exporter import Exporter
from ..hookspecs import hookimpl
from . import diagram, flatcode, textual


@hookimpl
def graphgrad_exporters() -> list[type[Exporter]]:
    """yaml, json, dot, mermaid and python."""
    return [*textual.EXPORTERS, *diagram.EXPORTERS, *flatcode.EXPORTERS]
