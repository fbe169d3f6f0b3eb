"""The Exporter base class: a graph written out in one format.

An exporter is a pydantic model whose fields are its options (``values`` for the
pictures). ``export`` gets the loaded graph and returns text. The built-in formats are
registered through the ``graphgrad_exporters`` hook like any plugin's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from graphgrad.api import Graph


class Exporter(BaseModel):
    """A format. Subclass it, set ``name`` and ``suffix``, implement ``export``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: ClassVar[str]
    suffix: ClassVar[str] = ".txt"

    def export(self, graph: Graph) -> str:
        raise NotImplementedError(f"exporter {type(self).__name__} has no export")
