"""graphgrad: computational graphs in YAML, run forward and backward, gradients checked."""

from .api import Graph, Result, load
from .errors import (
    GateRuntimeError,
    GraphFileError,
    GraphgradError,
    InputError,
    Issue,
    PluginError,
)
from .gate import Gate, InputValueError, sum_to
from .hookspecs import hookimpl
from .source import Limits

__version__ = "0.1.0"

__all__ = [
    "Gate",
    "GateRuntimeError",
    "Graph",
    "GraphFileError",
    "GraphgradError",
    "InputError",
    "InputValueError",
    "Issue",
    "Limits",
    "PluginError",
    "Result",
    "hookimpl",
    "load",
    "sum_to",
]
