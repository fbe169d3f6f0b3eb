"""graphgrad: computational graphs in YAML, run forward and backward, gradients checked."""

from .api import Graph, NodeRef, Result, load
from .checker import Checker, Verdict
from .errors import (
    GateRuntimeError,
    GraphFileError,
    GraphgradError,
    InputError,
    Issue,
    PluginError,
)
from .exporter import Exporter
from .gate import Gate, InputValueError, sum_to
from .hookspecs import hookimpl
from .results import load_results, save_results
from .source import Limits

__version__ = "0.1.0"

__all__ = [
    "Checker",
    "Exporter",
    "Gate",
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
    "hookimpl",
    "load",
    "load_results",
    "save_results",
    "sum_to",
]
