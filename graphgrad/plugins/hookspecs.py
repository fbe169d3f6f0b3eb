"""Every hook graphgrad calls, each an empty function whose docstring is the contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from graphgrad.checker import Checker
    from graphgrad.exporter import Exporter
    from graphgrad.gate import Gate

PROJECT = "graphgrad"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def graphgrad_gates() -> list[type[Gate]]:
    """Return the gate classes this plugin provides.

    Each is a subclass of :class:`graphgrad.Gate` with a unique ``op``. Two plugins that
    return the same ``op`` are an error that names both.
    """


@hookspec
def graphgrad_checkers() -> list[type[Checker]]:
    """Return the numerical checker classes this plugin provides.

    Each is a subclass of :class:`graphgrad.Checker` with a unique ``name``. Two plugins
    that return the same name are an error that names both.
    """


@hookspec
def graphgrad_exporters() -> list[type[Exporter]]:
    """Return the export formats this plugin provides.

    Each is a subclass of :class:`graphgrad.Exporter` with a unique ``name`` (the value
    of ``graphgrad export --to``). Two plugins that return the same name are an error.
    """
