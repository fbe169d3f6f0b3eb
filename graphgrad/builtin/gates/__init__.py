"""The built-in gates: a plugin like any other, one family a module.

The hook names each gate (:class:`~graphgrad.plugins.registry.Deferred`) rather than
importing it: a family's module is imported when one of its ops is first used, so that
``graphgrad run`` on a file of adds and muls builds the classes of one family, not all
thirty. ``FAMILIES`` lists each module's ``GATES`` by op and class name;
``tests/test_plugins.py`` holds it to them.
"""

from __future__ import annotations

from graphgrad.plugins.hookspecs import hookimpl
from graphgrad.plugins.registry import Deferred

FAMILIES: dict[str, dict[str, str]] = {
    "arithmetic": {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "neg": "Neg", "pow": "Pow"},
    "elementwise": {
        "exp": "Exp",
        "log": "Log",
        "sqrt": "Sqrt",
        "square": "Square",
        "reciprocal": "Reciprocal",
        "abs": "Abs",
        "relu": "Relu",
        "leaky_relu": "LeakyRelu",
        "sigmoid": "Sigmoid",
        "tanh": "Tanh",
        "max": "Max",
        "min": "Min",
    },
    "reduction": {"sum": "Sum", "mean": "Mean"},
    "shaping": {"matmul": "Matmul", "transpose": "Transpose", "reshape": "Reshape"},
    "losses": {
        "softmax": "Softmax",
        "log_softmax": "LogSoftmax",
        "cross_entropy": "CrossEntropy",
        "svm_loss": "SvmLoss",
        "l2": "L2",
    },
}
"""Family module -> {op: class name} of its ``GATES``, in their order."""


@hookimpl
def graphgrad_gates() -> list[Deferred]:
    """Every gate of graph-format.md."""
    return [
        Deferred(op, f"{__name__}.{family}", cls)
        for family, gates in FAMILIES.items()
        for op, cls in gates.items()
    ]
