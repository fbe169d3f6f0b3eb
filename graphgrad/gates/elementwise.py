"""Elementwise functions and activations, including the max gate (gradient router)."""

from __future__ import annotations

import numpy as np

from ..gate import Gate, Shape, broadcast


class _Unary(Gate):
    complex_step = True

    def shape(self, a: Shape) -> Shape:
        return a


class Exp(_Unary):
    """e^a."""

    op = "exp"

    def forward(self, a):
        return np.exp(a)

    def backward(self, grad, out, a):
        return (grad * out,)


class Log(_Unary):
    """Natural logarithm."""

    op = "log"

    def forward(self, a):
        return np.log(a)

    def edges(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad / a,)


class Sqrt(_Unary):
    """Square root."""

    op = "sqrt"

    def forward(self, a):
        return np.sqrt(a)

    def edges(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad * 0.5 / out,)


class Square(_Unary):
    """a^2."""

    op = "square"

    def forward(self, a):
        return a * a

    def backward(self, grad, out, a):
        return (grad * 2 * a,)


class Reciprocal(_Unary):
    """1 / a."""

    op = "reciprocal"

    def forward(self, a):
        return 1 / a

    def edges(self, a):
        return a

    def backward(self, grad, out, a):
        return (-grad * out * out,)


class Abs(_Unary):
    """|a|; the local gradient at 0 is 0."""

    op = "abs"

    def forward(self, a):
        return a * np.sign(a.real) if np.iscomplexobj(a) else np.abs(a)

    def kinks(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad * np.sign(a),)


class Relu(_Unary):
    """max(0, a); the local gradient at 0 is 0."""

    op = "relu"

    def forward(self, a):
        return np.maximum(a, 0)

    def kinks(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad * (a > 0),)


class LeakyRelu(_Unary):
    """a for a > 0, slope * a otherwise."""

    op = "leaky_relu"
    slope: float = 0.01

    def forward(self, a):
        return np.where(a.real > 0, a, self.slope * a)

    def kinks(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad * np.where(a > 0, 1.0, self.slope).astype(out.dtype),)


class Sigmoid(_Unary):
    """1 / (1 + e^-a), computed without overflow; local gradient s (1 - s)."""

    op = "sigmoid"

    def forward(self, a):
        if np.iscomplexobj(a):
            return 1 / (1 + np.exp(-a))
        return np.exp(-np.logaddexp(0, -a))

    def backward(self, grad, out, a):
        return (grad * out * (1 - out),)


class Tanh(_Unary):
    """tanh a; local gradient 1 - t^2."""

    op = "tanh"

    def forward(self, a):
        return np.tanh(a)

    def backward(self, grad, out, a):
        return (grad * (1 - out * out),)


class _Router(Gate):
    complex_step = True

    def kinks(self, a, b):
        return np.asarray(a - b)

    def shape(self, a: Shape, b: Shape) -> Shape:
        return broadcast(a, b)

    def backward(self, grad, out, a, b):
        to_a = self._wins(a, b) + 0.5 * (a == b)
        return grad * to_a, grad * (1 - to_a)


class Max(_Router):
    """Elementwise maximum: routes the upstream to the larger input; a tie splits it."""

    op = "max"

    def forward(self, a, b):
        return np.maximum(a, b)

    @staticmethod
    def _wins(a, b):
        return a > b


class Min(_Router):
    """Elementwise minimum: routes the upstream to the smaller input; a tie splits it."""

    op = "min"

    def forward(self, a, b):
        return np.minimum(a, b)

    @staticmethod
    def _wins(a, b):
        return a < b


GATES: list[type[Gate]] = [
    Exp,
    Log,
    Sqrt,
    Square,
    Reciprocal,
    Abs,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
    Max,
    Min,
]
