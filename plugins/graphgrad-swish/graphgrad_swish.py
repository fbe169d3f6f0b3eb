"""An example graphgrad plugin: two smooth activations, each one class.

Each gate also gives its code (``forward_code``, ``backward_code``), so a graph using it
gets ``graphgrad export --to python`` and, when all its values are scalars, the fast
path, exactly as a built-in gate does.

Install it with ``pip install -e plugins/graphgrad-swish``; the entry point in its
pyproject.toml makes graphgrad load it by itself. Without installing, pass the file:
``graphgrad run graph.yaml --plugins plugins/graphgrad-swish/graphgrad_swish.py``.
"""

from __future__ import annotations

import numpy as np

import graphgrad


def _sigmoid(x):
    return np.exp(-np.logaddexp(0, -x))


class Swish(graphgrad.Gate):
    """x * sigmoid(beta * x), the SiLU for beta = 1."""

    op = "swish"
    deterministic = True  # pure NumPy: `check` then needs one run, not two
    beta: float = 1.0

    def shape(self, x):
        return x

    def forward(self, x):
        return x * _sigmoid(self.beta * x)

    def backward(self, grad, out, x):
        s = _sigmoid(self.beta * x)
        return (grad * (s + self.beta * x * s * (1.0 - s)),)

    def forward_code(self, code, x):
        return f"{x} * np.exp(-np.logaddexp(0, -{code.number(self.beta)} * {x}))"

    def backward_code(self, code, grad, out, x):
        swish_grad = code.helper("_swish_grad", SWISH_GRAD)
        return (f"{swish_grad}({grad}, {x}, {code.number(self.beta)})",)


SWISH_GRAD = '''
def _swish_grad(g, x, beta):
    """The upstream times swish's derivative: s + beta x s (1 - s), s = sigmoid(beta x)."""
    s = np.exp(-np.logaddexp(0, -beta * x))
    return g * (s + beta * x * s * (1.0 - s))
'''


class Softplus(graphgrad.Gate):
    """log(1 + e^x), computed without overflow; its derivative is sigmoid(x)."""

    op = "softplus"
    deterministic = True

    def shape(self, x):
        return x

    def forward(self, x):
        return np.logaddexp(0, x)

    def backward(self, grad, out, x):
        return (grad * _sigmoid(x),)

    def forward_code(self, code, x):
        return f"np.logaddexp(0, {x})"

    def backward_code(self, code, grad, out, x):
        return (f"{grad} * np.exp(-np.logaddexp(0, -{x}))",)


@graphgrad.hookimpl
def graphgrad_gates():
    return [Swish, Softplus]
