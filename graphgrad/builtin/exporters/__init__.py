"""The built-in export formats: a plugin like any other, one family a module."""

from __future__ import annotations

import graphgrad.builtin.exporters.diagram as diagram
import graphgrad.builtin.exporters.flatcode as flatcode
import graphgrad.builtin.exporters.textual as textual
from graphgrad.exporter import Exporter
from graphgrad.plugins.hookspecs import hookimpl


@hookimpl
def graphgrad_exporters() -> list[type[Exporter]]:
    """yaml, json, dot, mermaid and python."""
    return [*textual.EXPORTERS, *diagram.EXPORTERS, *flatcode.EXPORTERS]
