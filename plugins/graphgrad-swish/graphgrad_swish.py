"""An example graphgrad plugin: two smooth activations, each one class.

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
    beta: float = 1.0

    def shape(self, x):
        return x

    def forward(self, x):
        return x * _sigmoid(self.beta * x)

    def backward(self, grad, out, x):
        s = _sigmoid(self.beta * x)
        return (grad * (s + self.beta * x * s * (1.0 - s)),)


class Softplus(graphgrad.Gate):
    """log(1 + e^x), computed without overflow; its derivative is sigmoid(x)."""

    op = "softplus"

    def shape(self, x):
        return x

    def forward(self, x):
        return np.logaddexp(0, x)

    def backward(self, grad, out, x):
        return (grad * _sigmoid(x),)


@graphgrad.hookimpl
def graphgrad_gates():
    return [Swish, Softplus]
