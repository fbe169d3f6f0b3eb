"""graphgrad: computational graphs in YAML, run forward and backward, gradients checked.

The public names are imported on first use, so that ``graphgrad --version`` and
``--help`` do not pay for NumPy, networkx and pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Graph": "api",
    "NodeRef": "api",
    "Result": "api",
    "load": "api",
    "Checker": "checker",
    "Verdict": "checker",
    "Exporter": "exporter",
    "GateRuntimeError": "errors",
    "GraphFileError": "errors",
    "GraphgradError": "errors",
    "InputError": "errors",
    "Issue": "errors",
    "PluginError": "errors",
    "Code": "gate",
    "Gate": "gate",
    "InputValueError": "gate",
    "sum_to": "gate",
    "check_gate": "checking.gatecheck",
    "GateCheck": "checking.gatecheck",
    "FileReport": "checking.verify",
    "hookimpl": "plugins.hookspecs",
    "load_results": "results",
    "save_results": "results",
    "Limits": "format.source",
}

__all__ = [
    "Checker",
    "Code",
    "Exporter",
    "FileReport",
    "Gate",
    "GateCheck",
    "GateRuntimeError",
    "Graph",
    "GraphFileError",
    "GraphgradError",
    "InputError",
    "InputValueError",
    "Issue",
    "Limits",
    "NodeRef",
    "PluginError",
    "Result",
    "Verdict",
    "check_gate",
    "hookimpl",
    "load",
    "load_results",
    "save_results",
    "sum_to",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'graphgrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from graphgrad.api import Graph, NodeRef, Result, load
    from graphgrad.checker import Checker, Verdict
    from graphgrad.checking.gatecheck import GateCheck, check_gate
    from graphgrad.checking.verify import FileReport
    from graphgrad.errors import (
        GateRuntimeError,
        GraphFileError,
        GraphgradError,
        InputError,
        Issue,
        PluginError,
    )
    from graphgrad.exporter import Exporter
    from graphgrad.format.source import Limits
    from graphgrad.gate import Code, Gate, InputValueError, sum_to
    from graphgrad.plugins.hookspecs import hookimpl
    from graphgrad.results import load_results, save_results
