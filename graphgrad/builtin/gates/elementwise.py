"""Elementwise functions and activations, including the max gate (gradient router)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from graphgrad.gate import Gate, Shape, broadcast


class _Unary(Gate):
    shape_rule = "the shape of a"

    complex_step = True

    def shape(self, a: Shape) -> Shape:
        return a


class Exp(_Unary):
    """e^a."""

    gradient = "upstream x e^a (the output)"

    op = "exp"
    deterministic = True

    def forward(self, a):
        return np.exp(a)

    def backward(self, grad, out, a):
        return (grad * out,)

    def forward_code(self, code, a):
        return f"np.exp({a})"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * {out}",)


class Log(_Unary):
    """Natural logarithm."""

    gradient = "upstream / a"

    op = "log"
    deterministic = True

    def forward(self, a):
        return np.log(a)

    def edges(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad / a,)

    def forward_code(self, code, a):
        return f"np.log({a})"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} / {a}",)


class Sqrt(_Unary):
    """Square root."""

    gradient = "upstream / (2 sqrt(a))"

    op = "sqrt"
    deterministic = True

    def forward(self, a):
        return np.sqrt(a)

    def edges(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad * 0.5 / out,)

    def forward_code(self, code, a):
        return f"np.sqrt({a})"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * 0.5 / {out}",)


class Square(_Unary):
    """a^2."""

    gradient = "upstream x 2a"

    op = "square"
    deterministic = True

    def forward(self, a):
        return a * a

    def backward(self, grad, out, a):
        return (grad * 2 * a,)

    def forward_code(self, code, a):
        return f"{a} * {a}"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * 2 * {a}",)


class Reciprocal(_Unary):
    """1 / a."""

    gradient = "-upstream / a^2"

    op = "reciprocal"
    deterministic = True

    def forward(self, a):
        return 1 / a

    def edges(self, a):
        return a

    def backward(self, grad, out, a):
        return (-grad * out * out,)

    def forward_code(self, code, a):
        return f"1 / {a}"

    def backward_code(self, code, grad, out, a):
        return (f"-{grad} * {out} * {out}",)


class Abs(_Unary):
    """|a|; the local gradient at 0 is 0."""

    gradient = "upstream x sign(a); 0 at a = 0"

    op = "abs"
    deterministic = True

    def forward(self, a):
        return a * np.sign(a.real) if np.iscomplexobj(a) else np.abs(a)

    def kinks(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad * np.sign(a),)

    def forward_code(self, code, a):
        return f"np.abs({a})"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * np.sign({a})",)


class Relu(_Unary):
    """max(0, a); the local gradient at 0 is 0."""

    gradient = "upstream where a > 0, else 0 (0 at a = 0)"

    op = "relu"
    deterministic = True

    def forward(self, a):
        return np.maximum(a, 0)

    def kinks(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad * (a > 0),)

    def forward_code(self, code, a):
        if code.scalar:  # the common case inline: a call per node is most of its cost
            return f"({a} if {a} > 0.0 else np.maximum({a}, 0.0))"
        return f"np.maximum({a}, 0)"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * ({a} > 0)",)


class LeakyRelu(_Unary):
    """a for a > 0, slope * a otherwise."""

    gradient = "upstream where a > 0, else slope x upstream"

    op = "leaky_relu"
    deterministic = True
    slope: float = 0.01

    def forward(self, a):
        return np.where(a.real > 0, a, self.slope * a)

    def kinks(self, a):
        return a

    def backward(self, grad, out, a):
        return (grad * np.where(a > 0, 1.0, self.slope).astype(out.dtype),)

    def forward_code(self, code, a):
        return f"np.where({a} > 0, {a}, {code.number(self.slope)} * {a})"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * np.where({a} > 0, 1.0, {code.number(self.slope)})",)


class Sigmoid(_Unary):
    """1 / (1 + e^-a), computed without overflow; local gradient s (1 - s)."""

    gradient = "upstream x s (1 - s), s the output"

    op = "sigmoid"
    deterministic = True

    def forward(self, a):
        if np.iscomplexobj(a):
            return 1 / (1 + np.exp(-a))
        return np.exp(-np.logaddexp(0, -a))

    def backward(self, grad, out, a):
        return (grad * out * (1 - out),)

    def forward_code(self, code, a):
        if code.scalar:  # math.exp overflows (and falls back to NumPy) where NumPy's would
            return f"1.0 / (1.0 + np.exp(-{a}))"
        return f"np.exp(-np.logaddexp(0, -{a}))"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * {out} * (1 - {out})",)


class Tanh(_Unary):
    """tanh a; local gradient 1 - t^2."""

    gradient = "upstream x (1 - t^2), t the output"

    op = "tanh"
    deterministic = True

    def forward(self, a):
        return np.tanh(a)

    def backward(self, grad, out, a):
        return (grad * (1 - out * out),)

    def forward_code(self, code, a):
        return f"np.tanh({a})"

    def backward_code(self, code, grad, out, a):
        return (f"{grad} * (1 - {out} * {out})",)


class _Router(Gate):
    deterministic = True
    shape_rule = "NumPy broadcasting of a and b"

    complex_step = True
    pattern = "router"
    _win: ClassVar[str]

    def kinks(self, a, b):
        return np.asarray(a - b)

    def shape(self, a: Shape, b: Shape) -> Shape:
        return broadcast(a, b)

    def backward(self, grad, out, a, b):
        to_a = self._wins(a, b) + 0.5 * (a == b)
        return grad * to_a, grad * (1 - to_a)

    def backward_code(self, code, grad, out, a, b):
        to_a = f"(({a} {self._win} {b}) + 0.5 * ({a} == {b}))"
        return code.sum_to(f"{grad} * {to_a}", 0), code.sum_to(f"{grad} * (1 - {to_a})", 1)


class Max(_Router):
    """Elementwise maximum: routes the upstream to the larger input; a tie splits it."""

    gradient = "upstream to the larger input (router); a tie gives each half"

    op = "max"
    deterministic = True
    _win = ">"

    def forward(self, a, b):
        return np.maximum(a, b)

    def forward_code(self, code, a, b):
        return f"np.maximum({a}, {b})"

    @staticmethod
    def _wins(a, b):
        return a > b


class Min(_Router):
    """Elementwise minimum: routes the upstream to the smaller input; a tie splits it."""

    gradient = "upstream to the smaller input (router); a tie gives each half"

    op = "min"
    deterministic = True
    _win = "<"

    def forward(self, a, b):
        return np.minimum(a, b)

    def forward_code(self, code, a, b):
        return f"np.minimum({a}, {b})"

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
